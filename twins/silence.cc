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
