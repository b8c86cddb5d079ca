#include "twins/silence.h"

#include <fnmatch.h>

#include <algorithm>

namespace dctwin {

std::string_view SilenceStateName(SilenceState state) {
  switch (state) {
    case SilenceState::kPending: return "pending";
    case SilenceState::kActive: return "active";
    case SilenceState::kExpired: return "expired";
  }
  return "expired";
}

bool IsMatcherKey(std::string_view key) {
  return key == "server" || key == "rack" || key == "kind" || key == "severity" || key == "level";
}

bool MatchValue(std::string_view pattern, std::string_view value) {
  if (pattern.find_first_of("*?[") == std::string_view::npos) return pattern == value;
  return fnmatch(std::string(pattern).c_str(), std::string(value).c_str(), 0) == 0;
}

SilenceState Silence::StateAt(double now) const {
  if (now >= ends_at) return SilenceState::kExpired;
  return now < starts_at ? SilenceState::kPending : SilenceState::kActive;
}

bool Silence::Matches(const IncidentFacts& incident) const {
  for (const auto& [key, pattern] : matchers) {
    bool ok = false;
    if (key == "server") {
      ok = incident.level == Level::kServer && MatchValue(pattern, incident.subject);
    } else if (key == "rack") {
      ok = !incident.rack.empty() && MatchValue(pattern, incident.rack);
    } else if (key == "kind") {
      ok = MatchValue(pattern, incident.kind);
    } else if (key == "severity") {
      ok = MatchValue(pattern, SeverityName(incident.severity));
    } else if (key == "level") {
      ok = MatchValue(pattern, LevelName(incident.level));
    }
    if (!ok) return false;
  }
  return true;
}

std::optional<std::pair<std::string, std::string>> SilenceIndex::KeyOf(const Silence& s) {
  for (const char* key : {"server", "rack", "kind"}) {
    for (const auto& [k, pattern] : s.matchers) {
      if (k == key && pattern.find_first_of("*?[") == std::string::npos) return std::make_pair(k, pattern);
    }
  }
  return std::nullopt;
}

void SilenceIndex::Add(const Silence& s) {
  if (auto key = KeyOf(s)) {
    by_key_[*key].insert(s.id);
  } else {
    scan_.insert(s.id);
  }
}

void SilenceIndex::Remove(const Silence& s) {
  if (auto key = KeyOf(s)) {
    auto it = by_key_.find(*key);
    if (it == by_key_.end()) return;
    it->second.erase(s.id);
    if (it->second.empty()) by_key_.erase(it);
  } else {
    scan_.erase(s.id);
  }
}

void SilenceIndex::Collect(const std::string& key, std::string_view value, std::set<std::string>* out) const {
  auto it = by_key_.find(std::make_pair(key, std::string(value)));
  if (it != by_key_.end()) out->insert(it->second.begin(), it->second.end());
}

std::vector<std::string> SilenceIndex::Candidates(const IncidentFacts& incident) const {
  std::set<std::string> ids(scan_.begin(), scan_.end());
  // As Silence::Matches reads each key: a server matcher only matches server incidents, a rack
  // matcher the incidents that have a rack.
  if (incident.level == Level::kServer) Collect("server", incident.subject, &ids);
  if (!incident.rack.empty()) Collect("rack", incident.rack, &ids);
  Collect("kind", incident.kind, &ids);
  return std::vector<std::string>(ids.begin(), ids.end());
}

bool Silence::CoversServer(std::string_view server, std::string_view rack) const {
  if (!maintenance) return false;
  if (std::find(released.begin(), released.end(), server) != released.end()) return false;
  bool named = false;
  for (const auto& [key, pattern] : matchers) {
    if (key == "server") {
      if (!MatchValue(pattern, server)) return false;
      named = true;
    } else if (key == "rack") {
      if (rack.empty() || !MatchValue(pattern, rack)) return false;
      named = true;
    } else if (key == "level") {
      if (!MatchValue(pattern, "server")) return false;
    }
  }
  return named;
}

}  // namespace dctwin
