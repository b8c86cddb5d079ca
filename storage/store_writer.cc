#include "storage/store_writer.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "base/thread_name.h"

namespace dctwin {

namespace {
double SystemClock() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}
}  // namespace

StoreWriter::StoreWriter(StateStore& store, OutboxSink& outbound, std::chrono::milliseconds flush_interval,
                         int64_t outbox_max, CommitStage* stage, std::function<double()> clock, size_t sample_chunk,
                         size_t max_pending)
    : store_(store), outbound_(outbound), flush_interval_(flush_interval), outbox_max_(outbox_max), stage_(stage),
      clock_(clock ? std::move(clock) : SystemClock), sample_chunk_(std::max<size_t>(sample_chunk, 1)),
      max_pending_(std::max<size_t>(max_pending, 1)) {
  MutexLock lock(mu_);
  stats_.outbox_rows = store_.OutboxSize();
}

StoreWriter::~StoreWriter() { Stop(); }

void StoreWriter::Start() {
  started_ = true;
  heartbeat_.store(clock_(), std::memory_order_relaxed);
  thread_ = std::thread([this] {
    NameThisThread("dctwin-writer");
    Run();
  });
}

void StoreWriter::Submit(ShardBatch batch) {
  if (batch.empty()) return;
  {
    MutexLock lock(mu_);
    if (uncommitted_ >= max_pending_ && !stop_) {
      // Commits are failing (or far behind): the shard waits, and ingest with it. At most a
      // second per call, so that a stop is never stuck here.
      if (stats_.submit_waits++ == 0) {
        spdlog::error("state store: {} batches wait for a commit; the shards wait with them", uncommitted_);
      }
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
      while (uncommitted_ >= max_pending_ && !stop_) {
        if (room_.wait_until(lock.native(), deadline) == std::cv_status::timeout) break;
      }
    }
    submitted_.push_back(std::move(batch));
    ++submitted_count_;
    ++uncommitted_;
  }
  wake_.notify_one();
}

void StoreWriter::Wake() {
  {
    MutexLock lock(mu_);
    woken_ = true;
  }
  wake_.notify_one();
}

void StoreWriter::Acked(int64_t seq) {
  MutexLock lock(mu_);
  acked_.push_back(seq);
}

void StoreWriter::Run() {
  auto backoff = std::chrono::milliseconds(50);
  MutexLock lock(mu_);
  for (;;) {
    const auto deadline = std::chrono::steady_clock::now() + flush_interval_;
    while (!stop_ && !woken_ && submitted_.empty() && pending_samples_.empty() && pending_rollups_.empty()) {
      if (wake_.wait_until(lock.native(), deadline) == std::cv_status::timeout) break;
    }
    woken_ = false;
    std::vector<ShardBatch> batches = TakeRound();
    const bool stop_asked = stop_;
    const bool stopping = stop_asked && submitted_.empty();  // nothing left for a later round
    pending_acked_.insert(pending_acked_.end(), acked_.begin(), acked_.end());
    acked_.clear();
    const uint64_t covered = submitted_count_ - submitted_.size();
    lock.Unlock();

    const auto round_start = std::chrono::steady_clock::now();
    const bool ok = Round(batches);
    const double round_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - round_start).count();
    if (ok != !failing_) {
      failing_ = !ok;
      if (failing_) {
        spdlog::critical("state store: commits fail ({}); holding what changed until they succeed", last_error_);
      } else {
        spdlog::warn("state store: commits succeed again");
      }
      if (on_failure_) on_failure_(failing_, last_error_);
    }
    if (ok) heartbeat_.store(clock_(), std::memory_order_relaxed);

    lock.Lock();
    if (!batches.empty()) {
      ++stats_.rounds;
      stats_.round_ms_total += round_ms;
    }
    if (ok) {
      backoff = std::chrono::milliseconds(50);
      if (pending_samples_.empty() && pending_rollups_.empty()) {
        committed_count_ = std::max(committed_count_, covered);
        flushed_.notify_all();
      }
      if (stopping && pending_samples_.empty() && pending_rollups_.empty()) return;
    } else {
      if (stop_asked) return;  // Stop() gave up waiting; what is pending stays uncommitted
      // Retry with backoff; new submissions are merged into the retry.
      const auto until = std::chrono::steady_clock::now() + backoff;
      while (!stop_) {
        if (wake_.wait_until(lock.native(), until) == std::cv_status::timeout) break;
      }
      backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
    }
  }
}

std::vector<ShardBatch> StoreWriter::TakeRound() {
  size_t take = 0;
  size_t bytes = 0;
  while (take < submitted_.size() && (take == 0 || bytes < kRoundBytes)) {
    for (const TwinRecord& r : submitted_[take].upserts) bytes += r.state.size();
    ++take;
  }
  std::vector<ShardBatch> round;
  round.reserve(take);
  for (; take > 0; --take) {
    round.push_back(std::move(submitted_.front()));
    submitted_.pop_front();
  }
  return round;
}

bool StoreWriter::Round(std::vector<ShardBatch>& batches) {
  // 1. Collect.
  if (stage_ != nullptr) stage_->SetOutboxFull(store_.OutboxSize() >= outbox_max_);
  for (ShardBatch& b : batches) Collect(b);
  if (stage_ != nullptr) stage_->Poll(clock_());
  // 2. Commit what is urgent (incidents and what they cause).
  StoreBatch urgent = UrgentBatch();
  if (!CommitUrgent(urgent)) return false;
  // 3. Release what it lets out.
  Release(urgent);
  // 4. Then at most one chunk of samples.
  return CommitSamples();
}

void StoreWriter::Collect(ShardBatch& batch) {
  // Later state of a twin replaces earlier state; a delete is remembered as "no state". A twin
  // with urgent state pending keeps it urgent when newer samples arrive.
  for (TwinKey& k : batch.deletes) {
    pending_samples_.erase(k);
    pending_twins_[std::move(k)] = std::nullopt;
  }
  for (TwinRecord& r : batch.upserts) {
    pending_samples_.erase(r.key);
    TwinKey key = r.key;
    pending_twins_[std::move(key)] = std::move(r);
  }
  for (TwinRecord& r : batch.sample_upserts) {
    auto urgent = pending_twins_.find(r.key);
    if (urgent != pending_twins_.end()) {
      urgent->second = std::move(r);
      continue;
    }
    TwinKey key = r.key;
    pending_samples_.insert_or_assign(std::move(key), std::move(r));
  }
  if (batch.collected) batch.collected();
  if (batch.released) pending_released_.push_back(std::move(batch.released));
  if (!batch.rollups.empty()) {
    pending_rollups_.insert(pending_rollups_.end(), std::make_move_iterator(batch.rollups.begin()),
                            std::make_move_iterator(batch.rollups.end()));
    if (pending_rollups_.size() > kMaxPendingRollups) {
      // Commits have failed for long: the oldest buckets give way (incidents never do).
      const size_t over = pending_rollups_.size() - kMaxPendingRollups;
      pending_rollups_.erase(pending_rollups_.begin(), pending_rollups_.begin() + static_cast<std::ptrdiff_t>(over));
      MutexLock lock(mu_);
      stats_.rollups_dropped += over;
    }
  }
  ++merged_;
}

StoreBatch StoreWriter::UrgentBatch() {
  StoreBatch b;
  for (auto& [key, record] : pending_twins_) {
    if (record) {
      b.upserts.push_back(*record);
    } else {
      b.deletes.push_back(key);
    }
  }
  b.acked = pending_acked_;
  if (stage_ != nullptr) stage_->Contribute(b);
  return b;
}

bool StoreWriter::CommitUrgent(StoreBatch& b) {
  double ms = 0;
  if (!b.empty()) {
    const auto t0 = std::chrono::steady_clock::now();
    Status s = store_.Commit(b);
    ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    if (!s.ok()) {
      last_error_ = s.ToString();
      MutexLock lock(mu_);
      ++stats_.failures;
      stats_.pending_twins = pending_twins_.size() + pending_samples_.size();
      if ((stats_.failures & (stats_.failures - 1)) == 0) {
        spdlog::error("state store commit failed ({} so far), keeping {} twins and {} held effects to retry: {}",
                      stats_.failures, pending_twins_.size() + pending_samples_.size(), pending_released_.size(),
                      s.ToString());
      }
      return false;
    }
    // Outbox rows are never dropped: a resolve must follow its open. Past the limit (the commit
    // stage holds new opens back, not what must follow them), say so once per doubling.
    const int64_t rows = store_.OutboxSize();
    if (rows > outbox_max_ && rows >= 2 * outbox_warned_) {
      outbox_warned_ = rows;
      spdlog::critical("outbox over its limit: {} rows wait for the broker (state.outbox_max {})", rows, outbox_max_);
    }
  }
  MutexLock lock(mu_);
  if (!b.empty()) {
    ++stats_.commits;
    stats_.last_commit_ms = ms;
    stats_.max_commit_ms = std::max(stats_.max_commit_ms, ms);
  }
  stats_.twins_written += b.upserts.size();
  stats_.outbox_rows = store_.OutboxSize();
  stats_.pending_twins = pending_samples_.size();
  return true;
}

void StoreWriter::Release(const StoreBatch& b) {
  // Now, and only now, the events may go out, in commit order.
  for (const OutboxRecord& r : b.outbox) outbound_.Deliver(r);
  if (stage_ != nullptr) stage_->Committed(clock_());
  // Then what the committed state caused besides its events: health, answers, messages to twins.
  for (auto& released : pending_released_) released();
  pending_released_.clear();
  pending_twins_.clear();
  pending_acked_.clear();
  {
    MutexLock lock(mu_);
    uncommitted_ -= std::min(uncommitted_, merged_);
  }
  merged_ = 0;
  room_.notify_all();
}

bool StoreWriter::CommitSamples() {
  if (pending_samples_.empty() && pending_rollups_.empty()) return true;
  StoreBatch b;
  auto end = pending_samples_.begin();
  size_t bytes = 0;
  for (size_t n = 0; end != pending_samples_.end() && n < sample_chunk_ && (n == 0 || bytes < kSampleChunkBytes);
       ++end, ++n) {
    bytes += end->second.state.size();
    b.upserts.push_back(end->second);
  }
  const size_t rollups = std::min(pending_rollups_.size(), kRollupChunk);
  b.rollups.assign(pending_rollups_.begin(), pending_rollups_.begin() + static_cast<std::ptrdiff_t>(rollups));
  Status s = store_.Commit(b);
  if (!s.ok()) last_error_ = s.ToString();
  MutexLock lock(mu_);
  if (!s.ok()) {
    ++stats_.failures;
    if ((stats_.failures & (stats_.failures - 1)) == 0) {
      spdlog::error("state store commit of samples failed ({} so far), keeping {} twins to retry: {}",
                    stats_.failures, pending_samples_.size(), s.ToString());
    }
    return false;
  }
  pending_samples_.erase(pending_samples_.begin(), end);
  pending_rollups_.erase(pending_rollups_.begin(), pending_rollups_.begin() + static_cast<std::ptrdiff_t>(rollups));
  stats_.rollups_written += rollups;
  ++stats_.commits;
  stats_.twins_written += b.upserts.size();
  stats_.pending_twins = pending_samples_.size();
  return true;
}

bool StoreWriter::Flush(std::chrono::milliseconds timeout) {
  MutexLock lock(mu_);
  const uint64_t target = submitted_count_;
  woken_ = true;
  wake_.notify_one();
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (committed_count_ < target) {
    if (flushed_.wait_until(lock.native(), deadline) == std::cv_status::timeout) return committed_count_ >= target;
  }
  return true;
}

void StoreWriter::Stop(std::chrono::milliseconds timeout) {
  if (!started_) return;
  if (!Flush(timeout)) spdlog::error("state store: could not commit everything before stopping");
  {
    MutexLock lock(mu_);
    if (stop_) return;
    stop_ = true;
  }
  wake_.notify_all();
  room_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void StoreWriter::CommitAcknowledged() {
  {
    MutexLock lock(mu_);
    if (thread_.joinable() && !stop_) return;  // only once the writer thread is gone
    pending_acked_.insert(pending_acked_.end(), acked_.begin(), acked_.end());
    acked_.clear();
  }
  StoreBatch urgent = UrgentBatch();
  if (CommitUrgent(urgent)) Release(urgent);
}

StoreWriterStats StoreWriter::Stats() const {
  MutexLock lock(mu_);
  return stats_;
}

}  // namespace dctwin
