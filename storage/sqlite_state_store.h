// SqliteStateStore: StateStore on one SQLite database file in WAL mode. Prepared statements, a
// busy timeout, and a schema version (PRAGMA user_version) with migrations applied at open; a
// database written by a newer dctwin is refused.
//
// Not thread-safe: owned by the store writer thread (and used by main() before that starts).
// Its checkpoint thread works on its own connection and touches nothing else.
#pragma once

#include <sqlite3.h>

#include <atomic>
#include <memory>
#include <string>

#include "storage/rollup_codec.h"
#include "storage/state_store.h"

namespace dctwin {

struct SqliteOptions {
  std::string path;
  // NORMAL: a commit survives a crash of the process; a power loss can lose the last
  // transactions since the previous WAL checkpoint's sync. FULL: every commit is synced.
  bool synchronous_full = false;
  int busy_timeout_ms = 5000;
  // WAL checkpoints run on a thread and connection of their own once the WAL holds this many
  // pages, so that a commit never waits for one (it copies pages and syncs the database file).
  // 0: SQLite's own automatic checkpoint, run by the committing thread.
  int checkpoint_pages = 1000;
  // History retention (history.keep_days, history.max_rows): each commit that finds rows past
  // either removes at most history_prune_step of the oldest, so pruning never stalls a commit.
  // 0: kept for ever.
  double history_keep_s = 90 * 86400.0;
  int64_t history_max_rows = 10'000'000;
  int history_prune_step = 500;
  // Rollups (history.rollup_1m_days, history.rollup_1h_days); 0: kept for ever.
  double rollup_1m_keep_s = 2 * 86400.0;
  double rollup_1h_keep_s = 60 * 86400.0;
  // The metric names of the rollups (loaded at open, new ones written with the rows that use
  // them). nullptr: the store keeps a dictionary of its own.
  MetricDictionary* metrics = nullptr;
};

class SqliteStateStore : public StateStore {
 public:
  static constexpr int kSchemaVersion = 4;

  static Status Open(const SqliteOptions& options, std::unique_ptr<SqliteStateStore>* out);
  ~SqliteStateStore() override;
  SqliteStateStore(const SqliteStateStore&) = delete;
  SqliteStateStore& operator=(const SqliteStateStore&) = delete;

  Status Commit(StoreBatch& batch) override;
  Status LoadTwins(const std::function<void(TwinRecord&&)>& each) override;
  Status LoadOutbox(const std::function<void(OutboxRecord&&)>& each) override;
  Status LoadOutboxFrom(int64_t from, size_t limit, const std::function<void(OutboxRecord&&)>& each) override;
  Status LoadDocs(const std::string& collection, const std::function<void(DocRecord&&)>& each) override;
  Status Quarantine(const TwinRecord& record, const std::string& reason) override;
  int64_t OutboxSize() const override { return outbox_size_; }
  // Any thread.
  MetricDictionary& metrics() { return *metrics_; }
  int64_t HistoryRows() const { return history_rows_.load(std::memory_order_relaxed); }
  double LastHistoryAt() const override { return history_newest_at_; }

  int64_t QuarantineCount();
  int SchemaVersion();
  // Checkpoints run by the checkpoint thread so far.
  uint64_t checkpoints() const;

 private:
  class Checkpointer;
  SqliteStateStore(sqlite3* db, const SqliteOptions& options);
  // Removes at most one step of history rows past retention; false when a statement failed.
  bool PruneHistory(double now);
  bool WriteRollups(const std::vector<RollupRow>& rows, double now, uint32_t* saved_up_to);
  Status Migrate();
  Status Prepare();
  Status Exec(const char* sql);
  Status Error(const char* what) const;

  sqlite3* db_;
  sqlite3_stmt* upsert_ = nullptr;
  sqlite3_stmt* delete_ = nullptr;
  sqlite3_stmt* insert_outbox_ = nullptr;
  sqlite3_stmt* delete_outbox_ = nullptr;
  sqlite3_stmt* upsert_doc_ = nullptr;
  sqlite3_stmt* delete_doc_ = nullptr;
  sqlite3_stmt* insert_history_ = nullptr;
  sqlite3_stmt* prune_history_old_ = nullptr;
  sqlite3_stmt* prune_history_many_ = nullptr;
  sqlite3_stmt* oldest_history_ = nullptr;
  sqlite3_stmt* upsert_span_ = nullptr;
  sqlite3_stmt* insert_span_ = nullptr;  // if absent
  sqlite3_stmt* close_span_ = nullptr;
  sqlite3_stmt* prune_spans_ = nullptr;
  sqlite3_stmt* upsert_rollup_[2] = {nullptr, nullptr};  // 1m, 1h
  sqlite3_stmt* prune_rollup_[2] = {nullptr, nullptr};
  sqlite3_stmt* insert_metric_ = nullptr;
  const double history_keep_s_;
  const int64_t history_max_rows_;
  const int history_prune_step_;
  const double rollup_keep_s_[2];
  MetricDictionary own_metrics_;
  MetricDictionary* const metrics_;
  int64_t outbox_size_ = 0;
  std::atomic<int64_t> history_rows_{0};  // read by the metrics thread too
  double history_oldest_at_ = 0;  // 0: no rows
  double history_newest_at_ = 0;
  std::unique_ptr<Checkpointer> checkpointer_;
};

}  // namespace dctwin
