// ShardPool: N shards, each one thread with a mailbox. Every key (a twin's address hash) has one
// owner shard, hash % N, so the messages of one twin are handled one at a time and in the order
// they were posted by any one producer.
//
// Two lanes per mailbox:
//  - external (ingest from MQTT): bounded. A full mailbox makes the producer wait up to
//    enqueue_timeout (backpressure onto the broker connection); after that the message is dropped
//    and counted in `dropped`. The producer is the MQTT client's one callback thread, which every
//    shard's messages and the output connection's acknowledgements share: a wait for one hot
//    shard (a hostile host, one twin's storm) would stall every other shard's alerts. So a
//    sheddable message (a metric report: the next one makes it good again) to a full mailbox is
//    dropped at once while another shard's mailbox is less than half full, and counted in `shed`
//    too. Only when every shard is busy (the gateway as a whole is behind) does it wait.
//  - internal (twin to twin): never blocks and never drops. A shard that waited for room in another
//    shard's mailbox could deadlock with it; internal traffic is bounded by the ingest that causes
//    it (each report makes at most a few twin-to-twin messages).
//
// Waking a sleeping thread costs a system call and a context switch, more than handling a report.
// So a shard that just handled messages and finds its mailbox empty lingers (sleeps `linger`,
// 1 ms by default) without asking to be woken: under load it collects what arrived meanwhile and
// handles it as one batch. Only a shard that found nothing after its linger sleeps deeply and is woken by the next
// post. A message waits at most `linger` longer than it would with a wake-up per message.
//
// A shard whose external mailbox is half full runs at a lower CPU priority until it is back to
// an eighth (ShardPriority): on busy cores, the threads a quiet shard's alert goes through come
// first.
//
// A round takes at most kMaxRound messages (twin-to-twin ones first): what a round produces is
// held until the round's commit, so the round's size bounds that memory, and a storm is worked
// off in commits of bounded size. A round also ends early when its handler says it is full
// (ShardHandler::RoundFull: wide twins whose state must be committed), and the messages it
// took and did not handle begin the next one. The stats count messages as they are handled:
// `handled` moves during a round, and `depth` counts the messages a round took and has not
// finished.
//
// Messages held elsewhere on their way to a shard (a twin's message to another twin waits for the
// commit of the state that sent it) still count as in flight: Retain() when they are held,
// Release() once they are posted. Stop() drains until nothing is in flight.
//
// Threads: Post*, Retain, Release, Stats and Heartbeats from any thread (a shard thread posts on
// the internal lane only); Start and Stop from the owner's thread; the ShardHandler of a shard
// is called on that shard's thread only.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#include "base/histogram.h"
#include "base/thread_annotations.h"
#include "base/thread_name.h"
#include "gateway/runtime/shard_priority.h"

namespace dctwin {

// What a shard does with its messages. Called only on the shard's own thread.
template <typename Item>
class ShardHandler {
 public:
  virtual ~ShardHandler() = default;
  virtual void OnStart(double now) = 0;
  virtual void Handle(Item& item) = 0;
  virtual void Tick(double now) = 0;
  // After every round of messages and ticks: the place to hand over what the round changed.
  virtual void AfterBatch(double /*now*/) {}
  // Asked after each message: true ends the round there (the messages it took and did not
  // handle start the next one), because what the round changed is already large.
  virtual bool RoundFull() const { return false; }
};

// Upper bounds (seconds) of the handling-latency histogram buckets; the last bucket is +Inf.
inline constexpr double kLatencyBuckets[] = {0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1};
inline constexpr size_t kLatencyBucketCount = sizeof(kLatencyBuckets) / sizeof(kLatencyBuckets[0]) + 1;

struct ShardStats {
  uint64_t latency[kLatencyBucketCount] = {};  // messages per handling-time bucket (not cumulative)
  double latency_sum_s = 0;
  uint64_t handled = 0;
  uint64_t dropped = 0;
  uint64_t shed = 0;  // of dropped: at once, for one hot shard (see PostExternal)
  uint64_t depth = 0;
  uint64_t max_depth = 0;
  bool lowered = false;          // running at a lower CPU priority now (ShardPriority)
  uint64_t lowerings = 0;        // times it was lowered
  bool priority_refused = false;  // the system refused a change of its priority (ShardPriority)
};

template <typename Item>
class ShardPool {
 public:
  using Clock = std::function<double()>;  // wall clock in epoch seconds, for ticks
  static constexpr size_t kMaxRound = 1024;

  ShardPool(size_t shards, size_t capacity, std::chrono::milliseconds enqueue_timeout,
            std::chrono::milliseconds tick_interval, Clock clock,
            std::chrono::microseconds linger = std::chrono::microseconds(1000))
      : capacity_(capacity), enqueue_timeout_(enqueue_timeout), tick_interval_(tick_interval), linger_(linger),
        clock_(std::move(clock)) {
    for (size_t i = 0; i < std::max<size_t>(shards, 1); ++i) shards_.push_back(std::make_unique<Shard>());
  }
  ShardPool(const ShardPool&) = delete;
  ShardPool& operator=(const ShardPool&) = delete;
  ~ShardPool() { Stop(); }

  size_t size() const { return shards_.size(); }
  bool closed() const { return closed_.load(std::memory_order_relaxed); }
  size_t ShardOf(size_t hash) const { return hash % shards_.size(); }

  // handlers[i] serves shard i and must outlive the pool's Stop().
  void Start(std::vector<ShardHandler<Item>*> handlers) {
    for (size_t i = 0; i < shards_.size(); ++i) {
      shards_[i]->handler = handlers.at(i);
      shards_[i]->thread = std::thread([this, i] {
        NameThisThread("dctwin-shard-" + std::to_string(i));
        shards_[i]->priority.Start(i);
        Run(*shards_[i]);
      });
    }
    started_ = true;
  }

  // From ingest. Returns false when the message was dropped (mailbox full past the timeout, or
  // at once for a sheddable message while another shard has room (`*shed` says so), or the pool
  // is stopping).
  bool PostExternal(size_t hash, Item item, bool sheddable = false, bool* shed = nullptr) {
    Shard& s = *shards_[ShardOf(hash)];
    MutexLock lock(s.mu);
    if (s.external.size() >= capacity_) {
      const auto deadline = std::chrono::steady_clock::now() + enqueue_timeout_;
      while (s.external.size() >= capacity_ && !closed_.load(std::memory_order_relaxed)) {
        if (sheddable && AnotherHasRoom(s)) {
          s.dropped.fetch_add(1, std::memory_order_relaxed);
          s.shed.fetch_add(1, std::memory_order_relaxed);
          if (shed != nullptr) *shed = true;
          return false;
        }
        // In slices: another shard may become quiet meanwhile.
        const auto until = std::min(deadline, std::chrono::steady_clock::now() + std::chrono::milliseconds(10));
        s.not_full.wait_until(lock.native(), until);
        if (std::chrono::steady_clock::now() >= deadline) break;
      }
      if (s.external.size() >= capacity_ || closed_.load(std::memory_order_relaxed)) {
        s.dropped.fetch_add(1, std::memory_order_relaxed);
        return false;
      }
    }
    if (closed_.load(std::memory_order_relaxed)) {
      s.dropped.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    in_flight_.fetch_add(1, std::memory_order_relaxed);
    s.external.push_back(std::move(item));
    s.external_depth.store(s.external.size(), std::memory_order_relaxed);
    NoteDepth(s);
    const bool asleep = s.asleep;
    lock.Unlock();
    if (asleep) s.wake.notify_one();
    return true;
  }

  // Whether a sheddable message for `hash` would be shed now: its shard's mailbox full while
  // another has room. Ingest asks before it decodes a report, so that a flood the shard cannot
  // take costs the receive thread no parsing. A hint without the lock: PostExternal decides.
  bool WouldShed(size_t hash) const {
    const Shard& s = *shards_[ShardOf(hash)];
    return s.external_depth.load(std::memory_order_relaxed) >= capacity_ && AnotherHasRoom(s);
  }

  // Counts a message shed without being posted (WouldShed said so), as PostExternal counts one.
  void CountShed(size_t hash) {
    Shard& s = *shards_[ShardOf(hash)];
    s.dropped.fetch_add(1, std::memory_order_relaxed);
    s.shed.fetch_add(1, std::memory_order_relaxed);
  }

  // From twins (shard threads) or the gateway itself. Never blocks, never drops.
  void PostInternal(size_t hash, Item item) {
    Shard& s = *shards_[ShardOf(hash)];
    bool asleep;
    {
      MutexLock lock(s.mu);
      in_flight_.fetch_add(1, std::memory_order_relaxed);
      s.internal.push_back(std::move(item));
      NoteDepth(s);
      asleep = s.asleep;
    }
    if (asleep) s.wake.notify_one();
  }

  // `n` messages are held on their way to a shard (they count as in flight until released).
  void Retain(size_t n) {
    if (n > 0) in_flight_.fetch_add(static_cast<int64_t>(n), std::memory_order_relaxed);
  }
  // Held messages were posted (each post counted itself) or given up.
  void Release(size_t n) {
    if (n == 0) return;
    const auto done = static_cast<int64_t>(n);
    if (in_flight_.fetch_sub(done, std::memory_order_acq_rel) == done) {
      MutexLock lock(drain_mu_);
      drained_.notify_all();
    }
  }

  // Waits (up to `timeout`) until nothing is queued, held or being handled; false on timeout.
  bool WaitIdle(std::chrono::milliseconds timeout) {
    MutexLock lock(drain_mu_);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (in_flight_.load() != 0) {
      if (drained_.wait_until(lock.native(), deadline) == std::cv_status::timeout) return in_flight_.load() == 0;
    }
    return true;
  }

  // Refuses new external messages, waits (up to `drain`) until every queued or held message and
  // everything it caused has been handled, then joins the threads. Idempotent. Returns false when
  // the drain gave up (what is left is not handled).
  bool Stop(std::chrono::milliseconds drain = std::chrono::seconds(30)) {
    if (!started_ || stopped_) return true;
    closed_.store(true);
    for (auto& s : shards_) s->not_full.notify_all();
    const bool drained = WaitIdle(drain);
    for (auto& s : shards_) {
      {
        MutexLock lock(s->mu);
        s->stop = true;
      }
      s->wake.notify_one();
    }
    for (auto& s : shards_) {
      if (s->thread.joinable()) s->thread.join();
    }
    stopped_ = true;
    return drained;
  }

  std::vector<ShardStats> Stats() const {
    std::vector<ShardStats> out;
    for (const auto& s : shards_) {
      ShardStats st;
      st.handled = s->handled.load(std::memory_order_relaxed);
      st.dropped = s->dropped.load(std::memory_order_relaxed);
      st.shed = s->shed.load(std::memory_order_relaxed);
      st.max_depth = s->max_depth.load(std::memory_order_relaxed);
      st.lowered = s->priority.lowered();
      st.lowerings = s->priority.lowerings();
      st.priority_refused = s->priority.refused();
      for (size_t b = 0; b < kLatencyBucketCount; ++b) st.latency[b] = s->latency[b].load(std::memory_order_relaxed);
      st.latency_sum_s = static_cast<double>(s->latency_sum_ns.load(std::memory_order_relaxed)) / 1e9;
      {
        MutexLock lock(s->mu);
        st.depth = s->external.size() + s->internal.size() + s->in_hand.load(std::memory_order_relaxed);
      }
      out.push_back(st);
    }
    return out;
  }

  // Time of the last message or tick each shard finished: a stuck shard stops advancing.
  std::vector<double> Heartbeats() const {
    std::vector<double> out;
    for (const auto& s : shards_) out.push_back(s->heartbeat.load(std::memory_order_relaxed));
    return out;
  }

 private:
  struct Shard {
    mutable Mutex mu;
    std::condition_variable wake;
    std::condition_variable not_full;
    std::deque<Item> external GUARDED_BY(mu);
    std::deque<Item> internal GUARDED_BY(mu);
    bool stop GUARDED_BY(mu) = false;
    bool asleep GUARDED_BY(mu) = false;  // waiting to be woken (not lingering)
    ShardHandler<Item>* handler = nullptr;  // set before the thread starts
    std::thread thread;
    std::atomic<uint64_t> handled{0};
    std::atomic<uint64_t> in_hand{0};  // taken by the current round, not finished yet
    std::atomic<uint64_t> dropped{0};
    std::atomic<uint64_t> shed{0};
    std::atomic<size_t> external_depth{0};  // external.size(), readable without the lock
    std::atomic<uint64_t> max_depth{0};
    std::atomic<double> heartbeat{0};
    std::atomic<uint64_t> latency[kLatencyBucketCount] = {};
    std::atomic<uint64_t> latency_sum_ns{0};
    ShardPriority priority;
  };

  static void Timed(Shard& s, Item& item) {
    const auto t0 = std::chrono::steady_clock::now();
    s.handler->Handle(item);
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count();
    const double sec = static_cast<double>(ns) / 1e9;
    const size_t b = BucketOf(kLatencyBuckets, sec);
    // Only this shard's thread writes its counters: a relaxed load and store are enough.
    s.latency[b].store(s.latency[b].load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    s.latency_sum_ns.store(s.latency_sum_ns.load(std::memory_order_relaxed) + static_cast<uint64_t>(ns),
                           std::memory_order_relaxed);
  }

  // Whether a shard other than `s` has its external mailbox less than half full.
  bool AnotherHasRoom(const Shard& s) const {
    for (const auto& other : shards_) {
      if (other.get() != &s && other->external_depth.load(std::memory_order_relaxed) < capacity_ / 2) return true;
    }
    return false;
  }

  // Moves up to `n` messages from the front of `from` to `to`.
  static void TakeUpTo(std::deque<Item>& from, std::deque<Item>& to, size_t n) {
    if (from.size() <= n && to.empty()) {
      to.swap(from);
      return;
    }
    for (; n > 0 && !from.empty(); --n) {
      to.push_back(std::move(from.front()));
      from.pop_front();
    }
  }

  static void NoteDepth(Shard& s) REQUIRES(s.mu) {
    const uint64_t depth = s.external.size() + s.internal.size();
    if (depth > s.max_depth.load(std::memory_order_relaxed)) s.max_depth.store(depth, std::memory_order_relaxed);
  }

  void Run(Shard& s) {
    s.handler->OnStart(clock_());
    std::deque<Item> internal;
    std::deque<Item> external;
    auto next_tick = std::chrono::steady_clock::now() + tick_interval_;
    bool busy = false;  // the last round handled messages: linger instead of sleeping
    for (;;) {
      {
        MutexLock lock(s.mu);
        const bool left = !internal.empty() || !external.empty();  // from a round that ended early
        if (!left && !s.stop && s.internal.empty() && s.external.empty()) {
          if (busy) {
            lock.Unlock();
            std::this_thread::sleep_for(linger_);
            lock.Lock();
          } else {
            s.asleep = true;
            while (!s.stop && s.internal.empty() && s.external.empty()) {
              if (s.wake.wait_until(lock.native(), next_tick) == std::cv_status::timeout) break;
            }
            s.asleep = false;
          }
        }
        if (!left && s.stop && s.internal.empty() && s.external.empty()) break;
        s.priority.Note(s.external.size(), capacity_);
        TakeUpTo(s.internal, internal, kMaxRound - std::min(kMaxRound, internal.size() + external.size()));
        TakeUpTo(s.external, external, kMaxRound - std::min(kMaxRound, internal.size() + external.size()));
        s.external_depth.store(s.external.size(), std::memory_order_relaxed);
        s.in_hand.store(internal.size() + external.size(), std::memory_order_relaxed);
      }
      if (!external.empty()) s.not_full.notify_all();
      size_t n = 0;  // handled in this round
      for (std::deque<Item>* lane : {&internal, &external}) {
        while (!lane->empty() && (n == 0 || !s.handler->RoundFull())) {
          Timed(s, lane->front());
          lane->pop_front();
          ++n;
          // Only this shard's thread writes these: a relaxed load and store are enough.
          s.handled.store(s.handled.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
          s.in_hand.store(s.in_hand.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
        }
      }
      busy = n > 0;
      const auto now = std::chrono::steady_clock::now();
      if (now >= next_tick) {
        s.handler->Tick(clock_());
        next_tick = now + tick_interval_;
      }
      const double finished = clock_();
      s.handler->AfterBatch(finished);
      s.heartbeat.store(finished, std::memory_order_relaxed);
      if (n > 0) {
        const auto done = static_cast<int64_t>(n);
        if (in_flight_.fetch_sub(done, std::memory_order_acq_rel) == done) {
          MutexLock lock(drain_mu_);
          drained_.notify_all();
        }
      }
    }
  }

  // Constant after construction
  const size_t capacity_;
  const std::chrono::milliseconds enqueue_timeout_;
  const std::chrono::milliseconds tick_interval_;
  const std::chrono::microseconds linger_;
  const Clock clock_;
  std::vector<std::unique_ptr<Shard>> shards_;

  std::atomic<bool> closed_{false};
  std::atomic<int64_t> in_flight_{0};
  Mutex drain_mu_;
  std::condition_variable drained_;
  bool started_ = false;  // touched only by the owner's Start/Stop
  bool stopped_ = false;
};

}  // namespace dctwin
