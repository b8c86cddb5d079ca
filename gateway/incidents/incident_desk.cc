#include "gateway/incidents/incident_desk.h"

#include <simdjson.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <utility>

#include "gateway/incidents/incident_json.h"
#include "base/json_writer.h"

namespace dctwin {

namespace {

constexpr const char* kRecords = "incident";
constexpr const char* kSilences = "silence";
constexpr const char* kNotifications = "notify";
constexpr const char* kDeferred = "deferred";
constexpr const char* kHeld = "held";

std::string HeldDoc(double until) {
  JsonWriter w;
  w.BeginObject().Field("until", until).EndObject();
  return w.Take();
}

bool ParseHeldDoc(const std::string& body, double* until) {
  simdjson::dom::parser parser;
  simdjson::dom::element e;
  return !parser.parse(body).get(e) && !e["until"].get_double().get(*until);
}
constexpr const char* kMeta = "meta";
constexpr const char* kGatewayOpen = "gateway-open";

std::string Hex(uint64_t v, int digits) {
  static const char* kHex = "0123456789abcdef";
  std::string s(static_cast<size_t>(digits), '0');
  for (int i = digits - 1; i >= 0; --i, v >>= 4) s[static_cast<size_t>(i)] = kHex[v & 0xf];
  return s;
}

IncidentFacts FactsOf(const IncidentEvent& e) {
  return IncidentFacts{e.level, e.subject, e.rack, e.kind, e.severity};
}

// Reads a request payload as a JSON object; `error` says what is wrong for a person.
bool ParseObject(simdjson::dom::parser& parser, const std::string& payload, simdjson::dom::object* out,
                 std::string* error) {
  simdjson::dom::element e;
  if (auto err = parser.parse(payload).get(e)) {
    *error = std::string("the request is not valid JSON (") + simdjson::error_message(err) + ")";
    return false;
  }
  if (e.get_object().get(*out) != simdjson::SUCCESS) {
    *error = "the request must be a JSON object";
    return false;
  }
  return true;
}

// Optional string member: absent is fine; present and not a string is an error.
bool OptString(simdjson::dom::object o, const char* key, std::string* out, std::string* error) {
  simdjson::dom::element e;
  if (o[key].get(e) != simdjson::SUCCESS) return true;
  std::string_view v;
  if (e.get_string().get(v) != simdjson::SUCCESS) {
    *error = std::string("\"") + key + "\" must be a string";
    return false;
  }
  *out = std::string(v);
  return true;
}

std::string JsonQuote(const std::string& s) {
  JsonWriter w;
  w.String(s);
  return w.Take();
}

// A list query's page: {"limit": 1..1000, "cursor": "<next_cursor of the last page>"}, both
// optional. Without a limit the whole list is answered, as the contract's v2 "anything" request
// always was: a payload that is not a JSON object asks for everything.
struct Page {
  size_t limit = 0;  // 0: everything
  std::string cursor;
};
bool ParsePage(const std::string& payload, Page* page, std::string* error) {
  simdjson::dom::parser parser;
  simdjson::dom::object o;
  if (payload.find('{') == std::string::npos || parser.parse(payload).get_object().get(o) != simdjson::SUCCESS) {
    return true;
  }
  simdjson::dom::element e;
  if (o["limit"].get(e) == simdjson::SUCCESS) {
    int64_t limit = 0;
    if (e.get_int64().get(limit) != simdjson::SUCCESS || limit < 1 || limit > 1000) {
      *error = "\"limit\" must be a whole number from 1 to 1000";
      return false;
    }
    page->limit = static_cast<size_t>(limit);
  }
  return OptString(o, "cursor", &page->cursor, error);
}

// Optional number member; *present tells whether it was there.
bool OptNumber(simdjson::dom::object o, const char* key, double* out, bool* present, std::string* error) {
  *present = false;
  simdjson::dom::element e;
  if (o[key].get(e) != simdjson::SUCCESS) return true;
  double v = 0;
  if (e.is_double() || e.is_int64() || e.is_uint64()) {
    v = e.is_double() ? e.get_double().value_unsafe()
                      : (e.is_int64() ? static_cast<double>(e.get_int64().value_unsafe())
                                      : static_cast<double>(e.get_uint64().value_unsafe()));
  } else {
    *error = std::string("\"") + key + "\" must be a number";
    return false;
  }
  if (!std::isfinite(v)) {
    *error = std::string("\"") + key + "\" must be a finite number";
    return false;
  }
  *out = v;
  *present = true;
  return true;
}

}  // namespace

IncidentDesk::IncidentDesk(Options options, MessageSink& replies, Clock clock)
    : options_(std::move(options)), replies_sink_(replies), clock_(std::move(clock)) {
  std::random_device rd;
  silence_seq_ = (static_cast<uint64_t>(rd()) << 32) ^ rd();
}

Status IncidentDesk::Restore(StateStore& store) {
  last_history_at_ = store.LastHistoryAt();
  Status meta = store.LoadDocs(kMeta, [&](DocRecord&& d) { spans_seeded_ = spans_seeded_ || d.key.id == "spans"; });
  if (!meta.ok()) return meta;
  // The gateway's own incidents that were open at the stop: this run starts without them (they
  // are published afresh if the trouble is still there), so the history says they ended.
  meta = store.LoadDocs(kGatewayOpen, [&](DocRecord&& d) {
    IncidentEvent r;
    std::string error;
    if (ParseIncidentRecord(d.body, &r, &error)) gateway_cut_short_.push_back(std::move(r));
    docs_[{kGatewayOpen, d.key.id}] = std::nullopt;
  });
  if (!meta.ok()) return meta;
  size_t bad = 0;
  Status s = store.LoadDocs(kRecords, [&](DocRecord&& d) {
    IncidentEvent r;
    std::string error;
    if (!ParseIncidentRecord(d.body, &r, &error)) {
      ++bad;
      spdlog::error("incident record {} cannot be read ({}); dropped", d.key.id, error);
      docs_[{kRecords, d.key.id}] = std::nullopt;
      return;
    }
    topic_ids_[RecordTopic(r)].push_back(r.id);
    open_.emplace(r.id, std::move(r));
  });
  if (!s.ok()) return s;
  s = store.LoadDocs(kSilences, [&](DocRecord&& d) {
    Silence silence;
    std::string error;
    if (!ParseSilenceDoc(d.body, &silence, &error)) {
      ++bad;
      spdlog::error("silence {} cannot be read ({}); dropped", d.key.id, error);
      docs_[{kSilences, d.key.id}] = std::nullopt;
      return;
    }
    SilenceEntry entry{std::move(silence), SilenceState::kPending};
    // Which effects were applied is recorded in the incident records themselves (silenced_by);
    // the next Poll() brings both in line with the clock.
    bool muting = false;
    for (const auto& [id, r] : open_) {
      muting = muting || std::find(r.silenced_by.begin(), r.silenced_by.end(), entry.silence.id) != r.silenced_by.end();
    }
    entry.applied = muting ? SilenceState::kActive : (entry.silence.StateAt(clock_()) == SilenceState::kExpired
                                                          ? SilenceState::kExpired
                                                          : SilenceState::kPending);
    silence_index_.Add(entry.silence);
    silences_.emplace(entry.silence.id, std::move(entry));
  });
  if (!s.ok()) return s;
  s = store.LoadDocs(kNotifications, [&](DocRecord&& d) {
    Notification n;
    std::string error;
    if (!ParseIncidentRecord(d.body, &n.incident, &error)) {
      ++bad;
      spdlog::error("Alertmanager notification {} cannot be read ({}); dropped", d.key.id, error);
      docs_[{kNotifications, d.key.id}] = std::nullopt;
      return;
    }
    simdjson::dom::parser parser;
    simdjson::dom::element e;
    double resolved = 0;
    if (!parser.parse(d.body).get(e) && !e["resolved_at"].get_double().get(resolved)) n.resolved_at = resolved;
    notifications_.emplace(n.incident.id, std::move(n));
  });
  if (!s.ok()) return s;
  for (const auto& [id, r] : open_) {
    if (r.level == Level::kGroup) open_groups_.insert(id);
  }
  s = store.LoadDocs(kHeld, [&](DocRecord&& d) {
    double until = 0;
    if (open_.count(d.key.id) == 0 || notifications_.count(d.key.id) != 0 || !ParseHeldDoc(d.body, &until)) {
      docs_[{kHeld, d.key.id}] = std::nullopt;
      return;
    }
    held_[d.key.id] = until;
    hold_order_.emplace(until, d.key.id);
  });
  if (!s.ok()) return s;
  s = store.LoadDocs(kDeferred, [&](DocRecord&& d) {
    if (open_.count(d.key.id) > 0) {
      deferred_.insert(d.key.id);
    } else {
      docs_[{kDeferred, d.key.id}] = std::nullopt;
    }
  });
  if (!s.ok()) return s;
  UpdateCounts(clock_());
  spdlog::info("incident desk: {} open incident records, {} silences, {} Alertmanager notifications{}", open_.size(),
               silences_.size(), notifications_.size(), bad > 0 ? " (some unreadable rows dropped)" : "");
  return Status::Ok();
}

std::shared_ptr<const std::vector<Silence>> IncidentDesk::ActiveMaintenance() const {
  auto active = std::make_shared<std::vector<Silence>>();
  const double now = clock_();
  for (const auto& [id, entry] : silences_) {
    if (entry.silence.maintenance && entry.silence.StateAt(now) == SilenceState::kActive) {
      active->push_back(entry.silence);
    }
  }
  return active;
}

std::vector<Notification> IncidentDesk::Notifications() const {
  std::vector<Notification> out;
  out.reserve(notifications_.size());
  for (const auto& [id, n] : notifications_) out.push_back(n);
  return out;
}

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

std::string IncidentDesk::RecordTopic(const IncidentEvent& e) const {
  return options_.prefix + "/incidents/" + std::string(LevelName(e.level)) + "/" + e.subject + "/" + e.kind;
}

std::string IncidentDesk::AlertTopic(const IncidentEvent& e) const {
  return options_.prefix + "/alerts/" + std::string(LevelName(e.level)) + "/" + e.subject;
}

void IncidentDesk::Outbox(std::string topic, std::string payload, bool retained, double received) {
  outbox_.push_back(OutboxRecord{0, std::move(topic), std::move(payload), 1, retained, received});
}

void IncidentDesk::SaveRecord(const IncidentEvent& record) {
  docs_[{kRecords, record.id}] = IncidentRecordJson(record);
  if (deferred_.count(record.id) == 0) Outbox(RecordTopic(record), IncidentRecordJson(record), true);
}

void IncidentDesk::PublishDeferred() {
  if (outbox_full_ || deferred_.empty()) return;
  size_t n = 0;
  for (const std::string& id : deferred_) {
    docs_[{kDeferred, id}] = std::nullopt;
    auto it = open_.find(id);
    if (it == open_.end()) continue;
    IncidentEvent e = it->second;
    e.state = IncidentState::kOpen;
    e.at = e.opened_at;
    Outbox(AlertTopic(e), IncidentEventJson(e), false);
    if (!e.acked_by.empty()) {  // acknowledged while it was held back: in that order
      e.state = IncidentState::kAcknowledged;
      e.at = e.acked_at;
      Outbox(AlertTopic(e), IncidentEventJson(e), false);
    }
    const std::string topic = RecordTopic(e);
    auto ids = topic_ids_.find(topic);
    if (ids != topic_ids_.end() && !ids->second.empty() && ids->second.back() == id) {
      Outbox(topic, IncidentRecordJson(it->second), true);
    }
    ++n;
  }
  deferred_.clear();
  spdlog::warn("outbox has room again: {} incident open(s) held back are published now", n);
}

void IncidentDesk::SaveSilence(const Silence& silence, double now) {
  docs_[{kSilences, silence.id}] = SilenceDocJson(silence);
  // P/silences/<id> holds the pending and active ones, and an expired one's tombstone for
  // keep_expired_s (a pod that was away when it ended early sees it at its next subscribe). A pod
  // applies the site's and publishes none.
  if (options_.owns_silences) {
    const bool live = silence.StateAt(now) != SilenceState::kExpired;
    Outbox(options_.prefix + "/silences/" + silence.id, live ? SilenceJson(silence, now) : SilenceTombstoneJson(silence),
           true);
  }
  maintenance_changed_ = maintenance_changed_ || silence.maintenance;
}

void IncidentDesk::MirrorSilence(const std::string& id, const std::string& payload, double now) {
  auto it = silences_.find(id);
  double expired_at = 0;
  if (payload.empty() || IsSilenceTombstone(payload, &expired_at)) {  // the site expired it (or forgot it)
    if (it == silences_.end() || it->second.silence.StateAt(now) == SilenceState::kExpired) return;
    it->second.silence.ends_at = expired_at > 0 ? std::min(expired_at, now) : now;
    SaveSilence(it->second.silence, now);
    ApplySilence(it->second, now);
    return;
  }
  Silence s;
  std::string error;
  if (!ParseSilenceDoc(payload, &s, &error) || s.id != id) {
    spdlog::warn("the site's silence {} cannot be read ({}); ignored", id, error.empty() ? "id differs" : error);
    return;
  }
  if (it != silences_.end()) {
    s.released = it->second.silence.released;  // this pod's decommissions
    silence_index_.Remove(it->second.silence);  // its matchers may have changed
  }
  SilenceEntry& entry = silences_[id];
  const bool fresh = entry.silence.id.empty();
  entry.silence = std::move(s);
  silence_index_.Add(entry.silence);
  if (fresh) entry.applied = SilenceState::kPending;
  SaveSilence(entry.silence, now);
  // Re-apply from scratch: the matchers or times may have changed.
  const SilenceState state = entry.silence.StateAt(now);
  if (state == SilenceState::kActive) {
    entry.applied = SilenceState::kPending;
    ApplySilence(entry, now);
  } else if (state != entry.applied) {
    ApplySilence(entry, now);
  }
}

void IncidentDesk::Notify(const IncidentEvent& record) {
  if (notifications_.count(record.id) != 0) return;
  notifications_[record.id] = Notification{record, 0};
  SaveNotification(record.id);
}

std::string IncidentDesk::GroupCause(const IncidentEvent& e) const {
  // A server's incident is caused by its rack's, which the feed's causes: a few hops at most.
  std::string cause = e.caused_by;
  for (int hop = 0; hop < 4 && !cause.empty(); ++hop) {
    if (open_groups_.count(cause) != 0) return cause;
    auto it = open_.find(cause);
    if (it == open_.end()) break;
    cause = it->second.caused_by;
  }
  return std::string();
}

void IncidentDesk::NotifyOrHold(const IncidentEvent& e, double now) {
  if (!GroupCause(e).empty()) {
    Hold(e.id, now);  // caused by an open group incident: the group was notified
    return;
  }
  // A server or rack incident of a kind a group can cause waits for correlation to say whether
  // its feed, cooling unit or switch is the cause: a feed trip is then one notification.
  const bool groupable = e.kind == "power" || e.kind == "silent" || e.kind == "thermal" || e.kind == "network";
  if (groups_present_.load(std::memory_order_relaxed) && options_.group_hold_s > 0 && groupable &&
      (e.level == Level::kServer || e.level == Level::kRack)) {
    Hold(e.id, now + options_.group_hold_s);
    return;
  }
  Notify(e);
}

void IncidentDesk::Hold(const std::string& id, double until) {
  auto [it, fresh] = held_.try_emplace(id, until);
  if (!fresh) return;
  hold_order_.emplace(until, id);
  docs_[{kHeld, id}] = HeldDoc(until);
}

void IncidentDesk::Unhold(const std::string& id) {
  auto it = held_.find(id);
  if (it == held_.end()) return;
  hold_order_.erase({it->second, id});
  held_.erase(it);
  docs_[{kHeld, id}] = std::nullopt;
  auto by = held_group_of_.find(id);
  if (by == held_group_of_.end()) return;
  auto g = held_by_group_.find(by->second);
  if (g != held_by_group_.end()) {
    g->second.erase(id);
    if (g->second.empty()) held_by_group_.erase(g);
  }
  held_group_of_.erase(by);
}

void IncidentDesk::ReleaseHeld(double now) {
  while (!hold_order_.empty() && hold_order_.begin()->first <= now) {
    const std::string id = hold_order_.begin()->second;
    hold_order_.erase(hold_order_.begin());
    auto rec = open_.find(id);
    const std::string group = rec != open_.end() ? GroupCause(rec->second) : std::string();
    if (!group.empty()) {
      held_by_group_[group].insert(id);  // until the group resolves
      held_group_of_[id] = group;
      continue;
    }
    held_.erase(id);
    docs_[{kHeld, id}] = std::nullopt;
    if (rec != open_.end() && rec->second.silenced_by.empty()) Notify(rec->second);
  }
}

void IncidentDesk::ReleaseGroup(const std::string& group_incident) {
  open_groups_.erase(group_incident);
  auto g = held_by_group_.find(group_incident);
  if (g == held_by_group_.end()) return;
  const std::set<std::string> ids = std::move(g->second);
  held_by_group_.erase(g);
  size_t n = 0;
  for (const std::string& id : ids) {
    held_.erase(id);
    held_group_of_.erase(id);
    docs_[{kHeld, id}] = std::nullopt;
    auto rec = open_.find(id);
    if (rec == open_.end() || !rec->second.silenced_by.empty()) continue;
    Notify(rec->second);
    ++n;
  }
  if (n > 0) spdlog::info("group incident {} resolved: {} incident(s) it held back and still open are notified now",
                          group_incident, n);
}

void IncidentDesk::SaveNotification(const std::string& id) {
  auto it = notifications_.find(id);
  if (it == notifications_.end()) {
    docs_[{kNotifications, id}] = std::nullopt;
  } else {
    std::string body = IncidentRecordJson(it->second.incident);
    // One more member for the database only.
    body.pop_back();
    body += ",\"resolved_at\":" + std::to_string(it->second.resolved_at) + "}";
    docs_[{kNotifications, id}] = std::move(body);
  }
  notifications_changed_.insert(id);
}

std::vector<std::string> IncidentDesk::MutingSilences(const IncidentEvent& incident, double now) const {
  std::vector<std::string> ids;
  const IncidentFacts facts = FactsOf(incident);
  for (std::string& id : silence_index_.Candidates(facts)) {
    const Silence& s = silences_.at(id).silence;
    if (s.StateAt(now) == SilenceState::kActive && s.Matches(facts)) ids.push_back(std::move(id));
  }
  return ids;
}

void IncidentDesk::ResolveUnheld(const std::set<std::string>& held, double now) {
  std::vector<IncidentEvent> resolves;
  for (const auto& [id, record] : open_) {
    if (held.count(id) > 0) continue;
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
      auto it = open_.find(e.id);
      if (it == open_.end()) continue;
      it->second.caused_by = e.caused_by;
      it->second.rack = e.rack;
      // A forecast whose crossing moved: the record says the new one, counted from its time.
      if (!e.figures.empty()) {
        it->second.summary = e.summary;
        it->second.figures = e.figures;
        it->second.at = e.at;
      }
      it->second.silenced_by = MutingSilences(it->second, now);  // a rack silence follows the server
      SaveRecord(it->second);
      continue;
    }
    e.silenced_by = MutingSilences(e, now);
    RememberIncident(e, now);
    spdlog::info("incident {} {} {} {} {}{}: {}", StateName(e.state), LevelName(e.level), e.subject, e.kind, e.id,
                 e.silenced_by.empty() ? "" : " (muted)", e.summary);
    if (e.state == IncidentState::kOpen && outbox_full_) {
      // The broker has been away long: what is owed to it comes first.
      if (deferred_.insert(e.id).second) {
        docs_[{kDeferred, e.id}] = std::string();
        if (opens_deferred_.fetch_add(1, std::memory_order_relaxed) == 0) {
          spdlog::error("outbox full: new incident opens are held back until the broker has taken the backlog");
        }
      }
    } else if (e.state == IncidentState::kResolved && deferred_.erase(e.id) > 0) {
      docs_[{kDeferred, e.id}] = std::nullopt;  // never announced: neither is its end
      spdlog::warn("incident {} opened and resolved while the outbox was full: not announced", e.id);
    } else {
      Outbox(AlertTopic(e), IncidentEventJson(e), false, received);
    }
    const std::string topic = RecordTopic(e);
    std::vector<std::string>& ids = topic_ids_[topic];
    if (e.state == IncidentState::kOpen) {
      open_[e.id] = e;
      ids.erase(std::remove(ids.begin(), ids.end(), e.id), ids.end());
      ids.push_back(e.id);
      SaveRecord(e);
      if (e.level == Level::kGroup) open_groups_.insert(e.id);
      // A muted open is never notified.
      if (options_.notify && e.silenced_by.empty()) NotifyOrHold(e, now);
    } else if (e.state == IncidentState::kResolved) {
      Unhold(e.id);  // never notified: neither is its end
      open_.erase(e.id);
      docs_[{kRecords, e.id}] = std::nullopt;
      ids.erase(std::remove(ids.begin(), ids.end(), e.id), ids.end());
      // Another open incident with the same record topic (anomalies of two metrics) takes it over.
      if (ids.empty()) {
        Outbox(topic, std::string(), true);
        topic_ids_.erase(topic);
      } else {
        Outbox(topic, IncidentRecordJson(open_.at(ids.back())), true);
      }
      if (e.level == Level::kGroup) ReleaseGroup(e.id);
      // The resolve of an incident whose open was notified is always notified.
      auto n = notifications_.find(e.id);
      if (n != notifications_.end()) {
        n->second.resolved_at = e.at > 0 ? e.at : now;
        n->second.incident.summary = e.summary;
        SaveNotification(e.id);
      }
    }
  }
  for (const ProvisioningChange& c : provisioning) {
    RememberProvisioning(c, now);
    // A decommissioned server's part of every maintenance ends.
    if (c.change != ProvisioningChange::Change::kDecommissioned) continue;
    for (auto& [id, entry] : silences_) {
      Silence& s = entry.silence;
      if (s.StateAt(now) == SilenceState::kExpired || !s.CoversServer(c.server, c.rack)) continue;
      s.released.push_back(c.server);
      SaveSilence(s, now);
    }
  }
  UpdateCounts(now);
}

std::vector<std::string> IncidentDesk::ApplySilence(SilenceEntry& entry, double now) {
  const SilenceState state = entry.silence.StateAt(now);
  std::vector<std::string> muted;
  if (state == entry.applied && state != SilenceState::kActive) return muted;
  const std::string& sid = entry.silence.id;
  for (auto& [id, record] : open_) {
    auto pos = std::find(record.silenced_by.begin(), record.silenced_by.end(), sid);
    const bool mutes = state == SilenceState::kActive && entry.silence.Matches(FactsOf(record));
    if (mutes) muted.push_back(id);
    if (mutes == (pos != record.silenced_by.end())) continue;
    if (mutes) {
      record.silenced_by.push_back(sid);
    } else {
      record.silenced_by.erase(pos);
      // No longer muted and never notified: Alertmanager hears of it now (or when a hold ends).
      if (options_.notify && record.silenced_by.empty() && held_.count(id) == 0) Notify(record);
    }
    SaveRecord(record);
  }
  if (state != entry.applied) {
    // The owner records the end (an early expiry set ends_at to when it was asked).
    if (state == SilenceState::kExpired && options_.owns_silences) {
      RememberSilence(entry.silence, "expired", std::min(now, entry.silence.ends_at));
    }
    entry.applied = state;
    SaveSilence(entry.silence, now);
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
  PublishDeferred();
  ReleaseHeld(now);
  // Silences start and end with the clock; expired ones are forgotten after keep_expired_s.
  for (auto it = silences_.begin(); it != silences_.end();) {
    SilenceEntry& entry = it->second;
    if (entry.silence.StateAt(now) != entry.applied) ApplySilence(entry, now);
    if (entry.applied == SilenceState::kExpired && now > entry.silence.ends_at + options_.keep_expired_s) {
      docs_[{kSilences, it->first}] = std::nullopt;
      if (options_.owns_silences) Outbox(options_.prefix + "/silences/" + it->first, std::string(), true);
      silence_index_.Remove(it->second.silence);
      it = silences_.erase(it);
      continue;
    }
    ++it;
  }
  UpdateCounts(now);
}

void IncidentDesk::UpdateCounts(double now) {
  int64_t active = 0;
  for (const auto& [id, entry] : silences_) active += entry.silence.StateAt(now) == SilenceState::kActive ? 1 : 0;
  active_silences_.store(active, std::memory_order_relaxed);
  open_count_.store(static_cast<int64_t>(open_.size()), std::memory_order_relaxed);
  owed_.store(static_cast<int64_t>(notifications_.size()), std::memory_order_relaxed);
  held_count_.store(static_cast<int64_t>(held_.size()), std::memory_order_relaxed);
}

void IncidentDesk::Contribute(StoreBatch& batch) {
  for (const OutboxRecord& r : outbox_) batch.outbox.push_back(r);
  batch.history.insert(batch.history.end(), history_.begin(), history_.end());
  batch.spans.insert(batch.spans.end(), spans_.begin(), spans_.end());
  for (const auto& [key, body] : docs_) {
    if (body) {
      batch.doc_upserts.push_back(DocRecord{{key.first, key.second}, *body});
    } else {
      batch.doc_deletes.push_back(DocKey{key.first, key.second});
    }
  }
}

void IncidentDesk::Committed(double /*now*/) {
  outbox_.clear();
  history_.clear();
  spans_.clear();
  docs_.clear();
  for (OutMessage& m : replies_) replies_sink_.Publish(std::move(m));
  replies_.clear();
  if (maintenance_changed_ && on_maintenance_) on_maintenance_(ActiveMaintenance());
  maintenance_changed_ = false;
  if (!notifications_changed_.empty() && on_notifications_) {
    std::vector<NotificationChange> changes;
    changes.reserve(notifications_changed_.size());
    for (const std::string& id : notifications_changed_) {
      auto it = notifications_.find(id);
      changes.push_back(NotificationChange{id, it == notifications_.end() ? std::nullopt
                                                                         : std::optional<Notification>(it->second)});
    }
    on_notifications_(std::move(changes));
  }
  notifications_changed_.clear();
}

void IncidentDesk::Reply(const DeskRequest& request, std::string payload) {
  if (request.reply_topic.empty()) return;
  replies_.push_back(OutMessage{request.reply_topic, std::move(payload), 1, false, request.correlation, 0});
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
      } else {
        Reply(request, request.type == Type::kQueryIncidents ? IncidentsJson(page.limit, page.cursor)
                                                             : SilencesJson(now, page.limit, page.cursor));
      }
      return;
    }
    case Type::kGatewayIncident:
      RememberGatewayIncident(request.event, now);
      return;
    case Type::kSilenceMirror:
      if (!request.ids.empty()) MirrorSilence(request.ids[0], request.payload, now);
      UpdateCounts(now);
      return;
    case Type::kResolvesDelivered:
      for (const std::string& id : request.ids) {
        auto it = notifications_.find(id);
        if (it == notifications_.end() || it->second.resolved_at <= 0) continue;
        notifications_.erase(it);
        SaveNotification(id);
      }
      UpdateCounts(now);
      return;
    case Type::kSilence: {
      std::string id;
      std::vector<std::string> matches;
      const std::string error = AddSilence(request.payload, now, &id, &matches);
      if (!error.empty()) return ReplyError(request, error);
      RememberSilence(silences_.at(id).silence, "created", now);
      commands_ok_.fetch_add(1, std::memory_order_relaxed);
      JsonWriter w;
      w.BeginObject().Field("ok", true).Field("id", id).Key("matches").BeginArray();
      for (const std::string& m : matches) w.String(m);
      w.EndArray().EndObject();
      Reply(request, w.Take());
      return;
    }
    case Type::kExpireSilence:
    case Type::kAck: {
      bool mine = true;
      const std::string error = request.type == Type::kAck ? Acknowledge(request.payload, now, &mine)
                                                           : ExpireSilence(request.payload, now);
      if (!mine) return;  // another gateway holds that incident and answers
      if (!error.empty()) return ReplyError(request, error);
      commands_ok_.fetch_add(1, std::memory_order_relaxed);
      Reply(request, "{\"ok\":true}");
      return;
    }
  }
}

std::string IncidentDesk::AddSilence(const std::string& payload, double now, std::string* id,
                                     std::vector<std::string>* matches) {
  simdjson::dom::parser parser;
  simdjson::dom::object o;
  std::string error;
  if (!ParseObject(parser, payload, &o, &error)) return error;
  static const char* kKnown[] = {"matchers", "duration_s", "ends_at", "starts_at", "created_by", "comment",
                                 "maintenance"};
  for (auto field : o) {
    if (std::none_of(std::begin(kKnown), std::end(kKnown), [&](const char* k) { return field.key == k; })) {
      return "unknown member \"" + std::string(field.key) +
             "\"; a silence takes matchers, duration_s or ends_at, starts_at, created_by, comment, maintenance";
    }
  }
  Silence s;
  simdjson::dom::object matchers;
  if (o["matchers"].get_object().get(matchers) != simdjson::SUCCESS) {
    return "\"matchers\" must be an object such as {\"rack\": \"r07\", \"kind\": \"thermal\"}";
  }
  for (auto field : matchers) {
    const std::string key(field.key);
    if (!IsMatcherKey(key)) {
      return "unknown matcher \"" + key + "\"; matchers are server, rack, kind, severity and level";
    }
    std::string_view value;
    if (field.value.get_string().get(value) != simdjson::SUCCESS || value.empty() || value.size() > 128) {
      return "matcher \"" + key + "\" needs a non-empty string value (exact, or a glob such as r0*)";
    }
    if (std::any_of(s.matchers.begin(), s.matchers.end(), [&](const auto& m) { return m.first == key; })) {
      return "matcher \"" + key + "\" is given twice";
    }
    s.matchers.emplace_back(key, value);
  }
  if (s.matchers.empty()) return "a silence needs at least one matcher (server, rack, kind, severity or level)";
  double duration = 0, ends_at = 0, starts_at = now;
  bool has_duration = false, has_end = false, has_start = false;
  if (!OptNumber(o, "duration_s", &duration, &has_duration, &error)) return error;
  if (!OptNumber(o, "ends_at", &ends_at, &has_end, &error)) return error;
  if (!OptNumber(o, "starts_at", &starts_at, &has_start, &error)) return error;
  if (!has_start) starts_at = now;
  if (has_duration == has_end) return "give either \"duration_s\" or \"ends_at\"";
  if (has_duration) {
    if (duration <= 0) return "\"duration_s\" must be more than 0";
    ends_at = starts_at + duration;
  }
  if (ends_at <= starts_at) return "the silence ends (ends_at) before or when it starts (starts_at)";
  if (ends_at <= now) return "the silence would already be over (ends_at is in the past)";
  if (!OptString(o, "created_by", &s.created_by, &error)) return error;
  if (s.created_by.empty()) return "\"created_by\" is required: who is silencing";
  if (!OptString(o, "comment", &s.comment, &error)) return error;
  simdjson::dom::element m;
  if (o["maintenance"].get(m) == simdjson::SUCCESS) {
    if (m.get_bool().get(s.maintenance) != simdjson::SUCCESS) return "\"maintenance\" must be true or false";
  }
  if (s.maintenance && std::none_of(s.matchers.begin(), s.matchers.end(),
                                    [](const auto& x) { return x.first == "server" || x.first == "rack"; })) {
    return "a maintenance needs a server or rack matcher: it names the servers under maintenance";
  }
  size_t live = 0;
  for (const auto& [sid, entry] : silences_) live += entry.silence.StateAt(now) != SilenceState::kExpired ? 1 : 0;
  if (live >= options_.max_silences) {
    return "too many silences (" + std::to_string(live) + ", silences.max_silences); expire some first";
  }
  s.starts_at = starts_at;
  s.ends_at = ends_at;
  s.created_at = now;
  s.id = "sil-" + Hex(++silence_seq_, 16);
  *id = s.id;
  spdlog::info("silence {} by {} ({}): {} matcher(s), {:.0f} s{}", s.id, s.created_by, s.comment, s.matchers.size(),
               s.ends_at - s.starts_at, s.maintenance ? ", maintenance" : "");
  SilenceEntry& entry = silences_[s.id];
  entry.silence = std::move(s);
  silence_index_.Add(entry.silence);
  entry.applied = SilenceState::kPending;
  SaveSilence(entry.silence, now);
  *matches = ApplySilence(entry, now);
  return std::string();
}

std::string IncidentDesk::ExpireSilence(const std::string& payload, double now) {
  simdjson::dom::parser parser;
  simdjson::dom::object o;
  std::string error, id;
  if (!ParseObject(parser, payload, &o, &error)) return error;
  if (!OptString(o, "id", &id, &error)) return error;
  if (id.empty()) return "\"id\" is required: the silence to expire";
  auto it = silences_.find(id);
  if (it == silences_.end()) return "unknown silence " + id;
  Silence& s = it->second.silence;
  if (s.StateAt(now) == SilenceState::kExpired) return "silence " + id + " has already expired";
  s.ends_at = now;
  if (s.starts_at > now) s.starts_at = now;
  spdlog::info("silence {} expired by command", id);
  SaveSilence(s, now);
  ApplySilence(it->second, now);
  return std::string();
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
  auto it = open_.find(incident);
  if (it == open_.end()) {
    *mine = options_.answer_unknown;
    return "incident " + incident + " is not open (unknown, or already resolved)";
  }
  IncidentEvent& record = it->second;
  record.acked_by = by;
  record.acked_at = now;
  record.ack_comment = comment;
  spdlog::info("incident {} acknowledged by {}: {}", incident, by, comment);
  IncidentEvent event = record;
  event.state = IncidentState::kAcknowledged;
  event.at = now;
  RememberIncident(event, now);
  // An open held back is announced first; its acknowledgement follows it then (PublishDeferred).
  if (deferred_.count(incident) == 0) Outbox(AlertTopic(event), IncidentEventJson(event), false);
  SaveRecord(record);
  return std::string();
}

void IncidentDesk::Remember(HistoryRecord row) {
  row.at = std::max(row.at, last_history_at_);
  last_history_at_ = row.at;
  history_.push_back(std::move(row));
}

void IncidentDesk::SeedCommissioned(const std::vector<std::pair<std::string, std::string>>& servers, double now) {
  if (spans_seeded_) return;
  for (const auto& [server, rack] : servers) {
    spans_.push_back(SpanChange{false, true, SpanRecord{"c:" + server, "commissioned", "server", server, rack, "", "", now, 0, 0, ""}});
  }
  docs_[{kMeta, "spans"}] = std::string("{}");
  spans_seeded_ = true;
}

void IncidentDesk::RememberIncident(const IncidentEvent& e, double now) {
  IncidentEvent copy = e;
  copy.at = std::max(e.at > 0 ? e.at : now, last_history_at_);
  // The report's span of the incident, whole at every change.
  SpanRecord span{e.id, "incident", std::string(LevelName(e.level)), e.subject, e.rack, e.kind,
                  std::string(SeverityName(e.severity)), e.opened_at > 0 ? e.opened_at : copy.at, e.acked_at, 0, ""};
  if (auto it = open_.find(e.id); it != open_.end()) span.acked_at = std::max(span.acked_at, it->second.acked_at);
  if (e.state == IncidentState::kResolved) span.ended_at = copy.at;
  spans_.push_back(SpanChange{false, false, std::move(span)});
  Remember(HistoryRecord{0, copy.at, "incident", std::string(LevelName(e.level)), e.subject, e.rack, e.kind,
                         std::string(SeverityName(e.severity)), IncidentEventJson(copy)});
}

void IncidentDesk::RememberSilence(const Silence& s, const char* change, double at) {
  at = std::max(at, last_history_at_);
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
    spans_.push_back(SpanChange{false, false, SpanRecord{"m:" + s.id, "maintenance", "", "", "", "", "", s.starts_at, 0, end, m.Take()}});
  }
  Remember(HistoryRecord{0, at, "silence", exact("level"), exact("server"), exact("rack"), exact("kind"),
                         exact("severity"), w.Take()});
}

void IncidentDesk::RememberGatewayIncident(const IncidentEvent& e, double now) {
  RememberIncident(e, now);
  if (e.state == IncidentState::kOpen) {
    docs_[{kGatewayOpen, e.id}] = IncidentRecordJson(e);
  } else if (e.state == IncidentState::kResolved) {
    docs_[{kGatewayOpen, e.id}] = std::nullopt;
  }
}

void IncidentDesk::RememberProvisioning(const ProvisioningChange& c, double now) {
  const double at = std::max(c.at > 0 ? c.at : now, last_history_at_);
  const char* change = c.change == ProvisioningChange::Change::kCommissioned ? "commissioned"
                       : c.change == ProvisioningChange::Change::kMoved     ? "moved"
                                                                            : "decommissioned";
  JsonWriter w;
  w.BeginObject().Field("at", at).Field("change", change).Field("server", c.server).Field("rack", c.rack);
  if (c.change == ProvisioningChange::Change::kMoved) w.Field("from_rack", c.from_rack);
  w.EndObject();
  Remember(HistoryRecord{0, at, "provisioning", "server", c.server, c.rack, "", "", w.Take()});
  // The server's time in its rack: a move ends one span and starts another.
  if (c.change != ProvisioningChange::Change::kCommissioned) {
    spans_.push_back(SpanChange{true, false, SpanRecord{"c:" + c.server, "", "", "", "", "", "", 0, 0, at, ""}});
  }
  if (c.change != ProvisioningChange::Change::kDecommissioned) {
    spans_.push_back(SpanChange{false, false, SpanRecord{"c:" + c.server, "commissioned", "server", c.server, c.rack, "", "", at, 0, 0, ""}});
  }
}

std::string IncidentDesk::IncidentsJson(size_t limit, const std::string& cursor) const {
  std::string out = "{\"incidents\":[";
  bool first = true;
  auto add = [&](const IncidentEvent& record) {
    if (!first) out += ',';
    first = false;
    out += IncidentRecordJson(record);
  };
  // The gateway's own (a handful) come with the first page; the records follow by id.
  if (extra_records_ && cursor.empty()) {
    for (const IncidentEvent& record : extra_records_()) add(record);
  }
  size_t n = 0;
  std::string next;
  for (auto it = cursor.empty() ? open_.begin() : open_.upper_bound(cursor); it != open_.end(); ++it) {
    if (limit > 0 && n == limit) {
      next = std::prev(it)->first;
      break;
    }
    add(it->second);
    ++n;
  }
  out += "]";
  if (limit > 0) out += next.empty() ? ",\"next_cursor\":null" : ",\"next_cursor\":" + JsonQuote(next);
  out += "}";
  return out;
}

std::string IncidentDesk::SilencesJson(double now, size_t limit, const std::string& cursor) const {
  std::string out = "{\"silences\":[";
  bool first = true;
  size_t n = 0;
  std::string next;
  for (auto it = cursor.empty() ? silences_.begin() : silences_.upper_bound(cursor); it != silences_.end(); ++it) {
    if (limit > 0 && n == limit) {
      next = std::prev(it)->first;
      break;
    }
    if (!first) out += ',';
    first = false;
    out += SilenceJson(it->second.silence, now);
    ++n;
  }
  out += "]";
  if (limit > 0) out += next.empty() ? ",\"next_cursor\":null" : ",\"next_cursor\":" + JsonQuote(next);
  out += "}";
  return out;
}

}  // namespace dctwin
