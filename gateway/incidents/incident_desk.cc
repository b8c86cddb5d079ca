#include "gateway/incidents/incident_desk.h"

#include <simdjson.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include "base/json_writer.h"
#include "gateway/incidents/incident_json.h"
#include "gateway/incidents/request_fields.h"

namespace dctwin {

namespace {

constexpr const char* kMeta = "meta";
constexpr const char* kGatewayOpen = "gateway-open";

SilenceBook::Options BookOptions(const IncidentDesk::Options& o) {
  return SilenceBook::Options{o.prefix, o.keep_expired_s, o.max_silences, o.owns_silences};
}

}  // namespace

IncidentDesk::IncidentDesk(Options options, MessageSink& replies, Clock clock)
    : options_(std::move(options)), replies_sink_(replies), clock_(std::move(clock)),
      records_(options_.prefix, writes_), silences_(BookOptions(options_), writes_),
      ledger_(records_.open(), writes_, options_.notify, options_.group_hold_s) {
  if (options_.render_thread) renderer_ = std::make_unique<AnswerRenderer>(replies_sink_, 64);
}

Status IncidentDesk::Restore(StateStore& store) {
  writes_.Stamp(store.LastHistoryAt());
  Status s = store.LoadDocs(kMeta, [&](DocRecord&& d) { spans_seeded_ = spans_seeded_ || d.key.id == "spans"; });
  if (!s.ok()) return s;
  // The gateway's own incidents that were open at the stop: this run starts without them (they
  // are published afresh if the trouble is still there), so the history says they ended.
  s = store.LoadDocs(kGatewayOpen, [&](DocRecord&& d) {
    IncidentEvent r;
    std::string error;
    if (ParseIncidentRecord(d.body, &r, &error)) gateway_cut_short_.push_back(std::move(r));
    writes_.DeleteDoc(kGatewayOpen, d.key.id);
  });
  if (!s.ok()) return s;
  size_t bad = 0;
  if (s = records_.Restore(store, &bad); !s.ok()) return s;
  if (s = silences_.Restore(store, records_.open(), clock_(), &bad); !s.ok()) return s;
  if (s = ledger_.Restore(store, &bad); !s.ok()) return s;
  UpdateCounts(clock_());
  spdlog::info("incident desk: {} open incident records, {} silences, {} Alertmanager notifications{}",
               records_.open().size(), silences_.size(), ledger_.owed(),
               bad > 0 ? " (some unreadable rows dropped)" : "");
  return Status::Ok();
}

std::shared_ptr<const std::vector<Silence>> IncidentDesk::ActiveMaintenance() const {
  return silences_.ActiveMaintenance(clock_());
}

std::vector<Notification> IncidentDesk::Notifications() const { return ledger_.All(); }

bool IncidentDesk::Submit(DeskRequest request) {
  {
    MutexLock lock(mu_);
    // What operators ask is bounded (while the store fails, nothing is answered); what the
    // gateway tells itself (a silence mirrored from the site, resolves Alertmanager took) is not.
    const bool asked = request.type != DeskRequest::Type::kSilenceMirror &&
                       request.type != DeskRequest::Type::kResolvesDelivered &&
                       request.type != DeskRequest::Type::kGatewayIncident;
    if (asked && requests_.size() >= options_.max_requests) {
      requests_refused_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    requests_.push_back(std::move(request));
  }
  if (wake_) wake_();
  return true;
}

void IncidentDesk::ResolveUnheld(const std::function<bool(const IncidentEvent&)>& held, double now) {
  std::vector<IncidentEvent> resolves;
  for (const auto& [id, record] : records_.open()) {
    if (held(record)) continue;
    IncidentEvent e = record;
    e.state = IncidentState::kResolved;
    e.at = now;
    e.summary = "resolved at restore: no twin holds this incident any more (the state of " +
                std::string(LevelName(e.level)) + " " + e.subject + " could not be read and was quarantined)";
    resolves.push_back(std::move(e));
  }
  if (resolves.empty()) return;
  spdlog::warn("restore: {} open incident record(s) no twin holds any more; resolving them", resolves.size());
  OnIncidents(resolves, {}, now, 0);
}

void IncidentDesk::OnIncidents(std::vector<IncidentEvent>& events,
                               const std::vector<ProvisioningChange>& provisioning, double now,
                               double received) {
  for (IncidentEvent& e : events) {
    if (e.state == IncidentState::kUpdated) {
      // What the record says changed (its cause, its rack): the record goes out again.
      IncidentEvent* record = records_.Update(e);
      if (record == nullptr) continue;
      record->silenced_by = silences_.Muting(*record, now);  // a rack silence follows the server
      records_.Save(*record);
      continue;
    }
    e.silenced_by = silences_.Muting(e, now);
    RememberIncident(e, now);
    spdlog::info("incident {} {} {} {} {}{}: {}", StateName(e.state), LevelName(e.level), e.subject, e.kind, e.id,
                 e.silenced_by.empty() ? "" : " (muted)", e.summary);
    records_.Announce(e, received);
    if (e.state == IncidentState::kOpen) {
      records_.Open(e);
      ledger_.Opened(e, now);
    } else if (e.state == IncidentState::kResolved) {
      records_.Resolve(e);
      ledger_.Resolved(e, now);
    }
  }
  for (const ProvisioningChange& c : provisioning) {
    RememberProvisioning(c, now);
    // A decommissioned server's part of every maintenance ends.
    if (c.change == ProvisioningChange::Change::kDecommissioned) silences_.Released(c.server, c.rack, now);
  }
  UpdateCounts(now);
}

std::vector<std::string> IncidentDesk::ApplySilence(SilenceBook::Entry& entry, double now) {
  const SilenceState state = entry.silence.StateAt(now);
  std::vector<std::string> muted;
  if (state == entry.applied && state != SilenceState::kActive) return muted;
  const std::string& sid = entry.silence.id;
  for (const auto& [id, open] : records_.open()) {
    const bool muting = std::find(open.silenced_by.begin(), open.silenced_by.end(), sid) != open.silenced_by.end();
    const bool mutes = state == SilenceState::kActive && entry.silence.Matches(FactsOf(open));
    if (mutes) muted.push_back(id);
    if (mutes == muting) continue;
    IncidentEvent& record = *records_.Find(id);
    if (mutes) {
      record.silenced_by.push_back(sid);
    } else {
      record.silenced_by.erase(std::find(record.silenced_by.begin(), record.silenced_by.end(), sid));
      // No longer muted and never notified: Alertmanager hears of it now (or when a hold ends).
      ledger_.Unmuted(record);
    }
    records_.Save(record);
  }
  if (state != entry.applied) {
    // The owner records the end (an early expiry set ends_at to when it was asked).
    if (state == SilenceState::kExpired && options_.owns_silences) {
      RememberSilence(entry.silence, "expired", std::min(now, entry.silence.ends_at));
    }
    entry.applied = state;
    silences_.Save(entry.silence, now);
  }
  return muted;
}

void IncidentDesk::Poll(double now) {
  std::vector<DeskRequest> requests;
  {
    MutexLock lock(mu_);
    requests.swap(requests_);
  }
  for (IncidentEvent& e : gateway_cut_short_) {
    e.state = IncidentState::kResolved;
    e.at = now;
    e.summary = "the gateway stopped while this was open; its end is recorded at the restart";
    RememberIncident(e, now);
  }
  gateway_cut_short_.clear();
  for (DeskRequest& r : requests) Handle(r, now);
  records_.PublishDeferred();
  ledger_.Poll(now);
  // Silences start and end with the clock; expired ones are forgotten after keep_expired_s.
  for (SilenceBook::Entry* entry : silences_.Due(now)) ApplySilence(*entry, now);
  silences_.Forget(now);
  UpdateCounts(now);
}

void IncidentDesk::UpdateCounts(double now) {
  active_silences_.store(static_cast<int64_t>(silences_.active(now)), std::memory_order_relaxed);
  open_count_.store(static_cast<int64_t>(records_.open().size()), std::memory_order_relaxed);
  owed_.store(static_cast<int64_t>(ledger_.owed()), std::memory_order_relaxed);
  held_count_.store(static_cast<int64_t>(ledger_.held()), std::memory_order_relaxed);
}

void IncidentDesk::Contribute(StoreBatch& batch) { writes_.Contribute(batch); }

void IncidentDesk::Committed(double /*now*/) {
  for (OutMessage& m : writes_.Committed()) replies_sink_.Publish(std::move(m));
  for (RenderJob& job : renders_) {
    OutMessage busy = job.reply;
    if (renderer_->Submit(std::move(job))) continue;
    requests_refused_.fetch_add(1, std::memory_order_relaxed);
    busy.payload = "{\"ok\":false,\"error\":\"the gateway is busy: too many long answers are being built; "
                   "try again later, or ask for pages with limit\"}";
    replies_sink_.Publish(std::move(busy));
  }
  renders_.clear();
  if (silences_.TakeMaintenanceChanged() && on_maintenance_) on_maintenance_(ActiveMaintenance());
  std::vector<NotificationChange> changes = ledger_.TakeChanges();
  if (!changes.empty() && on_notifications_) on_notifications_(std::move(changes));
}

void IncidentDesk::Reply(const DeskRequest& request, std::string payload) {
  if (request.reply_topic.empty()) return;
  writes_.Reply(OutMessage{request.reply_topic, std::move(payload), 1, false, request.correlation, 0});
}

void IncidentDesk::ReplyError(const DeskRequest& request, const std::string& error) {
  commands_refused_.fetch_add(1, std::memory_order_relaxed);
  spdlog::warn("command refused: {}", error);
  JsonWriter w;
  w.BeginObject().Field("ok", false).Field("error", error).EndObject();
  Reply(request, w.Take());
}

void IncidentDesk::Handle(DeskRequest& request, double now) {
  using Type = DeskRequest::Type;
  switch (request.type) {
    case Type::kQueryIncidents:
    case Type::kQuerySilences: {
      Page page;
      std::string error;
      if (!ParsePage(request.payload, &page, &error)) {
        ReplyError(request, error);
      } else if (request.type == Type::kQueryIncidents) {
        // The gateway's own incidents (a handful) come with the first page.
        const bool first = page.cursor.empty() && extra_records_;
        RenderJob answer = records_.Page(first ? extra_records_() : std::vector<IncidentEvent>{}, page.limit, page.cursor);
        if (renderer_ && !request.reply_topic.empty() && answer.parts.size() > kRenderInline) {
          answer.reply = OutMessage{request.reply_topic, std::string(), 1, false, request.correlation, 0};
          renders_.push_back(std::move(answer));
        } else {
          Reply(request, answer.Join());
        }
      } else {
        Reply(request, silences_.Json(now, page.limit, page.cursor));
      }
      return;
    }
    case Type::kGatewayIncident:
      RememberGatewayIncident(request.event, now);
      return;
    case Type::kSilenceMirror:
      if (!request.ids.empty()) {
        if (SilenceBook::Entry* entry = silences_.Mirror(request.ids[0], request.payload, now)) ApplySilence(*entry, now);
      }
      UpdateCounts(now);
      return;
    case Type::kResolvesDelivered:
      ledger_.Delivered(request.ids);
      UpdateCounts(now);
      return;
    case Type::kSilence: {
      SilenceBook::Entry* entry = nullptr;
      const std::string error = silences_.Add(request.payload, now, &entry);
      if (!error.empty()) return ReplyError(request, error);
      const std::vector<std::string> matches = ApplySilence(*entry, now);
      RememberSilence(entry->silence, "created", now);
      commands_ok_.fetch_add(1, std::memory_order_relaxed);
      JsonWriter w;
      w.BeginObject().Field("ok", true).Field("id", entry->silence.id).Key("matches").BeginArray();
      for (const std::string& m : matches) w.String(m);
      w.EndArray().EndObject();
      Reply(request, w.Take());
      return;
    }
    case Type::kExpireSilence:
    case Type::kAck: {
      bool mine = true;
      std::string error;
      if (request.type == Type::kAck) {
        error = Acknowledge(request.payload, now, &mine);
      } else {
        SilenceBook::Entry* entry = nullptr;
        error = silences_.Expire(request.payload, now, &entry);
        if (error.empty()) ApplySilence(*entry, now);
      }
      if (!mine) return;  // another gateway holds that incident and answers
      if (!error.empty()) return ReplyError(request, error);
      commands_ok_.fetch_add(1, std::memory_order_relaxed);
      Reply(request, "{\"ok\":true}");
      return;
    }
  }
}

std::string IncidentDesk::Acknowledge(const std::string& payload, double now, bool* mine) {
  simdjson::dom::parser parser;
  simdjson::dom::object o;
  std::string error, incident, by, comment;
  if (!ParseObject(parser, payload, &o, &error)) return error;
  if (!OptString(o, "incident", &incident, &error) || !OptString(o, "by", &by, &error) ||
      !OptString(o, "comment", &comment, &error)) {
    return error;
  }
  if (incident.empty()) return "\"incident\" is required: the id of the incident to acknowledge";
  if (by.empty()) return "\"by\" is required: who acknowledges";
  IncidentEvent* record = records_.Find(incident);
  if (record == nullptr) {
    *mine = options_.answer_unknown;
    return "incident " + incident + " is not open (unknown, or already resolved)";
  }
  record->acked_by = by;
  record->acked_at = now;
  record->ack_comment = comment;
  spdlog::info("incident {} acknowledged by {}: {}", incident, by, comment);
  IncidentEvent event = *record;
  event.state = IncidentState::kAcknowledged;
  event.at = now;
  RememberIncident(event, now);
  records_.Acknowledged(*record, now);
  return std::string();
}

void IncidentDesk::SeedCommissioned(const std::vector<std::pair<std::string, std::string>>& servers, double now) {
  if (spans_seeded_) return;
  for (const auto& [server, rack] : servers) {
    writes_.Span(SpanChange{false, true, SpanRecord{"c:" + server, "commissioned", "server", server, rack, "", "", now, 0, 0, ""}});
  }
  writes_.PutDoc(kMeta, "spans", "{}");
  spans_seeded_ = true;
}

void IncidentDesk::RememberIncident(const IncidentEvent& e, double now) {
  IncidentEvent copy = e;
  copy.at = std::max(e.at > 0 ? e.at : now, writes_.last_history_at());
  // The report's span of the incident, whole at every change.
  SpanRecord span{e.id, "incident", std::string(LevelName(e.level)), e.subject, e.rack, e.kind,
                  std::string(SeverityName(e.severity)), e.opened_at > 0 ? e.opened_at : copy.at, e.acked_at, 0, ""};
  if (auto it = records_.open().find(e.id); it != records_.open().end()) {
    span.acked_at = std::max(span.acked_at, it->second.acked_at);
  }
  if (e.state == IncidentState::kResolved) span.ended_at = copy.at;
  writes_.Span(SpanChange{false, false, std::move(span)});
  writes_.Remember(HistoryRecord{0, copy.at, "incident", std::string(LevelName(e.level)), e.subject, e.rack, e.kind,
                                 std::string(SeverityName(e.severity)), IncidentEventJson(copy)});
}

void IncidentDesk::RememberSilence(const Silence& s, const char* change, double at) {
  at = std::max(at, writes_.last_history_at());
  // A silence is filed under the rack, kind, level and severity it names exactly (not a glob).
  auto exact = [&](const char* key) {
    for (const auto& [k, v] : s.matchers) {
      if (k == key && v.find_first_of("*?[") == std::string::npos) return v;
    }
    return std::string();
  };
  JsonWriter w;
  w.BeginObject().Field("at", at).Field("change", change).Field("id", s.id).Key("matchers").BeginObject();
  for (const auto& [k, v] : s.matchers) w.Field(k, v);
  w.EndObject()
      .Field("starts_at", s.starts_at)
      .Field("ends_at", s.ends_at)
      .Field("created_by", s.created_by)
      .Field("comment", s.comment)
      .Field("maintenance", s.maintenance)
      .EndObject();
  if (s.maintenance) {
    JsonWriter m;
    m.BeginObject();
    for (const auto& [k, v] : s.matchers) m.Field(k, v);
    m.EndObject();
    const double end = std::string_view(change) == "expired" ? std::min(at, s.ends_at) : s.ends_at;
    writes_.Span(SpanChange{false, false, SpanRecord{"m:" + s.id, "maintenance", "", "", "", "", "", s.starts_at, 0, end, m.Take()}});
  }
  writes_.Remember(HistoryRecord{0, at, "silence", exact("level"), exact("server"), exact("rack"), exact("kind"),
                                 exact("severity"), w.Take()});
}

void IncidentDesk::RememberGatewayIncident(const IncidentEvent& e, double now) {
  RememberIncident(e, now);
  if (e.state == IncidentState::kOpen) {
    writes_.PutDoc(kGatewayOpen, e.id, IncidentRecordJson(e));
  } else if (e.state == IncidentState::kResolved) {
    writes_.DeleteDoc(kGatewayOpen, e.id);
  }
}

void IncidentDesk::RememberProvisioning(const ProvisioningChange& c, double now) {
  const double at = std::max(c.at > 0 ? c.at : now, writes_.last_history_at());
  const char* change = c.change == ProvisioningChange::Change::kCommissioned ? "commissioned"
                       : c.change == ProvisioningChange::Change::kMoved     ? "moved"
                                                                            : "decommissioned";
  JsonWriter w;
  w.BeginObject().Field("at", at).Field("change", change).Field("server", c.server).Field("rack", c.rack);
  if (c.change == ProvisioningChange::Change::kMoved) w.Field("from_rack", c.from_rack);
  w.EndObject();
  writes_.Remember(HistoryRecord{0, at, "provisioning", "server", c.server, c.rack, "", "", w.Take()});
  // The server's time in its rack: a move ends one span and starts another.
  if (c.change != ProvisioningChange::Change::kCommissioned) {
    writes_.Span(SpanChange{true, false, SpanRecord{"c:" + c.server, "", "", "", "", "", "", 0, 0, at, ""}});
  }
  if (c.change != ProvisioningChange::Change::kDecommissioned) {
    writes_.Span(SpanChange{false, false, SpanRecord{"c:" + c.server, "commissioned", "server", c.server, c.rack, "", "", at, 0, 0, ""}});
  }
}

}  // namespace dctwin
