// NotificationLedger: what Alertmanager is owed. An open record is notified (firing) unless it is
// muted or held back; held back, it waits for correlation to say whether a group (feed, cooling
// unit, switch) causes it, and a group's open incident keeps what it causes held until it
// resolves. A notified incident's resolve is always owed, until the forwarder says every URL that
// is up took it. Everything is kept as documents in the desk's transactions ("notify", "held").
//
// Threads: the store writer's (like the desk), apart from the counters.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "gateway/incidents/desk_writes.h"
#include "storage/state_store.h"
#include "storage/status.h"
#include "twins/incident.h"

namespace dctwin {

// An incident as Alertmanager must hear of it: firing (resolved_at == 0) or resolved.
struct Notification {
  IncidentEvent incident;
  double resolved_at = 0;
};

// What a commit changed in the list Alertmanager should hold: the incident's notification now,
// or none (it is no longer owed).
struct NotificationChange {
  std::string id;
  std::optional<Notification> notification;
};

class NotificationLedger {
 public:
  // `records`: the desk's open incident records by id (what a held notification becomes).
  // `hold_s`: group.notify_hold_s.
  NotificationLedger(const std::map<std::string, IncidentEvent>& records, DeskWrites& writes, bool notify,
                     double hold_s)
      : records_(records), writes_(writes), notify_(notify), hold_s_(hold_s) {}

  // Before the writer starts, after the records were restored; `bad` counts unreadable rows.
  Status Restore(StateStore& store, size_t* bad);

  // Whether the inventory names groups: only then does a notification wait for correlation.
  void SetGroups(bool present) { groups_present_.store(present, std::memory_order_relaxed); }

  // A record opened (with the silences that mute it already named in it).
  void Opened(const IncidentEvent& record, double now);
  // A record resolved and left the records: its end is owed if its open was notified.
  void Resolved(const IncidentEvent& event, double now);
  // A record no silence mutes any more: Alertmanager hears of it now (or when its hold ends).
  void Unmuted(const IncidentEvent& record);
  // Held notifications whose wait is over go out, unless an open group incident causes them.
  void Poll(double now);
  // The forwarder delivered these resolves to every URL that is up: no longer owed.
  void Delivered(const std::vector<std::string>& ids);

  std::vector<Notification> All() const;
  size_t owed() const { return notifications_.size(); }
  size_t held() const { return held_.size(); }
  // What changed since the last call (for the forwarder, after a commit).
  std::vector<NotificationChange> TakeChanges();

 private:
  // Alertmanager hears of an open record from now on (unless it already does).
  void Notify(const IncidentEvent& record);
  // The open group incident that causes `e`, directly or through its rack's; empty if none.
  std::string GroupCause(const IncidentEvent& e) const;
  void Hold(const std::string& id, double until);
  void Unhold(const std::string& id);
  // A group incident resolved: what it held back and is still open is notified now, once.
  void ReleaseGroup(const std::string& group_incident);
  void Save(const std::string& id);

  const std::map<std::string, IncidentEvent>& records_;
  DeskWrites& writes_;
  const bool notify_;  // an Alertmanager forwarder is configured
  const double hold_s_;
  std::atomic<bool> groups_present_{false};

  std::map<std::string, Notification> notifications_;
  // Held back: id -> until when; the same ordered by time; and those whose wait is over but
  // whose group incident is open, by that incident (and the other way round).
  std::map<std::string, double> held_;
  std::set<std::pair<double, std::string>> hold_order_;
  std::map<std::string, std::set<std::string>> held_by_group_;
  std::map<std::string, std::string> held_group_of_;
  std::set<std::string> open_groups_;  // open group incidents
  std::set<std::string> changed_;      // ids whose notification changed since the last TakeChanges()
};

}  // namespace dctwin
