#include "gateway/store_writer.h"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace dctwin {

namespace {
double SystemClock() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}
}  // namespace

StoreWriter::StoreWriter(StateStore& store, MessageSink& outbound, std::chrono::milliseconds flush_interval,
                         int64_t outbox_max, CommitStage* stage, std::function<double()> clock)
    : store_(store), outbound_(outbound), flush_interval_(flush_interval), outbox_max_(outbox_max), stage_(stage),
      clock_(clock ? std::move(clock) : SystemClock) {
  stats_.outbox_rows = store_.OutboxSize();
}

StoreWriter::~StoreWriter() { Stop(); }

void StoreWriter::Start() {
  started_ = true;
  thread_ = std::thread([this] { Run(); });
}

void StoreWriter::Submit(ShardBatch batch) {
  if (batch.empty()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    submitted_.push_back(std::move(batch));
    ++submitted_count_;
  }
  wake_.notify_one();
}

void StoreWriter::Wake() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    woken_ = true;
  }
  wake_.notify_one();
}

void StoreWriter::Acked(int64_t seq) {
  std::lock_guard<std::mutex> lock(mu_);
  acked_.push_back(seq);
}

void StoreWriter::Merge(ShardBatch& batch) {
  // Later state of a twin replaces earlier state; a delete is remembered as "no state".
  for (TwinKey& k : batch.deletes) pending_twins_[std::move(k)] = std::nullopt;
  for (TwinRecord& r : batch.upserts) {
    TwinKey key = r.key;
    pending_twins_[std::move(key)] = std::move(r);
  }
  for (OutMessage& e : batch.events) pending_events_.push_back(std::move(e));
  if (stage_ != nullptr && (!batch.incidents.empty() || !batch.decommissioned.empty())) {
    stage_->OnIncidents(batch.incidents, batch.decommissioned, clock_());
  }
}

bool StoreWriter::CommitPending() {
  StoreBatch b;
  for (auto& [key, record] : pending_twins_) {
    if (record) {
      b.upserts.push_back(*record);
    } else {
      b.deletes.push_back(key);
    }
  }
  // The outbox is bounded: past its limit new events are refused, loudly.
  int64_t room = outbox_max_ - store_.OutboxSize() + static_cast<int64_t>(pending_acked_.size());
  size_t dropped = 0;
  for (const OutMessage& e : pending_events_) {
    if (room <= 0) {
      ++dropped;
      continue;
    }
    --room;
    b.outbox.push_back(OutboxRecord{0, e.topic, e.payload, e.qos, e.retained});
  }
  b.acked = pending_acked_;
  if (stage_ != nullptr) stage_->Contribute(b);
  if (b.empty() && dropped == 0) {
    if (stage_ != nullptr) stage_->Committed(clock_());
    return true;
  }

  const auto t0 = std::chrono::steady_clock::now();
  Status s = store_.Commit(b);
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  if (!s.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.failures;
    if ((stats_.failures & (stats_.failures - 1)) == 0) {
      spdlog::error("state store commit failed ({} so far), keeping {} twins and {} events to retry: {}",
                    stats_.failures, pending_twins_.size(), pending_events_.size(), s.ToString());
    }
    return false;
  }
  if (dropped > 0) {
    spdlog::critical("outbox full ({} rows): {} message(s) dropped", outbox_max_, dropped);
  }
  // Incident events (from the commit stage) are never dropped: a resolve must follow its open.
  // Past the limit, say so (once per doubling).
  const int64_t rows = store_.OutboxSize();
  if (rows > outbox_max_ && rows >= 2 * outbox_warned_) {
    outbox_warned_ = rows;
    spdlog::critical("outbox over its limit: {} rows wait for the broker (state.outbox_max {})", rows, outbox_max_);
  }
  // Committed: now, and only now, the events may go out. Once the outbound queue refuses one
  // (it is full while the broker is away), that one and everything after it stay in the outbox
  // and are handed over again, in order, as room comes back (ResendRefused).
  for (const OutboxRecord& r : b.outbox) {
    if (first_refused_ == 0 && !HandOver(r)) first_refused_ = r.seq;
  }
  if (stage_ != nullptr) stage_->Committed(clock_());
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.commits;
    stats_.twins_written += b.upserts.size();
    stats_.events_dropped += dropped;
    stats_.outbox_rows = store_.OutboxSize();
    stats_.last_commit_ms = ms;
    stats_.max_commit_ms = std::max(stats_.max_commit_ms, ms);
  }
  pending_twins_.clear();
  pending_events_.clear();
  pending_acked_.clear();
  return true;
}

bool StoreWriter::HandOver(const OutboxRecord& r) {
  OutMessage m;
  m.topic = r.topic;
  m.payload = r.payload;
  m.qos = r.qos;
  m.retained = r.retained;
  m.outbox_seq = r.seq;
  return outbound_.Publish(std::move(m));
}

void StoreWriter::ResendRefused() {
  if (first_refused_ == 0) return;
  constexpr size_t kChunk = 1000;
  int64_t next = 0;
  size_t loaded = 0;
  bool refused = false;
  Status s = store_.LoadOutboxFrom(first_refused_, kChunk, [&](OutboxRecord&& r) {
    ++loaded;
    if (refused) return;
    if (HandOver(r)) {
      next = r.seq + 1;
    } else {
      refused = true;
      next = r.seq;
    }
  });
  if (!s.ok()) {
    spdlog::error("state store: reading the outbox to send it again: {}", s.ToString());
    return;
  }
  if (refused) {
    first_refused_ = next;  // still no room: try again next round
  } else if (loaded < kChunk) {
    spdlog::info("outbox caught up: everything committed is handed over again");
    first_refused_ = 0;
  } else {
    first_refused_ = next;
  }
}

void StoreWriter::Run() {
  auto backoff = std::chrono::milliseconds(50);
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    wake_.wait_for(lock, flush_interval_, [&] { return stop_ || woken_ || !submitted_.empty(); });
    woken_ = false;
    const bool stopping = stop_;
    std::vector<ShardBatch> batches;
    batches.swap(submitted_);
    pending_acked_.insert(pending_acked_.end(), acked_.begin(), acked_.end());
    acked_.clear();
    const uint64_t covered = submitted_count_;
    lock.unlock();
    for (ShardBatch& b : batches) Merge(b);
    if (stage_ != nullptr) stage_->Poll(clock_());
    ResendRefused();
    const bool ok = CommitPending();
    lock.lock();
    if (ok) {
      committed_count_ = covered;
      backoff = std::chrono::milliseconds(50);
      flushed_.notify_all();
      if (stopping) return;
    } else {
      if (stopping) return;  // Stop() gave up waiting; what is pending stays uncommitted
      // Retry with backoff; new submissions are merged into the retry.
      wake_.wait_for(lock, backoff, [&] { return stop_; });
      backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
    }
  }
}

bool StoreWriter::Flush(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  const uint64_t target = submitted_count_;
  wake_.notify_one();
  return flushed_.wait_for(lock, timeout, [&] { return committed_count_ >= target; });
}

void StoreWriter::Stop(std::chrono::milliseconds timeout) {
  if (!started_) return;
  if (!Flush(timeout)) spdlog::error("state store: could not commit everything before stopping");
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stop_) return;
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void StoreWriter::CommitAcknowledged() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (thread_.joinable() && !stop_) return;  // only once the writer thread is gone
    pending_acked_.insert(pending_acked_.end(), acked_.begin(), acked_.end());
    acked_.clear();
  }
  CommitPending();
}

StoreWriterStats StoreWriter::Stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

}  // namespace dctwin
