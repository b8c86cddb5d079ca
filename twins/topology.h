// Topology: what racks share. Each power feed, cooling unit and top-of-rack switch the inventory
// names is a group (contract v3, "Topology and dependencies"), addressed as "<type>:<name>"
// ("feed:A-12", "cooling:crah-3", "tor:sw-r07"); a rack belongs to every group that feeds, cools
// or switches it. A group can cause only some kinds of incident: a feed power and silent, a
// cooling unit thermal, a switch network and silent.
//
// Plain value, immutable once built: shared by every shard through ModelConfig.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace dctwin {

struct Topology {
  std::map<std::string, std::vector<std::string>> rack_groups;  // rack -> its groups, sorted
  std::map<std::string, std::vector<std::string>> group_racks;  // group -> its racks, sorted

  // The groups of `rack` (nullptr: none).
  const std::vector<std::string>* GroupsOf(const std::string& rack) const {
    auto it = rack_groups.find(rack);
    return it == rack_groups.end() ? nullptr : &it->second;
  }
  const std::vector<std::string>* RacksOf(const std::string& group) const {
    auto it = group_racks.find(group);
    return it == group_racks.end() ? nullptr : &it->second;
  }
  void Add(const std::string& group, const std::string& rack);
};

// "feed", "cooling" or "tor" for a well-formed group id; empty otherwise.
std::string_view GroupType(std::string_view group);
// True when a group of this id can cause incidents of `kind`.
bool GroupCauses(std::string_view group, std::string_view kind);
// The kinds a group of this id can cause.
const std::vector<std::string>& GroupKinds(std::string_view group);
// A group id as topics and queries accept it: a known type, ':', a name of [A-Za-z0-9._-]{1,64}.
bool IsValidGroupId(std::string_view group);

}  // namespace dctwin
