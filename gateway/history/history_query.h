// P/query/history: the request as the contract gives it, its opaque cursor, and the answer.
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "storage/history_reader.h"
#include "storage/state_store.h"

namespace dctwin {

struct HistoryQuery {
  HistoryFilter filter;
  size_t limit = 100;
  int64_t after = 0;  // from the cursor: rows after this seq
  static constexpr size_t kMaxLimit = 1000;
};

// False with `error` set (for the {"ok": false, "error"} answer) for anything but the
// contract's request: unknown members, wrong types, limit outside 1..1000, since after until, an
// unknown type or level, a cursor that is not one this gateway gave for the same filters.
bool ParseHistoryQuery(std::string_view payload, HistoryQuery* out, std::string* error);

// P/query/server/<id> with {"series": "1m" | "1h", "metric": "<name or glob>", "since", "until"}.
struct SeriesQuery {
  int period_s = 60;
  std::string metric = "*";
  double since = 0;  // default: 2 hours (1m) or 2 days (1h) before until
  double until = 0;  // default: now
};
bool ParseSeriesQuery(std::string_view payload, double now, SeriesQuery* out, std::string* error);
// Whether a server query asks for rollups ("series" is "1m" or "1h", not true).
bool AsksForRollups(std::string_view payload);

// The cursor that continues `query` after the row with `seq`: opaque to clients, and bound to the
// filters it was given for.
std::string HistoryCursor(const HistoryFilter& filter, int64_t seq);

// {"events": [{"seq", "at", "type", <the event's fields>}, ...], "next_cursor": "<cursor>" | null}
std::string HistoryAnswerJson(const std::vector<HistoryRecord>& rows, const std::string& next_cursor);

}  // namespace dctwin
