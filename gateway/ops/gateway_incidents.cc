#include "gateway/ops/gateway_incidents.h"

#include <spdlog/spdlog.h>

#include <optional>
#include <utility>

#include "gateway/incidents/incident_json.h"
#include "gateway/publish/alert_publisher.h"

namespace dctwin {

namespace {
constexpr const char* kKinds[] = {kStoreFailing, kBrokerDropping, kAlertmanagerDown};
}  // namespace

GatewayIncidents::GatewayIncidents(std::string prefix, std::string gateway_id, std::string datacenter,
                                   MessageSink& sink, Clock clock)
    : prefix_(std::move(prefix)), gateway_id_(std::move(gateway_id)), datacenter_(std::move(datacenter)),
      sink_(sink), clock_(std::move(clock)) {}

void GatewayIncidents::Set(const std::string& kind, bool active, Severity severity, const std::string& summary) {
  std::optional<IncidentEvent> event = Change(kind, active, severity, summary);
  if (event && on_event_) on_event_(*event);
}

std::optional<IncidentEvent> GatewayIncidents::Change(const std::string& kind, bool active, Severity severity,
                                                      const std::string& summary) {
  MutexLock lock(mu_);
  const double now = clock_();
  auto it = open_.find(kind);
  if (active && it == open_.end()) {
    IncidentEvent e;
    e.id = MakeIncidentId(Level::kGateway, gateway_id_, kind, now, ++seq_);
    e.level = Level::kGateway;
    e.subject = gateway_id_;
    e.datacenter = datacenter_;
    e.kind = kind;
    e.severity = severity;
    e.state = IncidentState::kOpen;
    e.opened_at = now;
    e.at = now;
    e.summary = summary;
    spdlog::log(severity == Severity::kCritical ? spdlog::level::critical : spdlog::level::warn,
                "gateway incident open {} {}: {}", kind, e.id, summary);
    OutMessage event{prefix_ + "/alerts/gateway/" + gateway_id_, IncidentEventJson(e), 1, false, {}, 0};
    event.essential = true;
    sink_.Publish(std::move(event));
    it = open_.emplace(kind, std::move(e)).first;
    PublishRecord(kind, &it->second);
    PublishHealth();
    return it->second;
  } else if (active) {
    if (it->second.summary == summary && it->second.severity == severity) return std::nullopt;
    it->second.summary = summary;
    it->second.severity = severity;
    PublishRecord(kind, &it->second);
    PublishHealth();
  } else if (it != open_.end()) {
    IncidentEvent e = std::move(it->second);
    open_.erase(it);
    e.state = IncidentState::kResolved;
    e.at = now;
    e.summary = summary;
    spdlog::info("gateway incident resolved {} {}: {}", kind, e.id, summary);
    OutMessage event{prefix_ + "/alerts/gateway/" + gateway_id_, IncidentEventJson(e), 1, false, {}, 0};
    event.essential = true;
    sink_.Publish(std::move(event));
    PublishRecord(kind, nullptr);
    PublishHealth();
    return e;
  }
  return std::nullopt;
}

void GatewayIncidents::PublishAll() {
  MutexLock lock(mu_);
  for (const char* kind : kKinds) {
    auto it = open_.find(kind);
    PublishRecord(kind, it == open_.end() ? nullptr : &it->second);
  }
  PublishHealth();
}

bool GatewayIncidents::open(const std::string& kind) const {
  MutexLock lock(mu_);
  return open_.count(kind) > 0;
}

std::vector<IncidentEvent> GatewayIncidents::Records() const {
  MutexLock lock(mu_);
  std::vector<IncidentEvent> out;
  for (const auto& [kind, e] : open_) out.push_back(e);
  return out;
}

void GatewayIncidents::PublishRecord(const std::string& kind, const IncidentEvent* record) {
  sink_.Publish(OutMessage{prefix_ + "/incidents/gateway/" + gateway_id_ + "/" + kind,
                           record != nullptr ? IncidentRecordJson(*record) : std::string(), 1, true, {}, 0});
}

void GatewayIncidents::PublishHealth() {
  HealthUpdate h;
  h.level = Level::kGateway;
  h.subject = gateway_id_;
  h.updated_at = clock_();
  h.status = HealthStatus::kOk;
  for (const auto& [kind, e] : open_) {
    h.open.push_back(e.id);
    if (e.severity == Severity::kCritical) {
      h.status = HealthStatus::kCritical;
    } else if (h.status == HealthStatus::kOk) {
      h.status = HealthStatus::kWarning;
    }
  }
  sink_.Publish(OutMessage{prefix_ + "/health/gateway/" + gateway_id_, AlertPublisher::HealthJson(h, gateway_id_), 1,
                           true, {}, 0});
}

}  // namespace dctwin
