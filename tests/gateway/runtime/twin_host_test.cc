#include "gateway/runtime/twin_host.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <set>
#include <thread>

#include "gateway/publish/outbox_delivery.h"
#include "storage/sqlite_state_store.h"
#include "tests/gateway/mqtt/recording_sink.h"
#include "tests/storage/faulty_store.h"

namespace dctwin {
namespace {

using namespace std::chrono_literals;
using testing::FaultyStore;
using testing::RecordingSink;

double Clock() { return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count(); }

// Two shards with their hosts, the store writer on a real SQLite file whose commits can fail, and
// a sink that records everything published: the runtime as the gateway wires it, without MQTT.
class TwinHostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/dctwin-host-XXXXXX";
    dir_ = mkdtemp(tmpl);
    ASSERT_TRUE(SqliteStateStore::Open(SqliteOptions{dir_ + "/state.db", false, 1000}, &store_).ok());
    faulty_ = std::make_unique<FaultyStore>(*store_);
    writer_ = std::make_unique<StoreWriter>(*faulty_, delivery_, 10ms, 1000);
    ModelConfig model;
    model.rules = DefaultRules();
    RegistryOptions ro;
    for (size_t i = 0; i < pool_.size(); ++i) {
      hosts_.push_back(std::make_unique<TwinHost>(i, model, ro, "dctwin", pool_, alerts_, book_, dead_letters_,
                                                  *writer_, census_, 10ms, 100, limits_));
    }
  }
  void TearDown() override {
    pool_.Stop(5s);
    for (auto& h : hosts_) h->Seal(Clock(), true);
    writer_->Stop(5s);
    std::filesystem::remove_all(dir_);
  }
  void Start() {
    writer_->Start();
    std::vector<ShardHandler<Envelope>*> handlers;
    for (auto& h : hosts_) handlers.push_back(h.get());
    pool_.Start(handlers);
  }
  void Post(TwinAddress to, Message msg) {
    const size_t hash = to.Hash();
    ASSERT_TRUE(pool_.PostExternal(hash, Envelope{std::move(to), Clock(), std::move(msg)}));
  }
  // Index of the first message on `topic` (-1: none yet).
  long IndexOf(const std::string& topic) {
    std::lock_guard<std::mutex> lock(sink_.mu);
    for (size_t i = 0; i < sink_.messages.size(); ++i) {
      if (sink_.messages[i].topic == topic) return static_cast<long>(i);
    }
    return -1;
  }
  size_t Count(const std::string& prefix) {
    std::lock_guard<std::mutex> lock(sink_.mu);
    size_t n = 0;
    for (const OutMessage& m : sink_.messages) n += m.topic.rfind(prefix, 0) == 0 ? 1 : 0;
    return n;
  }
  int64_t Racks() const {
    int64_t n = 0;
    for (const auto& h : hosts_) n += h->counters().racks.load();
    return n;
  }
  template <typename Pred>
  static bool WaitFor(Pred pred, std::chrono::milliseconds timeout = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!pred()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(5ms);
    }
    return true;
  }

  std::string dir_;
  std::unique_ptr<SqliteStateStore> store_;
  std::unique_ptr<FaultyStore> faulty_;
  RecordingSink sink_;
  OutboxDelivery delivery_{sink_};
  AlertPublisher alerts_{"dctwin", "dc1", sink_};
  ReplyBook book_;
  DeadLetters dead_letters_{"dctwin", sink_, 1e9};
  SilenceCensus census_{2};
  ShardPool<Envelope> pool_{2, 1000, 1s, 50ms, Clock};
  TwinLimits limits_;
  std::unique_ptr<StoreWriter> writer_;
  std::vector<std::unique_ptr<TwinHost>> hosts_;
};

TEST_F(TwinHostTest, NoHealthNoAnswerAndNoMessageToAnotherTwinGetsAheadOfItsCommit) {
  faulty_->failures_left = 1000000;  // the disk is full
  Start();
  for (const char* s : {"s1", "s2", "s3"}) Post(TwinAddress{Level::kServer, s}, Commission{"r1"});
  Query q;
  q.kind = QueryKind::kServer;
  q.reply_token = book_.Open(ReplyTo{"reply/me", "c-1"});
  Post(TwinAddress{Level::kServer, "s1"}, q);
  // Commits keep failing: the servers exist in their shards, but nobody may see them yet.
  ASSERT_TRUE(WaitFor([&] { return faulty_->attempts.load() >= 6; }));
  EXPECT_EQ(limits_.servers.load(), 3);
  EXPECT_EQ(Count("dctwin/health/"), 0u);
  EXPECT_EQ(IndexOf("reply/me"), -1);
  EXPECT_EQ(Racks(), 0);  // the servers' membership messages are held: the rack does not exist yet

  faulty_->failures_left = 0;  // room on the disk again
  ASSERT_TRUE(WaitFor([&] { return IndexOf("dctwin/health/rack/r1") >= 0; }));
  EXPECT_EQ(Racks(), 1);
  const long server = IndexOf("dctwin/health/server/s1");
  const long answer = IndexOf("reply/me");
  ASSERT_GE(server, 0);
  ASSERT_GE(answer, 0);
  // In order: a server's health, then the rack it told once that was committed.
  EXPECT_LT(server, IndexOf("dctwin/health/rack/r1"));
  EXPECT_EQ(book_.waiting(), 0u);
  // Everything the store holds now, it held before any of it was seen.
  std::map<std::string, int> kinds;
  ASSERT_TRUE(store_->LoadTwins([&](TwinRecord&& r) { ++kinds[r.key.id]; }).ok());
  EXPECT_EQ(kinds.count("s1"), 1u);
  EXPECT_EQ(kinds.count("r1"), 1u);
}

TEST_F(TwinHostTest, AQueryAboutATwinHeldElsewhereLeavesNothingBehind) {
  Start();
  Query q;
  q.kind = QueryKind::kServer;
  q.reply_token = book_.Open(ReplyTo{"reply/nobody", "c-2"});
  Post(TwinAddress{Level::kServer, "unknown"}, q);
  // answer_unknown (standalone): "not found" is the answer.
  ASSERT_TRUE(WaitFor([&] { return IndexOf("reply/nobody") >= 0; }));
  EXPECT_EQ(book_.waiting(), 0u);
}

class TwinHostAtLimitTest : public TwinHostTest {
 protected:
  TwinHostAtLimitTest() { limits_.max_servers = 10; }
};

TEST_F(TwinHostAtLimitTest, ShardsCommissioningAtOnceNeverPassMaxServers) {
  Start();
  auto refused = [&] {
    uint64_t n = 0;
    for (const auto& h : hosts_) n += h->counters().servers_refused.load();
    return n;
  };
  auto held = [&] {
    int64_t n = 0;
    for (const auto& h : hosts_) n += h->counters().servers.load();
    return n;
  };
  // Both shards create servers at the same time, again and again around the limit; it holds
  // across them, exactly, and decommissions give the slots back.
  constexpr int kRounds = 100, kTried = 24;
  for (int round = 0; round < kRounds; ++round) {
    const uint64_t refused_before = refused();
    for (int i = 0; i < kTried; ++i) {
      Post(TwinAddress{Level::kServer, "m" + std::to_string(i)}, Commission{"r" + std::to_string(i % 7)});
    }
    ASSERT_TRUE(WaitFor([&] { return refused() - refused_before + static_cast<uint64_t>(held()) == kTried; }))
        << "round " << round << ": " << refused() - refused_before << " refused, " << held() << " held";
    ASSERT_EQ(held(), 10) << "round " << round;
    ASSERT_EQ(limits_.servers.load(), 10) << "round " << round;
    for (int i = 0; i < kTried; ++i) Post(TwinAddress{Level::kServer, "m" + std::to_string(i)}, Decommission{});
    ASSERT_TRUE(WaitFor([&] { return held() == 0; })) << "round " << round;
    ASSERT_EQ(limits_.servers.load(), 0) << "round " << round;
  }
}

// model.max_memory_mb: past it, no new server and no new metric; the twins that exist go on.
TEST_F(TwinHostTest, PastTheMemoryBudgetNewServersAndNewMetricsAreRefusedAndTheRestApplied) {
  Start();
  auto applied = [&] {
    uint64_t n = 0;
    for (const auto& h : hosts_) n += h->counters().messages_in.load();
    return n;
  };
  auto refused = [&] {
    uint64_t n = 0;
    for (const auto& h : hosts_) n += h->counters().memory_refused.load();
    return n;
  };
  const double ts = Clock();
  Post(TwinAddress{Level::kServer, "s1"}, Commission{"r1"});
  Post(TwinAddress{Level::kServer, "s1"}, Report{ts, {{"a", 1}, {"b", 2}}});
  ASSERT_TRUE(WaitFor([&] { return applied() == 1; }));
  const int64_t held = limits_.bytes.load();
  EXPECT_GT(held, 400) << "a server twin with a window is counted";
  limits_.max_bytes = held;  // the budget is full

  Post(TwinAddress{Level::kServer, "s2"}, Commission{"r1"});
  Post(TwinAddress{Level::kServer, "s1"}, Report{ts + 10, {{"a", 3}, {"c", 4}}});
  ASSERT_TRUE(WaitFor([&] { return refused() == 2 && applied() == 2; })) << refused() << " refused, " << applied();
  EXPECT_EQ(Count("dctwin/deadletter/limit"), 2u);
  EXPECT_EQ(limits_.servers.load(), 1);

  limits_.max_bytes = INT64_MAX;  // room again (memory freed, or the budget raised)
  Post(TwinAddress{Level::kServer, "s2"}, Commission{"r1"});
  Post(TwinAddress{Level::kServer, "s1"}, Report{ts + 20, {{"a", 5}, {"c", 6}}});
  ASSERT_TRUE(WaitFor([&] { return applied() == 3 && limits_.servers.load() == 2; }));
  pool_.Stop(5s);
  const ServerTwin* s1 = nullptr;
  int64_t sum = 0;
  for (const auto& h : hosts_) {
    if (h->registry().server("s1") != nullptr) s1 = h->registry().server("s1");
    h->registry().ForEachServer([&](const ServerTwin& t) { sum += static_cast<int64_t>(t.ApproxBytes()); });
  }
  ASSERT_NE(s1, nullptr);
  MetricSummary a, c;
  ASSERT_TRUE(s1->window().Summarize("a", &a));
  EXPECT_EQ(a.samples, 3u) << "the known metric of the refused report was kept";
  ASSERT_TRUE(s1->window().Summarize("c", &c));
  EXPECT_EQ(c.samples, 1u) << "the new metric only once there was room";
  EXPECT_EQ(limits_.bytes.load(), sum) << "the count follows every change";
}

// 300 servers whose first report of 500 metrics changes their health: every one of them must be
// committed before its health goes out. A shard's round ends once the twins it changed hold
// TwinHost::kRoundStateBytes, so no commit (which an alert would wait behind) takes them all.
TEST_F(TwinHostTest, ARoundOfWideTwinsEndsOnceTheirStateIsLargeAndEveryOneIsCommitted) {
  const double ts = Clock();
  std::vector<std::pair<std::string, double>> metrics;
  for (int m = 0; m < 500; ++m) metrics.emplace_back("metric_" + std::to_string(m), m);
  const int kServers = 300;
  for (int i = 0; i < kServers; ++i) {  // all waiting before the shards start: one round could take them
    const std::string id = "w" + std::to_string(1000 + i);
    Post(TwinAddress{Level::kServer, id}, Commission{"r1"});
    Post(TwinAddress{Level::kServer, id}, Report{ts, metrics});
  }
  Start();
  auto reports = [&] {
    uint64_t n = 0;
    for (const auto& h : hosts_) n += h->counters().messages_in.load();
    return n;
  };
  ASSERT_TRUE(WaitFor([&] { return reports() == static_cast<uint64_t>(kServers); }, 60s)) << reports();
  pool_.Stop(5s);
  ASSERT_TRUE(writer_->Flush(10s));
  size_t twin_bytes = 0;
  for (const auto& h : hosts_) {
    if (const ServerTwin* t = h->registry().server("w1000")) twin_bytes = t->ApproxBytes();
  }
  ASSERT_GT(twin_bytes, 50'000u) << "the test needs wide twins";
  // A shard's batch stops within one twin of the bound; the writer's round takes batches up to
  // its own bound and one more.
  const size_t per_batch = TwinHost::kRoundStateBytes / twin_bytes + 1;
  std::set<std::string> committed;
  size_t largest = 0;
  {
    std::lock_guard<std::mutex> lock(faulty_->mu);
    for (const auto& ids : faulty_->committed) {
      size_t servers = 0;
      for (const std::string& id : ids) {
        if (id[0] != 'w') continue;
        ++servers;
        committed.insert(id);
      }
      largest = std::max(largest, servers);
    }
  }
  EXPECT_LE(largest, 3 * per_batch) << per_batch << " twins per batch";
  EXPECT_LT(largest, static_cast<size_t>(kServers) / 2);
  EXPECT_EQ(committed.size(), static_cast<size_t>(kServers));
}

}  // namespace
}  // namespace dctwin
