// TwinRegistry: the twins one owner holds (a shard in the gateway, everything in a test), the
// rules for creating and dropping them, and their silence timers. Takes one addressed message
// at a time and returns what it caused as Effects; sends to other twins are left to the caller
// to deliver. Pure: no threads, no I/O, time comes in as arguments.
//
// Not thread-safe: one owner, one message at a time.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <queue>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "twins/datacenter_twin.h"
#include "twins/group_twin.h"
#include "twins/messages.h"
#include "twins/model.h"
#include "twins/rack_twin.h"
#include "twins/server_twin.h"
#include "twins/silence.h"

namespace dctwin {

struct RegistryOptions {
  std::string datacenter = "dc1";
  bool auto_commission = false;      // a report from an unknown server commissions it ...
  std::string default_rack = "unassigned";  // ... into this rack
  // A server twin whose only change is new samples (a report that opened, resolved and published
  // nothing) is handed out for saving this many seconds after that first change, instead of
  // with the next flush: at high report rates most changes are samples, and rewriting every
  // window on every flush would cost more than the reports themselves. 0: with the next flush.
  double sample_flush_s = 0;
  // A pod has no datacenter twin (the site has it).
  bool datacenter_twin = true;
  // A site has no rack twins (its racks' health comes from the pods): the datacenter twin tells
  // no rack of its incidents.
  bool rack_twins = true;
  // A query about a server or rack this owner does not hold is answered "not found"; false: not
  // answered at all (pods and the site: another gateway holds it and answers).
  bool answer_unknown = true;
};

class TwinRegistry {
 public:
  // kRejected: the twin refused the message; Effects::rejected says why. (Reports come here
  // whole: ingest assembles collectd and Telegraf parts and applies the rate limit.)
  enum class Outcome { kApplied, kUncommissioned, kRejected, kIgnored };

  TwinRegistry(const ModelConfig& model, RegistryOptions options);

  // Creates the datacenter twin here and publishes its first health.
  void StartDatacenter(double now, Effects& out);
  Outcome Handle(const Envelope& env, Effects& out);
  // Opens `silent` on every server whose deadline passed at least the storm confirmation
  // (ModelConfig::StormConfirmS) before `now`. With `hold` (the storm guard is active, or the
  // gateway is cut off from the broker) overdue servers are held back instead.
  // `mono` is the monotonic clock the silence deadlines run on (tests may pass `now`).
  void FireTimers(double now, double mono, bool hold, Effects& out);
  void FireTimers(double now, bool hold, Effects& out) { FireTimers(now, now, hold, out); }
  // A new model (configuration reload): new rules and thresholds apply from the next report;
  // tracked conditions follow their rules; the window length of existing twins does not change.
  void UpdateModel(const ModelConfig& model, double now, Effects& out);
  // The active maintenance silences (replacing the previous set): servers they cover stop going
  // silent and stop counting toward rack correlation; servers they no longer cover resume.
  void SetMaintenance(std::shared_ptr<const std::vector<Silence>> active, double now, Effects& out);
  // Servers overdue but not yet silent (held back or being confirmed).
  size_t overdue_count() const { return overdue_.size(); }

  // --- durability ---
  // Addresses of the twins changed since the last call: the owner saves those that still exist
  // and deletes the rows of those that are gone. Twins with only new samples come separately
  // (they can wait behind incidents), once their first unsaved sample is sample_flush_s old at
  // `now`, or all of them with `everything`; at most `max_sampled` of them per call (encoding them
  // costs the shard time that reports wait for), the rest stay due.
  struct Dirty {
    std::vector<TwinAddress> changed;
    std::vector<TwinAddress> sampled;
    // Racks whose status the datacenter twin holds changed (or forgot): each is a row of its own.
    std::vector<std::string> datacenter_racks;
    // (rack, server): members whose row changed (or that left): each is a row of its own.
    std::vector<std::pair<std::string, std::string>> rack_members;
    bool more_sampled = false;  // more sample-only twins are due than were handed out
  };
  Dirty TakeDirty(double now, bool everything, size_t max_sampled = SIZE_MAX);
  // Changed twins waiting for the next flush (not counting those with only new samples).
  size_t dirty_count() const { return dirty_.size(); }
  // The in-memory size (ServerTwin::ApproxBytes) of the server twins marked changed since the
  // last TakeDirty, each at the largest it was when marked: about what the next commit writes.
  size_t dirty_server_bytes() const { return dirty_server_bytes_; }
  // Servers with unsaved samples only.
  size_t sampled_count() const { return sampled_count_; }
  // Restore, before the first message: an empty twin to decode the saved state into. A twin whose
  // state cannot be decoded is dropped again with Forget().
  ServerTwin* RestoreServer(const std::string& id);
  RackTwin* RestoreRack(const std::string& id);
  GroupTwin* RestoreGroup(const std::string& id);
  DatacenterTwin* RestoreDatacenter();
  // One member's row of a rack.
  void RestoreRackMember(const std::string& rack, const std::string& server, std::vector<IncidentRef> open,
                         bool maintenance) {
    RestoreRack(rack)->RestoreMember(server, std::move(open), maintenance);
  }
  // One rack's status as the datacenter twin held it (its own row).
  void RestoreDatacenterRack(RackStatus status) { RestoreDatacenter()->RestoreRack(std::move(status)); }
  void Forget(const TwinAddress& address);
  // Arms the silence timers of restored servers. A deadline that passed while the gateway was
  // down fires no earlier than `not_before`, so a restart does not raise a storm of `silent`.
  // Binds the restored conditions to the current rules (they may have been edited meanwhile),
  // and publishes every twin's health.
  void FinishRestore(double not_before, double now, double mono, Effects& out);
  // Open incidents at every level, by "<level>/<kind>", for the counters.
  std::map<std::string, int64_t> OpenIncidentsByKind() const;

  size_t server_count() const { return servers_.size(); }
  size_t rack_count() const { return racks_.size(); }
  const ServerTwin* server(const std::string& id) const;
  const RackTwin* rack(const std::string& id) const;
  const DatacenterTwin* datacenter() const { return datacenter_.get(); }
  const GroupTwin* group(const std::string& id) const;
  size_t group_count() const { return groups_.size(); }
  template <typename F>
  void ForEachGroup(F&& f) const {
    for (const auto& [id, group] : groups_) f(group);
  }
  template <typename F>
  void ForEachServer(F&& f) const {
    for (const auto& [id, slot] : servers_) f(slot.twin);
  }
  template <typename F>
  void ForEachRack(F&& f) const {
    for (const auto& [id, rack] : racks_) f(rack);
  }
  const ModelConfig& model() const { return rules_.config(); }

 private:
  struct ServerSlot {
    explicit ServerSlot(ServerTwin t) : twin(std::move(t)) {}
    ServerTwin twin;
    uint64_t generation = 0;
    bool armed = false;  // a timer entry of this generation is in the heap
    bool sampled = false;  // has unsaved samples; an entry for it is in sampled_
    double heard_mono = 0;  // monotonic clock of the twin's last sign of life
  };
  struct TimerEntry {
    double deadline;
    uint64_t generation;
    std::string server;
    bool operator>(const TimerEntry& o) const { return deadline > o.deadline; }
  };

  Outcome HandleServer(const Envelope& env, Effects& out);
  Outcome HandleQuery(const Envelope& env, const Query& query, Effects& out);
  void HandleRack(const Envelope& env, Effects& out);
  void HandleGroup(const Envelope& env, Effects& out);
  // Tells the rack's groups (as the topology lists them) what the rack has open, when that
  // changed since they last heard.
  void SyncRackGroups(const std::string& rack, double now, Effects& out);
  ServerSlot& Commission(const std::string& id, const std::string& rack, double now, Effects& out);
  // not_before: monotonic clock.
  void Arm(const std::string& id, ServerSlot& slot, double not_before = 0);
  double Deadline(const ServerSlot& slot) const { return slot.heard_mono + rules_.config().heartbeat_timeout_s; }
  // After a call on a server twin: a new sign of life moves its deadline (monotonic clock).
  void NoteHeard(ServerSlot& slot, double heard_before) {
    if (slot.twin.last_heard() != heard_before) slot.heard_mono = mono_;
  }
  // `server`: the twin at `address` when the caller holds it (spares a lookup by name).
  void MarkDirty(const TwinAddress& address, const ServerTwin* server = nullptr);
  void MarkSampled(const std::string& id, ServerSlot& slot, double now);
  bool InMaintenance(const std::string& id, const std::string& rack) const;
  void ApplyMaintenance(const std::string& id, ServerSlot& slot, double now, Effects& out);

  // Constant after construction
  const RegistryOptions options_;

  RuleSet rules_;
  double mono_ = 0;  // monotonic clock of the message or tick being handled
  std::shared_ptr<const std::vector<Silence>> maintenance_;  // active maintenance silences
  std::unordered_map<std::string, ServerSlot> servers_;
  std::unordered_map<std::string, RackTwin> racks_;
  std::unique_ptr<DatacenterTwin> datacenter_;
  std::unordered_map<std::string, GroupTwin> groups_;
  // What each rack last told its groups (not durable: a restart tells them again).
  std::unordered_map<std::string, GroupMember> group_sent_;
  std::priority_queue<TimerEntry, std::vector<TimerEntry>, std::greater<TimerEntry>> timers_;
  uint64_t next_generation_ = 0;
  // `it`: the server's slot as the caller found it (servers_.end() if none), so that a report
  // costs one lookup.
  Outcome ApplyReport(std::unordered_map<std::string, ServerSlot>::iterator it, const std::string& id,
                      const Report& report, double now, Effects& out);

  std::unordered_map<std::string, double> overdue_;  // server -> when its deadline passed
  std::vector<TwinAddress> dirty_;
  // Members of racks dropped (empty) since the last TakeDirty: their rows go.
  std::vector<std::pair<std::string, std::string>> dropped_members_;
  // Level digit + id, to add each address once; for a server twin, its size as counted in
  // dirty_server_bytes_.
  std::unordered_map<std::string, size_t> dirty_keys_;
  size_t dirty_server_bytes_ = 0;
  std::deque<std::pair<std::string, double>> sampled_;  // server, when its first unsaved sample came; oldest first
  size_t sampled_count_ = 0;                            // slots with `sampled` set
};

}  // namespace dctwin
