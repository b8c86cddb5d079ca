#include "gateway/alert_publisher.h"

#include <spdlog/spdlog.h>

#include <utility>

#include "gateway/json_writer.h"

namespace dctwin {

AlertPublisher::AlertPublisher(std::string prefix, MessageSink& sink) : prefix_(std::move(prefix)), sink_(sink) {}

std::string AlertPublisher::EventJson(const IncidentEvent& e) {
  JsonWriter w;
  w.BeginObject()
      .Field("id", e.id)
      .Field("level", LevelName(e.level))
      .Field("subject", e.subject);
  if (!e.rack.empty()) w.Field("rack", e.rack);
  w.Field("datacenter", e.datacenter)
      .Field("kind", e.kind)
      .Field("severity", SeverityName(e.severity))
      .Field("state", StateName(e.state))
      .Field("opened_at", e.opened_at)
      .Field("at", e.at)
      .Field("summary", e.summary);
  if (!e.caused_by.empty()) w.Field("caused_by", e.caused_by);
  w.EndObject();
  return w.Take();
}

std::string AlertPublisher::HealthJson(const HealthUpdate& h) {
  if (h.cleared) return std::string();
  JsonWriter w;
  w.BeginObject().Field("status", HealthStatusName(h.status));
  w.Key("open").BeginArray();
  for (const std::string& id : h.open) w.String(id);
  w.EndArray();
  w.Field("updated_at", h.updated_at);
  switch (h.level) {
    case Level::kServer:
      w.Field("server", h.subject).Field("rack", h.rack);
      break;
    case Level::kRack:
      w.Field("rack", h.subject).IntField("servers", h.members);
      break;
    case Level::kDatacenter:
      w.Field("datacenter", h.subject)
          .Field("healthy", h.status == HealthStatus::kOk)
          .IntField("racks", h.members);
      w.Key("unhealthy_racks").BeginArray();
      for (const std::string& r : h.unhealthy) w.String(r);
      w.EndArray();
      break;
  }
  if (h.level != Level::kServer) {
    // rack: servers with an open incident of each kind; datacenter: unhealthy racks per kind
    w.Key("by_kind").BeginObject();
    for (const auto& [kind, n] : h.by_kind) w.IntField(kind, n);
    w.EndObject();
  }
  w.EndObject();
  return w.Take();
}

void AlertPublisher::PublishEvent(const IncidentEvent& e) {
  spdlog::info("incident {} {} {} {} {}: {}", StateName(e.state), LevelName(e.level), e.subject, e.kind, e.id,
               e.summary);
  OutMessage msg;
  msg.topic = prefix_ + "/alerts/" + std::string(LevelName(e.level)) + "/" + e.subject;
  msg.payload = EventJson(e);
  msg.qos = 1;
  msg.retained = false;
  Send(std::move(msg));
}

void AlertPublisher::PublishHealth(const HealthUpdate& h) {
  OutMessage msg;
  msg.topic = prefix_ + "/health/" + std::string(LevelName(h.level)) + "/" + h.subject;
  msg.payload = HealthJson(h);
  msg.qos = 1;
  msg.retained = true;
  Send(std::move(msg));
}

void AlertPublisher::Send(OutMessage msg) {
  std::string topic = msg.topic;
  if (!sink_.Publish(std::move(msg))) {
    const uint64_t n = failed_.fetch_add(1, std::memory_order_relaxed) + 1;
    // One line per power of two: a broker outage must not turn into a log flood.
    if ((n & (n - 1)) == 0) spdlog::error("could not hand over {} for publishing ({} lost so far)", topic, n);
  }
}

}  // namespace dctwin
