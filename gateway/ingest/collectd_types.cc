#include "gateway/ingest/collectd_types.h"

#include <fstream>
#include <sstream>

namespace dctwin {

namespace {

// The multi-value types of collectd 5.12's types.db that servers commonly send. Single-value
// types need no entry: their one value keeps the bare metric name.
constexpr const char* kBuiltIn = R"(
disk_io_time  io_time:DERIVE:0:U, weighted_io_time:DERIVE:0:U
disk_merged   read:DERIVE:0:U, write:DERIVE:0:U
disk_octets   read:DERIVE:0:U, write:DERIVE:0:U
disk_ops      read:DERIVE:0:U, write:DERIVE:0:U
disk_time     read:DERIVE:0:U, write:DERIVE:0:U
if_dropped    rx:DERIVE:0:U, tx:DERIVE:0:U
if_errors     rx:DERIVE:0:U, tx:DERIVE:0:U
if_octets     rx:DERIVE:0:U, tx:DERIVE:0:U
if_packets    rx:DERIVE:0:U, tx:DERIVE:0:U
io_octets     rx:DERIVE:0:U, tx:DERIVE:0:U
io_packets    rx:DERIVE:0:U, tx:DERIVE:0:U
load          shortterm:GAUGE:0:5000, midterm:GAUGE:0:5000, longterm:GAUGE:0:5000
node_octets   rx:DERIVE:0:U, tx:DERIVE:0:U
ps_count      processes:GAUGE:0:1000000, threads:GAUGE:0:1000000
ps_cputime    user:DERIVE:0:U, syst:DERIVE:0:U
ps_disk_octets read:DERIVE:0:U, write:DERIVE:0:U
ps_disk_ops   read:DERIVE:0:U, write:DERIVE:0:U
ps_pagefaults minflt:DERIVE:0:U, majflt:DERIVE:0:U
)";

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

}  // namespace

void CollectdTypes::Parse(std::string_view text) {
  while (!text.empty()) {
    const size_t eol = text.find('\n');
    std::string_view line = Trim(text.substr(0, eol));
    text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
    if (line.empty() || line.front() == '#') continue;
    const size_t gap = line.find_first_of(" \t");
    if (gap == std::string_view::npos) continue;
    const std::string type(line.substr(0, gap));
    std::vector<std::string> sources;
    std::string_view rest = Trim(line.substr(gap));
    while (!rest.empty()) {
      const size_t comma = rest.find(',');
      const std::string_view spec = Trim(rest.substr(0, comma));
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      const size_t colon = spec.find(':');
      if (colon == 0 || colon == std::string_view::npos) continue;
      sources.emplace_back(spec.substr(0, colon));
    }
    if (!sources.empty()) types_[type] = std::move(sources);
  }
}

CollectdTypes CollectdTypes::BuiltIn() {
  CollectdTypes t;
  t.Parse(kBuiltIn);
  return t;
}

CollectdTypes CollectdTypes::Load(const std::string& path, std::string* error) {
  std::ifstream in(path);
  if (!in) {
    *error = "cannot read " + path + "; using the built-in multi-value types";
    return BuiltIn();
  }
  std::stringstream ss;
  ss << in.rdbuf();
  CollectdTypes t = BuiltIn();
  t.Parse(ss.str());
  return t;
}

const std::vector<std::string>* CollectdTypes::Sources(std::string_view type) const {
  auto it = types_.find(std::string(type));
  return it == types_.end() ? nullptr : &it->second;
}

}  // namespace dctwin
