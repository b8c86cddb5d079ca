// The twin's other half: what operators want of a server (its desired state) beside what the
// server says it is (its reported state), with the version of each change, and the interlocks
// that a change must pass before it is accepted.
//
// ControlBook is the domain: pure, no threads, no I/O, no JSON. It knows which servers are in
// which rack (to change a rack at once and to count drained servers), each server's control state,
// and the site's rate of changes. The gateway's ControlDesk (gateway/control/) owns one on the
// store writer's thread, and turns what it decides into documents, messages and history rows.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "twins/incident.h"

namespace dctwin {

enum class ControlType : uint8_t { kNumber, kBool, kString };
const char* ControlTypeName(ControlType t);

// A value of a desired or reported key: a number, a bool or a string.
using ControlValue = std::variant<double, bool, std::string>;
bool SameValue(const ControlValue& a, const ControlValue& b);
std::string ControlValueText(const ControlValue& v);  // for summaries and logs: 350, true, max

// One [[control.keys]] table.
struct ControlKeySpec {
  std::string name;
  ControlType type = ControlType::kNumber;
  std::optional<double> min, max;   // numbers
  std::vector<std::string> values;  // strings: the allowed ones (empty: any)
};

// One [[automation]] table: when a server incident of `kind` (and `severity`, if given) opens,
// set these keys (nullopt removes one).
struct AutomationRule {
  std::string kind;
  std::optional<Severity> severity;
  std::vector<std::pair<std::string, std::optional<ControlValue>>> set;
};

struct ControlOptions {
  std::vector<ControlKeySpec> keys;
  double ack_timeout_s = 120;
  double max_drained_per_rack = 0.25;
  double max_drained_per_datacenter = 0.05;
  int max_changes_per_min = 600;
  std::vector<AutomationRule> automation;

  const ControlKeySpec* Key(const std::string& name) const;
};

// Empty when `v` fits `spec`; else what is wrong ("power_cap_w must be at most 1000").
std::string CheckValue(const ControlKeySpec& spec, const ControlValue& v);

using ControlMap = std::map<std::string, ControlValue>;

enum class ControlState : uint8_t { kInSync, kPending, kRejected, kFailed, kTimeout };
const char* ControlStateName(ControlState s);

// The acknowledgement codes of a report (acknowledged writable properties).
constexpr int kAckApplied = 200;
constexpr int kAckInProgress = 202;
constexpr int kAckRefused = 400;
constexpr int kAckFailed = 500;

// One server's desired and reported state.
struct ServerControl {
  uint64_t version = 0;  // of the newest accepted change (0: none yet)
  ControlMap desired;
  double changed_at = 0;  // when `version` was accepted (wall clock)
  std::string by, comment;  // of that change
  ControlMap reported;
  uint64_t reported_version = 0;  // the version the server last said it acted on
  int ac = 0;                     // and how (0: it has not said)
  std::string ad;
  double reported_at = 0;
  bool applied = false;    // the server said 200 for `version`: a value leaving desired is drift now
  bool timed_out = false;  // `version` was not applied within ack_timeout_s
  // The incidents this state keeps open on the server twin (as last decided).
  bool control_open = false;
  bool drift_open = false;

  // Desired keys whose reported value differs (or is missing).
  ControlMap Delta() const;
  ControlState State() const;
  // A change is waiting for the server (for the timeout).
  bool Waiting() const;
  bool Drained() const;  // desired or reported drain = true (draining counts until undone)
  bool Empty() const { return version == 0 && reported.empty(); }
};

// What a change asks: one server's or one rack's keys.
struct ControlChange {
  std::string server;  // one of server, rack
  std::string rack;
  std::vector<std::pair<std::string, std::optional<ControlValue>>> set;
  std::optional<uint64_t> version;
  std::string by, comment;
};

// What the book decided about a change: refused (error, and which interlock), or accepted for
// these servers with these versions.
struct ControlDecision {
  std::string error;      // empty: accepted
  std::string interlock;  // the interlock that refused it (max_drained_per_rack, ...), or empty
  bool unknown = false;   // refused because the server or rack is not commissioned here
  std::vector<std::pair<std::string, uint64_t>> servers;  // (server, version)
};

// What a report did.
struct ReportOutcome {
  enum class Kind : uint8_t { kApplied, kUnchanged, kStale, kRefused };
  Kind kind = Kind::kRefused;
  std::string why;  // kStale, kRefused
};

// The incidents a server's control state keeps open, as the twin should hold them.
struct ControlIncidents {
  std::string server;
  bool control = false;
  std::string control_summary;
  bool drift = false;
  std::string drift_summary;
};

class ControlBook {
 public:
  explicit ControlBook(ControlOptions options) : options_(std::move(options)) {}
  const ControlOptions& options() const { return options_; }

  // Membership (from provisioning and the restored twins). A server that leaves loses its state.
  void Commission(const std::string& server, const std::string& rack);
  void Decommission(const std::string& server);
  bool Known(const std::string& server) const { return rack_of_.count(server) != 0; }
  const std::string* RackOf(const std::string& server) const;
  size_t servers() const { return rack_of_.size(); }

  // Restored state of a server (before membership or after: either order works). A version still
  // waiting keeps what is left of its timeout (`now`: the wall clock, `mono`: the monotonic one).
  void Restore(const std::string& server, ServerControl state, double now, double mono);

  // Checks `change` against the keys and every interlock; applies it when `apply` (else it is a
  // preview). `mono`: the monotonic clock, for the rate of changes and the timeout.
  ControlDecision Change(const ControlChange& change, double now, double mono, bool apply);
  // A server's report, parsed: the version it acted on, the values it reports (merged into what
  // it reported before), the keys it no longer has, and its acknowledgement.
  ReportOutcome Report(const std::string& server, uint64_t version, const ControlMap& reported,
                       const std::vector<std::string>& removed, int ac, const std::string& ad, double now);
  // Versions not applied within ack_timeout_s: their servers time out. Returns them.
  std::vector<std::string> CheckTimeouts(double mono);
  // What the twin of `server` should hold open now; true when it differs from what was last
  // decided (and marks it decided), or always with `force` (a restart tells every twin again).
  bool Incidents(const std::string& server, ControlIncidents* out, bool force = false);

  const ServerControl* Find(const std::string& server) const;
  // Every server with control state (for the restart's republish), sorted.
  std::vector<std::string> ServersWithState() const;
  int drained_in_rack(const std::string& rack) const;
  int drained_total() const { return drained_total_; }
  // Versions waiting for their server within the timeout.
  size_t waiting() const { return deadlines_.size(); }
  int rack_size(const std::string& rack) const;
  // The servers of `rack`, sorted (empty when it has none).
  std::vector<std::string> RackServers(const std::string& rack) const;
  // How many of `n` servers the fraction allows (at least one when the fraction is above 0).
  static int Allowed(double fraction, int n);

 private:
  struct RackCount {
    std::set<std::string> servers;
    int drained = 0;
  };
  // Keeps the drained counts right around a change of `server`'s state.
  void Recount(const std::string& server, bool was_drained);
  std::string CheckKeys(const ControlChange& change) const;

  const ControlOptions options_;
  std::unordered_map<std::string, std::string> rack_of_;
  std::map<std::string, RackCount> racks_;
  std::unordered_map<std::string, ServerControl> state_;  // servers with control state
  int drained_total_ = 0;
  std::deque<double> changes_;  // monotonic times of the changes of the last minute
  // Versions waiting for their server: (monotonic deadline, server) -> version, and each server's
  // deadline, so that an applied report finds its entry without a search.
  std::map<std::pair<double, std::string>, uint64_t> deadlines_;
  std::unordered_map<std::string, double> deadline_of_;
  void SetDeadline(const std::string& server, double mono, uint64_t version);
  void ClearDeadline(const std::string& server);
};

}  // namespace dctwin
