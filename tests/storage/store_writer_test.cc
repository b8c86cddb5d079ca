#include "storage/store_writer.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "gateway/publish/outbox_delivery.h"
#include "storage/sqlite_state_store.h"
#include "tests/gateway/mqtt/recording_sink.h"
#include "tests/storage/faulty_store.h"

namespace dctwin {
namespace {

using testing::RecordingSink;
using namespace std::chrono_literals;

using testing::FaultyStore;

// A commit stage that turns each event a batch's `collected` step hands it into one outbox row
// (topic by subject, the event as payload), as the incident desk does with records of its own.
class RowPerEventStage : public CommitStage {
 public:
  void Take(const std::string& subject, const std::string& event) {
    rows_.push_back(OutboxRecord{0, "dctwin/alerts/server/" + subject, event, 1, false});
  }
  void Poll(double) override {}
  void Contribute(StoreBatch& batch) override {
    for (const OutboxRecord& r : rows_) batch.outbox.push_back(r);
  }
  void Committed(double) override { rows_.clear(); }

 private:
  std::vector<OutboxRecord> rows_;
};

class StoreWriterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/dctwin-writer-XXXXXX";
    dir_ = mkdtemp(tmpl);
    ASSERT_TRUE(SqliteStateStore::Open(SqliteOptions{dir_ + "/state.db", false, 1000}, &store_).ok());
    faulty_ = std::make_unique<FaultyStore>(*store_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  ShardBatch Batch(const std::string& server, const std::string& state, const std::string& event) {
    ShardBatch b;
    b.upserts.push_back(TwinRecord{{1, server}, 1, state});
    if (!event.empty()) b.collected = [this, server, event] { stage_.Take(server, event); };
    return b;
  }
  size_t Published() {
    std::lock_guard<std::mutex> lock(sink_.mu);
    return sink_.messages.size();
  }

  std::string dir_;
  std::unique_ptr<SqliteStateStore> store_;
  std::unique_ptr<FaultyStore> faulty_;
  RecordingSink sink_;
  OutboxDelivery delivery_{sink_};
  RowPerEventStage stage_;
};

TEST_F(StoreWriterTest, EventsArePublishedOnlyAfterTheirCommitWithTheirOutboxSeq) {
  StoreWriter writer(*faulty_, delivery_, 20ms, 1000, &stage_);
  writer.Start();
  writer.Submit(Batch("s1", "state-1", "open-1"));
  ASSERT_TRUE(writer.Flush(5s));
  ASSERT_EQ(Published(), 1u);
  EXPECT_GT(sink_.messages[0].outbox_seq, 0);
  EXPECT_EQ(store_->OutboxSize(), 1);
  writer.Acked(sink_.messages[0].outbox_seq);
  writer.Submit(Batch("s2", "x", ""));
  ASSERT_TRUE(writer.Flush(5s));
  EXPECT_EQ(store_->OutboxSize(), 0);  // deleted once acknowledged
  writer.Stop();
}

TEST_F(StoreWriterTest, FailedCommitsAreRetriedAndLoseNothing) {
  for (Status fault : {Status::IoError("database or disk is full"), Status::Busy("database is locked"),
                       Status::IoError("disk I/O error")}) {
    sink_.messages.clear();
    faulty_->fault = fault;
    faulty_->failures_left = 4;
    StoreWriter writer(*faulty_, delivery_, 10ms, 1000, &stage_);
    writer.Start();
    writer.Submit(Batch("a", "a-1", "a-open"));
    writer.Submit(Batch("b", "b-1", "b-open"));
    writer.Submit(Batch("a", "a-2", "a-resolved"));  // newer state of a, a later event
    // While commits fail, nothing is published.
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (faulty_->failures_left.load() > 0 && std::chrono::steady_clock::now() < deadline) {
      EXPECT_EQ(Published(), 0u);
      std::this_thread::yield();
    }
    ASSERT_TRUE(writer.Flush(10s)) << fault.ToString();
    EXPECT_GE(writer.Stats().failures, 4u);
    ASSERT_EQ(Published(), 3u);
    EXPECT_EQ(sink_.messages[0].payload, "a-open");
    EXPECT_EQ(sink_.messages[1].payload, "b-open");
    EXPECT_EQ(sink_.messages[2].payload, "a-resolved");
    writer.Stop();
    std::map<std::string, std::string> twins;
    ASSERT_TRUE(store_->LoadTwins([&](TwinRecord&& r) { twins[r.key.id] = r.state; }).ok());
    EXPECT_EQ(twins["a"], "a-2");
    EXPECT_EQ(twins["b"], "b-1");
  }
}

TEST_F(StoreWriterTest, DeleteAfterUpsertWinsAndUpsertAfterDeleteWins) {
  StoreWriter writer(*faulty_, delivery_, 10ms, 1000, &stage_);
  writer.Start();
  writer.Submit(Batch("gone", "1", ""));
  writer.Submit(Batch("back", "1", ""));
  ASSERT_TRUE(writer.Flush(5s));
  faulty_->failures_left = 1;  // make the next two submissions merge into one retry
  ShardBatch del;
  del.deletes.push_back(TwinKey{1, "gone"});
  del.deletes.push_back(TwinKey{1, "back"});
  writer.Submit(std::move(del));
  writer.Submit(Batch("back", "2", ""));
  ASSERT_TRUE(writer.Flush(5s));
  writer.Stop();
  std::map<std::string, std::string> twins;
  ASSERT_TRUE(store_->LoadTwins([&](TwinRecord&& r) { twins[r.key.id] = r.state; }).ok());
  EXPECT_EQ(twins.count("gone"), 0u);
  EXPECT_EQ(twins["back"], "2");
}

TEST_F(StoreWriterTest, ReleasedStepsRunAfterTheirCommitInOrderAndNeverWhileCommitsFail) {
  StoreWriter writer(*faulty_, delivery_, 10ms, 1000, &stage_);
  writer.Start();
  std::mutex mu;
  std::vector<std::string> released;  // what ran, and what the store held when it ran
  auto step = [&](std::string name, std::string twin) {
    return [&, name, twin] {
      std::string state;
      EXPECT_TRUE(store_->LoadTwins([&](TwinRecord&& r) { if (r.key.id == twin) state = r.state; }).ok());
      std::lock_guard<std::mutex> lock(mu);
      released.push_back(name + "@" + state);
    };
  };
  faulty_->failures_left = 3;
  ShardBatch a = Batch("a", "a-1", "a-open");
  a.released = step("health-a", "a");
  ShardBatch b = Batch("b", "b-1", "");
  b.released = step("send-b", "b");
  ShardBatch reply;  // an answer to a query: no state of its own, still behind what came before
  reply.released = step("reply", "a");
  writer.Submit(std::move(a));
  writer.Submit(std::move(b));
  writer.Submit(std::move(reply));
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (faulty_->failures_left.load() > 0 && std::chrono::steady_clock::now() < deadline) {
    {
      std::lock_guard<std::mutex> lock(mu);
      ASSERT_TRUE(released.empty()) << "released before its commit";
    }
    EXPECT_EQ(Published(), 0u);
    std::this_thread::yield();
  }
  ASSERT_TRUE(writer.Flush(10s));
  writer.Stop();
  // Each step saw its own twin committed; events went out before them.
  EXPECT_EQ(released, (std::vector<std::string>{"health-a@a-1", "send-b@b-1", "reply@a-1"}));
  ASSERT_EQ(Published(), 1u);
}

TEST_F(StoreWriterTest, TwinsWithOnlyNewSamplesAreCommittedAfterTheIncidentsInChunks) {
  StoreWriter writer(*faulty_, delivery_, 10ms, 1000, &stage_, [] { return 0.0; }, /*sample_chunk=*/2);
  ShardBatch b;
  for (const char* id : {"s1", "s2", "s3", "s4", "s5"}) b.sample_upserts.push_back(TwinRecord{{1, id}, 1, "samples"});
  b.upserts.push_back(TwinRecord{{1, "hot"}, 1, "incident"});
  b.collected = [this] { stage_.Take("hot", "open"); };
  ShardBatch later;  // newer urgent state of a twin that had samples waiting: it goes first
  later.upserts.push_back(TwinRecord{{1, "s5"}, 1, "incident"});
  writer.Submit(std::move(b));
  writer.Submit(std::move(later));
  writer.Start();
  ASSERT_TRUE(writer.Flush(5s));
  writer.Stop();
  std::lock_guard<std::mutex> lock(faulty_->mu);
  ASSERT_GE(faulty_->committed.size(), 3u);
  EXPECT_EQ(faulty_->committed[0], (std::vector<std::string>{"hot", "s5"}));
  EXPECT_EQ(faulty_->committed[1].size(), 2u);  // then the samples, two per transaction
  EXPECT_EQ(faulty_->committed[2].size(), 2u);
  std::map<std::string, std::string> twins;
  ASSERT_TRUE(store_->LoadTwins([&](TwinRecord&& r) { twins[r.key.id] = r.state; }).ok());
  EXPECT_EQ(twins.size(), 6u);
  EXPECT_EQ(twins["s5"], "incident");
  EXPECT_EQ(twins["s1"], "samples");
}

TEST_F(StoreWriterTest, WhileCommitsFailWhatWaitsIsBoundedAndShardsAreSlowedDown) {
  StoreWriter writer(*faulty_, delivery_, 10ms, 1000, nullptr, nullptr, 256, /*max_pending=*/3);
  writer.Start();
  faulty_->failures_left = 1000000;
  for (int i = 0; i < 3; ++i) writer.Submit(Batch("s" + std::to_string(i), "x", ""));
  EXPECT_EQ(writer.Stats().submit_waits, 0u);
  const auto t0 = std::chrono::steady_clock::now();
  writer.Submit(Batch("s3", "x", ""));  // a fourth: the shard waits (up to a second), counted
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 900ms);
  EXPECT_EQ(writer.Stats().submit_waits, 1u);
  faulty_->failures_left = 0;  // the disk has room again: everything commits, nothing waits
  ASSERT_TRUE(writer.Flush(10s));
  writer.Submit(Batch("s4", "x", ""));
  EXPECT_EQ(writer.Stats().submit_waits, 1u);
  ASSERT_TRUE(writer.Flush(10s));
  writer.Stop();
  std::map<std::string, std::string> twins;
  ASSERT_TRUE(store_->LoadTwins([&](TwinRecord&& r) { twins[r.key.id] = r.state; }).ok());
  EXPECT_EQ(twins.size(), 5u);
}

// A storm's batches are committed a bounded number of bytes at a time, in submission order, and
// their events published as each transaction commits: an alert never waits behind the whole storm.
TEST_F(StoreWriterTest, ARoundTakesBatchesUpToItsBoundInBytesAndTheRestInTheRoundsAfter) {
  StoreWriter writer(*faulty_, delivery_, 10ms, 1000, &stage_, [] { return 0.0; });
  const std::string big(1536 * 1024, 'x');  // 1.5 MiB: three batches pass the 4 MiB bound
  for (int i = 0; i < 7; ++i) writer.Submit(Batch("s" + std::to_string(i), big, "open"));
  writer.Start();
  ASSERT_TRUE(writer.Flush(20s));
  writer.Stop();
  std::lock_guard<std::mutex> lock(faulty_->mu);
  std::vector<std::string> order;
  for (const auto& ids : faulty_->committed) {
    EXPECT_LE(ids.size(), 3u);
    order.insert(order.end(), ids.begin(), ids.end());
  }
  EXPECT_EQ(order, (std::vector<std::string>{"s0", "s1", "s2", "s3", "s4", "s5", "s6"}));
  EXPECT_EQ(faulty_->committed.front().size(), 3u);
  EXPECT_EQ(Published(), 7u);
  EXPECT_EQ(writer.Stats().commits, 3u);
}

}  // namespace
}  // namespace dctwin
