#include "gateway/store_writer.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "storage/sqlite_state_store.h"
#include "tests/gateway/recording_sink.h"

namespace dctwin {
namespace {

using testing::RecordingSink;
using namespace std::chrono_literals;

// A real SQLite store whose commits can be made to fail, as a full disk, a busy database or an
// I/O error would.
class FaultyStore : public StateStore {
 public:
  explicit FaultyStore(StateStore& real) : real_(real) {}
  Status Commit(StoreBatch& batch) override {
    ++attempts;
    if (failures_left.load() > 0) {
      --failures_left;
      return fault;
    }
    return real_.Commit(batch);
  }
  Status LoadTwins(const std::function<void(TwinRecord&&)>& each) override { return real_.LoadTwins(each); }
  Status LoadOutbox(const std::function<void(OutboxRecord&&)>& each) override { return real_.LoadOutbox(each); }
  Status LoadOutboxFrom(int64_t from, size_t limit, const std::function<void(OutboxRecord&&)>& each) override {
    return real_.LoadOutboxFrom(from, limit, each);
  }
  Status LoadDocs(const std::string& collection, const std::function<void(DocRecord&&)>& each) override {
    return real_.LoadDocs(collection, each);
  }
  Status Quarantine(const TwinRecord& r, const std::string& reason) override { return real_.Quarantine(r, reason); }
  int64_t OutboxSize() const override { return real_.OutboxSize(); }

  std::atomic<int> failures_left{0};
  std::atomic<int> attempts{0};
  Status fault = Status::IoError("database or disk is full");

 private:
  StateStore& real_;
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

  static ShardBatch Batch(const std::string& server, const std::string& state, const std::string& event) {
    ShardBatch b;
    b.upserts.push_back(TwinRecord{{1, server}, 1, state});
    if (!event.empty()) b.events.push_back(OutMessage{"dctwin/alerts/server/" + server, event, 1, false, {}, 0});
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
};

TEST_F(StoreWriterTest, EventsTheOutboundQueueRefusedGoOutLaterInOrderWithoutARestart) {
  StoreWriter writer(*faulty_, sink_, 10ms, 1000);
  writer.Start();
  {
    std::lock_guard<std::mutex> lock(sink_.mu);
    sink_.refuse = true;  // the outbound queue is full: the broker is away
  }
  for (int i = 0; i < 5; ++i) writer.Submit(Batch("s" + std::to_string(i), "x", "event-" + std::to_string(i)));
  ASSERT_TRUE(writer.Flush(5s));
  EXPECT_EQ(Published(), 0u);
  EXPECT_EQ(store_->OutboxSize(), 5);
  {
    std::lock_guard<std::mutex> lock(sink_.mu);
    sink_.refuse = false;  // room again
  }
  writer.Submit(Batch("s9", "x", "event-5"));
  const auto deadline = std::chrono::steady_clock::now() + 5s;  // a wait with a deadline, not a sleep
  while (Published() < 6 && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(5ms);
  ASSERT_EQ(Published(), 6u);
  std::lock_guard<std::mutex> lock(sink_.mu);
  for (size_t i = 0; i < 6; ++i) EXPECT_EQ(sink_.messages[i].payload, "event-" + std::to_string(i));
  for (size_t i = 1; i < 6; ++i) EXPECT_GT(sink_.messages[i].outbox_seq, sink_.messages[i - 1].outbox_seq);
}

TEST_F(StoreWriterTest, EventsArePublishedOnlyAfterTheirCommitWithTheirOutboxSeq) {
  StoreWriter writer(*faulty_, sink_, 20ms, 1000);
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
    StoreWriter writer(*faulty_, sink_, 10ms, 1000);
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
  StoreWriter writer(*faulty_, sink_, 10ms, 1000);
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

TEST_F(StoreWriterTest, FullOutboxDropsAndCountsNewEvents) {
  StoreWriter writer(*faulty_, sink_, 10ms, 2);
  writer.Start();
  for (int i = 0; i < 5; ++i) writer.Submit(Batch("s" + std::to_string(i), "x", "event"));
  ASSERT_TRUE(writer.Flush(5s));
  writer.Stop();
  EXPECT_EQ(store_->OutboxSize(), 2);
  EXPECT_EQ(writer.Stats().events_dropped, 3u);
  EXPECT_EQ(Published(), 2u);
}

}  // namespace
}  // namespace dctwin
