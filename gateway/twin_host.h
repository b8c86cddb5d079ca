// TwinHost: what one shard does. Holds the TwinRegistry of the twins whose address hashes to
// this shard, hands it each message and timer tick, and carries out the effects: incident events
// and health to the AlertPublisher, messages to other twins back through the pool (never by
// direct calls), rejections to DeadLetters.
//
// Not thread-safe: OnStart/Handle/Tick run on the shard's own thread. counters() may be read
// from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <cstdint>
#include <string>

#include "gateway/alert_publisher.h"
#include "gateway/dead_letters.h"
#include "gateway/shard_pool.h"
#include "gateway/silence_census.h"
#include "gateway/store_writer.h"
#include "storage/status.h"
#include "storage/state_store.h"
#include "twins/messages.h"
#include "twins/twin_registry.h"

namespace dctwin {

struct HostCounters {
  std::atomic<uint64_t> messages_in{0};  // reports fully applied to a twin
  std::atomic<uint64_t> metrics_ignored{0};
  std::atomic<uint64_t> reports_late{0};  // of messages_in: older than their server's newest report
  std::atomic<uint64_t> servers_refused{0};
  std::atomic<int64_t> servers{0};
  std::atomic<int64_t> racks{0};
  std::atomic<int64_t> datacenters{0};
  std::atomic<int64_t> open_incidents{0};
};

class TwinHost : public ShardHandler<Envelope> {
 public:
  TwinHost(size_t shard, const ModelConfig& model, RegistryOptions options, std::string prefix,
           ShardPool<Envelope>& pool, AlertPublisher& alerts, DeadLetters& dead_letters, StoreWriter& writer,
           SilenceCensus& census, std::chrono::milliseconds flush_interval, size_t flush_changes,
           std::atomic<int64_t>& servers_total, int64_t max_servers);

  void OnStart(double now) override;
  void Handle(Envelope& env) override;
  void Tick(double now) override;
  void AfterBatch(double now) override;

  // Before the pool starts: the saved state of one twin this shard owns. A row that cannot be
  // decoded is refused (and the twin forgotten) with the reason.
  Status Restore(const TwinRecord& record);
  void FinishRestore(double not_before, double now);
  // Hands everything changed over to the store writer: when incident events wait, or `force`,
  // or the flush interval has passed, or flush_changes twins changed. Runs on the shard's thread (or after the pool stopped).
  void Seal(double now, bool force);

  // From any thread: a new model (configuration reload), applied on the shard's own thread at its
  // next round.
  void UpdateModel(const ModelConfig& model);
  // From any thread: the active maintenance silences, applied on the shard's thread at its next
  // round (before the pool starts: at its first round).
  void SetMaintenance(std::shared_ptr<const std::vector<Silence>> active);

  const HostCounters& counters() const { return counters_; }
  // Open incidents by level and kind ("server/thermal" -> n); any thread.
  std::map<std::string, int64_t> OpenByKind() const;

 private:
  void Apply(Effects& out);
  void ApplyPendingModel(double now);
  void ApplyPendingMaintenance(double now);
  void UpdateCounts();

  // Constant after construction
  const size_t shard_;
  const std::string datacenter_;
  const bool auto_commission_;
  const std::string prefix_;
  ShardPool<Envelope>& pool_;
  AlertPublisher& alerts_;
  DeadLetters& dead_letters_;
  StoreWriter& writer_;
  SilenceCensus& census_;
  std::atomic<int64_t>& servers_total_;  // across all shards, for the max_servers limit
  const int64_t max_servers_;
  const double flush_interval_s_;
  const size_t flush_changes_;

  TwinRegistry registry_;
  HostCounters counters_;
  ShardBatch pending_;  // events and deletions not yet handed to the writer
  mutable std::mutex open_mu_;
  std::map<std::string, int64_t> open_by_kind_;  // guarded by open_mu_
  std::mutex model_mu_;
  std::unique_ptr<ModelConfig> next_model_;  // guarded by model_mu_
  std::atomic<bool> model_waiting_{false};
  std::shared_ptr<const std::vector<Silence>> next_maintenance_;  // guarded by model_mu_
  std::atomic<bool> maintenance_waiting_{false};
  double last_seal_ = 0;
};

}  // namespace dctwin
