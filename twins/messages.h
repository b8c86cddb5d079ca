// Messages between the outside world and the twins, and between twins. Every message is addressed
// to exactly one twin; the shard pool delivers the messages of one twin one at a time, in order.
// Plain values: they move between threads by being posted, never shared.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "twins/foresight.h"
#include "twins/incident.h"
#include "twins/metric_window.h"

namespace dctwin {

struct TwinAddress {
  Level level = Level::kServer;
  std::string id;

  size_t Hash() const { return std::hash<std::string>{}(id) * 31u + static_cast<size_t>(level); }
  bool operator==(const TwinAddress&) const = default;
};

// --- from the outside (decoded MQTT messages) ---

struct Commission {
  std::string rack;
};
struct Decommission {};
struct Report {
  double ts = 0;  // report timestamp (epoch seconds); receive time when the publisher gave none
  std::vector<std::pair<std::string, double>> metrics;
  // A part of a report (collectd and Telegraf send one message per plugin): parts with
  // timestamps close together are assembled into one report before the model sees it.
  bool partial = false;
};

// --- between twins ---

// Server -> rack: the server's membership and its complete set of open incidents. Sent on every
// change; carrying the whole set makes it idempotent.
struct MemberStatus {
  std::string server;
  bool member = true;  // false: the server left the rack (decommissioned or moved)
  bool maintenance = false;  // under maintenance: not counted for correlation
  std::vector<IncidentRef> open;
};

// Rack -> server: the rack's open incidents by kind, so member incidents can carry caused_by.
struct RackIncidents {
  std::string rack;
  std::vector<IncidentRef> open;
};

// Rack -> datacenter: what the rack has open, at every level.
struct RackStatus {
  std::string rack;
  bool exists = true;                   // false: the rack has no servers left and is gone
  std::vector<IncidentRef> incidents;   // rack-level incidents
  std::vector<std::string> kinds;       // every kind open in the rack (server or rack level), sorted
  double since = 0;                     // earliest opened_at of anything open in the rack
  Severity worst = Severity::kWarning;  // worst severity of anything open (meaningful when kinds is not empty)
  std::string owner;                    // site: the pod gateway that publishes the rack (durable ownership)
  // site: taken from the owner's own copy, P/gateway/<owner>/health/rack/<rack>, which only the
  // owner's bridge may write; from then on a plain P/health/rack/<rack> copy naming it is not taken
  bool from_owner_topic = false;
};

// Datacenter -> rack: the datacenter's open incidents, so rack incidents can carry caused_by.
struct DatacenterIncidents {
  std::vector<IncidentRef> open;
};

// Gateway -> group: the group's racks as the inventory lists them. No racks: the group is no
// longer listed; it resolves what it has open and is gone.
struct GroupDefinition {
  std::vector<std::string> racks;  // sorted
};

// Rack -> group (at a site: a pod's rack health, by way of the ingest): what the rack has open.
// The whole picture each time, so it is idempotent.
struct GroupMember {
  std::string rack;
  bool exists = true;                  // false: the rack has no servers left, or left the group
  std::vector<IncidentRef> incidents;  // rack-level incidents
  std::map<std::string, int> by_kind;  // servers with open incidents, per kind
  Severity worst = Severity::kWarning; // worst severity open in the rack (when by_kind is not empty)
  bool operator==(const GroupMember&) const = default;
};

// Group -> rack: the group's open incidents, so the rack's incidents (and its servers' where the
// rack has none of the kind) carry caused_by.
struct GroupIncidents {
  std::string group;
  std::vector<IncidentRef> open;
};

// Gateway -> datacenter: the alert-storm guard's view of silence across the whole gateway.
struct SilenceStorm {
  bool active = false;
  int silent = 0;  // servers overdue or silent
  int total = 0;   // commissioned servers
};

// Site -> datacenter: a pod gateway's online status, or whether the bridge from its pod's broker
// is connected (role = "site").
struct PodStatus {
  std::string pod;
  bool online = true;
  bool bridge = false;  // the bridge's notification, not the gateway's status
};

// Site -> datacenter: a second pod publishes a rack another pod owns (a configuration error), or
// stopped doing so (active = false).
struct RackConflict {
  std::string rack;
  std::string owner;  // the pod whose reports of the rack count
  std::string other;  // the pod whose reports of it are refused
  bool active = true;
};

// Gateway -> server: an incident the server's control state keeps open or lets go (`control`,
// `drift`, `automation`; gateway/control/). Idempotent: the same condition again changes nothing.
struct ControlCondition {
  std::string kind;
  bool open = false;
  std::string summary;
};

// --- queries (MQTT 5 request/response) ---

enum class QueryKind : uint8_t { kUnhealthyRacks, kDatacenter, kRack, kServer, kGroup };

struct Query {
  QueryKind kind = QueryKind::kDatacenter;
  bool series = false;  // server: add the window's samples per metric
  // Who asked: opaque to the twins; the gateway knows where the answer goes.
  uint64_t reply_token = 0;
};

// What one forecast or change rule sees of one metric (P/query/server, dctwinctl server).
struct ForesightView {
  std::string metric;
  std::string kind;          // the rule's kind; "change" for a change rule
  bool forecast = false;     // else a change rule
  // forecast
  CompareOp op = CompareOp::kGreater;
  double threshold = 0;
  double forecast_s = 0;
  Projection projection;     // projection.known: there is a trend
  // change
  ChangeDirection direction = ChangeDirection::kNone;
  bool learning = false;     // still learning the level
  bool changed = false;
  bool up = false;
  double level = 0;
  double before = 0, after = 0, changed_at = 0;
  bool firing = false;       // its incident is open
};

struct ServerView {
  std::string rack;
  HealthStatus status = HealthStatus::kUnknown;
  std::vector<Incident> open;
  double last_report_ts = 0;  // 0: no report yet
  double window_s = 0;
  std::vector<MetricSummary> metrics;
  std::vector<MetricSeries> series;  // filled only when the query asked for it
  std::vector<ForesightView> foresight;
};

struct RackView {
  HealthStatus status = HealthStatus::kOk;
  std::vector<Incident> open;  // rack-level incidents
  int servers = 0;
  std::map<std::string, int> by_kind;
  std::map<std::string, std::vector<IncidentRef>> troubled;  // servers with open incidents
  std::vector<std::pair<std::string, bool>> members;         // every server, and whether under maintenance
};

struct DatacenterView {
  HealthStatus status = HealthStatus::kOk;
  std::vector<Incident> open;
  size_t racks = 0;
  std::vector<RackStatus> unhealthy;
};

struct GroupView {
  HealthStatus status = HealthStatus::kOk;
  std::vector<Incident> open;
  std::vector<std::string> racks;          // as the inventory lists them
  std::vector<GroupMember> troubled;       // racks with anything open
};

// What a twin answers; the gateway turns it into the reply message.
struct QueryReply {
  Query query;
  std::string subject;
  bool found = false;
  std::variant<std::monostate, ServerView, RackView, DatacenterView, GroupView> view;
};

using Message = std::variant<Commission, Decommission, Report, MemberStatus, RackIncidents, RackStatus,
                             DatacenterIncidents, Query, SilenceStorm, PodStatus, RackConflict, ControlCondition,
                             GroupDefinition, GroupMember, GroupIncidents>;

struct Envelope {
  TwinAddress to;
  double now = 0;  // gateway wall clock when the message entered the pool
  Message msg;
  // Monotonic clock (seconds) when it is handled, for silence deadlines: a step of the wall clock
  // (NTP) must not make every server overdue at once. 0: the owner uses `now`.
  double mono = 0;
  // Monotonic clock (seconds) when the gateway took it from the broker; 0 for messages it made
  // itself (timers, twin to twin). Measures the alert latency (dctwin_alert_latency_seconds).
  double received = 0;
};

// A server joined a rack, moved to another, or left. `rack`: where it is now (where it was, for a
// decommission); `from_rack`: where it was before a move.
struct ProvisioningChange {
  enum class Change : uint8_t { kCommissioned, kMoved, kDecommissioned };
  Change change = Change::kCommissioned;
  std::string server;
  std::string rack;
  std::string from_rack;
  double at = 0;
};

// What handling one message produced. The host commits the state, then releases all of it: events,
// health, replies and sends.
struct Effects {
  std::vector<IncidentEvent> events;
  std::vector<HealthUpdate> health;
  std::vector<Envelope> sends;
  std::vector<QueryReply> replies;
  int reports_applied = 0;
  int reports_late = 0;        // applied to the window only: older than the server's newest report
  size_t metrics_ignored = 0;  // over the per-server metric limit
  // Servers commissioned, moved or decommissioned: the history records it, and a decommissioned
  // server's part of any maintenance ends.
  std::vector<ProvisioningChange> provisioning;
  std::string rejected;  // non-empty: the message was refused, and why (for the dead letter)
};

}  // namespace dctwin
