// IncidentDesk: the operator-facing side of incidents. It is the store writer's commit stage:
// every incident event of the shards passes through it on the writer's thread, in commit order,
// and everything it decides goes into the same transaction as the twin state that caused it.
// Replies wait for that commit: an answered command survives kill -9.
//
// The desk itself carries out the operators' commands and answers their queries, writes the
// history, and keeps its parts in step; each part has one job:
//   IncidentRecords     the open incidents' records and the events that announce them
//   SilenceBook         the silences (what applying one does to the records is the desk's)
//   NotificationLedger  what Alertmanager is owed, and what is held back for correlation
//   DeskWrites          what all of them wait to have committed
//
// Threads: Submit() and the counters from any thread; everything else on the store writer's
// thread (or before it starts: Restore()).
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
#include "gateway/incidents/answer_renderer.h"
#include "gateway/incidents/desk_writes.h"
#include "gateway/incidents/incident_records.h"
#include "gateway/incidents/notification_ledger.h"
#include "gateway/incidents/silence_book.h"
#include "gateway/mqtt/message_sink.h"
#include "storage/store_writer.h"
#include "storage/state_store.h"
#include "storage/status.h"
#include "twins/incident.h"
#include "twins/messages.h"
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
    // Long list answers (more than kRenderInline records) are joined on a thread of their own
    // (AnswerRenderer), not on the store writer's.
    bool render_thread = false;
  };
  static constexpr size_t kRenderInline = 64;
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

  // After Restore, before the writer starts: resolves every open record that `held` says no
  // restored twin holds any more, clearing its record and resolving its notification; the events
  // go out with the first commit.
  void ResolveUnheld(const std::function<bool(const IncidentEvent&)>& held, double now);

  // Any thread: whether the inventory names groups (feeds, cooling units, switches). Only then
  // does a notification wait for correlation to name its group.
  void SetGroups(bool present) { ledger_.SetGroups(present); }
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
  uint64_t opens_deferred() const { return records_.opens_deferred(); }

  // Writer thread: the time for a history row written at `at` by another stage of the same
  // commits (the control desk): the history's times never step back.
  double StampHistory(double at) { return writes_.Stamp(at); }

  // Writer thread: the shards' events of one batch, in order, and the servers it commissioned,
  // moved or decommissioned. `received`: see ShardEvents::received; it goes on with the events'
  // outbox rows.
  void OnIncidents(std::vector<IncidentEvent>& events,
                   const std::vector<ProvisioningChange>& provisioning, double now,
                   double received);
  // CommitStage (writer thread).
  void SetOutboxFull(bool full) override { records_.SetOutboxFull(full); }
  void Poll(double now) override;
  void Contribute(StoreBatch& batch) override;
  void Committed(double now) override;

 private:
  void Handle(DeskRequest& request, double now);
  // Empty: not this desk's to answer (an incident held by another gateway).
  std::string Acknowledge(const std::string& payload, double now, bool* mine);
  void Reply(const DeskRequest& request, std::string payload);
  void ReplyError(const DeskRequest& request, const std::string& error);

  // Applies a silence's current state to the open records; returns the ids it mutes now.
  std::vector<std::string> ApplySilence(SilenceBook::Entry& entry, double now);
  // History rows (P/query/history) go into the transaction of the change they record.
  void RememberIncident(const IncidentEvent& e, double now);
  void RememberSilence(const Silence& s, const char* change, double at);
  void RememberProvisioning(const ProvisioningChange& c, double now);
  // The gateway's own incidents are published by GatewayIncidents, not through the outbox (the
  // store may be what fails); the desk only writes them into the history, and keeps the open ones
  // as documents so that one a stop cut short is resolved in the history at the next start.
  void RememberGatewayIncident(const IncidentEvent& e, double now);
  void UpdateCounts(double now);

  // Constant after construction
  const Options options_;
  MessageSink& replies_sink_;
  const Clock clock_;
  MaintenanceHandler on_maintenance_;
  NotificationHandler on_notifications_;
  std::function<void()> wake_;
  std::function<std::vector<IncidentEvent>()> extra_records_;

  Mutex mu_;
  std::vector<DeskRequest> requests_ GUARDED_BY(mu_);

  std::atomic<uint64_t> commands_ok_{0};
  std::atomic<uint64_t> commands_refused_{0};
  std::atomic<uint64_t> requests_refused_{0};
  std::atomic<int64_t> open_count_{0};
  std::atomic<int64_t> active_silences_{0};
  std::atomic<int64_t> owed_{0};
  std::atomic<int64_t> held_count_{0};

  // Owned by the writer thread.
  DeskWrites writes_;
  IncidentRecords records_;
  SilenceBook silences_;
  NotificationLedger ledger_;
  std::vector<IncidentEvent> gateway_cut_short_;  // open at the last stop: resolved at the first commit
  std::vector<RenderJob> renders_;                // long answers, handed to the renderer after the commit
  std::unique_ptr<AnswerRenderer> renderer_;      // last: stopped (what waits published) first
  bool spans_seeded_ = false;  // the servers of a database from before the spans have theirs
};

}  // namespace dctwin
