#include "gateway/incidents/incident_json.h"

#include <simdjson.h>

#include "base/json_writer.h"

namespace dctwin {

namespace {

void WriteEventFields(JsonWriter& w, const IncidentEvent& e) {
  w.Field("id", e.id).Field("level", LevelName(e.level)).Field("subject", e.subject);
  if (!e.rack.empty()) w.Field("rack", e.rack);
  w.Field("datacenter", e.datacenter)
      .Field("kind", e.kind)
      .Field("severity", SeverityName(e.severity))
      .Field("state", StateName(e.state))
      .Field("opened_at", e.opened_at)
      .Field("at", e.at)
      .Field("summary", e.summary);
  if (!e.caused_by.empty()) w.Field("caused_by", e.caused_by);
  if (!e.runbook.empty()) w.Field("runbook", e.runbook);
  w.Field("flapping", e.flapping);
  if (!e.metric.empty()) w.Field("metric", e.metric);
  for (const Figure& f : e.figures) w.Field(f.name, f.value);
  w.Key("silenced_by").BeginArray();
  for (const std::string& id : e.silenced_by) w.String(id);
  w.EndArray();
  if (!e.acked_by.empty()) {
    w.Field("acked_by", e.acked_by).Field("acked_at", e.acked_at).Field("ack_comment", e.ack_comment);
  }
}

void WriteMatchers(JsonWriter& w, const Silence& s) {
  w.Key("matchers").BeginObject();
  for (const auto& [key, value] : s.matchers) w.Field(key, value);
  w.EndObject();
}

void WriteSilenceFields(JsonWriter& w, const Silence& s) {
  w.Field("id", s.id);
  WriteMatchers(w, s);
  w.Field("starts_at", s.starts_at)
      .Field("ends_at", s.ends_at)
      .Field("created_by", s.created_by)
      .Field("comment", s.comment)
      .Field("maintenance", s.maintenance);
}

// simdjson DOM: small documents, read at restore only.
simdjson::dom::parser& Parser() {
  static thread_local simdjson::dom::parser parser;
  return parser;
}

bool ParseRoot(std::string_view json, simdjson::dom::element* root, std::string* error) {
  if (auto err = Parser().parse(json.data(), json.size()).get(*root)) {
    *error = std::string("invalid JSON: ") + simdjson::error_message(err);
    return false;
  }
  return true;
}

std::string Str(simdjson::dom::element e, const char* key) {
  std::string_view v;
  if (e[key].get_string().get(v) != simdjson::SUCCESS) return {};
  return std::string(v);
}
double Num(simdjson::dom::element e, const char* key) {
  double v = 0;
  if (e[key].get_double().get(v) != simdjson::SUCCESS) {
    int64_t i = 0;
    if (e[key].get_int64().get(i) == simdjson::SUCCESS) v = static_cast<double>(i);
  }
  return v;
}
bool Flag(simdjson::dom::element e, const char* key) {
  bool v = false;
  return e[key].get_bool().get(v) == simdjson::SUCCESS && v;
}
std::vector<std::string> Strings(simdjson::dom::element e, const char* key) {
  std::vector<std::string> out;
  simdjson::dom::array a;
  if (e[key].get_array().get(a) != simdjson::SUCCESS) return out;
  for (simdjson::dom::element x : a) {
    std::string_view v;
    if (x.get_string().get(v) == simdjson::SUCCESS) out.emplace_back(v);
  }
  return out;
}

}  // namespace

std::string IncidentEventJson(const IncidentEvent& e) {
  JsonWriter w;
  w.BeginObject();
  WriteEventFields(w, e);
  w.EndObject();
  return w.Take();
}

std::string IncidentRecordJson(const IncidentEvent& record) {
  IncidentEvent open = record;
  open.state = IncidentState::kOpen;
  return IncidentEventJson(open);
}

bool ParseIncidentRecord(std::string_view json, IncidentEvent* out, std::string* error) {
  simdjson::dom::element e;
  if (!ParseRoot(json, &e, error)) return false;
  IncidentEvent r;
  r.id = Str(e, "id");
  const std::string level = Str(e, "level");
  if (level == "server") {
    r.level = Level::kServer;
  } else if (level == "rack") {
    r.level = Level::kRack;
  } else if (level == "datacenter") {
    r.level = Level::kDatacenter;
  } else if (level == "gateway") {
    r.level = Level::kGateway;
  } else if (level == "group") {
    r.level = Level::kGroup;
  } else {
    *error = "unknown level \"" + level + "\"";
    return false;
  }
  r.subject = Str(e, "subject");
  r.rack = Str(e, "rack");
  r.datacenter = Str(e, "datacenter");
  r.kind = Str(e, "kind");
  if (!ParseSeverity(Str(e, "severity"), &r.severity)) {
    *error = "unknown severity";
    return false;
  }
  r.state = IncidentState::kOpen;
  r.opened_at = Num(e, "opened_at");
  r.at = Num(e, "at");
  r.summary = Str(e, "summary");
  r.caused_by = Str(e, "caused_by");
  r.runbook = Str(e, "runbook");
  r.flapping = Flag(e, "flapping");
  r.metric = Str(e, "metric");
  for (const char* name : kFigureNames) {
    double v = 0;
    if (e[name].get_double().get(v) == simdjson::SUCCESS) r.figures.push_back(Figure{name, v});
  }
  r.silenced_by = Strings(e, "silenced_by");
  r.acked_by = Str(e, "acked_by");
  r.acked_at = Num(e, "acked_at");
  r.ack_comment = Str(e, "ack_comment");
  if (r.id.empty() || r.subject.empty() || r.kind.empty()) {
    *error = "an incident record needs id, subject and kind";
    return false;
  }
  *out = std::move(r);
  return true;
}

std::string SilenceJson(const Silence& s, double now) {
  JsonWriter w;
  w.BeginObject();
  WriteSilenceFields(w, s);
  w.Field("state", SilenceStateName(s.StateAt(now)));
  w.EndObject();
  return w.Take();
}

std::string SilenceTombstoneJson(const Silence& s) {
  JsonWriter w;
  w.BeginObject().Field("id", s.id).Field("state", "expired").Field("expired_at", s.ends_at).EndObject();
  return w.Take();
}

bool IsSilenceTombstone(std::string_view json, double* expired_at) {
  simdjson::dom::element e;
  std::string error;
  if (!ParseRoot(json, &e, &error) || Str(e, "state") != "expired") return false;
  double at = 0;
  if (!e["expired_at"].get(at)) *expired_at = at;
  return true;
}

std::string SilenceDocJson(const Silence& s) {
  JsonWriter w;
  w.BeginObject();
  WriteSilenceFields(w, s);
  w.Field("created_at", s.created_at);
  w.Key("released").BeginArray();
  for (const std::string& server : s.released) w.String(server);
  w.EndArray();
  w.EndObject();
  return w.Take();
}

bool ParseSilenceDoc(std::string_view json, Silence* out, std::string* error) {
  simdjson::dom::element e;
  if (!ParseRoot(json, &e, error)) return false;
  Silence s;
  s.id = Str(e, "id");
  simdjson::dom::object matchers;
  if (e["matchers"].get_object().get(matchers) == simdjson::SUCCESS) {
    for (auto field : matchers) {
      std::string_view v;
      if (field.value.get_string().get(v) == simdjson::SUCCESS) s.matchers.emplace_back(field.key, v);
    }
  }
  s.starts_at = Num(e, "starts_at");
  s.ends_at = Num(e, "ends_at");
  s.created_at = Num(e, "created_at");
  s.created_by = Str(e, "created_by");
  s.comment = Str(e, "comment");
  s.maintenance = Flag(e, "maintenance");
  s.released = Strings(e, "released");
  if (s.id.empty()) {
    *error = "a silence needs an id";
    return false;
  }
  *out = std::move(s);
  return true;
}

}  // namespace dctwin
