// P/query/report: availability, critical, warning and maintenance seconds, incident counts by
// kind, mean time to acknowledge and to resolve, per server, rack or the datacenter, over a
// period, computed from the spans the desk keeps beside the history. Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "storage/state_store.h"

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

// The answer, {"since", "until", "rows": [...]}, from every span that overlaps the period.
// `datacenter`: the subject of the by-datacenter row.
std::string ReportJson(const ReportQuery& query, const std::vector<SpanRecord>& spans, double now,
                       const std::string& datacenter);

}  // namespace dctwin
