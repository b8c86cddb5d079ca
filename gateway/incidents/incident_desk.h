// IncidentDesk: the operator-facing side of incidents. It keeps the record of every open incident
// (with its acknowledgement, the silences that mute it, flapping and runbook), the silences, and
// what is owed to Alertmanager; it carries out the operators' commands and answers their queries.
//
// It is the store writer's commit stage: every incident event of the shards passes through it on
// the writer's thread, in commit order, and everything it decides (event messages, retained
// records, silences, its own documents) goes into the same transaction as the twin state that
// caused it. Replies wait for that commit: an answered command survives kill -9.
//
// Threads: Submit()/ResolvesDelivered() and the counters from any thread; everything else on the
// store writer's thread (or before it starts: Restore()).
#pragma once

#include <algorithm>
#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/thread_annotations.h"
#include "gateway/mqtt/message_sink.h"
#include "storage/store_writer.h"
#include "storage/state_store.h"
#include "storage/status.h"
#include "twins/incident.h"
#include "twins/silence.h"

namespace dctwin {

// An operator's command or query, as the router decoded its topic.
struct DeskRequest {
  enum class Type {
    kSilence,
    kExpireSilence,
    kAck,
    kQuerySilences,
    kQueryIncidents,
    kResolvesDelivered,
    kSilenceMirror,  // a pod: the site's retained silence ids[0] (payload), or its end (empty)
    kGatewayIncident,  // an open or resolve of the gateway's own (`event`), for the history
  };
  Type type = Type::kQueryIncidents;
  std::string payload;
  std::string reply_topic;  // empty: nobody waits for an answer
  std::string correlation;
  std::vector<std::string> ids;  // kResolvesDelivered
  IncidentEvent event;           // kGatewayIncident
};

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

class IncidentDesk : public CommitStage {
 public:
  struct Options {
    std::string prefix = "dctwin";
    std::string gateway_id = "dctwin-1";
    double keep_expired_s = 86400;
    size_t max_silences = 10000;
    bool notify = false;  // an Alertmanager forwarder is configured
    // false on a pod: the site owns the silences; the pod applies what the site retains.
    bool owns_silences = true;
    // false on pods and the site: an ack for an incident held elsewhere is not answered here.
    bool answer_unknown = true;
    size_t max_requests = 10000;  // operator requests waiting for the writer thread
    // While groups exist (SetGroups): how long the notification of a server or rack incident of
    // a kind a group can cause waits for correlation to name its group (group.notify_hold_s).
    double group_hold_s = 30;
  };
  using Clock = std::function<double()>;
  using MaintenanceHandler = std::function<void(std::shared_ptr<const std::vector<Silence>>)>;
  using NotificationHandler = std::function<void(std::vector<NotificationChange>)>;

  IncidentDesk(Options options, MessageSink& replies, Clock clock);

  // Before the writer starts: the records, silences and notifications of the last run (and the
  // time of the newest history row).
  Status Restore(StateStore& store);
  // Set before the writer starts. Called on the writer's thread after a commit that changed
  // them: the active maintenance silences; what changed in the notifications Alertmanager should
  // hold (only that: the list may hold 100,000 firing incidents).
  void SetMaintenanceHandler(MaintenanceHandler h) { on_maintenance_ = std::move(h); }
  void SetNotificationHandler(NotificationHandler h) { on_notifications_ = std::move(h); }
  void SetWake(std::function<void()> wake) { wake_ = std::move(wake); }
  // Open incidents held elsewhere (the gateway's own), listed by P/query/incidents too. Before
  // the writer starts.
  void SetExtraRecords(std::function<std::vector<IncidentEvent>()> records) { extra_records_ = std::move(records); }
  // The state of after Restore(), for the handlers' first call (before the writer starts).
  std::shared_ptr<const std::vector<Silence>> ActiveMaintenance() const;
  std::vector<Notification> Notifications() const;

  // After Restore, before the writer starts: once per database, the time in their racks of the
  // servers (server, rack) it held before the report's spans existed counts from now.
  void SeedCommissioned(const std::vector<std::pair<std::string, std::string>>& servers, double now);

  // After Restore, before the writer starts: resolves every record whose id is not in `held` (no
  // restored twin holds that incident any more), clearing its record and resolving its
  // notification; the events go out with the first commit.
  void ResolveUnheld(const std::set<std::string>& held, double now);

  // Any thread: whether the inventory names groups (feeds, cooling units, switches). Only then
  // does a notification wait for correlation to name its group.
  void SetGroups(bool present) { groups_present_.store(present, std::memory_order_relaxed); }
  // Notifications held back: waiting for correlation, or caused by an open group incident.
  int64_t held_notifications() const { return held_count_.load(std::memory_order_relaxed); }

  // Any thread.
  // false: max_requests operator requests wait already (the store may be failing); refused and
  // counted. The gateway's own requests are always taken.
  bool Submit(DeskRequest request);
  uint64_t commands_ok() const { return commands_ok_.load(std::memory_order_relaxed); }
  uint64_t commands_refused() const { return commands_refused_.load(std::memory_order_relaxed); }
  uint64_t requests_refused() const { return requests_refused_.load(std::memory_order_relaxed); }
  int64_t open_records() const { return open_count_.load(std::memory_order_relaxed); }
  int64_t active_silences() const { return active_silences_.load(std::memory_order_relaxed); }
  // Incidents Alertmanager should hold or still hear the resolve of.
  int64_t owed_notifications() const { return owed_.load(std::memory_order_relaxed); }
  // Opens held back because the outbox was full (published once it has room).
  uint64_t opens_deferred() const { return opens_deferred_.load(std::memory_order_relaxed); }

  // Writer thread: the time for a history row written at `at` by another stage of the same
  // commits (the control desk): the history's times never step back.
  double StampHistory(double at) {
    last_history_at_ = std::max(at, last_history_at_);
    return last_history_at_;
  }

  // CommitStage (writer thread).
  void OnIncidents(std::vector<IncidentEvent>& events,
                   const std::vector<ProvisioningChange>& provisioning, double now,
                   double received) override;
  void SetOutboxFull(bool full) override { outbox_full_ = full; }
  void Poll(double now) override;
  void Contribute(StoreBatch& batch) override;
  void Committed(double now) override;

 private:
  struct SilenceEntry {
    Silence silence;
    SilenceState applied = SilenceState::kPending;  // the state its effects were last applied for
  };

  void Handle(DeskRequest& request, double now);
  std::string AddSilence(const std::string& payload, double now, std::string* id, std::vector<std::string>* matches);
  std::string ExpireSilence(const std::string& payload, double now);
  // Empty: not this desk's to answer (an incident held by another gateway).
  std::string Acknowledge(const std::string& payload, double now, bool* mine);
  void MirrorSilence(const std::string& id, const std::string& payload, double now);
  // The open records (by id) and the silences (by id), a page of at most `limit` after `cursor`
  // (limit 0: all of them).
  std::string IncidentsJson(size_t limit, const std::string& cursor) const;
  std::string SilencesJson(double now, size_t limit, const std::string& cursor) const;
  void Reply(const DeskRequest& request, std::string payload);
  void ReplyError(const DeskRequest& request, const std::string& error);

  // Applies a silence's current state to the open records; returns the ids it mutes now.
  std::vector<std::string> ApplySilence(SilenceEntry& entry, double now);
  std::vector<std::string> MutingSilences(const IncidentEvent& incident, double now) const;
  void SaveRecord(const IncidentEvent& record);
  void SaveSilence(const Silence& silence, double now);
  void SaveNotification(const std::string& id);
  // Alertmanager hears of an open record from now on (unless it already does).
  void Notify(const IncidentEvent& record);
  // The notification of a new open: now, or held back (a group may cause it).
  void NotifyOrHold(const IncidentEvent& e, double now);
  // The open group incident that causes `e`, directly or through its rack's; empty if none.
  std::string GroupCause(const IncidentEvent& e) const;
  void Hold(const std::string& id, double until);
  void Unhold(const std::string& id);
  // Held notifications whose wait is over go out, unless an open group incident causes them.
  void ReleaseHeld(double now);
  // A group incident resolved: what it held back and is still open is notified now, once.
  void ReleaseGroup(const std::string& group_incident);
  // History rows (P/query/history) go into the transaction of the change they record. Their
  // times never step back, so that the history's `at` index maps a time onto a seq range.
  void Remember(HistoryRecord row);
  void RememberIncident(const IncidentEvent& e, double now);
  void RememberSilence(const Silence& s, const char* change, double at);
  void RememberProvisioning(const ProvisioningChange& c, double now);
  // The gateway's own incidents are published by GatewayIncidents, not through the outbox (the
  // store may be what fails); the desk only writes them into the history, and keeps the open ones
  // as documents so that one a stop cut short is resolved in the history at the next start.
  void RememberGatewayIncident(const IncidentEvent& e, double now);
  // `received`: see OutboxRecord::received (0: not an alert caused by a report).
  void Outbox(std::string topic, std::string payload, bool retained, double received = 0);
  std::string RecordTopic(const IncidentEvent& e) const;
  std::string AlertTopic(const IncidentEvent& e) const;
  void UpdateCounts(double now);

  // Constant after construction
  const Options options_;
  MessageSink& replies_sink_;
  const Clock clock_;
  MaintenanceHandler on_maintenance_;
  NotificationHandler on_notifications_;
  std::function<void()> wake_;
  std::function<std::vector<IncidentEvent>()> extra_records_;
  std::vector<IncidentEvent> gateway_cut_short_;  // open at the last stop: resolved at the first commit

  Mutex mu_;
  std::vector<DeskRequest> requests_ GUARDED_BY(mu_);

  std::atomic<uint64_t> commands_ok_{0};
  std::atomic<uint64_t> commands_refused_{0};
  std::atomic<uint64_t> requests_refused_{0};
  std::atomic<int64_t> open_count_{0};
  std::atomic<int64_t> active_silences_{0};
  std::atomic<int64_t> owed_{0};
  std::atomic<uint64_t> opens_deferred_{0};
  std::atomic<bool> groups_present_{false};
  std::atomic<int64_t> held_count_{0};

  // Owned by the writer thread.
  std::map<std::string, IncidentEvent> open_;        // open incident records by id
  std::map<std::string, std::vector<std::string>> topic_ids_;  // record topic -> open ids, newest last
  std::map<std::string, SilenceEntry> silences_;
  SilenceIndex silence_index_;  // silences_ by an exact matcher each: what an incident is tested against
  std::map<std::string, Notification> notifications_;
  uint64_t silence_seq_ = 0;
  // At outbox_max the backlog is not grown with new opens: they wait here (and in the store) and
  // go out, with their own times, once the outbox has room; an incident that opened and resolved
  // meanwhile is never announced at all. A resolve of an announced open always goes out.
  bool outbox_full_ = false;
  std::set<std::string> deferred_;
  // Notifications held back (durable as "held" documents): id -> until when; the same ordered by
  // time; and those whose wait is over but whose group incident is open, by that incident.
  std::map<std::string, double> held_;
  std::set<std::pair<double, std::string>> hold_order_;
  std::map<std::string, std::set<std::string>> held_by_group_;
  std::map<std::string, std::string> held_group_of_;  // the same, the other way round
  std::set<std::string> open_groups_;  // open group incidents
  void PublishDeferred();
  // Waiting for the next commit.
  std::vector<OutboxRecord> outbox_;
  std::map<std::pair<std::string, std::string>, std::optional<std::string>> docs_;  // (collection, id) -> body
  std::vector<OutMessage> replies_;
  std::vector<HistoryRecord> history_;
  std::vector<SpanChange> spans_;
  bool spans_seeded_ = false;  // the servers of a database from before the spans have theirs
  double last_history_at_ = 0;
  bool maintenance_changed_ = false;
  std::set<std::string> notifications_changed_;  // ids whose notification changed since the last commit
};

}  // namespace dctwin
