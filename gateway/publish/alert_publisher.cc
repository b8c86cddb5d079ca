#include "gateway/publish/alert_publisher.h"

#include <spdlog/spdlog.h>

#include <utility>

#include "base/json_writer.h"

namespace dctwin {

AlertPublisher::AlertPublisher(std::string prefix, std::string datacenter, MessageSink& sink, std::string gateway_id,
                               bool rack_copies)
    : prefix_(std::move(prefix)), datacenter_(std::move(datacenter)), sink_(sink), gateway_id_(std::move(gateway_id)),
      rack_copies_(rack_copies && !gateway_id_.empty()) {}

namespace {

void WriteIncidents(JsonWriter& w, const std::vector<Incident>& incidents) {
  w.BeginArray();
  for (const Incident& inc : incidents) {
    w.BeginObject()
        .Field("id", inc.id)
        .Field("kind", inc.kind)
        .Field("severity", SeverityName(inc.severity))
        .Field("opened_at", inc.opened_at)
        .Field("summary", inc.summary);
    if (!inc.caused_by.empty()) w.Field("caused_by", inc.caused_by);
    if (!inc.metric.empty()) w.Field("metric", inc.metric);
    // Durations of the figures count from `figures_at`.
    if (!inc.figures.empty()) w.Field("figures_at", inc.figures_at);
    for (const Figure& f : inc.figures) w.Field(f.name, f.value);
    w.EndObject();
  }
  w.EndArray();
}

// What the forecast and change rules of a server see now.
void WriteForesight(JsonWriter& w, const std::vector<ForesightView>& views) {
  w.Key("forecasts").BeginArray();
  for (const ForesightView& v : views) {
    if (!v.forecast) continue;
    const Projection& p = v.projection;
    w.BeginObject()
        .Field("metric", v.metric)
        .Field("kind", v.kind)
        .Field("op", CompareOpName(v.op))
        .Field("threshold", v.threshold)
        .Field("forecast_s", v.forecast_s)
        .Field("firing", v.firing)
        .Field("known", p.known)
        .IntField("points", p.points);
    if (p.known) {
      // eta_*: seconds from `at` (the end of the newest closed bucket of the trend); null: never.
      w.Field("at", p.at).Field("level", p.level).Field("rate_per_h", p.slope * 3600);
      w.Key("eta_s").Number(p.eta).Key("eta_low_s").Number(p.eta_low).Key("eta_high_s").Number(p.eta_high);
    }
    w.EndObject();
  }
  w.EndArray();
  w.Key("changes").BeginArray();
  for (const ForesightView& v : views) {
    if (v.forecast) continue;
    w.BeginObject()
        .Field("metric", v.metric)
        .Field("direction", ChangeDirectionName(v.direction))
        .Field("learning", v.learning)
        .Field("level", v.level)
        .Field("changed", v.changed)
        .Field("firing", v.firing);
    if (v.changed) {
      w.Field("up", v.up).Field("before", v.before).Field("after", v.after).Field("changed_at", v.changed_at);
    }
    w.EndObject();
  }
  w.EndArray();
}

void WriteRefs(JsonWriter& w, const std::vector<IncidentRef>& refs) {
  w.BeginArray();
  for (const IncidentRef& r : refs) {
    w.BeginObject()
        .Field("id", r.id)
        .Field("kind", r.kind)
        .Field("severity", SeverityName(r.severity))
        .Field("opened_at", r.opened_at)
        .EndObject();
  }
  w.EndArray();
}

const char* SubjectKey(QueryKind kind) {
  switch (kind) {
    case QueryKind::kServer: return "server";
    case QueryKind::kRack: return "rack";
    case QueryKind::kGroup: return "group";
    case QueryKind::kDatacenter:
    case QueryKind::kUnhealthyRacks: return "datacenter";
  }
  return "datacenter";
}

}  // namespace

std::string AlertPublisher::ReplyJson(const QueryReply& reply, const std::string& datacenter) {
  JsonWriter w;
  w.BeginObject();
  if (!reply.found) {
    const char* what = SubjectKey(reply.query.kind);
    w.Field(what, reply.subject).Field("found", false).Field("error", std::string("unknown ") + what + " " + reply.subject);
    w.EndObject();
    return w.Take();
  }
  if (const auto* v = std::get_if<DatacenterView>(&reply.view)) {
    w.Field("datacenter", reply.subject);
    if (reply.query.kind == QueryKind::kUnhealthyRacks) {
      w.Key("racks").BeginArray();
      for (const RackStatus& r : v->unhealthy) {
        w.BeginObject().Field("rack", r.rack);
        w.Key("kinds").BeginArray();
        for (const std::string& k : r.kinds) w.String(k);
        w.EndArray();
        w.Field("since", r.since).Field("severity", SeverityName(r.worst));
        w.Key("incidents");
        WriteRefs(w, r.incidents);
        w.EndObject();
      }
      w.EndArray();
    } else {
      w.Field("found", true)
          .Field("status", HealthStatusName(v->status))
          .Field("healthy", v->status == HealthStatus::kOk)
          .IntField("racks", static_cast<long long>(v->racks));
      w.Key("open");
      WriteIncidents(w, v->open);
      w.Key("unhealthy_racks").BeginArray();
      for (const RackStatus& r : v->unhealthy) w.String(r.rack);
      w.EndArray();
    }
  } else if (const auto* r = std::get_if<RackView>(&reply.view)) {
    w.Field("rack", reply.subject)
        .Field("datacenter", datacenter)
        .Field("found", true)
        .Field("status", HealthStatusName(r->status))
        .IntField("servers", r->servers);
    w.Key("open");
    WriteIncidents(w, r->open);
    w.Key("by_kind").BeginObject();
    for (const auto& [kind, n] : r->by_kind) w.IntField(kind, n);
    w.EndObject();
    w.Key("servers_with_incidents").BeginObject();
    for (const auto& [server, refs] : r->troubled) {
      w.Key(server);
      WriteRefs(w, refs);
    }
    w.EndObject();
    w.Key("members").BeginArray();
    for (const auto& [server, maintenance] : r->members) {
      w.BeginObject().Field("server", server).Field("maintenance", maintenance).EndObject();
    }
    w.EndArray();
  } else if (const auto* g = std::get_if<GroupView>(&reply.view)) {
    w.Field("group", reply.subject)
        .Field("datacenter", datacenter)
        .Field("found", true)
        .Field("status", HealthStatusName(g->status));
    w.Key("open");
    WriteIncidents(w, g->open);
    w.Key("racks").BeginArray();
    for (const std::string& rack : g->racks) w.String(rack);
    w.EndArray();
    // What each rack of the group with anything open has: its rack incidents and its servers
    // with incidents per kind.
    w.Key("troubled").BeginArray();
    for (const GroupMember& m : g->troubled) {
      w.BeginObject().Field("rack", m.rack).Field("severity", SeverityName(m.worst));
      w.Key("incidents");
      WriteRefs(w, m.incidents);
      w.Key("by_kind").BeginObject();
      for (const auto& [kind, n] : m.by_kind) w.IntField(kind, n);
      w.EndObject().EndObject();
    }
    w.EndArray();
  } else if (const auto* s = std::get_if<ServerView>(&reply.view)) {
    w.Field("server", reply.subject)
        .Field("rack", s->rack)
        .Field("datacenter", datacenter)
        .Field("found", true)
        .Field("status", HealthStatusName(s->status));
    w.Key("open");
    WriteIncidents(w, s->open);
    if (s->last_report_ts > 0) w.Field("last_report", s->last_report_ts);
    w.Field("window_s", s->window_s);
    w.Key("metrics").BeginObject();
    for (const MetricSummary& m : s->metrics) {
      // The window stores floats (7 significant digits); print them as such.
      w.Key(m.metric).BeginObject();
      w.Key("last").Float(m.last).Key("min").Float(m.min).Key("max").Float(m.max).Key("mean").Float(m.mean);
      w.IntField("samples", m.samples).EndObject();
    }
    w.EndObject();
    WriteForesight(w, s->foresight);
    if (reply.query.series) {
      w.Key("series").BeginObject();
      for (const MetricSeries& m : s->series) {
        w.Key(m.metric).BeginArray();
        for (const auto& [ts, value] : m.points) w.BeginArray().Number(ts).Float(value).EndArray();
        w.EndArray();
      }
      w.EndObject();
    }
  }
  w.EndObject();
  return w.Take();
}

void AlertPublisher::PublishReply(const QueryReply& reply, const std::string& response_topic,
                                  const std::string& correlation) {
  OutMessage msg;
  msg.topic = response_topic;
  msg.payload = ReplyJson(reply, datacenter_);
  msg.qos = 1;
  msg.retained = false;
  msg.correlation_data = correlation;
  Send(std::move(msg));
}

std::string AlertPublisher::HealthJson(const HealthUpdate& h, const std::string& gateway_id) {
  if (h.cleared) return std::string();
  JsonWriter w;
  w.BeginObject().Field("status", HealthStatusName(h.status));
  w.Key("open").BeginArray();
  for (const std::string& id : h.open) w.String(id);
  w.EndArray();
  w.Field("updated_at", h.updated_at);
  if (!gateway_id.empty()) w.Field("gateway", gateway_id);
  switch (h.level) {
    case Level::kServer:
      w.Field("server", h.subject).Field("rack", h.rack);
      if (h.maintenance) w.Field("maintenance", true);
      break;
    case Level::kRack:
      w.Field("rack", h.subject).IntField("servers", h.members);
      // What a site gateway judges the rack by (roles): since when, how bad, its own incidents.
      if (!h.by_kind.empty() || !h.incidents.empty()) {
        w.Field("since", h.since).Field("severity", SeverityName(h.worst));
      }
      w.Key("incidents");
      WriteRefs(w, h.incidents);
      break;
    case Level::kDatacenter:
      w.Field("datacenter", h.subject)
          .Field("healthy", h.status == HealthStatus::kOk)
          .IntField("racks", h.members)
          .IntField("unhealthy_count", h.unhealthy_count);
      // The first of them in id order: P/query/unhealthy-racks lists every one.
      w.Key("unhealthy_racks").BeginArray();
      for (const std::string& r : h.unhealthy) w.String(r);
      w.EndArray();
      break;
    case Level::kGroup:
      w.Field("group", h.subject).IntField("racks", h.members);
      w.Key("unhealthy_racks").BeginArray();
      for (const std::string& r : h.unhealthy) w.String(r);
      w.EndArray();
      break;
    case Level::kGateway:
      break;  // the gateway's own health: status and open incidents only
  }
  if (h.level == Level::kRack || h.level == Level::kDatacenter || h.level == Level::kGroup) {
    // rack: servers with an open incident of each kind; datacenter: unhealthy racks per kind;
    // group: racks with an open incident of each kind it can cause
    w.Key("by_kind").BeginObject();
    for (const auto& [kind, n] : h.by_kind) w.IntField(kind, n);
    w.EndObject();
  }
  w.EndObject();
  return w.Take();
}

void AlertPublisher::PublishHealth(const HealthUpdate& h) {
  OutMessage msg;
  msg.topic = prefix_ + "/health/" + std::string(LevelName(h.level)) + "/" + h.subject;
  msg.payload = HealthJson(h, gateway_id_);
  msg.qos = 1;
  msg.retained = true;
  if (rack_copies_ && h.level == Level::kRack) {
    OutMessage copy = msg;
    copy.topic = prefix_ + "/gateway/" + gateway_id_ + "/health/rack/" + h.subject;
    Send(std::move(copy));
  }
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
