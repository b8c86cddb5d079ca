// Silence: an operator's decision to mute the notifications of the incidents it matches, for a
// stretch of time; with `maintenance`, also to keep its servers from going `silent` and from
// counting toward rack correlation. A silence mutes, it never hides: muted incidents still open
// and resolve everywhere, carrying the ids of the silences that mute them.
//
// Plain value; the matching functions are pure and safe to call from any thread on a const copy.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "twins/incident.h"

namespace dctwin {

enum class SilenceState : uint8_t { kPending, kActive, kExpired };
std::string_view SilenceStateName(SilenceState state);

// The facts of an incident that matchers look at.
struct IncidentFacts {
  Level level = Level::kServer;
  std::string_view subject;
  std::string_view rack;  // empty for datacenter incidents
  std::string_view kind;
  Severity severity = Severity::kWarning;
};

// An incident's facts (views into `e`, which must outlive them).
inline IncidentFacts FactsOf(const IncidentEvent& e) {
  return IncidentFacts{e.level, e.subject, e.rack, e.kind, e.severity};
}

struct Silence {
  std::string id;
  // Matcher key (server, rack, kind, severity, level) and its value: exact, or an fnmatch glob.
  std::vector<std::pair<std::string, std::string>> matchers;
  double starts_at = 0;
  double ends_at = 0;
  double created_at = 0;
  std::string created_by;
  std::string comment;
  bool maintenance = false;
  // Servers whose part of this maintenance ended (they were decommissioned).
  std::vector<std::string> released;

  SilenceState StateAt(double now) const;
  // Every matcher matches. A `rack` matcher also matches the server incidents of that rack.
  bool Matches(const IncidentFacts& incident) const;
  // Maintenance: the server is one of this silence's servers (its server, rack and level
  // matchers match; kind and severity do not narrow which servers are under maintenance).
  bool CoversServer(std::string_view server, std::string_view rack) const;
};

// Silences filed under one exact matcher each, so that an incident is tested only against the
// silences that could match it instead of every silence. A silence is filed under its first exact
// `server` matcher, else its first exact `rack`, else its first exact `kind`; one with none of
// these (globs, severity or level only) is tested against every incident.
//
// Not thread-safe: one owner.
class SilenceIndex {
 public:
  void Add(const Silence& s);
  void Remove(const Silence& s);
  // The ids of the silences that may match `incident` (every one that does, and maybe more),
  // sorted.
  std::vector<std::string> Candidates(const IncidentFacts& incident) const;
  size_t unfiled() const { return scan_.size(); }

 private:
  static std::optional<std::pair<std::string, std::string>> KeyOf(const Silence& s);
  void Collect(const std::string& key, std::string_view value, std::set<std::string>* out) const;

  std::map<std::pair<std::string, std::string>, std::set<std::string>, std::less<>> by_key_;
  std::set<std::string> scan_;
};

// The matcher keys a silence may use.
bool IsMatcherKey(std::string_view key);
// Exact, or an fnmatch glob when the pattern has * ? or [.
bool MatchValue(std::string_view pattern, std::string_view value);

}  // namespace dctwin
