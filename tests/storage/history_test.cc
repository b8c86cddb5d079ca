// The history in the state database: appended with the commit, pruned in steps, read in pages.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>
#include <string>
#include <vector>

#include "gateway/history/history_query.h"
#include "storage/history_reader.h"
#include "storage/sqlite_state_store.h"

namespace dctwin {
namespace {

class HistoryStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/dctwin-history-XXXXXX";
    dir_ = mkdtemp(tmpl);
    options_.path = dir_ + "/state.db";
    options_.checkpoint_pages = 0;
    options_.history_keep_s = 0;  // the rows here are dated 1970
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::unique_ptr<SqliteStateStore> Open() {
    std::unique_ptr<SqliteStateStore> store;
    Status s = SqliteStateStore::Open(options_, &store);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return store;
  }
  static HistoryRecord Row(double at, const std::string& subject, const std::string& rack, const std::string& type = "incident") {
    return HistoryRecord{0, at, type, "server", subject, rack, "thermal", "critical", "{\"at\":" + std::to_string(at) + "}"};
  }
  // Commits rows at times from..to-1 (one second apart), subjects s0..s9, racks r0..r2.
  static void Fill(SqliteStateStore& store, int from, int to) {
    StoreBatch b;
    for (int i = from; i < to; ++i) b.history.push_back(Row(i, "s" + std::to_string(i % 10), "r" + std::to_string(i % 3)));
    ASSERT_TRUE(store.Commit(b).ok());
  }
  std::vector<HistoryRecord> Read(const HistoryFilter& f, int64_t after = 0, size_t limit = 1000, bool* more = nullptr) {
    std::unique_ptr<HistoryReader> reader;
    EXPECT_TRUE(HistoryReader::Open(options_.path, 1000, &reader).ok());
    std::vector<HistoryRecord> out;
    bool m = false;
    EXPECT_TRUE(reader->Read(f, after, limit, &out, &m).ok());
    if (more != nullptr) *more = m;
    return out;
  }
  std::string dir_;
  SqliteOptions options_;
};

TEST_F(HistoryStoreTest, RowsCommitWithTheirSeqAndSurviveReopen) {
  {
    auto store = Open();
    StoreBatch b;
    b.history.push_back(Row(100, "s1", "r1"));
    b.history.push_back(Row(101, "s2", "r1"));
    ASSERT_TRUE(store->Commit(b).ok());
    EXPECT_GT(b.history[0].seq, 0);
    EXPECT_EQ(b.history[1].seq, b.history[0].seq + 1);
    EXPECT_EQ(store->HistoryRows(), 2);
    EXPECT_EQ(store->LastHistoryAt(), 101);
  }
  auto store = Open();
  EXPECT_EQ(store->HistoryRows(), 2);
  EXPECT_EQ(store->LastHistoryAt(), 101);
  const auto rows = Read({});
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1].subject, "s2");
  EXPECT_EQ(rows[1].body, "{\"at\":101.000000}");
}

TEST_F(HistoryStoreTest, FiltersAndTimeBoundsSelectTheirRowsInOrder) {
  auto store = Open();
  Fill(*store, 1000, 1300);
  HistoryFilter f;
  f.subject = "s3";
  auto rows = Read(f);
  ASSERT_EQ(rows.size(), 30u);
  for (size_t i = 1; i < rows.size(); ++i) EXPECT_GT(rows[i].seq, rows[i - 1].seq);
  f = {};
  f.since = 1100;
  f.until = 1109;
  rows = Read(f);
  ASSERT_EQ(rows.size(), 10u);
  EXPECT_EQ(rows.front().at, 1100);
  EXPECT_EQ(rows.back().at, 1109);
  f.rack = "r0";  // 1101, 1104, 1107 (i % 3 == 0)
  EXPECT_EQ(Read(f).size(), 3u);
  f = {};
  f.since = 5000;
  EXPECT_TRUE(Read(f).empty());
  f = {};
  f.type = "silence";
  EXPECT_TRUE(Read(f).empty());
}

TEST_F(HistoryStoreTest, PagesContinueAfterTheirLastSeqWhileRowsAreAppendedAndPruned) {
  options_.history_max_rows = 250;
  options_.history_prune_step = 1000;
  auto store = Open();
  Fill(*store, 0, 200);
  bool more = false;
  auto page = Read({}, 0, 50, &more);
  ASSERT_EQ(page.size(), 50u);
  EXPECT_TRUE(more);
  const int64_t cursor = page.back().seq;
  Fill(*store, 200, 300);  // 300 rows: the 50 oldest go, the page's own among them
  EXPECT_EQ(store->HistoryRows(), 250);
  page = Read({}, cursor, 1000, &more);
  ASSERT_EQ(page.size(), 250u);
  EXPECT_FALSE(more);
  EXPECT_EQ(page.front().seq, cursor + 1);
  EXPECT_EQ(page.back().at, 299);
}

TEST_F(HistoryStoreTest, RetentionRemovesTheOldestInStepsNeverAllAtOnce) {
  options_.history_keep_s = 3600;
  options_.history_prune_step = 100;
  auto store = Open();
  const double now = static_cast<double>(time(nullptr));
  {
    StoreBatch b;
    for (int i = 0; i < 350; ++i) b.history.push_back(Row(now - 7200 + i, "old", "r0"));
    for (int i = 0; i < 10; ++i) b.history.push_back(Row(now - 10 + i, "new", "r0"));
    ASSERT_TRUE(store->Commit(b).ok());
  }
  EXPECT_EQ(store->HistoryRows(), 360 - 100);  // one step in that same commit
  for (int round = 0; round < 3; ++round) {
    StoreBatch b;
    b.upserts.push_back(TwinRecord{{1, "s" + std::to_string(round)}, 1, "x"});
    ASSERT_TRUE(store->Commit(b).ok());
  }
  EXPECT_EQ(store->HistoryRows(), 10);
  HistoryFilter f;
  f.subject = "old";
  EXPECT_TRUE(Read(f).empty());
  f.subject = "new";
  EXPECT_EQ(Read(f).size(), 10u);
}

// The spans a report reads are the same whichever way the reader finds them: through the rack
// index, through the index on their end (a short period of many spans) or by reading the table.
TEST_F(HistoryStoreTest, SpansOverlappingAPeriodAreFoundWhicheverWayTheyAreRead) {
  auto store = Open();
  StoreBatch b;
  // 200 closed incidents of 10 s, one every 100 s from t=0; two still open; a maintenance; a
  // server's time in rack r1 (open) and in r0 (closed at 5000).
  for (int i = 0; i < 200; ++i) {
    const std::string rack = "r" + std::to_string(i % 2);
    b.spans.push_back(SpanChange{false, false, SpanRecord{"i" + std::to_string(i), "incident", "server", "s" + std::to_string(i % 4),
                                                          rack, "thermal", "critical", i * 100.0, 0, i * 100.0 + 10, ""}});
  }
  b.spans.push_back(SpanChange{false, false, SpanRecord{"open-1", "incident", "server", "s1", "r1", "disk", "warning", 50, 0, 0, ""}});
  b.spans.push_back(SpanChange{false, false, SpanRecord{"open-2", "incident", "rack", "r0", "r0", "thermal", "critical", 19950, 0, 0, ""}});
  b.spans.push_back(SpanChange{false, false, SpanRecord{"m:1", "maintenance", "", "", "", "", "", 19000, 0, 19990, R"({"rack":"r1"})"}});
  b.spans.push_back(SpanChange{false, false, SpanRecord{"c:s1", "commissioned", "server", "s1", "r0", "", "", 0, 0, 5000, ""}});
  b.spans.push_back(SpanChange{false, false, SpanRecord{"c:s1:0", "commissioned", "server", "s1", "r1", "", "", 5000, 0, 0, ""}});
  ASSERT_TRUE(store->Commit(b).ok());
  store.reset();
  std::unique_ptr<HistoryReader> reader;
  ASSERT_TRUE(HistoryReader::Open(options_.path, 1000, &reader).ok());
  auto ids = [&](double since, double until, const std::string& rack) {
    std::set<std::string> out;
    EXPECT_TRUE(reader->Spans(since, until, rack, [&](SpanRecord&& s) { EXPECT_TRUE(out.insert(s.id).second) << s.id; }).ok());
    return out;
  };
  // The last 150 s of 20,000: a few of 205 spans, through the index on their end.
  EXPECT_EQ(ids(19860, 20000, ""), (std::set<std::string>{"i199", "open-1", "open-2", "m:1", "c:s1:0"}));
  // The whole period: the table read in order.
  EXPECT_EQ(ids(0, 20000, "").size(), 205u);
  // An incident that ended at 5010 overlaps a period that starts there; one that starts after
  // the period does not.
  EXPECT_EQ(ids(5010, 5050, ""), (std::set<std::string>{"i50", "open-1", "c:s1:0"}));
  EXPECT_EQ(ids(5010, 5050, "r0"), (std::set<std::string>{"i50"}));
  EXPECT_EQ(ids(5011, 5050, "r0"), (std::set<std::string>{}));
  // A rack's: its own spans and every maintenance span.
  EXPECT_EQ(ids(19860, 20000, "r0"), (std::set<std::string>{"open-2", "m:1"}));
  EXPECT_EQ(ids(19860, 20000, "r1"), (std::set<std::string>{"i199", "open-1", "m:1", "c:s1:0"}));
}

TEST(HistoryQueryTest, TheCursorContinuesOnlyTheQueryItWasGivenFor) {
  HistoryQuery q;
  std::string error;
  ASSERT_TRUE(ParseHistoryQuery(R"({"rack": "r07", "limit": 10})", &q, &error)) << error;
  const std::string cursor = HistoryCursor(q.filter, 1234);
  ASSERT_TRUE(ParseHistoryQuery(R"({"rack": "r07", "limit": 10, "cursor": ")" + cursor + "\"}", &q, &error)) << error;
  EXPECT_EQ(q.after, 1234);
  EXPECT_FALSE(ParseHistoryQuery(R"({"rack": "r08", "cursor": ")" + cursor + "\"}", &q, &error));
  std::string forged = cursor;
  forged[3] = forged[3] == '4' ? '5' : '4';  // another seq, the same check
  EXPECT_FALSE(ParseHistoryQuery(R"({"rack": "r07", "cursor": ")" + forged + "\"}", &q, &error));
  EXPECT_NE(error.find("cursor"), std::string::npos);
  EXPECT_TRUE(ParseHistoryQuery("", &q, &error));
  EXPECT_EQ(q.limit, 100u);
  EXPECT_FALSE(ParseHistoryQuery(R"({"limit": 1.5})", &q, &error));
  EXPECT_FALSE(ParseHistoryQuery(R"({"level": "planet"})", &q, &error));
  EXPECT_FALSE(ParseHistoryQuery(R"({"severity": "meh"})", &q, &error));
}

TEST(HistoryQueryTest, TheAnswerPutsSeqAndTypeBeforeTheEventsFields) {
  std::vector<HistoryRecord> rows{{7, 100, "incident", "server", "s1", "r1", "thermal", "critical", "{\"at\":100,\"id\":\"x\"}"}};
  EXPECT_EQ(HistoryAnswerJson(rows, ""), R"({"events":[{"seq":7,"type":"incident","at":100,"id":"x"}],"next_cursor":null})");
  EXPECT_EQ(HistoryAnswerJson({}, "h1.1.2"), R"({"events":[],"next_cursor":"h1.1.2"})");
}

}  // namespace
}  // namespace dctwin
