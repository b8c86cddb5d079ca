#include "twins/topology.h"

#include <algorithm>

namespace dctwin {

namespace {

const std::vector<std::string> kFeedKinds = {"power", "silent"};
const std::vector<std::string> kCoolingKinds = {"thermal"};
const std::vector<std::string> kTorKinds = {"network", "silent"};
const std::vector<std::string> kNoKinds;

void InsertSorted(std::vector<std::string>& v, const std::string& s) {
  auto it = std::lower_bound(v.begin(), v.end(), s);
  if (it == v.end() || *it != s) v.insert(it, s);
}

}  // namespace

void Topology::Add(const std::string& group, const std::string& rack) {
  InsertSorted(rack_groups[rack], group);
  InsertSorted(group_racks[group], rack);
}

std::string_view GroupType(std::string_view group) {
  const size_t colon = group.find(':');
  if (colon == std::string_view::npos) return {};
  const std::string_view type = group.substr(0, colon);
  if (type == "feed" || type == "cooling" || type == "tor") return type;
  return {};
}

const std::vector<std::string>& GroupKinds(std::string_view group) {
  const std::string_view type = GroupType(group);
  if (type == "feed") return kFeedKinds;
  if (type == "cooling") return kCoolingKinds;
  if (type == "tor") return kTorKinds;
  return kNoKinds;
}

bool GroupCauses(std::string_view group, std::string_view kind) {
  const auto& kinds = GroupKinds(group);
  return std::find(kinds.begin(), kinds.end(), kind) != kinds.end();
}

bool IsValidGroupId(std::string_view group) {
  const std::string_view type = GroupType(group);
  if (type.empty()) return false;
  const std::string_view name = group.substr(type.size() + 1);
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-';
  });
}

}  // namespace dctwin
