#include "storage/rollup_codec.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

namespace dctwin {

namespace {

constexpr char kVersion = 1;

void PutVarint(std::string& out, uint32_t v) {
  while (v >= 0x80) {
    out += static_cast<char>((v & 0x7f) | 0x80);
    v >>= 7;
  }
  out += static_cast<char>(v);
}

void PutFloat(std::string& out, float f) {
  char b[4];
  std::memcpy(b, &f, 4);  // little-endian hosts only (x86-64, arm64)
  out.append(b, 4);
}

bool GetVarint(std::string_view& in, uint32_t* v) {
  *v = 0;
  for (int shift = 0; shift < 35; shift += 7) {
    if (in.empty()) return false;
    const auto byte = static_cast<unsigned char>(in.front());
    in.remove_prefix(1);
    *v |= static_cast<uint32_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) return true;
  }
  return false;
}

bool GetFloat(std::string_view& in, float* f) {
  if (in.size() < 4) return false;
  std::memcpy(f, in.data(), 4);
  in.remove_prefix(4);
  return true;
}

}  // namespace

std::string EncodeRollup(const std::vector<RollupValue>& values) {
  std::string out(1, kVersion);
  out.reserve(1 + values.size() * 20);
  for (const RollupValue& v : values) {
    PutVarint(out, v.metric);
    PutFloat(out, v.min);
    PutFloat(out, v.max);
    PutFloat(out, v.mean);
    PutFloat(out, v.last);
    PutVarint(out, v.count);
    PutVarint(out, v.last_offset_s);
  }
  return out;
}

bool DecodeRollup(std::string_view in, std::vector<RollupValue>* out) {
  out->clear();
  if (in.empty() || in.front() != kVersion) return false;
  in.remove_prefix(1);
  while (!in.empty()) {
    RollupValue v;
    if (!GetVarint(in, &v.metric) || !GetFloat(in, &v.min) || !GetFloat(in, &v.max) || !GetFloat(in, &v.mean) ||
        !GetFloat(in, &v.last) || !GetVarint(in, &v.count) || !GetVarint(in, &v.last_offset_s)) {
      return false;
    }
    out->push_back(v);
  }
  return true;
}

std::string MergeRollups(std::string_view a, std::string_view b) {
  std::vector<RollupValue> x, y;
  if (!DecodeRollup(a, &x)) return std::string(b);  // what cannot be read gives way
  if (!DecodeRollup(b, &y)) return std::string(a);
  for (const RollupValue& v : y) {
    auto it = std::find_if(x.begin(), x.end(), [&](const RollupValue& w) { return w.metric == v.metric; });
    if (it == x.end()) {
      x.push_back(v);
      continue;
    }
    const double n = static_cast<double>(it->count) + v.count;
    if (n > 0) it->mean = static_cast<float>((static_cast<double>(it->mean) * it->count + static_cast<double>(v.mean) * v.count) / n);
    it->min = std::min(it->min, v.min);
    it->max = std::max(it->max, v.max);
    if (v.last_offset_s >= it->last_offset_s) {
      it->last = v.last;
      it->last_offset_s = v.last_offset_s;
    }
    it->count += v.count;
  }
  return EncodeRollup(x);
}

uint32_t MetricDictionary::Id(std::string_view name) {
  MutexLock lock(mu_);
  auto it = ids_.find(std::string(name));
  if (it != ids_.end()) return it->second;
  if (ids_.size() >= max_names_) {
    ++refused_;
    if ((refused_ & (refused_ - 1)) == 0) {
      spdlog::warn("rollups: the metric dictionary is full ({} names); values of new metric names such as '{}' "
                   "are kept in no rollup ({} refused so far)",
                   ids_.size(), name, refused_);
    }
    return 0;
  }
  const uint32_t id = next_++;
  ids_.emplace(std::string(name), id);
  names_.emplace(id, std::string(name));
  return id;
}

std::vector<std::pair<uint32_t, std::string>> MetricDictionary::Unsaved() const {
  MutexLock lock(mu_);
  std::vector<std::pair<uint32_t, std::string>> out;
  for (auto it = names_.upper_bound(saved_); it != names_.end(); ++it) out.emplace_back(it->first, it->second);
  return out;
}

void MetricDictionary::MarkSaved(uint32_t up_to) {
  MutexLock lock(mu_);
  saved_ = std::max(saved_, up_to);
}

size_t MetricDictionary::size() const {
  MutexLock lock(mu_);
  return ids_.size();
}

uint64_t MetricDictionary::refused() const {
  MutexLock lock(mu_);
  return refused_;
}

void MetricDictionary::Load(uint32_t id, std::string name) {
  MutexLock lock(mu_);
  ids_[name] = id;
  names_[id] = std::move(name);
  next_ = std::max(next_, id + 1);
  saved_ = std::max(saved_, id);
}

}  // namespace dctwin
