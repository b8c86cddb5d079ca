#include "storage/history_reader.h"

#include <algorithm>
#include <functional>
#include <limits>

namespace dctwin {

Status HistoryReader::Open(const std::string& path, int busy_timeout_ms, std::unique_ptr<HistoryReader>* out) {
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = "cannot open the history in " + path + ": " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    sqlite3_close(db);
    return Status::IoError(msg);
  }
  sqlite3_busy_timeout(db, busy_timeout_ms);
  out->reset(new HistoryReader(db));
  return Status::Ok();
}

HistoryReader::~HistoryReader() { sqlite3_close(db_); }

Status HistoryReader::Error(const char* what) const {
  return Status::IoError(std::string(what) + ": " + sqlite3_errmsg(db_));
}

bool HistoryReader::SeqRange(const HistoryFilter& filter, int64_t* lo, int64_t* hi) {
  *lo = 0;
  *hi = std::numeric_limits<int64_t>::max();
  auto bound = [&](const char* sql, double at, int64_t* seq) {
    sqlite3_stmt* stmt = nullptr;
    bool found = false;
    if (sqlite3_prepare_v2(db_, sql, -1, &stmt, nullptr) == SQLITE_OK) {
      sqlite3_bind_double(stmt, 1, at);
      if (sqlite3_step(stmt) == SQLITE_ROW) {
        *seq = sqlite3_column_int64(stmt, 0);
        found = true;
      }
    }
    sqlite3_finalize(stmt);
    return found;
  };
  if (filter.since > 0 &&
      !bound("SELECT seq FROM history INDEXED BY history_at WHERE at >= ?1 ORDER BY at LIMIT 1", filter.since, lo)) {
    return false;
  }
  if (filter.until > 0 &&
      !bound("SELECT seq FROM history INDEXED BY history_at WHERE at <= ?1 ORDER BY at DESC LIMIT 1", filter.until,
             hi)) {
    return false;
  }
  return *lo <= *hi;
}

namespace {

std::string ColumnText(sqlite3_stmt* stmt, int column) {
  return std::string(reinterpret_cast<const char*>(sqlite3_column_text(stmt, column)),
                     static_cast<size_t>(sqlite3_column_bytes(stmt, column)));
}

// The filter's columns that are set, in the order Build() binds them.
std::vector<const std::string*> Texts(const HistoryFilter& f) {
  std::vector<const std::string*> texts;
  for (const std::string* v : {&f.type, &f.level, &f.subject, &f.rack, &f.kind, &f.severity}) {
    if (!v->empty()) texts.push_back(v);
  }
  return texts;
}

// ?1 < seq <= ?2, LIMIT ?3, then the columns that are set, then since and until.
std::string Build(const HistoryFilter& f) {
  std::string sql =
      "SELECT seq, at, type, level, subject, rack, kind, severity, body FROM history WHERE seq > ?1 AND seq <= ?2";
  int n = 4;
  const std::pair<const char*, const std::string*> columns[] = {{"type", &f.type},       {"level", &f.level},
                                                                {"subject", &f.subject}, {"rack", &f.rack},
                                                                {"kind", &f.kind},       {"severity", &f.severity}};
  for (const auto& [column, value] : columns) {
    if (!value->empty()) sql += std::string(" AND ") + column + " = ?" + std::to_string(n++);
  }
  // The time bounds themselves too: the seq range is only as exact as the clock was monotonic.
  if (f.since > 0) sql += " AND at >= ?" + std::to_string(n++);
  if (f.until > 0) sql += " AND at <= ?" + std::to_string(n++);
  return sql + " ORDER BY seq LIMIT ?3";
}

HistoryRecord RowOf(sqlite3_stmt* stmt) {
  auto text = [&](int column) { return ColumnText(stmt, column); };
  HistoryRecord r;
  r.seq = sqlite3_column_int64(stmt, 0);
  r.at = sqlite3_column_double(stmt, 1);
  r.type = text(2);
  r.level = text(3);
  r.subject = text(4);
  r.rack = text(5);
  r.kind = text(6);
  r.severity = text(7);
  r.body.assign(static_cast<const char*>(sqlite3_column_blob(stmt, 8)), static_cast<size_t>(sqlite3_column_bytes(stmt, 8)));
  return r;
}

}  // namespace

Status HistoryReader::Read(const HistoryFilter& filter, int64_t after, size_t limit, std::vector<HistoryRecord>* out,
                           bool* more) {
  out->clear();
  *more = false;
  // One row past the page says whether there are more.
  Status s = Run(filter, after, static_cast<int64_t>(limit) + 1, [&](HistoryRecord&& r) {
    if (out->size() == limit) {
      *more = true;
      return false;
    }
    out->push_back(std::move(r));
    return true;
  });
  return s;
}

Status HistoryReader::Scan(const HistoryFilter& filter, const std::function<bool(HistoryRecord&&)>& each) {
  return Run(filter, 0, -1, each);
}

Status HistoryReader::Run(const HistoryFilter& filter, int64_t after, int64_t limit,
                          const std::function<bool(HistoryRecord&&)>& each) {
  int64_t lo = 0, hi = 0;
  // One read transaction: the bounds and the rows come from the same commit.
  if (sqlite3_exec(db_, "BEGIN", nullptr, nullptr, nullptr) != SQLITE_OK) return Error("reading the history");
  Status result = Status::Ok();
  if (SeqRange(filter, &lo, &hi)) {
    const std::string sql = Build(filter);
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) {
      result = Error("reading the history");
    } else {
      sqlite3_bind_int64(stmt, 1, std::max(lo - 1, after));
      sqlite3_bind_int64(stmt, 2, hi);
      sqlite3_bind_int64(stmt, 3, limit);  // negative: no limit
      int column = 4;
      for (const std::string* t : Texts(filter)) {
        sqlite3_bind_text(stmt, column++, t->data(), static_cast<int>(t->size()), SQLITE_STATIC);
      }
      if (filter.since > 0) sqlite3_bind_double(stmt, column++, filter.since);
      if (filter.until > 0) sqlite3_bind_double(stmt, column++, filter.until);
      int rc;
      while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        if (!each(RowOf(stmt))) break;
      }
      if (rc != SQLITE_ROW && rc != SQLITE_DONE) result = Error("reading the history");
    }
    sqlite3_finalize(stmt);
  }
  sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr);
  return result;
}

Status HistoryReader::Rollups(const std::string& server, int period_s, double since, double until,
                              const std::function<void(int64_t, std::string_view)>& each) {
  const char* sql = period_s == 60 ? "SELECT t, data FROM rollup_1m WHERE server = ?1 AND t >= ?2 AND t <= ?3 ORDER BY t"
                                   : "SELECT t, data FROM rollup_1h WHERE server = ?1 AND t >= ?2 AND t <= ?3 ORDER BY t";
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db_, sql, -1, &stmt, nullptr) != SQLITE_OK) return Error("reading rollups");
  sqlite3_bind_text(stmt, 1, server.data(), static_cast<int>(server.size()), SQLITE_STATIC);
  sqlite3_bind_int64(stmt, 2, static_cast<int64_t>(since));
  sqlite3_bind_int64(stmt, 3, static_cast<int64_t>(until));
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    each(sqlite3_column_int64(stmt, 0), std::string_view(static_cast<const char*>(sqlite3_column_blob(stmt, 1)),
                                                         static_cast<size_t>(sqlite3_column_bytes(stmt, 1))));
  }
  sqlite3_finalize(stmt);
  return rc == SQLITE_DONE ? Status::Ok() : Error("reading rollups");
}

Status HistoryReader::MetricNames(std::map<uint32_t, std::string>* out) {
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db_, "SELECT id, name FROM rollup_metrics", -1, &stmt, nullptr) != SQLITE_OK) {
    return Error("reading the rollup metrics");
  }
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    (*out)[static_cast<uint32_t>(sqlite3_column_int64(stmt, 0))] = ColumnText(stmt, 1);
  }
  sqlite3_finalize(stmt);
  return rc == SQLITE_DONE ? Status::Ok() : Error("reading the rollup metrics");
}

bool HistoryReader::SpansEndingAfterAreFew(double since) {
  auto count = [&](const char* sql) -> int64_t {
    sqlite3_stmt* stmt = nullptr;
    int64_t n = -1;
    if (sqlite3_prepare_v2(db_, sql, -1, &stmt, nullptr) == SQLITE_OK) {
      sqlite3_bind_double(stmt, 1, since);
      if (sqlite3_step(stmt) == SQLITE_ROW) n = sqlite3_column_int64(stmt, 0);
    }
    sqlite3_finalize(stmt);
    return n;
  };
  // Two counts, not one with OR: SQLite answers an OR over one index of a WITHOUT ROWID table by
  // collecting every key it finds to remove duplicates, which cost more than the whole read.
  const int64_t found = count(
      "SELECT (SELECT count(*) FROM spans WHERE ended_at IS NULL) + (SELECT count(*) FROM spans WHERE ended_at >= ?1)");
  const int64_t all = count("SELECT count(*) FROM spans");
  return found >= 0 && all >= 0 && found * 20 < all;
}

Status HistoryReader::Spans(double since, double until, const std::string& rack,
                            const std::function<void(SpanRecord&&)>& each) {
  // Three ways to find the spans. A rack's are those of its rack and the maintenance spans (whose
  // rack is empty), found through the index on rack. Otherwise through the index on their end, or
  // by reading the whole table: the index costs a lookup of the row by its id for every span it
  // finds, many times a row read in order, so it wins only when the period holds a small part of
  // the spans (a day's report from months of them); a month's report of a large site reads the
  // table in order. Which part the period holds is counted from the index alone. The spans still
  // going and those that ended since are two disjoint index ranges, read one after the other
  // (UNION ALL; see SpansEndingAfterAreFew for why never with OR).
  const std::string columns =
      "SELECT id, type, level, subject, rack, kind, severity, started_at, acked_at, ended_at, matchers FROM spans ";
  const std::string overlaps = "+started_at <= ?2 AND (+ended_at IS NULL OR +ended_at >= ?1)";
  std::string sql;
  if (!rack.empty()) {
    sql = columns + "WHERE rack IN (?3, '') AND (rack = ?3 OR type = 'maintenance') AND " + overlaps;
  } else if (SpansEndingAfterAreFew(since)) {
    sql = columns + "WHERE ended_at IS NULL AND started_at <= ?2 UNION ALL " + columns +
          "WHERE ended_at >= ?1 AND started_at <= ?2";
  } else {
    sql = columns + "WHERE " + overlaps;
  }
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK) return Error("reading the spans");
  sqlite3_bind_double(stmt, 1, since);
  sqlite3_bind_double(stmt, 2, until);
  if (!rack.empty()) sqlite3_bind_text(stmt, 3, rack.data(), static_cast<int>(rack.size()), SQLITE_STATIC);
  auto text = [&](int column) { return ColumnText(stmt, column); };
  int rc;
  while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
    SpanRecord s;
    s.id = text(0);
    s.type = text(1);
    s.level = text(2);
    s.subject = text(3);
    s.rack = text(4);
    s.kind = text(5);
    s.severity = text(6);
    s.started_at = sqlite3_column_double(stmt, 7);
    s.acked_at = sqlite3_column_double(stmt, 8);  // NULL reads as 0
    s.ended_at = sqlite3_column_double(stmt, 9);
    s.matchers = text(10);
    each(std::move(s));
  }
  sqlite3_finalize(stmt);
  return rc == SQLITE_DONE ? Status::Ok() : Error("reading the spans");
}

}  // namespace dctwin
