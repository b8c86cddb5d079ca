#include "gateway/runtime/shard_pool.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace dctwin {
namespace {

struct Item {
  int key = 0;
  int producer = 0;
  int seq = 0;
};

// Checks, per key, that no two items are ever handled at the same time and that each
// producer's items arrive in the order it posted them.
class CheckingHandler : public ShardHandler<Item> {
 public:
  explicit CheckingHandler(int keys) : active_(static_cast<size_t>(keys)), last_(static_cast<size_t>(keys)) {}
  void OnStart(double) override {}
  void Tick(double) override {}
  void Handle(Item& item) override {
    auto& active = active_[static_cast<size_t>(item.key)];
    if (active.fetch_add(1) != 0) concurrent.fetch_add(1);
    auto& last = last_[static_cast<size_t>(item.key)];
    auto it = last.find(item.producer);
    if (it != last.end() && it->second >= item.seq) out_of_order.fetch_add(1);
    last[item.producer] = item.seq;
    handled.fetch_add(1);
    active.fetch_sub(1);
  }
  std::atomic<int> concurrent{0};
  std::atomic<int> out_of_order{0};
  std::atomic<int> handled{0};

 private:
  std::vector<std::atomic<int>> active_;
  // Keys are partitioned among handlers by the pool, so each map is touched by one thread.
  std::vector<std::map<int, int>> last_;
};

double Now() { return 0; }

TEST(ShardPoolTest, OneKeysMessagesAreHandledInOrderAndNeverConcurrently) {
  constexpr int kShards = 4, kKeys = 64, kProducers = 8, kPerProducer = 20000;
  ShardPool<Item> pool(kShards, 1024, std::chrono::seconds(10), std::chrono::milliseconds(50), Now);
  // One handler object shared by all shards is the harshest check: a key handled by two shards
  // at once would show up as concurrency.
  CheckingHandler handler(kKeys);
  pool.Start(std::vector<ShardHandler<Item>*>(kShards, &handler));
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      for (int i = 0; i < kPerProducer; ++i) {
        const int key = (i * 7 + p) % kKeys;
        ASSERT_TRUE(pool.PostExternal(static_cast<size_t>(key), Item{key, p, i}));
      }
    });
  }
  for (auto& t : producers) t.join();
  pool.Stop();
  EXPECT_EQ(handler.handled.load(), kProducers * kPerProducer);
  EXPECT_EQ(handler.concurrent.load(), 0);
  EXPECT_EQ(handler.out_of_order.load(), 0);
}

// Blocks in Handle until released, so the mailbox fills up.
class GateHandler : public ShardHandler<Item> {
 public:
  void OnStart(double) override {}
  void Tick(double) override {}
  void Handle(Item&) override {
    std::unique_lock<std::mutex> lock(mu);
    entered = true;
    cv.notify_all();
    cv.wait(lock, [&] { return open; });
    ++handled;
  }
  void Open() {
    std::lock_guard<std::mutex> lock(mu);
    open = true;
    cv.notify_all();
  }
  void WaitEntered() {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return entered; });
  }
  std::mutex mu;
  std::condition_variable cv;
  bool open = false;
  bool entered = false;
  int handled = 0;
};

TEST(ShardPoolTest, FullMailboxDropsAndCountsAfterTheTimeout) {
  ShardPool<Item> pool(1, 4, std::chrono::milliseconds(20), std::chrono::milliseconds(50), Now);
  GateHandler gate;
  pool.Start({&gate});
  ASSERT_TRUE(pool.PostExternal(0, Item{}));
  gate.WaitEntered();  // the shard holds one item; the mailbox is empty again
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(pool.PostExternal(0, Item{}));
  EXPECT_FALSE(pool.PostExternal(0, Item{}));
  EXPECT_FALSE(pool.PostExternal(0, Item{}));
  EXPECT_EQ(pool.Stats()[0].dropped, 2u);
  // Internal messages are never refused, even into a full mailbox.
  pool.PostInternal(0, Item{});
  // The item in hand counts until it is finished.
  EXPECT_EQ(pool.Stats()[0].depth, 6u);
  EXPECT_EQ(pool.Stats()[0].handled, 0u);
  gate.Open();
  pool.Stop();
  EXPECT_EQ(gate.handled, 6);
}

TEST(ShardPoolTest, FullMailboxMakesTheProducerWaitForRoom) {
  ShardPool<Item> pool(1, 2, std::chrono::seconds(30), std::chrono::milliseconds(50), Now);
  GateHandler gate;
  pool.Start({&gate});
  ASSERT_TRUE(pool.PostExternal(0, Item{}));
  gate.WaitEntered();
  ASSERT_TRUE(pool.PostExternal(0, Item{}));
  ASSERT_TRUE(pool.PostExternal(0, Item{}));
  std::atomic<bool> posted{false};
  std::atomic<bool> returned{false};
  std::thread producer([&] {
    posted = pool.PostExternal(0, Item{});  // waits: the mailbox is full
    returned = true;
  });
  // The producer is blocked until the shard makes room (an absence: given time, it still waits).
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_FALSE(returned.load()) << "the producer did not wait for room";
  EXPECT_EQ(pool.Stats()[0].depth, 3u);
  // Opening the gate makes room and lets it through.
  gate.Open();
  producer.join();
  EXPECT_TRUE(posted.load());
  pool.Stop();
  EXPECT_EQ(gate.handled, 4);
  EXPECT_EQ(pool.Stats()[0].dropped, 0u);
}

TEST(ShardPoolTest, AReportForAHotShardIsShedAtOnceWhileAnotherShardHasRoom) {
  // An enqueue timeout far longer than the test: a wait would show.
  ShardPool<Item> pool(2, 4, std::chrono::seconds(60), std::chrono::milliseconds(50), Now);
  GateHandler hot, quiet;
  quiet.Open();
  pool.Start({&hot, &quiet});
  ASSERT_TRUE(pool.PostExternal(0, Item{}));
  hot.WaitEntered();
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(pool.PostExternal(0, Item{}));  // shard 0 is full
  // Ingest asks before decoding a report: shard 0's would be shed, shard 1's would not.
  EXPECT_TRUE(pool.WouldShed(0));
  EXPECT_FALSE(pool.WouldShed(1));
  bool shed = false;
  EXPECT_FALSE(pool.PostExternal(0, Item{}, true, &shed));  // returns at once: shard 1 has room
  EXPECT_TRUE(shed);
  // The quiet shard's messages go through meanwhile.
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(pool.PostExternal(1, Item{1, 0, i}, true));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (pool.Stats()[1].handled < 10 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(pool.Stats()[1].handled, 10u);
  EXPECT_EQ(pool.Stats()[0].shed, 1u);
  EXPECT_EQ(pool.Stats()[0].dropped, 1u);
  pool.CountShed(0);  // one that ingest shed before posting it
  EXPECT_EQ(pool.Stats()[0].shed, 2u);
  EXPECT_EQ(pool.Stats()[0].dropped, 2u);
  // A message that is not sheddable still waits for room (here until the gate opens).
  std::atomic<bool> posted{false};
  std::thread producer([&] { posted = pool.PostExternal(0, Item{}); });
  hot.Open();
  producer.join();
  EXPECT_TRUE(posted.load());
  pool.Stop();
  EXPECT_EQ(hot.handled, 6);
}

// Records the nice value of the thread that handles each message.
class NiceRecorder : public GateHandler {
 public:
  void Handle(Item& item) override {
    GateHandler::Handle(item);
    std::lock_guard<std::mutex> lock(mu);
    nice.push_back(getpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid))));
  }
  std::vector<int> Seen() {
    std::lock_guard<std::mutex> lock(mu);
    return nice;
  }
  std::vector<int> nice;
};

TEST(ShardPoolTest, AShardWhoseMailboxIsHalfFullRunsAtALowerPriorityUntilItHasCaughtUp) {
  const int base = getpriority(PRIO_PROCESS, 0);
  ShardPool<Item> pool(2, 16, std::chrono::seconds(60), std::chrono::milliseconds(50), Now);
  NiceRecorder hot;
  GateHandler quiet;
  quiet.Open();
  pool.Start({&hot, &quiet});
  ASSERT_TRUE(pool.PostExternal(0, Item{}));
  hot.WaitEntered();
  for (int i = 0; i < 7; ++i) ASSERT_TRUE(pool.PostExternal(0, Item{}));  // under half of 16
  ASSERT_TRUE(pool.PostExternal(1, Item{1, 0, 0}));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(pool.PostExternal(0, Item{}));  // 10 waiting: past half
  EXPECT_FALSE(pool.Stats()[0].lowered) << "not before the shard looks at its mailbox";
  hot.Open();
  auto wait_for = [&](auto done) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!done() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return done();
  };
  ASSERT_TRUE(wait_for([&] { return hot.Seen().size() == 11; }));
  std::vector<int> seen = hot.Seen();
  EXPECT_EQ(seen[0], base) << "the first message was taken from an empty mailbox";
  for (size_t i = 1; i < seen.size(); ++i) EXPECT_EQ(seen[i], base + ShardPriority::kLowered) << i;
  EXPECT_EQ(pool.Stats()[0].lowerings, 1u);
  // Caught up: the next look at the mailbox raises it back, where the process may (root, or an
  // RLIMIT_NICE that allows it, as the systemd unit sets); elsewhere it stays lowered and says so.
  ASSERT_TRUE(wait_for([&] { return !pool.Stats()[0].lowered || pool.Stats()[0].priority_refused; }));
  ASSERT_TRUE(pool.PostExternal(0, Item{}));
  ASSERT_TRUE(wait_for([&] { return hot.Seen().size() == 12; }));
  const bool may_raise = pool.Stats()[0].priority_refused == false;
  EXPECT_EQ(hot.Seen().back(), may_raise ? base : base + ShardPriority::kLowered);
  // The other shard was never lowered.
  EXPECT_EQ(pool.Stats()[1].lowerings, 0u);
  EXPECT_FALSE(pool.Stats()[1].lowered);
  pool.Stop();
}

TEST(ShardPoolTest, WhenEveryShardIsBusyAReportWaitsForRoom) {
  ShardPool<Item> pool(2, 2, std::chrono::seconds(60), std::chrono::milliseconds(50), Now);
  GateHandler a, b;
  pool.Start({&a, &b});
  ASSERT_TRUE(pool.PostExternal(0, Item{}));
  ASSERT_TRUE(pool.PostExternal(1, Item{}));
  a.WaitEntered();
  b.WaitEntered();
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(pool.PostExternal(0, Item{}));
    ASSERT_TRUE(pool.PostExternal(1, Item{}));
  }
  std::atomic<bool> returned{false};
  std::atomic<bool> posted{false};
  std::thread producer([&] {
    posted = pool.PostExternal(0, Item{}, true);  // both full: the gateway is behind, so it waits
    returned = true;
  });
  // An absence: given time, the producer still waits.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_FALSE(returned.load());
  a.Open();
  b.Open();
  producer.join();
  EXPECT_TRUE(posted.load());
  pool.Stop();
  EXPECT_EQ(pool.Stats()[0].shed, 0u);
}

// Counts what each round handled (AfterBatch ends a round) and, on a gate, what the stats say in
// the middle of one.
class RoundHandler : public ShardHandler<Item> {
 public:
  explicit RoundHandler(ShardPool<Item>*& pool) : pool_(pool) {}
  void OnStart(double) override {}
  void Tick(double) override {}
  void Handle(Item& item) override {
    ++in_round;
    if (item.seq == 1) {  // the first item: hold the shard until everything is posted
      std::unique_lock<std::mutex> lock(mu);
      holding = true;
      cv.notify_all();
      cv.wait(lock, [&] { return open; });
    }
    if (item.seq == 500) {  // in the middle of the second round: the stats show progress
      const ShardStats st = pool_->Stats()[0];
      handled_at_500 = st.handled;
      depth_at_500 = st.depth;
    }
  }
  void AfterBatch(double) override {
    if (in_round > 0) rounds.push_back(in_round);
    in_round = 0;
  }
  void Open() {
    std::lock_guard<std::mutex> lock(mu);
    open = true;
    cv.notify_all();
  }
  // Waits (up to 10 s) until the shard holds the first item: its round has taken only that one.
  bool WaitHolding() {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, std::chrono::seconds(10), [&] { return holding; });
  }
  std::vector<size_t> rounds;  // read after Stop
  uint64_t handled_at_500 = 0, depth_at_500 = 0;

 private:
  ShardPool<Item>*& pool_;
  size_t in_round = 0;
  std::mutex mu;
  std::condition_variable cv;
  bool open = false;
  bool holding = false;
};

// Starts the pool, posts item 1 and, while the shard holds it, `more` items alternating between
// the twin-to-twin lane (producer 0) and the external one (producer 1); then lets the shard go
// on and stops the pool once everything is handled.
void PostBehindAHeldItem(ShardPool<Item>& pool, RoundHandler& handler, size_t more) {
  pool.Start({&handler});
  pool.PostInternal(0, Item{0, 0, 1});
  ASSERT_TRUE(handler.WaitHolding());
  for (size_t i = 0; i < more; ++i) {
    if (i % 2 == 0) {
      pool.PostInternal(0, Item{0, 0, static_cast<int>(i + 2)});
    } else {
      ASSERT_TRUE(pool.PostExternal(0, Item{0, 1, static_cast<int>(i + 2)}));
    }
  }
  handler.Open();
  pool.Stop();
}

TEST(ShardPoolTest, ARoundTakesABoundedNumberOfMessagesAndTheStatsCountEachOne) {
  ShardPool<Item>* ptr = nullptr;
  ShardPool<Item> pool(1, 100000, std::chrono::seconds(10), std::chrono::milliseconds(50), Now);
  ptr = &pool;
  RoundHandler handler(ptr);
  // 5,000 more while the shard holds the first: they wait for the next rounds.
  const size_t kMore = 5000;
  PostBehindAHeldItem(pool, handler, kMore);
  size_t total = 0;
  for (size_t n : handler.rounds) {
    EXPECT_LE(n, ShardPool<Item>::kMaxRound);
    total += n;
  }
  EXPECT_EQ(total, kMore + 1);
  EXPECT_GE(handler.rounds.size(), 1 + kMore / ShardPool<Item>::kMaxRound);
  // Item 500 is the 250th twin-to-twin item, handled in the second round (after the first
  // item's round of one), which takes that lane first: the stats counted each message before it
  // (the first and 249 internal ones), and everything else as depth.
  EXPECT_EQ(handler.handled_at_500, 250u);
  EXPECT_EQ(handler.depth_at_500, kMore + 1 - 250);
  EXPECT_EQ(pool.Stats()[0].handled, kMore + 1);
  EXPECT_EQ(pool.Stats()[0].depth, 0u);
}

// A handler that says its round is full after 7 messages.
class FullAfterSeven : public RoundHandler {
 public:
  using RoundHandler::RoundHandler;
  void Handle(Item& item) override {
    RoundHandler::Handle(item);
    seen.push_back(item);
    ++since_batch;
  }
  void AfterBatch(double now) override {
    RoundHandler::AfterBatch(now);
    since_batch = 0;
  }
  bool RoundFull() const override { return since_batch >= 7; }
  std::vector<Item> seen;
  size_t since_batch = 0;
};

TEST(ShardPoolTest, ARoundEndsWhenItsHandlerIsFullAndWhatItTookBeginsTheNext) {
  ShardPool<Item>* ptr = nullptr;
  ShardPool<Item> pool(1, 100000, std::chrono::seconds(10), std::chrono::milliseconds(50), Now);
  ptr = &pool;
  FullAfterSeven handler(ptr);
  const size_t kMore = 100;  // taken by the next round at once, handled seven at a time
  PostBehindAHeldItem(pool, handler, kMore);
  size_t total = 0;
  for (size_t n : handler.rounds) {
    EXPECT_LE(n, 7u);
    total += n;
  }
  EXPECT_EQ(total, kMore + 1);
  EXPECT_GE(handler.rounds.size(), 1u + kMore / 7);
  // Nothing lost or reordered: each lane's items in the order posted, twin-to-twin ones first.
  int last[2] = {0, 0};
  bool external_seen = false;
  for (const Item& item : handler.seen) {
    EXPECT_GT(item.seq, last[item.producer]);
    last[item.producer] = item.seq;
    if (item.producer == 1) external_seen = true;
    if (item.producer == 0 && item.seq > 1) {
      EXPECT_FALSE(external_seen) << "internal " << item.seq;
    }
  }
  EXPECT_EQ(pool.Stats()[0].handled, kMore + 1);
  EXPECT_EQ(pool.Stats()[0].depth, 0u);
}

// Forwards every item it sees once to another key, to check that Stop() drains cascades.
class ForwardingHandler : public ShardHandler<Item> {
 public:
  explicit ForwardingHandler(ShardPool<Item>*& pool) : pool_(pool) {}
  void OnStart(double) override {}
  void Tick(double) override { ticks.fetch_add(1); }
  void Handle(Item& item) override {
    handled.fetch_add(1);
    if (item.seq < 3) pool_->PostInternal(static_cast<size_t>(item.key + 1), Item{item.key + 1, 0, item.seq + 1});
  }
  std::atomic<int> handled{0};
  std::atomic<int> ticks{0};

 private:
  ShardPool<Item>*& pool_;
};

TEST(ShardPoolTest, StopDrainsEverythingQueuedAndEverythingItCaused) {
  ShardPool<Item>* ptr = nullptr;
  ShardPool<Item> pool(3, 1024, std::chrono::seconds(1), std::chrono::milliseconds(50), Now);
  ptr = &pool;
  ForwardingHandler h(ptr);
  pool.Start({&h, &h, &h});
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(pool.PostExternal(static_cast<size_t>(i), Item{i, 0, 0}));
  pool.Stop();
  EXPECT_EQ(h.handled.load(), 4000);
  EXPECT_FALSE(pool.PostExternal(0, Item{}));  // closed
}

TEST(ShardPoolTest, IdleShardsStillTick) {
  ShardPool<Item>* ptr = nullptr;
  ShardPool<Item> pool(1, 16, std::chrono::seconds(1), std::chrono::milliseconds(5), Now);
  ptr = &pool;
  ForwardingHandler h(ptr);
  pool.Start({&h});
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (h.ticks.load() < 3 && std::chrono::steady_clock::now() < deadline) std::this_thread::yield();
  EXPECT_GE(h.ticks.load(), 3);
  pool.Stop();
}

}  // namespace
}  // namespace dctwin
