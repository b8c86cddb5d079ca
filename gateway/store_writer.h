// StoreWriter: the one thread that writes to the StateStore. Shards submit what they changed
// (encoded twins, deleted twins) together with the incident events those changes produced; one
// transaction commits all of it, and only then are the events handed to the OutboundQueue, as QoS
// 1, each carrying its outbox seq. When the broker acknowledges one, its outbox row is deleted in
// a later transaction. A failed commit (disk full, SQLITE_BUSY, I/O error) keeps everything
// pending, newer submissions merged in, and is retried with backoff: nothing is lost once the
// fault clears, and nothing unpublished is published before it is committed.
//
// Thread-safe: Submit/Acked from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "gateway/message_sink.h"
#include "storage/state_store.h"
#include "twins/incident.h"

namespace dctwin {

// What one shard hands over in one go.
struct ShardBatch {
  std::vector<TwinRecord> upserts;
  std::vector<TwinKey> deletes;
  std::vector<OutMessage> events;          // ready-made messages for the outbox
  std::vector<IncidentEvent> incidents;    // incident events, for the commit stage to publish
  std::vector<std::pair<std::string, std::string>> decommissioned;  // (server, rack)
  bool empty() const {
    return upserts.empty() && deletes.empty() && events.empty() && incidents.empty() && decommissioned.empty();
  }
};

// What runs on the writer's thread beside the twins: it turns incident events into outbox
// messages and keeps state of its own in the same transactions (the IncidentDesk).
class CommitStage {
 public:
  virtual ~CommitStage() = default;
  // The incident events of one shard batch, in order, and the servers it decommissioned.
  virtual void OnIncidents(std::vector<IncidentEvent>& events,
                           const std::vector<std::pair<std::string, std::string>>& decommissioned, double now) = 0;
  // Requests and clock-driven changes.
  virtual void Poll(double now) = 0;
  // Adds what waits for the next transaction (outbox messages after the shards' own, documents).
  // Called again with the same content after a failed commit.
  virtual void Contribute(StoreBatch& batch) = 0;
  // The transaction with everything Contribute() gave committed.
  virtual void Committed(double now) = 0;
};

struct StoreWriterStats {
  uint64_t commits = 0;
  uint64_t failures = 0;
  uint64_t twins_written = 0;
  uint64_t events_dropped = 0;  // refused because the outbox was full
  int64_t outbox_rows = 0;
  double last_commit_ms = 0;
  double max_commit_ms = 0;
};

class StoreWriter {
 public:
  StoreWriter(StateStore& store, MessageSink& outbound, std::chrono::milliseconds flush_interval,
              int64_t outbox_max, CommitStage* stage = nullptr, std::function<double()> clock = nullptr);
  ~StoreWriter();

  void Start();
  void Submit(ShardBatch batch);
  void Acked(int64_t seq);
  // Makes the writer run a round now (the commit stage has requests).
  void Wake();
  // Waits until everything submitted so far is committed (or the timeout passes).
  bool Flush(std::chrono::milliseconds timeout);
  // Commits what is pending (trying until `timeout`), then stops. Idempotent.
  void Stop(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // After Stop(): commits, on the calling thread, the deletions of outbox rows acknowledged since.
  void CommitAcknowledged();

  StoreWriterStats Stats() const;

 private:
  struct KeyLess {
    bool operator()(const TwinKey& a, const TwinKey& b) const {
      return a.kind != b.kind ? a.kind < b.kind : a.id < b.id;
    }
  };
  void Run();
  void Merge(ShardBatch& batch);
  bool CommitPending();
  bool HandOver(const OutboxRecord& record);
  // Hands committed outbox rows that the outbound queue refused over again, in order.
  void ResendRefused();

  // Constant after construction
  StateStore& store_;
  MessageSink& outbound_;
  const std::chrono::milliseconds flush_interval_;
  const int64_t outbox_max_;
  CommitStage* const stage_;
  const std::function<double()> clock_;

  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::condition_variable flushed_;
  std::vector<ShardBatch> submitted_;  // guarded by mu_
  std::vector<int64_t> acked_;         // guarded by mu_
  uint64_t submitted_count_ = 0;       // guarded by mu_
  uint64_t committed_count_ = 0;       // guarded by mu_
  bool stop_ = false;                  // guarded by mu_
  bool woken_ = false;                 // guarded by mu_
  StoreWriterStats stats_;             // guarded by mu_

  // Owned by the writer thread (and by Stop() after it joined).
  std::map<TwinKey, std::optional<TwinRecord>, KeyLess> pending_twins_;
  std::vector<OutMessage> pending_events_;
  std::vector<int64_t> pending_acked_;
  int64_t outbox_warned_ = 0;
  int64_t first_refused_ = 0;  // > 0: outbox rows from this seq on wait for room in the outbound queue
  std::thread thread_;
  bool started_ = false;
};

}  // namespace dctwin
