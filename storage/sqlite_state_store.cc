#include "storage/sqlite_state_store.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <thread>

#include "base/thread_annotations.h"

namespace dctwin {

namespace {

double Now() { return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count(); }

// Each entry moves the schema from version i to i + 1. Append only; never edit a released one.
const char* const kMigrations[] = {
    // 0 -> 1: twin state and the alert outbox
    "CREATE TABLE twins ("
    "  kind INTEGER NOT NULL, id TEXT NOT NULL, version INTEGER NOT NULL, state BLOB NOT NULL,"
    "  updated_at REAL NOT NULL, PRIMARY KEY (kind, id)) WITHOUT ROWID;"
    "CREATE TABLE outbox ("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT, topic TEXT NOT NULL, payload BLOB NOT NULL,"
    "  qos INTEGER NOT NULL, retained INTEGER NOT NULL, created_at REAL NOT NULL);",
    // 1 -> 2: rows that could not be decoded, kept for a person to look at
    "CREATE TABLE quarantine ("
    "  kind INTEGER NOT NULL, id TEXT NOT NULL, version INTEGER NOT NULL, state BLOB NOT NULL,"
    "  reason TEXT NOT NULL, quarantined_at REAL NOT NULL);",
    // 2 -> 3: operator-facing documents: incident records, silences, Alertmanager notifications
    "CREATE TABLE docs ("
    "  collection TEXT NOT NULL, id TEXT NOT NULL, body BLOB NOT NULL, updated_at REAL NOT NULL,"
    "  PRIMARY KEY (collection, id)) WITHOUT ROWID;",
    // 3 -> 4: the history (P/query/history), one row per event, with the columns it is filtered
    // by. Pages are read in seq order: each filter has an index that yields its rows in that
    // order; `at` has one for retention and for turning a time into a seq.
    "CREATE TABLE history ("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, type TEXT NOT NULL, level TEXT NOT NULL,"
    "  subject TEXT NOT NULL, rack TEXT NOT NULL, kind TEXT NOT NULL, severity TEXT NOT NULL, body BLOB NOT NULL);"
    "CREATE INDEX history_at ON history (at);"
    "CREATE INDEX history_subject ON history (subject, seq);"
    "CREATE INDEX history_rack ON history (rack, seq);"
    "CREATE INDEX history_kind ON history (kind, seq);"
    "CREATE INDEX history_type ON history (type, seq);"
    // The report's stretches of time: those that overlap a period are found through the index
    // on their end (NULL: still going) and on their rack.
    "CREATE TABLE spans ("
    "  id TEXT PRIMARY KEY, type TEXT NOT NULL, level TEXT NOT NULL, subject TEXT NOT NULL, rack TEXT NOT NULL,"
    "  kind TEXT NOT NULL, severity TEXT NOT NULL, started_at REAL NOT NULL, acked_at REAL, ended_at REAL,"
    "  matchers TEXT NOT NULL) WITHOUT ROWID;"
    "CREATE INDEX spans_end ON spans (ended_at);"
    "CREATE INDEX spans_rack ON spans (rack, ended_at);"
    // Rollups: one row per server and bucket with every metric of it, packed (rollup_codec.h);
    // metric names are numbered in rollup_metrics. The index on t serves retention.
    "CREATE TABLE rollup_metrics (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);"
    "CREATE TABLE rollup_1m (server TEXT NOT NULL, t INTEGER NOT NULL, data BLOB NOT NULL,"
    "  PRIMARY KEY (server, t)) WITHOUT ROWID;"
    "CREATE INDEX rollup_1m_t ON rollup_1m (t);"
    "CREATE TABLE rollup_1h (server TEXT NOT NULL, t INTEGER NOT NULL, data BLOB NOT NULL,"
    "  PRIMARY KEY (server, t)) WITHOUT ROWID;"
    "CREATE INDEX rollup_1h_t ON rollup_1h (t);",
};
static_assert(sizeof(kMigrations) / sizeof(kMigrations[0]) == SqliteStateStore::kSchemaVersion);

// Resets a statement on every exit path.
class StatementScope {
 public:
  explicit StatementScope(sqlite3_stmt* s) : s_(s) {}
  ~StatementScope() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }

 private:
  sqlite3_stmt* s_;
};

}  // namespace

Status SqliteStateStore::Error(const char* what) const {
  const int code = sqlite3_extended_errcode(db_);
  std::string msg = std::string(what) + ": " + sqlite3_errmsg(db_);
  if ((code & 0xff) == SQLITE_BUSY || (code & 0xff) == SQLITE_LOCKED) return Status::Busy(msg);
  if ((code & 0xff) == SQLITE_CORRUPT || (code & 0xff) == SQLITE_NOTADB) return Status::Corruption(msg);
  return Status::IoError(msg);
}

Status SqliteStateStore::Exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err != nullptr ? err : "unknown error";
    sqlite3_free(err);
    Status s = Error("exec");
    return s.code() == Status::Code::kBusy ? Status::Busy(msg) : Status::IoError(msg + " (in: " + sql + ")");
  }
  return Status::Ok();
}

// Runs PASSIVE checkpoints on its own connection when the writer's commits have grown the WAL
// past the threshold. A passive checkpoint never blocks the writer; what it cannot copy yet
// (pages of a transaction still being written) waits for the next one.
class SqliteStateStore::Checkpointer {
 public:
  Checkpointer(sqlite3* db, int pages) : db_(db), pages_(pages), thread_([this] { Run(); }) {}
  ~Checkpointer() {
    {
      MutexLock lock(mu_);
      stop_ = true;
    }
    wake_.notify_one();
    thread_.join();
    sqlite3_close(db_);
  }
  // The writer's wal_hook, after each commit: `pages` is the WAL's size. A passive checkpoint
  // copies pages but the WAL only starts over once one has caught up, so the size alone would ask
  // for a checkpoint after every commit: ask again only after another `pages_` pages.
  static int Hook(void* self, sqlite3* /*db*/, const char* /*name*/, int pages) {
    auto* c = static_cast<Checkpointer*>(self);
    if (pages < c->last_pages_) c->next_at_ = c->pages_;  // the WAL started over
    c->last_pages_ = pages;
    if (pages >= c->next_at_) {
      c->next_at_ = pages + c->pages_;
      {
        MutexLock lock(c->mu_);
        c->due_ = true;
      }
      c->wake_.notify_one();
    }
    return SQLITE_OK;
  }
  uint64_t count() const {
    MutexLock lock(mu_);
    return count_;
  }

 private:
  void Run() {
    MutexLock lock(mu_);
    for (;;) {
      while (!stop_ && !due_) wake_.wait(lock.native());
      if (stop_) return;
      due_ = false;
      lock.Unlock();
      int log = 0, done = 0;
      const int rc = sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_PASSIVE, &log, &done);
      if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
        spdlog::warn("state store: WAL checkpoint failed: {}", sqlite3_errmsg(db_));
      }
      lock.Lock();
      ++count_;
    }
  }

  sqlite3* const db_;
  const int pages_;
  int next_at_ = pages_;  // the writer's thread only (Hook)
  int last_pages_ = 0;    // the writer's thread only (Hook)
  mutable Mutex mu_;
  std::condition_variable wake_;
  bool stop_ GUARDED_BY(mu_) = false;
  bool due_ GUARDED_BY(mu_) = false;
  uint64_t count_ GUARDED_BY(mu_) = 0;
  std::thread thread_;  // last: starts once everything above is built
};

SqliteStateStore::SqliteStateStore(sqlite3* db, const SqliteOptions& options)
    : db_(db), history_keep_s_(options.history_keep_s), history_max_rows_(options.history_max_rows),
      history_prune_step_(std::max(1, options.history_prune_step)),
      rollup_keep_s_{options.rollup_1m_keep_s, options.rollup_1h_keep_s},
      metrics_(options.metrics != nullptr ? options.metrics : &own_metrics_) {}

namespace {
// dctwin_rollup_merge(old, new): the two parts of one rollup bucket as one (ON CONFLICT).
void RollupMergeFunction(sqlite3_context* ctx, int /*argc*/, sqlite3_value** argv) {
  const auto blob = [&](int i) {
    return std::string_view(static_cast<const char*>(sqlite3_value_blob(argv[i])),
                            static_cast<size_t>(sqlite3_value_bytes(argv[i])));
  };
  const std::string merged = MergeRollups(blob(0), blob(1));
  sqlite3_result_blob(ctx, merged.data(), static_cast<int>(merged.size()), SQLITE_TRANSIENT);
}
}  // namespace

uint64_t SqliteStateStore::checkpoints() const { return checkpointer_ ? checkpointer_->count() : 0; }

Status SqliteStateStore::Open(const SqliteOptions& options, std::unique_ptr<SqliteStateStore>* out) {
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(options.path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                                 nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = "cannot open state database " + options.path + ": " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    sqlite3_close(db);
    return Status::IoError(msg);
  }
  std::unique_ptr<SqliteStateStore> store(new SqliteStateStore(db, options));
  sqlite3_busy_timeout(db, options.busy_timeout_ms);
  Status s = store->Exec("PRAGMA journal_mode=WAL");
  if (s.ok()) s = store->Exec(options.synchronous_full ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL");
  if (s.ok()) s = store->Migrate();
  if (s.ok()) s = store->Prepare();
  if (!s.ok()) return s.code() == Status::Code::kNotSupported ? s : Status::IoError(options.path + ": " + s.message());
  if (options.checkpoint_pages > 0) {
    sqlite3* ckpt = nullptr;
    if (sqlite3_open_v2(options.path.c_str(), &ckpt, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr) != SQLITE_OK) {
      std::string msg = "cannot open a checkpoint connection to " + options.path + ": " +
                        (ckpt ? sqlite3_errmsg(ckpt) : "out of memory");
      sqlite3_close(ckpt);
      return Status::IoError(msg);
    }
    sqlite3_busy_timeout(ckpt, options.busy_timeout_ms);
    s = store->Exec("PRAGMA wal_autocheckpoint=0");
    if (!s.ok()) {
      sqlite3_close(ckpt);
      return s;
    }
    store->checkpointer_ = std::make_unique<Checkpointer>(ckpt, options.checkpoint_pages);
    sqlite3_wal_hook(db, &Checkpointer::Hook, store->checkpointer_.get());
  }
  *out = std::move(store);
  return Status::Ok();
}

SqliteStateStore::~SqliteStateStore() {
  // The checkpoint connection closes first: the writer's, closing last, checkpoints what is left.
  sqlite3_wal_hook(db_, nullptr, nullptr);
  checkpointer_.reset();
  for (sqlite3_stmt* s : {upsert_, delete_, insert_outbox_, delete_outbox_, upsert_doc_, delete_doc_, insert_history_,
                          prune_history_old_, prune_history_many_, oldest_history_, upsert_span_, insert_span_,
                          close_span_, prune_spans_, upsert_rollup_[0], upsert_rollup_[1], prune_rollup_[0],
                          prune_rollup_[1], insert_metric_}) {
    sqlite3_finalize(s);
  }
  sqlite3_close(db_);
}

int SqliteStateStore::SchemaVersion() {
  sqlite3_stmt* stmt = nullptr;
  int version = -1;
  if (sqlite3_prepare_v2(db_, "PRAGMA user_version", -1, &stmt, nullptr) == SQLITE_OK && sqlite3_step(stmt) == SQLITE_ROW) {
    version = sqlite3_column_int(stmt, 0);
  }
  sqlite3_finalize(stmt);
  return version;
}

Status SqliteStateStore::Migrate() {
  const int version = SchemaVersion();
  if (version < 0) return Error("reading the schema version");
  if (version > kSchemaVersion) {
    return Status::NotSupported("state database has schema version " + std::to_string(version) +
                                ", newer than this gateway understands (" + std::to_string(kSchemaVersion) +
                                "); run a newer dctwin, or point --state at another file");
  }
  for (int v = version; v < kSchemaVersion; ++v) {
    const std::string sql = std::string("BEGIN IMMEDIATE;") + kMigrations[v] + "PRAGMA user_version=" +
                            std::to_string(v + 1) + ";COMMIT;";
    Status s = Exec(sql.c_str());
    if (!s.ok()) {
      Exec("ROLLBACK");
      return Status::IoError("migrating the state database to schema version " + std::to_string(v + 1) + ": " +
                             s.message());
    }
  }
  return Status::Ok();
}

Status SqliteStateStore::Prepare() {
  if (sqlite3_create_function(db_, "dctwin_rollup_merge", 2, SQLITE_UTF8 | SQLITE_DETERMINISTIC, nullptr,
                              &RollupMergeFunction, nullptr, nullptr) != SQLITE_OK) {
    return Error("registering the rollup merge");
  }
  struct {
    sqlite3_stmt** stmt;
    const char* sql;
  } statements[] = {
      {&upsert_,
       "INSERT INTO twins (kind, id, version, state, updated_at) VALUES (?1, ?2, ?3, ?4, ?5) "
       "ON CONFLICT (kind, id) DO UPDATE SET version = ?3, state = ?4, updated_at = ?5"},
      {&delete_, "DELETE FROM twins WHERE kind = ?1 AND id = ?2"},
      {&insert_outbox_, "INSERT INTO outbox (topic, payload, qos, retained, created_at) VALUES (?1, ?2, ?3, ?4, ?5)"},
      {&delete_outbox_, "DELETE FROM outbox WHERE seq = ?1"},
      {&upsert_doc_,
       "INSERT INTO docs (collection, id, body, updated_at) VALUES (?1, ?2, ?3, ?4) "
       "ON CONFLICT (collection, id) DO UPDATE SET body = ?3, updated_at = ?4"},
      {&delete_doc_, "DELETE FROM docs WHERE collection = ?1 AND id = ?2"},
      {&insert_history_,
       "INSERT INTO history (at, type, level, subject, rack, kind, severity, body) "
       "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"},
      // Both delete through an index range: their cost is the rows they remove, never the table.
      {&prune_history_old_,
       "DELETE FROM history WHERE seq IN (SELECT seq FROM history INDEXED BY history_at WHERE at < ?1 LIMIT ?2)"},
      {&prune_history_many_, "DELETE FROM history WHERE seq IN (SELECT seq FROM history ORDER BY seq LIMIT ?1)"},
      {&oldest_history_, "SELECT min(at) FROM history"},
      {&upsert_span_,
       "INSERT OR REPLACE INTO spans (id, type, level, subject, rack, kind, severity, started_at, acked_at, ended_at,"
       " matchers) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"},
      {&insert_span_,
       "INSERT OR IGNORE INTO spans (id, type, level, subject, rack, kind, severity, started_at, acked_at, ended_at,"
       " matchers) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"},
      {&close_span_, "UPDATE OR REPLACE spans SET id = id || ':' || started_at, ended_at = ?2 WHERE id = ?1"},
      {&upsert_rollup_[0],
       "INSERT INTO rollup_1m (server, t, data) VALUES (?1, ?2, ?3) "
       "ON CONFLICT (server, t) DO UPDATE SET data = dctwin_rollup_merge(data, excluded.data)"},
      {&upsert_rollup_[1],
       "INSERT INTO rollup_1h (server, t, data) VALUES (?1, ?2, ?3) "
       "ON CONFLICT (server, t) DO UPDATE SET data = dctwin_rollup_merge(data, excluded.data)"},
      {&prune_rollup_[0],
       "DELETE FROM rollup_1m WHERE (server, t) IN "
       "(SELECT server, t FROM rollup_1m INDEXED BY rollup_1m_t WHERE t < ?1 LIMIT ?2)"},
      {&prune_rollup_[1],
       "DELETE FROM rollup_1h WHERE (server, t) IN "
       "(SELECT server, t FROM rollup_1h INDEXED BY rollup_1h_t WHERE t < ?1 LIMIT ?2)"},
      {&insert_metric_, "INSERT OR IGNORE INTO rollup_metrics (id, name) VALUES (?1, ?2)"},
      {&prune_spans_,
       "DELETE FROM spans WHERE id IN (SELECT id FROM spans INDEXED BY spans_end WHERE ended_at < ?1 LIMIT ?2)"},
  };
  for (auto& st : statements) {
    if (sqlite3_prepare_v3(db_, st.sql, -1, SQLITE_PREPARE_PERSISTENT, st.stmt, nullptr) != SQLITE_OK) {
      return Error("preparing statements");
    }
  }
  sqlite3_stmt* count = nullptr;
  if (sqlite3_prepare_v2(db_, "SELECT count(*) FROM outbox", -1, &count, nullptr) != SQLITE_OK) return Error("counting");
  if (sqlite3_step(count) == SQLITE_ROW) outbox_size_ = sqlite3_column_int64(count, 0);
  sqlite3_finalize(count);
  // Once per start: the count of a large history is read from its smallest index.
  if (sqlite3_prepare_v2(db_, "SELECT count(*) FROM history", -1, &count, nullptr) != SQLITE_OK) return Error("counting");
  if (sqlite3_step(count) == SQLITE_ROW) history_rows_ = sqlite3_column_int64(count, 0);
  sqlite3_finalize(count);
  {
    StatementScope scope(oldest_history_);
    if (sqlite3_step(oldest_history_) == SQLITE_ROW) history_oldest_at_ = sqlite3_column_double(oldest_history_, 0);
  }
  if (sqlite3_prepare_v2(db_, "SELECT id, name FROM rollup_metrics", -1, &count, nullptr) != SQLITE_OK) {
    return Error("reading the rollup metrics");
  }
  while (sqlite3_step(count) == SQLITE_ROW) {
    metrics_->Load(static_cast<uint32_t>(sqlite3_column_int64(count, 0)),
                   std::string(reinterpret_cast<const char*>(sqlite3_column_text(count, 1)),
                               static_cast<size_t>(sqlite3_column_bytes(count, 1))));
  }
  sqlite3_finalize(count);
  if (sqlite3_prepare_v2(db_, "SELECT max(at) FROM history", -1, &count, nullptr) != SQLITE_OK) return Error("reading");
  if (sqlite3_step(count) == SQLITE_ROW) history_newest_at_ = sqlite3_column_double(count, 0);
  sqlite3_finalize(count);
  return Status::Ok();
}

Status SqliteStateStore::Commit(StoreBatch& batch) {
  if (batch.empty()) return Status::Ok();
  Status s = Exec("BEGIN IMMEDIATE");
  if (!s.ok()) return s;
  const double now = Now();
  auto fail = [&](const char* what) {
    Status e = Error(what);
    Exec("ROLLBACK");
    for (OutboxRecord& r : batch.outbox) r.seq = 0;
    return e;
  };
  for (const TwinRecord& r : batch.upserts) {
    StatementScope scope(upsert_);
    sqlite3_bind_int(upsert_, 1, r.key.kind);
    sqlite3_bind_text(upsert_, 2, r.key.id.data(), static_cast<int>(r.key.id.size()), SQLITE_STATIC);
    sqlite3_bind_int64(upsert_, 3, r.version);
    sqlite3_bind_blob(upsert_, 4, r.state.data(), static_cast<int>(r.state.size()), SQLITE_STATIC);
    sqlite3_bind_double(upsert_, 5, now);
    if (sqlite3_step(upsert_) != SQLITE_DONE) return fail("writing twin state");
  }
  for (const TwinKey& k : batch.deletes) {
    StatementScope scope(delete_);
    sqlite3_bind_int(delete_, 1, k.kind);
    sqlite3_bind_text(delete_, 2, k.id.data(), static_cast<int>(k.id.size()), SQLITE_STATIC);
    if (sqlite3_step(delete_) != SQLITE_DONE) return fail("deleting twin state");
  }
  for (OutboxRecord& r : batch.outbox) {
    StatementScope scope(insert_outbox_);
    sqlite3_bind_text(insert_outbox_, 1, r.topic.data(), static_cast<int>(r.topic.size()), SQLITE_STATIC);
    sqlite3_bind_blob(insert_outbox_, 2, r.payload.data(), static_cast<int>(r.payload.size()), SQLITE_STATIC);
    sqlite3_bind_int(insert_outbox_, 3, r.qos);
    sqlite3_bind_int(insert_outbox_, 4, r.retained ? 1 : 0);
    sqlite3_bind_double(insert_outbox_, 5, now);
    if (sqlite3_step(insert_outbox_) != SQLITE_DONE) return fail("writing the outbox");
    r.seq = sqlite3_last_insert_rowid(db_);
  }
  for (const DocRecord& d : batch.doc_upserts) {
    StatementScope scope(upsert_doc_);
    sqlite3_bind_text(upsert_doc_, 1, d.key.collection.data(), static_cast<int>(d.key.collection.size()), SQLITE_STATIC);
    sqlite3_bind_text(upsert_doc_, 2, d.key.id.data(), static_cast<int>(d.key.id.size()), SQLITE_STATIC);
    sqlite3_bind_blob(upsert_doc_, 3, d.body.data(), static_cast<int>(d.body.size()), SQLITE_STATIC);
    sqlite3_bind_double(upsert_doc_, 4, now);
    if (sqlite3_step(upsert_doc_) != SQLITE_DONE) return fail("writing a document");
  }
  for (const DocKey& k : batch.doc_deletes) {
    StatementScope scope(delete_doc_);
    sqlite3_bind_text(delete_doc_, 1, k.collection.data(), static_cast<int>(k.collection.size()), SQLITE_STATIC);
    sqlite3_bind_text(delete_doc_, 2, k.id.data(), static_cast<int>(k.id.size()), SQLITE_STATIC);
    if (sqlite3_step(delete_doc_) != SQLITE_DONE) return fail("deleting a document");
  }
  for (HistoryRecord& h : batch.history) {
    StatementScope scope(insert_history_);
    sqlite3_bind_double(insert_history_, 1, h.at);
    int column = 2;
    for (const std::string* text : {&h.type, &h.level, &h.subject, &h.rack, &h.kind, &h.severity}) {
      sqlite3_bind_text(insert_history_, column++, text->data(), static_cast<int>(text->size()), SQLITE_STATIC);
    }
    sqlite3_bind_blob(insert_history_, 8, h.body.data(), static_cast<int>(h.body.size()), SQLITE_STATIC);
    if (sqlite3_step(insert_history_) != SQLITE_DONE) return fail("writing the history");
    h.seq = sqlite3_last_insert_rowid(db_);
  }
  for (const SpanChange& c : batch.spans) {
    const SpanRecord& r = c.row;
    if (c.close) {
      StatementScope scope(close_span_);
      sqlite3_bind_text(close_span_, 1, r.id.data(), static_cast<int>(r.id.size()), SQLITE_STATIC);
      sqlite3_bind_double(close_span_, 2, r.ended_at);
      if (sqlite3_step(close_span_) != SQLITE_DONE) return fail("closing a span");
      continue;
    }
    sqlite3_stmt* st = c.if_absent ? insert_span_ : upsert_span_;
    StatementScope scope(st);
    int column = 1;
    for (const std::string* text : {&r.id, &r.type, &r.level, &r.subject, &r.rack, &r.kind, &r.severity}) {
      sqlite3_bind_text(st, column++, text->data(), static_cast<int>(text->size()), SQLITE_STATIC);
    }
    sqlite3_bind_double(st, 8, r.started_at);
    if (r.acked_at > 0) sqlite3_bind_double(st, 9, r.acked_at);  // else NULL
    if (r.ended_at > 0) sqlite3_bind_double(st, 10, r.ended_at);
    sqlite3_bind_text(st, 11, r.matchers.data(), static_cast<int>(r.matchers.size()), SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE) return fail("writing a span");
  }
  uint32_t metrics_saved = 0;
  if (!batch.rollups.empty() && !WriteRollups(batch.rollups, now, &metrics_saved)) return fail("writing rollups");
  const int64_t history_before = history_rows_.load();
  const double oldest_before = history_oldest_at_;
  history_rows_ += static_cast<int64_t>(batch.history.size());
  if (history_oldest_at_ == 0 && !batch.history.empty()) history_oldest_at_ = batch.history.front().at;
  if (!PruneHistory(now)) {
    history_rows_ = history_before;
    history_oldest_at_ = oldest_before;
    return fail("pruning the history");
  }
  int64_t deleted = 0;
  for (int64_t seq : batch.acked) {
    StatementScope scope(delete_outbox_);
    sqlite3_bind_int64(delete_outbox_, 1, seq);
    if (sqlite3_step(delete_outbox_) != SQLITE_DONE) return fail("deleting from the outbox");
    deleted += sqlite3_changes(db_);
  }
  if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK) {
    history_rows_ = history_before;
    history_oldest_at_ = oldest_before;
    return fail("commit");
  }
  outbox_size_ += static_cast<int64_t>(batch.outbox.size()) - deleted;
  if (metrics_saved > 0) metrics_->MarkSaved(metrics_saved);
  if (!batch.history.empty()) history_newest_at_ = std::max(history_newest_at_, batch.history.back().at);
  return Status::Ok();
}

bool SqliteStateStore::WriteRollups(const std::vector<RollupRow>& rows, double now, uint32_t* saved_up_to) {
  // Names first: every id the rows use was numbered before they were encoded.
  for (const auto& [id, name] : metrics_->Unsaved()) {
    StatementScope scope(insert_metric_);
    sqlite3_bind_int64(insert_metric_, 1, id);
    sqlite3_bind_text(insert_metric_, 2, name.data(), static_cast<int>(name.size()), SQLITE_STATIC);
    if (sqlite3_step(insert_metric_) != SQLITE_DONE) return false;
    *saved_up_to = std::max(*saved_up_to, id);
  }
  for (const RollupRow& r : rows) {
    sqlite3_stmt* st = upsert_rollup_[r.period_s == 60 ? 0 : 1];
    StatementScope scope(st);
    sqlite3_bind_text(st, 1, r.server.data(), static_cast<int>(r.server.size()), SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, r.start);
    sqlite3_bind_blob(st, 3, r.data.data(), static_cast<int>(r.data.size()), SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE) return false;
  }
  // Retention, a step per commit that writes rollups.
  for (int i = 0; i < 2; ++i) {
    if (rollup_keep_s_[i] <= 0) continue;
    StatementScope scope(prune_rollup_[i]);
    sqlite3_bind_int64(prune_rollup_[i], 1, static_cast<int64_t>(now - rollup_keep_s_[i]));
    sqlite3_bind_int(prune_rollup_[i], 2, history_prune_step_ * 4);
    if (sqlite3_step(prune_rollup_[i]) != SQLITE_DONE) return false;
  }
  return true;
}

bool SqliteStateStore::PruneHistory(double now) {
  int removed = 0;
  if (history_keep_s_ > 0 && history_oldest_at_ > 0 && history_oldest_at_ < now - history_keep_s_) {
    StatementScope scope(prune_history_old_);
    sqlite3_bind_double(prune_history_old_, 1, now - history_keep_s_);
    sqlite3_bind_int(prune_history_old_, 2, history_prune_step_);
    if (sqlite3_step(prune_history_old_) != SQLITE_DONE) return false;
    removed = sqlite3_changes(db_);
  }
  if (history_max_rows_ > 0 && history_rows_ - removed > history_max_rows_ && removed < history_prune_step_) {
    const int64_t over = history_rows_ - removed - history_max_rows_;
    StatementScope scope(prune_history_many_);
    sqlite3_bind_int64(prune_history_many_, 1, std::min<int64_t>(over, history_prune_step_ - removed));
    if (sqlite3_step(prune_history_many_) != SQLITE_DONE) return false;
    removed += sqlite3_changes(db_);
  }
  if (history_keep_s_ > 0 && removed < history_prune_step_) {
    StatementScope scope(prune_spans_);
    sqlite3_bind_double(prune_spans_, 1, now - history_keep_s_);
    sqlite3_bind_int(prune_spans_, 2, history_prune_step_ - removed);
    if (sqlite3_step(prune_spans_) != SQLITE_DONE) return false;
  }
  if (removed == 0) return true;
  history_rows_ -= removed;
  StatementScope scope(oldest_history_);
  if (sqlite3_step(oldest_history_) != SQLITE_ROW) return false;
  history_oldest_at_ = sqlite3_column_double(oldest_history_, 0);  // NULL (no rows) reads as 0
  return true;
}

Status SqliteStateStore::LoadTwins(const std::function<void(TwinRecord&&)>& each) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db_, "SELECT kind, id, version, state FROM twins ORDER BY kind, id", -1, &stmt, nullptr) !=
      SQLITE_OK) {
    return Error("reading twins");
  }
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    TwinRecord r;
    r.key.kind = static_cast<uint8_t>(sqlite3_column_int(stmt, 0));
    r.key.id.assign(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 1)),
                    static_cast<size_t>(sqlite3_column_bytes(stmt, 1)));
    r.version = static_cast<uint32_t>(sqlite3_column_int64(stmt, 2));
    r.state.assign(static_cast<const char*>(sqlite3_column_blob(stmt, 3)),
                   static_cast<size_t>(sqlite3_column_bytes(stmt, 3)));
    each(std::move(r));
  }
  sqlite3_finalize(stmt);
  return rc == SQLITE_DONE ? Status::Ok() : Error("reading twins");
}

Status SqliteStateStore::LoadOutbox(const std::function<void(OutboxRecord&&)>& each) {
  return LoadOutboxFrom(0, static_cast<size_t>(INT64_MAX), each);
}

Status SqliteStateStore::LoadOutboxFrom(int64_t from, size_t limit, const std::function<void(OutboxRecord&&)>& each) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db_, "SELECT seq, topic, payload, qos, retained FROM outbox WHERE seq >= ?1 ORDER BY seq LIMIT ?2",
                         -1, &stmt, nullptr) != SQLITE_OK) {
    return Error("reading the outbox");
  }
  sqlite3_bind_int64(stmt, 1, from);
  sqlite3_bind_int64(stmt, 2, limit > static_cast<size_t>(INT64_MAX) ? INT64_MAX : static_cast<int64_t>(limit));
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    OutboxRecord r;
    r.seq = sqlite3_column_int64(stmt, 0);
    r.topic.assign(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 1)),
                   static_cast<size_t>(sqlite3_column_bytes(stmt, 1)));
    r.payload.assign(static_cast<const char*>(sqlite3_column_blob(stmt, 2)),
                     static_cast<size_t>(sqlite3_column_bytes(stmt, 2)));
    r.qos = sqlite3_column_int(stmt, 3);
    r.retained = sqlite3_column_int(stmt, 4) != 0;
    each(std::move(r));
  }
  sqlite3_finalize(stmt);
  return rc == SQLITE_DONE ? Status::Ok() : Error("reading the outbox");
}

Status SqliteStateStore::LoadDocs(const std::string& collection, const std::function<void(DocRecord&&)>& each) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db_, "SELECT id, body FROM docs WHERE collection = ?1 ORDER BY id", -1, &stmt, nullptr) !=
      SQLITE_OK) {
    return Error("reading documents");
  }
  sqlite3_bind_text(stmt, 1, collection.data(), static_cast<int>(collection.size()), SQLITE_STATIC);
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    DocRecord d;
    d.key.collection = collection;
    d.key.id.assign(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0)),
                    static_cast<size_t>(sqlite3_column_bytes(stmt, 0)));
    d.body.assign(static_cast<const char*>(sqlite3_column_blob(stmt, 1)),
                  static_cast<size_t>(sqlite3_column_bytes(stmt, 1)));
    each(std::move(d));
  }
  sqlite3_finalize(stmt);
  return rc == SQLITE_DONE ? Status::Ok() : Error("reading documents");
}

Status SqliteStateStore::Quarantine(const TwinRecord& r, const std::string& reason) {
  sqlite3_stmt* ins = nullptr;
  sqlite3_stmt* del = nullptr;
  Status s = Exec("BEGIN IMMEDIATE");
  if (!s.ok()) return s;
  bool ok = sqlite3_prepare_v2(db_,
                               "INSERT INTO quarantine (kind, id, version, state, reason, quarantined_at) "
                               "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                               -1, &ins, nullptr) == SQLITE_OK &&
            sqlite3_prepare_v2(db_, "DELETE FROM twins WHERE kind = ?1 AND id = ?2", -1, &del, nullptr) == SQLITE_OK;
  if (ok) {
    sqlite3_bind_int(ins, 1, r.key.kind);
    sqlite3_bind_text(ins, 2, r.key.id.data(), static_cast<int>(r.key.id.size()), SQLITE_STATIC);
    sqlite3_bind_int64(ins, 3, r.version);
    sqlite3_bind_blob(ins, 4, r.state.data(), static_cast<int>(r.state.size()), SQLITE_STATIC);
    sqlite3_bind_text(ins, 5, reason.data(), static_cast<int>(reason.size()), SQLITE_STATIC);
    sqlite3_bind_double(ins, 6, Now());
    sqlite3_bind_int(del, 1, r.key.kind);
    sqlite3_bind_text(del, 2, r.key.id.data(), static_cast<int>(r.key.id.size()), SQLITE_STATIC);
    ok = sqlite3_step(ins) == SQLITE_DONE && sqlite3_step(del) == SQLITE_DONE;
  }
  sqlite3_finalize(ins);
  sqlite3_finalize(del);
  if (!ok) {
    Status e = Error("quarantining a row");
    Exec("ROLLBACK");
    return e;
  }
  return Exec("COMMIT");
}

int64_t SqliteStateStore::QuarantineCount() {
  sqlite3_stmt* stmt = nullptr;
  int64_t n = -1;
  if (sqlite3_prepare_v2(db_, "SELECT count(*) FROM quarantine", -1, &stmt, nullptr) == SQLITE_OK &&
      sqlite3_step(stmt) == SQLITE_ROW) {
    n = sqlite3_column_int64(stmt, 0);
  }
  sqlite3_finalize(stmt);
  return n;
}

}  // namespace dctwin
