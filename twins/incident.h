// Incidents and health: the values the twins produce for the outside world.
// Plain values; safe to copy between threads.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace dctwin {

// kGateway: the gateway's own incidents (the monitoring path itself), never a twin's.
// kGroup: what several racks share (a power feed, a cooling unit, a ToR switch; twins/topology.h).
enum class Level : uint8_t { kServer, kRack, kDatacenter, kGateway, kGroup };
enum class Severity : uint8_t { kWarning, kCritical };
// kUpdated: what the incident's record says changed (its cause, its rack): the record is published
// again; it is not an event of the contract.
enum class IncidentState : uint8_t { kOpen, kResolved, kAcknowledged, kUpdated };
enum class HealthStatus : uint8_t { kOk, kWarning, kCritical, kSilent, kUnknown };

std::string_view LevelName(Level level);
std::string_view SeverityName(Severity severity);
std::string_view StateName(IncidentState state);
std::string_view HealthStatusName(HealthStatus status);
bool ParseSeverity(std::string_view text, Severity* out);

// A number an incident carries besides its summary: a forecast's eta_s, eta_low_s, eta_high_s
// (seconds from the event's `at`) and threshold, a change's before, after and changed_at.
struct Figure {
  std::string name;
  double value = 0;
};
// Every figure name a twin writes, for readers of the JSON.
inline constexpr const char* kFigureNames[] = {"eta_s", "eta_low_s", "eta_high_s", "threshold", "current",
                                               "rate_per_h", "before", "after", "changed_at", "shift"};

// One open incident as a twin keeps it.
struct Incident {
  std::string id;
  std::string kind;
  Severity severity = Severity::kWarning;
  double opened_at = 0;
  std::string summary;
  std::string caused_by;  // id of the enclosing rack/group/datacenter incident, empty if none
  std::string runbook;    // from the rule that opened it, empty if none
  bool flapping = false;  // opened model.flap_count times within model.flap_window_s
  double stable_since = 0;  // flapping: report time since which its condition has been clear
  std::string metric;            // forecast, change and anomaly incidents: the metric
  std::vector<Figure> figures;   // see Figure
  double figures_at = 0;         // the time the figures are relative to
};

// What goes out on P/alerts/<level>/<subject>.
struct IncidentEvent {
  std::string id;
  Level level = Level::kServer;
  std::string subject;
  std::string rack;  // empty for datacenter and group incidents
  std::string datacenter;
  std::string kind;
  Severity severity = Severity::kWarning;
  IncidentState state = IncidentState::kOpen;
  double opened_at = 0;
  double at = 0;
  std::string summary;
  std::string caused_by;
  std::string runbook;
  bool flapping = false;
  std::string metric;
  std::vector<Figure> figures;  // relative to `at` where they are durations
  // Filled in by the gateway's incident desk, not by the twins: the silences that mute the
  // incident, and its acknowledgement.
  std::vector<std::string> silenced_by;
  std::string acked_by;
  double acked_at = 0;
  std::string ack_comment;
};

// An open incident as a server reports it to its rack, or a rack to its datacenter.
struct IncidentRef {
  std::string kind;
  std::string id;
  Severity severity = Severity::kWarning;
  double opened_at = 0;
  bool operator==(const IncidentRef&) const = default;
};

// What goes out retained on P/health/<level>/<subject>.
struct HealthUpdate {
  Level level = Level::kServer;
  std::string subject;
  bool cleared = false;  // the twin is gone: publish an empty retained message
  HealthStatus status = HealthStatus::kUnknown;
  std::vector<std::string> open;  // ids of the twin's own open incidents
  double updated_at = 0;
  std::string rack;                     // server: its rack
  std::map<std::string, int> by_kind;   // rack: servers per open kind; datacenter, group: racks per open kind
  int members = 0;                      // rack: servers; datacenter, group: racks
  std::vector<std::string> unhealthy;   // datacenter, group: unhealthy rack ids (datacenter: the first 100)
  int unhealthy_count = 0;              // datacenter: every unhealthy rack
  bool maintenance = false;             // server: under an active maintenance silence
  // rack: what a site gateway needs to judge the rack from its health alone (role = "site")
  double since = 0;                     // earliest opened_at of anything open in the rack
  Severity worst = Severity::kWarning;  // worst severity open (meaningful when by_kind is not empty)
  std::vector<IncidentRef> incidents;   // rack: its own (rack-level) open incidents
};

// Tells a twin whether its health says something new: a fingerprint of everything the health says
// apart from its time. Not durable: after a restore the first health of every twin is new, and
// the outbound queue (which owns the retained topics) makes sure the broker ends up with the
// latest one, so a twin never needs to know what was published.
class HealthMemo {
 public:
  // True (and remembered) when `h` differs from the last health this memo saw.
  bool Changed(const HealthUpdate& h);

 private:
  uint64_t fingerprint_ = 0;
  bool seen_ = false;
};

// Builds "<level>:<subject>:<kind>:<opened-at-ms>.<seq>": unique per twin because seq grows with
// every incident the twin opens, and unique across restarts because of the wall-clock part.
std::string MakeIncidentId(Level level, std::string_view subject, std::string_view kind, double now,
                           uint64_t seq);

Severity Worst(Severity a, Severity b);

// The event that tells the world about `incident` (its open or its resolve).
IncidentEvent MakeEvent(const Incident& incident, Level level, const std::string& subject, const std::string& rack,
                        const std::string& datacenter, IncidentState state, double at);

}  // namespace dctwin
