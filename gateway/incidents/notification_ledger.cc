#include "gateway/incidents/notification_ledger.h"

#include <simdjson.h>
#include <spdlog/spdlog.h>

#include "base/json_writer.h"
#include "gateway/incidents/incident_json.h"

namespace dctwin {

namespace {

constexpr const char* kNotifications = "notify";
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

}  // namespace

Status NotificationLedger::Restore(StateStore& store, size_t* bad) {
  Status s = store.LoadDocs(kNotifications, [&](DocRecord&& d) {
    Notification n;
    std::string error;
    if (!ParseIncidentRecord(d.body, &n.incident, &error)) {
      ++*bad;
      spdlog::error("Alertmanager notification {} cannot be read ({}); dropped", d.key.id, error);
      writes_.DeleteDoc(kNotifications, d.key.id);
      return;
    }
    simdjson::dom::parser parser;
    simdjson::dom::element e;
    double resolved = 0;
    if (!parser.parse(d.body).get(e) && !e["resolved_at"].get_double().get(resolved)) n.resolved_at = resolved;
    notifications_.emplace(n.incident.id, std::move(n));
  });
  if (!s.ok()) return s;
  for (const auto& [id, r] : records_) {
    if (r.level == Level::kGroup) open_groups_.insert(id);
  }
  return store.LoadDocs(kHeld, [&](DocRecord&& d) {
    double until = 0;
    if (records_.count(d.key.id) == 0 || notifications_.count(d.key.id) != 0 || !ParseHeldDoc(d.body, &until)) {
      writes_.DeleteDoc(kHeld, d.key.id);
      return;
    }
    held_[d.key.id] = until;
    hold_order_.emplace(until, d.key.id);
  });
}

void NotificationLedger::Opened(const IncidentEvent& record, double now) {
  if (record.level == Level::kGroup) open_groups_.insert(record.id);
  if (!notify_ || !record.silenced_by.empty()) return;  // a muted open is never notified
  if (!GroupCause(record).empty()) {
    Hold(record.id, now);  // caused by an open group incident: the group was notified
    return;
  }
  // A server or rack incident of a kind a group can cause waits for correlation to say whether
  // its feed, cooling unit or switch is the cause: a feed trip is then one notification.
  const bool groupable =
      record.kind == "power" || record.kind == "silent" || record.kind == "thermal" || record.kind == "network";
  if (groups_present_.load(std::memory_order_relaxed) && hold_s_ > 0 && groupable &&
      (record.level == Level::kServer || record.level == Level::kRack)) {
    Hold(record.id, now + hold_s_);
    return;
  }
  Notify(record);
}

void NotificationLedger::Resolved(const IncidentEvent& event, double now) {
  Unhold(event.id);  // never notified: neither is its end
  if (event.level == Level::kGroup) ReleaseGroup(event.id);
  // The resolve of an incident whose open was notified is always notified.
  auto n = notifications_.find(event.id);
  if (n != notifications_.end()) {
    n->second.resolved_at = event.at > 0 ? event.at : now;
    n->second.incident.summary = event.summary;
    Save(event.id);
  }
}

void NotificationLedger::Unmuted(const IncidentEvent& record) {
  if (notify_ && record.silenced_by.empty() && held_.count(record.id) == 0) Notify(record);
}

void NotificationLedger::Delivered(const std::vector<std::string>& ids) {
  for (const std::string& id : ids) {
    auto it = notifications_.find(id);
    if (it == notifications_.end() || it->second.resolved_at <= 0) continue;
    notifications_.erase(it);
    Save(id);
  }
}

std::vector<Notification> NotificationLedger::All() const {
  std::vector<Notification> out;
  out.reserve(notifications_.size());
  for (const auto& [id, n] : notifications_) out.push_back(n);
  return out;
}

std::vector<NotificationChange> NotificationLedger::TakeChanges() {
  std::vector<NotificationChange> changes;
  changes.reserve(changed_.size());
  for (const std::string& id : changed_) {
    auto it = notifications_.find(id);
    changes.push_back(NotificationChange{id, it == notifications_.end() ? std::nullopt
                                                                       : std::optional<Notification>(it->second)});
  }
  changed_.clear();
  return changes;
}

void NotificationLedger::Notify(const IncidentEvent& record) {
  if (notifications_.count(record.id) != 0) return;
  notifications_[record.id] = Notification{record, 0};
  Save(record.id);
}

std::string NotificationLedger::GroupCause(const IncidentEvent& e) const {
  // A server's incident is caused by its rack's, which the feed's causes: a few hops at most.
  std::string cause = e.caused_by;
  for (int hop = 0; hop < 4 && !cause.empty(); ++hop) {
    if (open_groups_.count(cause) != 0) return cause;
    auto it = records_.find(cause);
    if (it == records_.end()) break;
    cause = it->second.caused_by;
  }
  return std::string();
}

void NotificationLedger::Hold(const std::string& id, double until) {
  auto [it, fresh] = held_.try_emplace(id, until);
  if (!fresh) return;
  hold_order_.emplace(until, id);
  writes_.PutDoc(kHeld, id, HeldDoc(until));
}

void NotificationLedger::Unhold(const std::string& id) {
  auto it = held_.find(id);
  if (it == held_.end()) return;
  hold_order_.erase({it->second, id});
  held_.erase(it);
  writes_.DeleteDoc(kHeld, id);
  auto by = held_group_of_.find(id);
  if (by == held_group_of_.end()) return;
  auto g = held_by_group_.find(by->second);
  if (g != held_by_group_.end()) {
    g->second.erase(id);
    if (g->second.empty()) held_by_group_.erase(g);
  }
  held_group_of_.erase(by);
}

void NotificationLedger::Poll(double now) {
  while (!hold_order_.empty() && hold_order_.begin()->first <= now) {
    const std::string id = hold_order_.begin()->second;
    hold_order_.erase(hold_order_.begin());
    auto rec = records_.find(id);
    const std::string group = rec != records_.end() ? GroupCause(rec->second) : std::string();
    if (!group.empty()) {
      held_by_group_[group].insert(id);  // until the group resolves
      held_group_of_[id] = group;
      continue;
    }
    held_.erase(id);
    writes_.DeleteDoc(kHeld, id);
    if (rec != records_.end() && rec->second.silenced_by.empty()) Notify(rec->second);
  }
}

void NotificationLedger::ReleaseGroup(const std::string& group_incident) {
  open_groups_.erase(group_incident);
  auto g = held_by_group_.find(group_incident);
  if (g == held_by_group_.end()) return;
  const std::set<std::string> ids = std::move(g->second);
  held_by_group_.erase(g);
  size_t n = 0;
  for (const std::string& id : ids) {
    held_.erase(id);
    held_group_of_.erase(id);
    writes_.DeleteDoc(kHeld, id);
    auto rec = records_.find(id);
    if (rec == records_.end() || !rec->second.silenced_by.empty()) continue;
    Notify(rec->second);
    ++n;
  }
  if (n > 0) spdlog::info("group incident {} resolved: {} incident(s) it held back and still open are notified now",
                          group_incident, n);
}

void NotificationLedger::Save(const std::string& id) {
  auto it = notifications_.find(id);
  if (it == notifications_.end()) {
    writes_.DeleteDoc(kNotifications, id);
  } else {
    std::string body = IncidentRecordJson(it->second.incident);
    // One more member for the database only.
    body.pop_back();
    body += ",\"resolved_at\":" + std::to_string(it->second.resolved_at) + "}";
    writes_.PutDoc(kNotifications, id, std::move(body));
  }
  changed_.insert(id);
}

}  // namespace dctwin
