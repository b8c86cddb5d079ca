#include "storage/sqlite_state_store.h"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>

namespace dctwin {
namespace {

class SqliteStateStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/dctwin-store-XXXXXX";
    dir_ = mkdtemp(tmpl);
    path_ = dir_ + "/state.db";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::unique_ptr<SqliteStateStore> OpenStore() {
    std::unique_ptr<SqliteStateStore> store;
    Status s = SqliteStateStore::Open(SqliteOptions{path_, false, 1000}, &store);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return store;
  }
  void RawExec(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << sqlite3_errmsg(db);
    sqlite3_close(db);
  }
  std::vector<TwinRecord> Twins(SqliteStateStore& store) {
    std::vector<TwinRecord> out;
    EXPECT_TRUE(store.LoadTwins([&](TwinRecord&& r) { out.push_back(std::move(r)); }).ok());
    return out;
  }
  std::string dir_;
  std::string path_;
};

TEST_F(SqliteStateStoreTest, RoundTripAcrossReopen) {
  {
    auto store = OpenStore();
    EXPECT_EQ(store->SchemaVersion(), SqliteStateStore::kSchemaVersion);
    StoreBatch b;
    b.upserts.push_back(TwinRecord{{1, "s1"}, 1, std::string("\0\1\2binary", 9)});
    b.upserts.push_back(TwinRecord{{2, "r1"}, 1, "rack"});
    b.outbox.push_back(OutboxRecord{0, "dctwin/alerts/server/s1", "{\"a\":1}", 1, false});
    b.outbox.push_back(OutboxRecord{0, "dctwin/alerts/rack/r1", "{\"b\":2}", 1, false});
    ASSERT_TRUE(store->Commit(b).ok());
    EXPECT_GT(b.outbox[0].seq, 0);
    EXPECT_GT(b.outbox[1].seq, b.outbox[0].seq);
    EXPECT_EQ(store->OutboxSize(), 2);
    StoreBatch b2;
    b2.upserts.push_back(TwinRecord{{1, "s1"}, 1, "newer"});
    b2.acked.push_back(b.outbox[0].seq);
    ASSERT_TRUE(store->Commit(b2).ok());
    EXPECT_EQ(store->OutboxSize(), 1);
  }
  EXPECT_TRUE(std::filesystem::exists(path_ + "-wal") || std::filesystem::exists(path_));
  auto store = OpenStore();
  auto twins = Twins(*store);
  ASSERT_EQ(twins.size(), 2u);
  EXPECT_EQ(twins[0].key.kind, 1);
  EXPECT_EQ(twins[0].key.id, "s1");
  EXPECT_EQ(twins[0].state, "newer");
  EXPECT_EQ(twins[1].state, "rack");
  std::vector<OutboxRecord> outbox;
  ASSERT_TRUE(store->LoadOutbox([&](OutboxRecord&& r) { outbox.push_back(std::move(r)); }).ok());
  ASSERT_EQ(outbox.size(), 1u);
  EXPECT_EQ(outbox[0].topic, "dctwin/alerts/rack/r1");
  EXPECT_EQ(outbox[0].payload, "{\"b\":2}");
  EXPECT_EQ(store->OutboxSize(), 1);
}

TEST_F(SqliteStateStoreTest, UsesWriteAheadLogging) {
  auto store = OpenStore();
  store.reset();
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &stmt, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)), "wal");
  sqlite3_finalize(stmt);
  sqlite3_close(db);
}

TEST_F(SqliteStateStoreTest, DeletesAndBatchesOfManyRows) {
  auto store = OpenStore();
  StoreBatch b;
  for (int i = 0; i < 5000; ++i) b.upserts.push_back(TwinRecord{{1, "s" + std::to_string(i)}, 1, std::string(300, 'x')});
  ASSERT_TRUE(store->Commit(b).ok());
  StoreBatch d;
  for (int i = 0; i < 5000; i += 2) d.deletes.push_back(TwinKey{1, "s" + std::to_string(i)});
  ASSERT_TRUE(store->Commit(d).ok());
  EXPECT_EQ(Twins(*store).size(), 2500u);
}

TEST_F(SqliteStateStoreTest, MigratesAVersionOneDatabase) {
  // The schema as version 1 of dctwin created it: no quarantine table yet.
  RawExec(
      "CREATE TABLE twins (kind INTEGER NOT NULL, id TEXT NOT NULL, version INTEGER NOT NULL, state BLOB NOT NULL,"
      " updated_at REAL NOT NULL, PRIMARY KEY (kind, id)) WITHOUT ROWID;"
      "CREATE TABLE outbox (seq INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, payload BLOB NOT NULL,"
      " qos INTEGER NOT NULL, retained INTEGER NOT NULL, created_at REAL NOT NULL);"
      "INSERT INTO twins VALUES (1, 'old', 1, x'00', 0);"
      "PRAGMA user_version = 1;");
  auto store = OpenStore();
  ASSERT_NE(store, nullptr);
  EXPECT_EQ(store->SchemaVersion(), SqliteStateStore::kSchemaVersion);
  auto twins = Twins(*store);
  ASSERT_EQ(twins.size(), 1u);
  EXPECT_EQ(twins[0].key.id, "old");
  EXPECT_TRUE(store->Quarantine(twins[0], "test").ok());
  EXPECT_EQ(store->QuarantineCount(), 1);
}

TEST_F(SqliteStateStoreTest, DocumentsCommitWithTheTwinsAndSurviveReopen) {
  {
    auto store = OpenStore();
    StoreBatch b;
    b.upserts.push_back(TwinRecord{{1, "s1"}, 1, "state"});
    b.doc_upserts.push_back(DocRecord{{"silence", "a"}, "{\"id\":\"a\"}"});
    b.doc_upserts.push_back(DocRecord{{"silence", "b"}, "{\"id\":\"b\"}"});
    b.doc_upserts.push_back(DocRecord{{"incident", "a"}, "other collection"});
    ASSERT_TRUE(store->Commit(b).ok());
    StoreBatch d;
    d.doc_deletes.push_back(DocKey{"silence", "a"});
    d.doc_upserts.push_back(DocRecord{{"silence", "b"}, "updated"});
    ASSERT_TRUE(store->Commit(d).ok());
  }
  auto store = OpenStore();
  std::vector<DocRecord> docs;
  ASSERT_TRUE(store->LoadDocs("silence", [&](DocRecord&& r) { docs.push_back(std::move(r)); }).ok());
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_EQ(docs[0].key.id, "b");
  EXPECT_EQ(docs[0].body, "updated");
}

TEST_F(SqliteStateStoreTest, RefusesADatabaseFromANewerVersion) {
  RawExec("PRAGMA user_version = 99;");
  std::unique_ptr<SqliteStateStore> store;
  Status s = SqliteStateStore::Open(SqliteOptions{path_, false, 1000}, &store);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), Status::Code::kNotSupported);
  EXPECT_NE(s.message().find("schema version 99"), std::string::npos) << s.message();
  EXPECT_EQ(store, nullptr);
}

TEST_F(SqliteStateStoreTest, QuarantineMovesTheRowAside) {
  auto store = OpenStore();
  StoreBatch b;
  b.upserts.push_back(TwinRecord{{1, "bad"}, 1, "garbage"});
  b.upserts.push_back(TwinRecord{{1, "good"}, 1, "fine"});
  ASSERT_TRUE(store->Commit(b).ok());
  ASSERT_TRUE(store->Quarantine(b.upserts[0], "cannot decode").ok());
  auto twins = Twins(*store);
  ASSERT_EQ(twins.size(), 1u);
  EXPECT_EQ(twins[0].key.id, "good");
  EXPECT_EQ(store->QuarantineCount(), 1);
}

TEST_F(SqliteStateStoreTest, UnwritableLocationIsAClearError) {
  std::unique_ptr<SqliteStateStore> store;
  Status s = SqliteStateStore::Open(SqliteOptions{"/nonexistent-dir/x/state.db", false, 1000}, &store);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("/nonexistent-dir/x/state.db"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace dctwin
