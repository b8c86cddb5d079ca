// P/query/report: availability, critical, warning and maintenance seconds, incident counts by
// kind, mean time to acknowledge and to resolve, per server, rack or the datacenter, over a
// period, computed from the spans the desk keeps beside the history. Pure functions; thread-safe.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "storage/state_store.h"
#include "twins/silence.h"

namespace dctwin {

struct ReportQuery {
  double since = 0;
  double until = 0;
  std::string by = "server";  // server | rack | datacenter
  std::string rack;           // only this rack (its servers, or the rack itself)
};

// Fills in defaults (until: now; since: a day before until). False with `error` set for anything
// else than the contract's request.
bool ParseReportQuery(std::string_view payload, double now, ReportQuery* out, std::string* error);

// Sums the spans up as they are read, so that a month of a large site is never held in memory:
// what it keeps is a row per subject, a critical incident's time and a server's time in a rack
// until the maintenance spans are all in. `datacenter`: the subject of the by-datacenter row.
class ReportBuilder {
 public:
  ReportBuilder(ReportQuery query, double now, std::string datacenter);
  ~ReportBuilder();
  ReportBuilder(const ReportBuilder&) = delete;
  ReportBuilder& operator=(const ReportBuilder&) = delete;

  // A span that overlaps the period, in any order.
  void Add(const SpanRecord& span);
  // The answer, {"since", "until", "rows": [...]}, rows by subject.
  std::string Json();

 private:
  using Intervals = std::vector<std::pair<double, double>>;
  struct Row;
  std::pair<double, double> Clip(const SpanRecord& s) const;
  Row* RowOf(const SpanRecord& s);
  // The maintenance that covers a server in a rack (server empty: the whole rack), disjoint.
  const Intervals& Maintained(const std::string& server, const std::string& rack);

  const ReportQuery q_;
  const double now_, until_;
  const std::string datacenter_;
  std::unordered_map<std::string, std::unique_ptr<Row>> rows_;
  std::vector<std::pair<Silence, std::pair<double, double>>> maintenance_;
  std::unordered_map<std::string, Intervals> maintained_;
};

// The same answer from spans already read.
std::string ReportJson(const ReportQuery& query, const std::vector<SpanRecord>& spans, double now,
                       const std::string& datacenter);

}  // namespace dctwin
