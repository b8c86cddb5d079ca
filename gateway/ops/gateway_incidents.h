// GatewayIncidents: trouble in the monitoring path itself as incidents like any other (contract
// v3, "The gateway's own incidents"): level "gateway", subject the gateway id, events on
// P/alerts/gateway/<id>, the open record retained on P/incidents/gateway/<id>/<kind>, and the
// gateway's health on P/health/gateway/<id>. Kinds: store_failing (commits fail), broker_dropping
// (the broker's drop counter rose), alertmanager_down (a URL has been failing).
//
// They do not go through the outbox: store_failing must be heard exactly when the store cannot
// commit. Events are essential messages of the outbound queue (never refused for room, kept in
// order with the outbox rows); records and health are retained values of its table, so the broker
// ends up with the latest whatever the outages. At start every kind's record is published (empty
// when not open): a record a crashed run left behind is cleared.
//
// Thread-safe.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/thread_annotations.h"
#include "gateway/mqtt/message_sink.h"
#include "twins/incident.h"

namespace dctwin {

// The kinds of the gateway's own incidents.
inline constexpr const char* kStoreFailing = "store_failing";
inline constexpr const char* kBrokerDropping = "broker_dropping";
inline constexpr const char* kAlertmanagerDown = "alertmanager_down";

class GatewayIncidents {
 public:
  using Clock = std::function<double()>;
  GatewayIncidents(std::string prefix, std::string gateway_id, std::string datacenter, MessageSink& sink, Clock clock);

  // Called with every open and resolve (not under the lock): the history. Before the first Set.
  void SetEventHandler(std::function<void(const IncidentEvent&)> handler) { on_event_ = std::move(handler); }
  // Opens the incident of `kind` (when `active` and none is open), updates its summary or
  // severity (the record only), or resolves it (when not `active`; `summary` says why).
  void Set(const std::string& kind, bool active, Severity severity, const std::string& summary);
  // Publishes every kind's record and the health (at start).
  void PublishAll();
  bool open(const std::string& kind) const;
  // The open incidents as records, for P/query/incidents.
  std::vector<IncidentEvent> Records() const;

 private:
  // Set() under the lock: the event it published, if any.
  std::optional<IncidentEvent> Change(const std::string& kind, bool active, Severity severity, const std::string& summary);
  void PublishRecord(const std::string& kind, const IncidentEvent* record) REQUIRES(mu_);
  void PublishHealth() REQUIRES(mu_);

  // Constant after construction
  const std::string prefix_;
  const std::string gateway_id_;
  const std::string datacenter_;
  MessageSink& sink_;
  const Clock clock_;
  std::function<void(const IncidentEvent&)> on_event_;

  mutable Mutex mu_;
  std::map<std::string, IncidentEvent> open_ GUARDED_BY(mu_);  // kind -> record
  uint64_t seq_ GUARDED_BY(mu_) = 0;
};

}  // namespace dctwin
