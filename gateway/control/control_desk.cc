#include "gateway/control/control_desk.h"

#include <simdjson.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>

#include "config/config.h"
#include "base/json_writer.h"

namespace dctwin {

namespace {
constexpr const char* kDocs = "control";
constexpr size_t kMaxReportedKeys = 64;
constexpr size_t kMaxText = 1024;

void WriteValue(JsonWriter& w, const ControlValue& v) {
  if (const double* d = std::get_if<double>(&v)) {
    w.Number(*d);
  } else if (const bool* b = std::get_if<bool>(&v)) {
    w.Bool(*b);
  } else {
    w.String(std::get<std::string>(v));
  }
}

void WriteMap(JsonWriter& w, std::string_view key, const ControlMap& m) {
  w.Key(key).BeginObject();
  for (const auto& [k, v] : m) {
    w.Key(k);
    WriteValue(w, v);
  }
  w.EndObject();
}

// A JSON scalar as a control value; nullopt for null; false when it is neither.
bool ReadValue(simdjson::dom::element e, std::optional<ControlValue>* out) {
  switch (e.type()) {
    case simdjson::dom::element_type::NULL_VALUE:
      *out = std::nullopt;
      return true;
    case simdjson::dom::element_type::BOOL:
      *out = ControlValue(bool(e.get_bool()));
      return true;
    case simdjson::dom::element_type::STRING:
      *out = ControlValue(std::string(std::string_view(e.get_string())));
      return true;
    case simdjson::dom::element_type::INT64:
      *out = ControlValue(static_cast<double>(int64_t(e.get_int64())));
      return true;
    case simdjson::dom::element_type::UINT64:
      *out = ControlValue(static_cast<double>(uint64_t(e.get_uint64())));
      return true;
    case simdjson::dom::element_type::DOUBLE:
      *out = ControlValue(double(e.get_double()));
      return true;
    default:
      return false;
  }
}

bool ReadMap(simdjson::dom::element e, ControlMap* out) {
  simdjson::dom::object o;
  if (e.get_object().get(o)) return false;
  for (auto field : o) {
    std::optional<ControlValue> v;
    if (!ReadValue(field.value, &v) || !v) return false;
    out->emplace(std::string(field.key), std::move(*v));
  }
  return true;
}

bool ReadUint(simdjson::dom::object o, const char* key, uint64_t* out) {
  simdjson::dom::element e;
  if (o[key].get(e)) return false;
  int64_t i;
  if (!e.get_int64().get(i) && i >= 0) {
    *out = static_cast<uint64_t>(i);
    return true;
  }
  double d;
  if (!e.get_double().get(d) && d >= 0 && d == std::floor(d) && d < 9e15) {
    *out = static_cast<uint64_t>(d);
    return true;
  }
  return false;
}

std::string ReadString(simdjson::dom::object o, const char* key) {
  std::string_view s;
  if (o[key].get_string().get(s)) return {};
  return std::string(s.substr(0, kMaxText));
}

double ReadDouble(simdjson::dom::object o, const char* key) {
  double d = 0;
  if (o[key].get_double().get(d)) {
    int64_t i = 0;
    if (!o[key].get_int64().get(i)) return static_cast<double>(i);
    return 0;
  }
  return d;
}

bool ReadBool(simdjson::dom::object o, const char* key) {
  bool b = false;
  return !o[key].get_bool().get(b) && b;
}
}  // namespace

ControlDesk::ControlDesk(Options options, ControlOptions control, MessageSink& replies, Clock clock, Clock mono)
    : options_(std::move(options)), replies_sink_(replies), clock_(std::move(clock)), mono_(std::move(mono)),
      book_(std::move(control)) {}

Status ControlDesk::Restore(StateStore& store, const std::vector<std::pair<std::string, std::string>>& servers) {
  for (const auto& [server, rack] : servers) book_.Commission(server, rack);
  const double now = clock_(), mono = mono_();
  size_t n = 0;
  Status s = store.LoadDocs(kDocs, [&](DocRecord&& d) {
    simdjson::dom::object o;
    if (parser_.parse(d.body).get_object().get(o)) {
      spdlog::error("control state of server {} cannot be read; it starts afresh", d.key.id);
      return;
    }
    ServerControl c;
    ReadUint(o, "version", &c.version);
    ReadUint(o, "reported_version", &c.reported_version);
    simdjson::dom::element e;
    if (!o["desired"].get(e)) ReadMap(e, &c.desired);
    if (!o["reported"].get(e)) ReadMap(e, &c.reported);
    c.changed_at = ReadDouble(o, "changed_at");
    c.reported_at = ReadDouble(o, "reported_at");
    c.by = ReadString(o, "by");
    c.comment = ReadString(o, "comment");
    c.ac = static_cast<int>(ReadDouble(o, "ac"));
    c.ad = ReadString(o, "ad");
    c.applied = ReadBool(o, "applied");
    c.timed_out = ReadBool(o, "timed_out");
    c.control_open = ReadBool(o, "control_open");
    c.drift_open = ReadBool(o, "drift_open");
    simdjson::dom::array refused;
    if (!o["automation_refused"].get_array().get(refused)) {
      for (auto id : refused) {
        std::string_view sv;
        if (!id.get_string().get(sv)) refused_automation_[d.key.id].insert(std::string(sv));
      }
    }
    if (!book_.Known(d.key.id)) {
      // Its server was decommissioned while the desk's change was not committed yet: gone.
      docs_[d.key.id] = std::nullopt;
      refused_automation_.erase(d.key.id);
      return;
    }
    if (!c.Empty()) {
      published_control_[d.key.id] = ControlJson(c);
      book_.Restore(d.key.id, std::move(c), now, mono);
    }
    ++n;
  });
  if (!s.ok()) return s;
  // The twins hear their conditions again with the first commit.
  for (const std::string& server : book_.ServersWithState()) {
    ControlIncidents inc;
    book_.Incidents(server, &inc, true);
    told_.push_back({server, ControlCondition{"control", inc.control, inc.control_summary}});
    told_.push_back({server, ControlCondition{"drift", inc.drift, inc.drift_summary}});
  }
  for (const auto& [server, ids] : refused_automation_) {
    if (ids.empty()) continue;
    told_.push_back({server, ControlCondition{"automation", true, "an automation was refused by an interlock"}});
  }
  UpdateCounts();
  if (n > 0) spdlog::info("control state of {} servers restored", n);
  return Status::Ok();
}

bool ControlDesk::Submit(ControlRequest request) {
  const bool urgent = request.type != ControlRequest::Type::kReported;
  {
    MutexLock lock(mu_);
    if (requests_.size() >= options_.max_requests) {
      requests_refused_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    requests_.push_back(std::move(request));
  }
  if (urgent && wake_) wake_();
  return true;
}

void ControlDesk::OnIncidents(std::vector<IncidentEvent>& events, const std::vector<ProvisioningChange>& provisioning,
                              double now, double /*received*/) {
  for (const ProvisioningChange& c : provisioning) {
    if (c.change == ProvisioningChange::Change::kDecommissioned) {
      const bool had = book_.Find(c.server) != nullptr || refused_automation_.count(c.server) != 0;
      book_.Decommission(c.server);
      last_report_.erase(c.server);
      refused_automation_.erase(c.server);
      published_control_.erase(c.server);
      if (had) {
        // Its retained desired state and twin go with it.
        docs_[c.server] = std::nullopt;
        Outbox(options_.prefix + "/control/" + c.server, std::string());
        Outbox(options_.prefix + "/twin/server/" + c.server, std::string());
      }
    } else {
      book_.Commission(c.server, c.rack);
      if (book_.Find(c.server) != nullptr) Publish(c.server);  // the twin document names its rack
    }
  }
  for (const IncidentEvent& e : events) {
    if (e.level != Level::kServer) continue;
    if (e.state == IncidentState::kOpen) {
      Automate(e, now);
    } else if (e.state == IncidentState::kResolved) {
      auto it = refused_automation_.find(e.subject);
      if (it == refused_automation_.end() || it->second.erase(e.id) == 0) continue;
      if (it->second.empty()) {
        refused_automation_.erase(it);
        told_.push_back({e.subject, ControlCondition{"automation", false,
                                                      "the incidents whose automation was refused on server " +
                                                          e.subject + " have resolved"}});
      }
      Publish(e.subject);
    }
  }
  UpdateCounts();
}

void ControlDesk::Automate(const IncidentEvent& e, double now) {
  if (e.kind == "control" || e.kind == "drift" || e.kind == "automation") return;
  for (const AutomationRule& rule : book_.options().automation) {
    if (rule.kind != e.kind || (rule.severity && *rule.severity != e.severity)) continue;
    ControlChange change;
    change.server = e.subject;
    change.set = rule.set;
    change.by = "automation:" + e.kind;
    change.comment = "incident " + e.id + " opened: " + e.summary;
    ControlDecision d = book_.Change(change, now, mono_(), true);
    if (d.error.empty()) {
      accepted_.fetch_add(1, std::memory_order_relaxed);
      spdlog::info("automation {} on server {}: accepted (incident {})", e.kind, e.subject, e.id);
      Changed(e.subject, change, now);
      continue;
    }
    refused_.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn("automation {} on server {} refused: {}", e.kind, e.subject, d.error);
    Remember(e.subject, "refused", [&](JsonWriter& w) {
      w.Field("by", change.by).Field("comment", change.comment).Field("error", d.error).Field("interlock", d.interlock);
    }, now);
    if (!book_.Known(e.subject)) continue;
    const bool first = refused_automation_[e.subject].empty();
    refused_automation_[e.subject].insert(e.id);
    if (first) {
      std::string keys;
      for (const auto& [k, v] : rule.set) keys += (keys.empty() ? "" : ", ") + k + "=" + (v ? ControlValueText(*v) : "null");
      told_.push_back({e.subject, ControlCondition{"automation", true,
                                                    "automation for " + e.kind + " on server " + e.subject + " (" +
                                                        keys + ") was refused: " + d.error}});
    }
    Publish(e.subject);
  }
}

void ControlDesk::Poll(double now) {
  std::vector<ControlRequest> requests;
  {
    MutexLock lock(mu_);
    requests.swap(requests_);
  }
  for (ControlRequest& r : requests) Handle(r, now);
  for (const std::string& server : book_.CheckTimeouts(mono_())) {
    const ServerControl* s = book_.Find(server);
    spdlog::warn("server {}: version {} of its desired state was not applied within {} s", server, s->version,
                 book_.options().ack_timeout_s);
    Remember(server, "timeout", [&](JsonWriter& w) {
      w.IntField("version", static_cast<long long>(s->version)).Field("by", "gateway")
          .Field("comment", "not applied within the acknowledgement timeout");
    }, now);
    Publish(server);
  }
  UpdateCounts();
}

void ControlDesk::Handle(ControlRequest& r, double now) {
  switch (r.type) {
    case ControlRequest::Type::kDesired:
      HandleDesired(r, now);
      break;
    case ControlRequest::Type::kReported:
      HandleReported(r, now);
      break;
    case ControlRequest::Type::kQueryTwin:
      if (!book_.Known(r.server)) {
        if (options_.answer_unknown) ReplyError(r, "unknown server " + r.server + " (not commissioned)");
      } else {
        Reply(r, TwinJson(r.server, book_.Find(r.server)));
      }
      break;
    case ControlRequest::Type::kQueryRack:
      if (book_.rack_size(r.server) == 0) {
        if (options_.answer_unknown) ReplyError(r, "unknown rack " + r.server + " (no commissioned servers)");
      } else {
        Reply(r, RackJson(r.server));
      }
      break;
  }
}

void ControlDesk::HandleDesired(const ControlRequest& r, double now) {
  simdjson::dom::element doc;
  simdjson::dom::object o;
  if (parser_.parse(r.payload).get(doc) || doc.get_object().get(o)) {
    refused_.fetch_add(1, std::memory_order_relaxed);
    return ReplyError(r, "the request is not a JSON object");
  }
  ControlChange change;
  change.server = ReadString(o, "server");
  change.rack = ReadString(o, "rack");
  change.by = ReadString(o, "by");
  change.comment = ReadString(o, "comment");
  if (change.by.empty()) change.by = "unknown";
  const bool dry_run = ReadBool(o, "dry_run");
  std::string error;
  if (change.server.empty() == change.rack.empty()) {
    error = "name either \"server\" or \"rack\"";
  } else if (!change.server.empty() && !IsValidId(change.server)) {
    error = "\"server\" must match [A-Za-z0-9._-]{1,64}";
  }
  simdjson::dom::element e;
  if (error.empty() && !o["version"].get(e)) {
    uint64_t v = 0;
    if (!ReadUint(o, "version", &v)) {
      error = "\"version\" must be a whole number at or above 0";
    } else if (!change.rack.empty()) {
      error = "\"version\" applies to one server's change, not to a rack's";
    } else {
      change.version = v;
    }
  }
  simdjson::dom::object set;
  if (error.empty() && (o["set"].get(e) || e.get_object().get(set))) {
    error = "\"set\" is required: an object of keys, e.g. {\"drain\": true} (null removes a key)";
  }
  if (error.empty()) {
    for (auto field : set) {
      std::optional<ControlValue> v;
      if (!ReadValue(field.value, &v)) {
        error = "the value of " + std::string(field.key) + " must be a number, true/false, a string or null";
        break;
      }
      change.set.emplace_back(std::string(field.key), std::move(v));
    }
  }
  if (!error.empty()) {
    refused_.fetch_add(1, std::memory_order_relaxed);
    return ReplyError(r, error);
  }
  ControlDecision d = book_.Change(change, now, mono_(), !dry_run);
  if (d.unknown && !options_.answer_unknown) return;  // another pod holds it
  if (!d.error.empty()) {
    if (!dry_run) {
      refused_.fetch_add(1, std::memory_order_relaxed);
      spdlog::info("desired state change by {} refused: {}", change.by, d.error);
    }
    return ReplyError(r, d.error, d.interlock);
  }
  JsonWriter w;
  w.BeginObject().Field("ok", true);
  if (dry_run) w.Field("dry_run", true);
  w.Key("servers").BeginArray();
  for (const auto& [server, version] : d.servers) {
    w.BeginObject().Field("server", server).IntField("version", static_cast<long long>(version)).EndObject();
  }
  w.EndArray();
  // What the interlocks would count afterwards (the page's preview shows it).
  if (dry_run) {
    const std::string& rack = change.rack.empty() ? *book_.RackOf(change.server) : change.rack;
    const int size = book_.rack_size(rack);
    w.Key("interlocks").BeginObject()
        .Field("rack", rack)
        .IntField("rack_servers", size)
        .IntField("rack_drained", book_.drained_in_rack(rack))
        .IntField("rack_drained_allowed", ControlBook::Allowed(book_.options().max_drained_per_rack, size))
        .IntField("site_servers", static_cast<long long>(book_.servers()))
        .IntField("site_drained", book_.drained_total())
        .IntField("site_drained_allowed",
                  ControlBook::Allowed(book_.options().max_drained_per_datacenter, static_cast<int>(book_.servers())))
        .IntField("max_changes_per_min", book_.options().max_changes_per_min)
        .EndObject();
  }
  w.EndObject();
  if (!dry_run) {
    accepted_.fetch_add(1, std::memory_order_relaxed);
    spdlog::info("desired state of {} {} changed by {} ({} servers)", change.server.empty() ? "rack" : "server",
                 change.server.empty() ? change.rack : change.server, change.by, d.servers.size());
    for (const auto& [server, version] : d.servers) Changed(server, change, now);
  }
  Reply(r, w.Take());
}

void ControlDesk::Changed(const std::string& server, const ControlChange& change, double now) {
  const ServerControl* s = book_.Find(server);
  Remember(server, "desired", [&](JsonWriter& w) {
    w.IntField("version", static_cast<long long>(s->version));
    w.Key("set").BeginObject();
    for (const auto& [k, v] : change.set) {
      w.Key(k);
      if (v) {
        WriteValue(w, *v);
      } else {
        w.Null();
      }
    }
    w.EndObject();
    WriteMap(w, "desired", s->desired);
    w.Field("by", change.by).Field("comment", change.comment);
  }, now);
  Publish(server);
}

void ControlDesk::HandleReported(const ControlRequest& r, double now) {
  const std::string topic = options_.prefix + "/reported/" + r.server;
  auto refuse = [&](const std::string& why, RejectReason reason = RejectReason::kBadJson) {
    reports_refused_.fetch_add(1, std::memory_order_relaxed);
    if (reject_) reject_(reason, topic, why, r.payload);
  };
  if (!book_.Known(r.server)) {
    return refuse("server " + r.server + " is not commissioned", RejectReason::kUncommissioned);
  }
  const size_t hash = std::hash<std::string>{}(r.payload);
  auto last = last_report_.find(r.server);
  if (last != last_report_.end() && last->second == hash) {
    reports_unchanged_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  simdjson::dom::element doc;
  simdjson::dom::object o;
  if (parser_.parse(r.payload).get(doc) || doc.get_object().get(o)) return refuse("a report must be a JSON object");
  uint64_t version = 0;
  if (!ReadUint(o, "version", &version)) return refuse("\"version\" is required: the desired version the server acted on");
  int ac = kAckApplied;
  simdjson::dom::element e;
  if (!o["ac"].get(e)) {
    int64_t code = 0;
    if (e.get_int64().get(code) ||
        (code != kAckApplied && code != kAckInProgress && code != kAckRefused && code != kAckFailed)) {
      return refuse("\"ac\" must be 200, 202, 400 or 500");
    }
    ac = static_cast<int>(code);
  }
  ControlMap reported;
  std::vector<std::string> removed;
  if (!o["reported"].get(e)) {
    simdjson::dom::object m;
    if (e.get_object().get(m)) return refuse("\"reported\" must be an object of keys and values");
    size_t n = 0;
    for (auto field : m) {
      if (++n > kMaxReportedKeys) return refuse("\"reported\" holds more than 64 keys");
      std::optional<ControlValue> v;
      if (!ReadValue(field.value, &v)) {
        return refuse("the value of " + std::string(field.key) + " must be a number, true/false, a string or null");
      }
      if (v) {
        reported.emplace(std::string(field.key), std::move(*v));
      } else {
        removed.emplace_back(field.key);
      }
    }
  }
  const std::string ad = ReadString(o, "ad");
  ReportOutcome out = book_.Report(r.server, version, reported, removed, ac, ad, now);
  switch (out.kind) {
    case ReportOutcome::Kind::kRefused:
      return refuse(out.why, RejectReason::kConflict);
    case ReportOutcome::Kind::kStale:
      reports_stale_.fetch_add(1, std::memory_order_relaxed);
      spdlog::debug("server {}: report ignored, out of order: {}", r.server, out.why);
      return;
    case ReportOutcome::Kind::kUnchanged:
      reports_unchanged_.fetch_add(1, std::memory_order_relaxed);
      last_report_[r.server] = hash;
      return;
    case ReportOutcome::Kind::kApplied:
      last_report_[r.server] = hash;
      break;
  }
  reports_applied_.fetch_add(1, std::memory_order_relaxed);
  const ServerControl* s = book_.Find(r.server);
  Remember(r.server, "reported", [&](JsonWriter& w) {
    w.IntField("version", static_cast<long long>(version));
    WriteMap(w, "reported", s->reported);
    w.IntField("ac", ac).Field("ad", ad).Field("state", ControlStateName(s->State()))
        .Field("by", "server:" + r.server).Field("comment", ad);
  }, now);
  Publish(r.server);
}

void ControlDesk::Publish(const std::string& server) {
  const ServerControl* s = book_.Find(server);
  auto refused = refused_automation_.find(server);
  if (s == nullptr && refused == refused_automation_.end()) {
    docs_[server] = std::nullopt;  // nothing left to keep
    return;
  }
  // The document: the state and the automations waiting for their incidents to end.
  JsonWriter d;
  d.BeginObject();
  if (s != nullptr) {
    d.IntField("version", static_cast<long long>(s->version));
    WriteMap(d, "desired", s->desired);
    d.Field("changed_at", s->changed_at).Field("by", s->by).Field("comment", s->comment);
    d.IntField("reported_version", static_cast<long long>(s->reported_version));
    WriteMap(d, "reported", s->reported);
    d.IntField("ac", s->ac).Field("ad", s->ad).Field("reported_at", s->reported_at);
    d.Field("applied", s->applied).Field("timed_out", s->timed_out);
  }
  ControlIncidents inc;
  if (s != nullptr && book_.Incidents(server, &inc)) {
    told_.push_back({server, ControlCondition{"control", inc.control, inc.control
                                                                         ? inc.control_summary
                                                                         : "server " + server + " reached its desired state"}});
    told_.push_back({server, ControlCondition{"drift", inc.drift, inc.drift
                                                                     ? inc.drift_summary
                                                                     : "server " + server + " is back at its desired state"}});
  }
  if (s != nullptr) d.Field("control_open", s->control_open).Field("drift_open", s->drift_open);
  if (refused != refused_automation_.end()) {
    d.Key("automation_refused").BeginArray();
    for (const std::string& id : refused->second) d.String(id);
    d.EndArray();
  }
  d.EndObject();
  docs_[server] = d.Take();
  if (s == nullptr) return;
  Outbox(options_.prefix + "/twin/server/" + server, TwinJson(server, s));
  std::string control = ControlJson(*s);
  std::string& last = published_control_[server];
  if (control != last) {
    last = control;
    Outbox(options_.prefix + "/control/" + server, std::move(control));
  }
}

std::string ControlDesk::ControlJson(const ServerControl& s) const {
  JsonWriter w;
  w.BeginObject().IntField("version", static_cast<long long>(s.version));
  WriteMap(w, "desired", s.desired);
  WriteMap(w, "delta", s.Delta());
  w.EndObject();
  return w.Take();
}

std::string ControlDesk::TwinJson(const std::string& server, const ServerControl* s) const {
  static const ServerControl kNone;
  if (s == nullptr) s = &kNone;
  JsonWriter w;
  w.BeginObject().Field("server", server);
  if (const std::string* rack = book_.RackOf(server)) w.Field("rack", *rack);
  WriteMap(w, "desired", s->desired);
  WriteMap(w, "reported", s->reported);
  WriteMap(w, "delta", s->Delta());
  w.IntField("version", static_cast<long long>(s->version))
      .IntField("reported_version", static_cast<long long>(s->reported_version))
      .Field("state", ControlStateName(s->State()))
      .Field("updated_at", std::max(s->changed_at, s->reported_at));
  if (s->ac != 0) w.IntField("ac", s->ac).Field("ad", s->ad);
  if (s->version > 0) w.Field("by", s->by).Field("comment", s->comment).Field("changed_at", s->changed_at);
  w.Field("drained", s->Drained());
  w.EndObject();
  return w.Take();
}

std::string ControlDesk::RackJson(const std::string& rack) const {
  const int size = book_.rack_size(rack);
  JsonWriter w;
  w.BeginObject().Field("rack", rack).IntField("drained", book_.drained_in_rack(rack))
      .IntField("drained_allowed", ControlBook::Allowed(book_.options().max_drained_per_rack, size));
  w.Key("servers").BeginArray();
  for (const std::string& server : book_.RackServers(rack)) {
    const ServerControl* s = book_.Find(server);
    w.BeginObject().Field("server", server);
    if (s == nullptr) {
      w.Field("state", "in_sync").IntField("version", 0).Field("drained", false).IntField("pending", 0);
    } else {
      w.Field("state", ControlStateName(s->State())).IntField("version", static_cast<long long>(s->version))
          .Field("drained", s->Drained()).IntField("pending", static_cast<long long>(s->Delta().size()));
    }
    w.EndObject();
  }
  w.EndArray().EndObject();
  return w.Take();
}

void ControlDesk::Remember(const std::string& server, const std::string& kind,
                           const std::function<void(JsonWriter&)>& fields, double now) {
  const double at = stamp_ ? stamp_(now) : now;
  const std::string* rack = book_.RackOf(server);
  const std::string rack_id = rack != nullptr ? *rack : std::string();
  JsonWriter w;
  w.BeginObject().Field("at", at).Field("level", "server").Field("subject", server).Field("server", server);
  if (!rack_id.empty()) w.Field("rack", rack_id);
  w.Field("change", kind);
  fields(w);
  w.EndObject();
  history_.push_back(HistoryRecord{0, at, "control", "server", server, rack_id, kind, "", w.Take()});
}

void ControlDesk::Outbox(std::string topic, std::string payload) {
  OutboxRecord r;
  r.topic = std::move(topic);
  r.payload = std::move(payload);
  r.qos = 1;
  r.retained = true;
  outbox_.push_back(std::move(r));
}

void ControlDesk::Reply(const ControlRequest& r, std::string payload) {
  if (r.reply_topic.empty()) return;
  replies_.push_back(OutMessage{r.reply_topic, std::move(payload), 1, false, r.correlation});
}

void ControlDesk::ReplyError(const ControlRequest& r, const std::string& error, const std::string& interlock) {
  JsonWriter w;
  w.BeginObject().Field("ok", false).Field("error", error);
  if (!interlock.empty()) w.Field("interlock", interlock);
  w.EndObject();
  Reply(r, w.Take());
}

void ControlDesk::Contribute(StoreBatch& batch) {
  batch.outbox.insert(batch.outbox.end(), outbox_.begin(), outbox_.end());
  batch.history.insert(batch.history.end(), history_.begin(), history_.end());
  for (const auto& [server, body] : docs_) {
    if (body) {
      batch.doc_upserts.push_back(DocRecord{{kDocs, server}, *body});
    } else {
      batch.doc_deletes.push_back(DocKey{kDocs, server});
    }
  }
}

void ControlDesk::Committed(double /*now*/) {
  outbox_.clear();
  history_.clear();
  docs_.clear();
  for (OutMessage& m : replies_) replies_sink_.Publish(std::move(m));
  replies_.clear();
  if (conditions_) {
    for (auto& [server, c] : told_) conditions_(server, std::move(c));
  }
  told_.clear();
}

void ControlDesk::UpdateCounts() {
  pending_.store(static_cast<int64_t>(book_.waiting()), std::memory_order_relaxed);
  drained_.store(book_.drained_total(), std::memory_order_relaxed);
}

}  // namespace dctwin
