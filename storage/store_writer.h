// StoreWriter: the one thread that writes to the StateStore, and the gate between a twin's change
// and anything the outside world or another twin sees of it.
//
// Shards submit what they changed (encoded twins, deleted twins, finished rollup buckets) with two
// steps of their own: `collected`, which hands the batch's domain events to the commit stage, and
// `released`, which holds everything else the batch produced (health, query answers, messages to
// other twins). The writer knows nothing of what those steps carry. Each round of the writer
// reads top to bottom (Round()):
//  1. collect: the batches submitted since the last round, in order and up to a bound in bytes
//     (the rest wait for the next round), are merged into what waits (later state of a twin
//     replaces earlier state) and each one's `collected` step runs; then the commit stage polls
//     (operators' requests, clock-driven changes);
//  2. commit: one urgent transaction with the twins that changed more than their samples, the
//     deletions, the acknowledged outbox rows and what the commit stage contributes (its outbox
//     rows, documents, history);
//  3. release: the committed outbox rows go to the OutboxSink (the broker) in commit order, the
//     commit stage hears of the commit, and each batch's `released` step runs, in submission order;
//  4. samples: at most one chunk of the twins whose only change is new samples (and of rollups),
//     so that a burst of them never keeps an incident waiting for more than one chunk.
// A failed commit (disk full, SQLITE_BUSY, I/O error) keeps everything pending, newer
// submissions merged in, and is retried with backoff: nothing is lost once the fault clears, and
// nothing is released before it is committed. What waits is bounded: past max_pending batches,
// Submit makes the shard wait (up to a second per call), so that a failing disk slows ingest down
// (the mailboxes fill, then the broker connection) instead of growing memory.
//
// Threads: Submit/Acked/Wake/Flush/Stop/Stats from any thread; the commit stage, the sink and
// the batches' steps are called on the writer's own thread only.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "storage/rollup_codec.h"
#include "storage/state_store.h"
#include "base/thread_annotations.h"

namespace dctwin {

// What one shard hands over in one go.
struct ShardBatch {
  std::vector<TwinRecord> upserts;         // twins whose incidents, membership or health changed
  std::vector<TwinRecord> sample_upserts;  // twins whose only change is new samples
  std::vector<TwinKey> deletes;
  std::vector<RollupRow> rollups;  // finished rollup buckets: written with the samples, off the urgent path
  // Runs on the writer's thread when a round takes the batch, after the batches submitted before
  // it and before the round's commit: the shard's events go to the commit stage, which puts what
  // it makes of them into the same transaction as the twins above.
  std::function<void()> collected;
  // Runs on the writer's thread once everything above (and everything submitted before it) is
  // committed.
  std::function<void()> released;
  bool empty() const {
    return upserts.empty() && sample_upserts.empty() && deletes.empty() && rollups.empty() && !collected &&
           !released;
  }
};

// Where committed outbox rows go to be published. Called on the writer's thread. A sink takes
// every row: the outbox bounds them (state.outbox_max makes the commit stage hold new opens back),
// and a row stays in the outbox until the broker acknowledges it.
class OutboxSink {
 public:
  virtual ~OutboxSink() = default;
  virtual void Deliver(const OutboxRecord& record) = 0;
};

// What runs on the writer's thread beside the twins and keeps state of its own in the same
// transactions (the gateway's desks). It hears of the shards' events through their batches'
// `collected` steps, which the gateway wires to it.
class CommitStage {
 public:
  virtual ~CommitStage() = default;
  // Before each round: whether the outbox holds outbox_max rows or more (the broker has been
  // away long). The stage may hold back what can wait (new opens), never what must follow.
  virtual void SetOutboxFull(bool /*full*/) {}
  // Requests and clock-driven changes, after the round's batches were collected.
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
  uint64_t submit_waits = 0;    // a shard waited for room: max_pending batches were uncommitted
  uint64_t rollups_written = 0;
  uint64_t rollups_dropped = 0;  // while commits failed, past kMaxPendingRollups waiting
  int64_t outbox_rows = 0;
  size_t pending_twins = 0;     // waiting for a commit (grows while commits fail)
  double last_commit_ms = 0;    // the last urgent transaction
  double max_commit_ms = 0;
  // Rounds of the writer that took batches from the shards, and the time they took in all (merge,
  // commit stage, transactions, release): the writer's cost per round.
  uint64_t rounds = 0;
  double round_ms_total = 0;
};

class StoreWriter {
 public:
  // sample_chunk: most sample-only twins written per transaction.
  StoreWriter(StateStore& store, OutboxSink& outbound, std::chrono::milliseconds flush_interval, int64_t outbox_max,
              CommitStage* stage = nullptr, std::function<double()> clock = nullptr, size_t sample_chunk = 256,
              size_t max_pending = 10000);
  ~StoreWriter();

  // Called on the writer's thread when commits start failing (`failing`, with the error) and when
  // one succeeds again. Set before Start().
  void SetFailureHandler(std::function<void(bool failing, const std::string& error)> handler) {
    on_failure_ = std::move(handler);
  }
  void Start();
  void Submit(ShardBatch batch);
  void Acked(int64_t seq);
  // Makes the writer run a round now (the commit stage has requests).
  void Wake();
  // Waits until everything submitted so far is committed and released (or the timeout passes).
  bool Flush(std::chrono::milliseconds timeout);
  // Commits what is pending (trying until `timeout`), then stops. Idempotent.
  void Stop(std::chrono::milliseconds timeout = std::chrono::seconds(10));
  // After Stop(): commits, on the calling thread, the deletions of outbox rows acknowledged since.
  void CommitAcknowledged();

  StoreWriterStats Stats() const;
  // The clock's time of the last round that committed everything it had (or had nothing to do):
  // it stands still while commits fail or the writer is stuck. Any thread.
  double heartbeat() const { return heartbeat_.load(std::memory_order_relaxed); }

 private:
  struct KeyLess {
    bool operator()(const TwinKey& a, const TwinKey& b) const {
      return a.kind != b.kind ? a.kind < b.kind : a.id < b.id;
    }
  };
  void Run();
  // The batches of the next round, oldest first, up to kRoundBytes of urgent state (at least
  // one batch); the rest wait in `submitted_` for the round after, which follows at once.
  std::vector<ShardBatch> TakeRound() REQUIRES(mu_);
  // One round (see the top of this file); false when a commit failed.
  bool Round(std::vector<ShardBatch>& batches);
  // 1. A batch's twins into what waits; its `collected` step; its rollups and `released` step kept.
  void Collect(ShardBatch& batch);
  // 2. The urgent transaction; true when it committed (or had nothing to do).
  StoreBatch UrgentBatch();
  bool CommitUrgent(StoreBatch& urgent);  // the store numbers its outbox rows
  // 3. What the committed transaction lets out.
  void Release(const StoreBatch& urgent);
  // 4. One chunk of sample-only twins and rollups; true when it committed (or had nothing to do).
  bool CommitSamples();

  // Constant after construction
  StateStore& store_;
  OutboxSink& outbound_;
  const std::chrono::milliseconds flush_interval_;
  const int64_t outbox_max_;
  CommitStage* const stage_;
  const std::function<double()> clock_;
  const size_t sample_chunk_;
  const size_t max_pending_;

  mutable Mutex mu_;
  std::condition_variable wake_;
  std::condition_variable flushed_;
  std::condition_variable room_;  // uncommitted_ fell below max_pending_
  std::deque<ShardBatch> submitted_ GUARDED_BY(mu_);
  std::vector<int64_t> acked_ GUARDED_BY(mu_);
  uint64_t submitted_count_ GUARDED_BY(mu_) = 0;
  uint64_t committed_count_ GUARDED_BY(mu_) = 0;
  size_t uncommitted_ GUARDED_BY(mu_) = 0;  // batches submitted and not yet committed
  bool stop_ GUARDED_BY(mu_) = false;
  bool woken_ GUARDED_BY(mu_) = false;
  StoreWriterStats stats_ GUARDED_BY(mu_);

  std::atomic<double> heartbeat_{0};
  std::function<void(bool, const std::string&)> on_failure_;

  // Owned by the writer thread (and by Stop() after it joined).
  bool failing_ = false;  // the last commit failed
  std::string last_error_;
  std::map<TwinKey, std::optional<TwinRecord>, KeyLess> pending_twins_;  // nullopt: delete
  std::map<TwinKey, TwinRecord, KeyLess> pending_samples_;
  std::vector<RollupRow> pending_rollups_;  // oldest first; past kMaxPendingRollups the oldest go
  static constexpr size_t kMaxPendingRollups = 1'000'000;
  // Rows per transaction: what an urgent commit may wait behind. With the rollups of 100,000
  // servers due (bench-scale.sh figure 4), chunks of 4,096 rows gave an alert p99 near 100 ms,
  // 512 rows 30-40 ms, 128 rows under 10 ms.
  static constexpr size_t kRollupChunk = 128;
  // Bytes of sample-only twin state per transaction (at least one twin), besides `sample_chunk_`
  // twins: 256 twins of 200 metrics each are some 10 MB, which an urgent commit waited behind for
  // hundreds of milliseconds (bench-scale.sh figure 5).
  static constexpr size_t kSampleChunkBytes = 512 * 1024;
  // Bytes of urgent twin state one round takes in: whole batches, at least one. Without it, the
  // batches submitted during one long commit all went into the next, longer one. It does not
  // bound one batch: a shard's round of up to 1,024 messages can make 40 MB of state urgent (wide
  // twins whose health changed), and such a commit still took 871 ms (bench-scale.sh figure 5).
  static constexpr size_t kRoundBytes = 4 * 1024 * 1024;
  std::vector<std::function<void()>> pending_released_;
  std::vector<int64_t> pending_acked_;
  size_t merged_ = 0;  // batches merged since the last successful urgent commit
  int64_t outbox_warned_ = 0;
  std::thread thread_;
  bool started_ = false;
};

}  // namespace dctwin
