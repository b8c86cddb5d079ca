// HistoryReader: reads the history (HistoryRecord rows the store writer appends) on a connection
// of its own, so that a query never waits for a commit and a commit never waits for a query (WAL:
// a reader sees the last committed transaction).
//
// Pages are in seq order, oldest first. A time bound is first turned into a seq bound through the
// `at` index (rows are appended with a clock that never steps back), then each filter's index
// yields its rows in seq order from there: a page costs its own rows, whatever the history holds.
//
// Not thread-safe: one thread uses it.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string_view>
#include <memory>
#include <string>
#include <vector>

#include "storage/state_store.h"
#include "storage/status.h"

namespace dctwin {

struct HistoryFilter {
  double since = 0;  // 0: from the oldest row
  double until = 0;  // 0: to the newest
  // Empty: any.
  std::string type, level, subject, rack, kind, severity;
};

class HistoryReader {
 public:
  static Status Open(const std::string& path, int busy_timeout_ms, std::unique_ptr<HistoryReader>* out);
  ~HistoryReader();
  HistoryReader(const HistoryReader&) = delete;
  HistoryReader& operator=(const HistoryReader&) = delete;

  // The rows that match `filter` with seq > after, oldest first, at most `limit`. *more: at least
  // one more row matches.
  Status Read(const HistoryFilter& filter, int64_t after, size_t limit, std::vector<HistoryRecord>* out, bool* more);
  // Every row that matches, oldest first (reports); stops early when `each` returns false.
  Status Scan(const HistoryFilter& filter, const std::function<bool(HistoryRecord&&)>& each);

  // Every span that overlaps [since, until] (still going: up to now); with `rack`, only that
  // rack's (and every maintenance span, whatever it names).
  Status Spans(double since, double until, const std::string& rack, const std::function<void(SpanRecord&&)>& each);

  // One server's rollup buckets (period_s 60 or 3600) that start in [since, until], oldest first.
  Status Rollups(const std::string& server, int period_s, double since, double until,
                 const std::function<void(int64_t start, std::string_view data)>& each);
  // The rollups' metric names by id.
  Status MetricNames(std::map<uint32_t, std::string>* out);

 private:
  explicit HistoryReader(sqlite3* db) : db_(db) {}
  // The seq range [*lo, *hi] that the filter's time bounds cover; false: no row is in it.
  // `limit` < 0: every row.
  Status Run(const HistoryFilter& filter, int64_t after, int64_t limit, const std::function<bool(HistoryRecord&&)>& each);
  bool SeqRange(const HistoryFilter& filter, int64_t* lo, int64_t* hi);
  // Whether the spans still going or ending after `since` are under a twentieth of them all
  // (then the index on their end finds them faster than a read of the whole table).
  bool SpansEndingAfterAreFew(double since);
  Status Error(const char* what) const;
  sqlite3* db_;
};

}  // namespace dctwin
