// TwinHost: what one shard does. Holds the TwinRegistry of the twins whose address hashes to
// this shard, hands it each message and timer tick, and carries the effects to the commit:
// changed twins go to the StoreWriter in one ShardBatch, whose `collected` step hands the
// incident events and provisioning changes to the EventsSink (the desks) in the same round, and
// the shard's EffectsStage holds health, replies and messages to other twins until that batch is
// committed. Rejections go to DeadLetters at once (they change no state).
//
// Threads: OnStart/Handle/Tick/AfterBatch/Seal on the shard's own thread (Restore,
// FinishRestore and a last Seal on the owner's thread before the pool starts or after it
// stopped); UpdateModel/SetMaintenance/counters/OpenByKind from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <cstdint>
#include <string>

#include "gateway/publish/alert_publisher.h"
#include "gateway/runtime/shard_events.h"
#include "gateway/publish/dead_letters.h"
#include "base/thread_annotations.h"
#include "gateway/ingest/report_assembly.h"
#include "gateway/publish/reply_book.h"
#include "gateway/runtime/rollups.h"
#include "gateway/runtime/effects_stage.h"
#include "gateway/runtime/shard_pool.h"
#include "gateway/runtime/silence_census.h"
#include "storage/store_writer.h"
#include "storage/status.h"
#include "storage/state_store.h"
#include "twins/messages.h"
#include "twins/twin_registry.h"

namespace dctwin {

// What all shards' server twins may take together, and what they hold (any thread).
struct TwinLimits {
  std::atomic<int64_t> servers{0};
  int64_t max_servers = 1000000;
  std::atomic<int64_t> bytes{0};  // ServerTwin::ApproxBytes over every server twin
  std::atomic<int64_t> max_bytes{INT64_MAX};  // model.max_memory_mb (a reload may change it)
  bool over_memory() const {
    return bytes.load(std::memory_order_relaxed) >= max_bytes.load(std::memory_order_relaxed);
  }
};

struct HostCounters {
  std::atomic<uint64_t> messages_in{0};  // reports fully applied to a twin
  std::atomic<uint64_t> metrics_ignored{0};
  std::atomic<uint64_t> reports_late{0};  // of messages_in: older than their server's newest report
  std::atomic<uint64_t> servers_refused{0};
  std::atomic<uint64_t> memory_refused{0};  // servers and metrics refused past model.max_memory_mb
  std::atomic<int64_t> servers{0};
  std::atomic<int64_t> racks{0};
  std::atomic<int64_t> datacenters{0};
  std::atomic<int64_t> open_incidents{0};
};

class TwinHost : public ShardHandler<Envelope> {
 public:
  TwinHost(size_t shard, const ModelConfig& model, RegistryOptions options, std::string prefix,
           ShardPool<Envelope>& pool, AlertPublisher& alerts, ReplyBook& replies, DeadLetters& dead_letters,
           StoreWriter& writer,
           SilenceCensus& census, std::chrono::milliseconds flush_interval, size_t flush_changes,
           TwinLimits& limits);

  // Before the pool starts: who hears of this shard's events (none: they are dropped, as in tests
  // of the twins' state alone).
  void SetEventsSink(EventsSink sink) { events_sink_ = std::move(sink); }

  void OnStart(double now) override;
  void Handle(Envelope& env) override;
  void Tick(double now) override;
  void AfterBatch(double now) override;
  // The server twins this round changed hold kRoundStateBytes or more: the round ends, so that
  // one commit of the store writer (which an alert may wait behind) stays bounded.
  bool RoundFull() const override { return registry_.dirty_server_bytes() >= kRoundStateBytes; }
  static constexpr size_t kRoundStateBytes = 4 * 1024 * 1024;

  // Before the pool starts: the saved state of one twin this shard owns. A row that cannot be
  // decoded is refused (and the twin forgotten) with the reason.
  Status Restore(const TwinRecord& record);
  // See TwinRegistry::FinishRestore. Returns the ids of the incidents the twins resolved
  // themselves (their rule was removed or changed while the gateway was down).
  std::vector<std::string> FinishRestore(double not_before, double now);
  // Hands everything changed over to the store writer: when incident events or held effects
  // wait, or `force`, or the flush interval has passed, or flush_changes twins changed, or the
  // round is full.
  void Seal(double now, bool force);

  // From any thread: a new model (configuration reload), applied on the shard's own thread at its
  // next round.
  void UpdateModel(const ModelConfig& model);
  // From any thread: the active maintenance silences, applied on the shard's thread at its next
  // round (before the pool starts: at its first round).
  void SetMaintenance(std::shared_ptr<const std::vector<Silence>> active);

  // Before the pool starts: keep 1-minute and 1-hour rollups of the servers' metrics, their
  // metric names in `dictionary` (nullptr: none are kept).
  void SetRollups(MetricDictionary* dictionary) {
    rollups_ = dictionary != nullptr ? std::make_unique<RollupAccumulator>(*dictionary) : nullptr;
  }

  // Before the pool starts (or after it stopped): the twins this shard holds.
  const TwinRegistry& registry() const { return registry_; }

  const HostCounters& counters() const { return counters_; }
  // Open incidents by level and kind ("server/thermal" -> n); any thread.
  std::map<std::string, int64_t> OpenByKind() const;

 private:
  void Apply(Effects& out);
  // A whole report (or a command, a query, a message from another twin) to the registry.
  void Deliver(const Envelope& env);
  // Takes one of max_servers' slots for a server about to be created; false when none is left.
  bool ReserveServerSlot();
  // Counts and dead-letters a message that would create a server past max_servers (or past
  // model.max_memory_mb when `memory`).
  void RefuseServer(const Envelope& env, bool memory = false);
  // Past model.max_memory_mb: `report` without the metrics its twin has no column for (counted
  // and dead-lettered); false when it had none of those.
  bool StripNewMetrics(const std::string& server, const ServerTwin& twin, const Report& report, Report* kept);
  void ApplyPendingModel(double now);
  void ApplyPendingMaintenance(double now);
  void UpdateCounts();

  // Constant after construction
  const size_t shard_;
  const std::string datacenter_;
  const bool auto_commission_;
  const std::string prefix_;
  ShardPool<Envelope>& pool_;
  ReplyBook& replies_;
  DeadLetters& dead_letters_;
  StoreWriter& writer_;
  SilenceCensus& census_;
  TwinLimits& limits_;  // across all shards: max_servers, model.max_memory_mb
  const double flush_interval_s_;
  const size_t flush_changes_;

  // Owned by the shard's thread
  TwinRegistry registry_;
  ReportAssembler assembler_;  // ingest: parts of collectd and Telegraf reports
  RateLimiter limiter_;        // ingest: max_messages_per_s, counted in reports
  double last_prune_ = 0;  // monotonic
  EffectsStage effects_;
  ShardBatch pending_;    // twins and deletions not yet handed to the writer
  ShardEvents events_;    // events not yet handed to the writer
  EventsSink events_sink_;
  double last_seal_ = 0;
  bool samples_due_ = false;  // sample-only twins are due beyond what the last seal took
  std::unique_ptr<RollupAccumulator> rollups_;
  int64_t rollup_minute_ = 0;  // the wall-clock minute of the last pass that closed buckets

  HostCounters counters_;
  mutable Mutex open_mu_;
  std::map<std::string, int64_t> open_by_kind_ GUARDED_BY(open_mu_);
  Mutex model_mu_;
  std::unique_ptr<ModelConfig> next_model_ GUARDED_BY(model_mu_);
  std::atomic<bool> model_waiting_{false};
  std::shared_ptr<const std::vector<Silence>> next_maintenance_ GUARDED_BY(model_mu_);
  std::atomic<bool> maintenance_waiting_{false};
};

}  // namespace dctwin
