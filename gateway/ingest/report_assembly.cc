#include "gateway/ingest/report_assembly.h"

#include <algorithm>
#include <cmath>

namespace dctwin {

namespace {

// One value per name: the last one given, at the place of the first. Parts are appended as they
// come (a search per metric made merging a report of hundreds of metrics quadratic) and made
// distinct here, when the report is complete or has doubled since.
void KeepLastOfEachName(std::vector<std::pair<std::string, double>>& metrics) {
  if (metrics.size() < 2) return;
  std::vector<uint32_t> order(metrics.size());
  for (uint32_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) { return metrics[a].first < metrics[b].first; });
  std::vector<char> keep(metrics.size(), 1);
  bool any = false;
  for (size_t i = 1; i < order.size(); ++i) {
    const uint32_t first = order[i - 1], later = order[i];
    if (metrics[first].first != metrics[later].first) continue;
    metrics[first].second = metrics[later].second;  // later in the report: the newer value
    order[i] = first;  // the run of equal names keeps its first place
    keep[later] = 0;
    any = true;
  }
  if (!any) return;
  size_t out = 0;
  for (size_t i = 0; i < metrics.size(); ++i) {
    if (!keep[i]) continue;
    if (out != i) metrics[out] = std::move(metrics[i]);  // (a string moved onto itself is emptied)
    ++out;
  }
  metrics.resize(out);
}

}  // namespace

bool ReportAssembler::StartsReport(const std::string& server, const Report& part) const {
  auto it = assembling_.find(server);
  return it == assembling_.end() || std::fabs(part.ts - it->second.report.ts) > assemble_s_;
}

bool ReportAssembler::Add(const std::string& server, const Report& part, double mono, Report* done) {
  auto [it, fresh] = assembling_.try_emplace(server);
  Assembly& a = it->second;
  bool completed = false;
  if (!fresh && std::fabs(part.ts - a.report.ts) > assemble_s_) {
    *done = std::move(a.report);  // a part of the next report: the previous one is complete
    KeepLastOfEachName(done->metrics);
    done->partial = false;
    a = Assembly{};
    completed = true;
    fresh = true;
  }
  if (fresh) {
    a.report.ts = part.ts;
    a.report.metrics = part.metrics;
  } else {
    a.report.metrics.insert(a.report.metrics.end(), part.metrics.begin(), part.metrics.end());
    // A host that repeats the same metrics part after part must not grow the report without end.
    if (a.report.metrics.size() > 2 * a.distinct + 64) {
      KeepLastOfEachName(a.report.metrics);
      a.distinct = a.report.metrics.size();
    }
  }
  a.last_part = mono;
  return completed;
}

std::vector<std::pair<std::string, Report>> ReportAssembler::Expire(double mono) {
  std::vector<std::pair<std::string, Report>> done;
  for (auto it = assembling_.begin(); it != assembling_.end();) {
    if (mono - it->second.last_part < assemble_s_) {
      ++it;
      continue;
    }
    Report r = std::move(it->second.report);
    KeepLastOfEachName(r.metrics);
    r.partial = false;
    if (!r.metrics.empty()) done.emplace_back(it->first, std::move(r));
    it = assembling_.erase(it);
  }
  return done;
}

bool RateLimiter::Take(const std::string& server, double now) {
  if (per_s_ <= 0) return true;
  const double burst = 2 * per_s_;
  auto [it, fresh] = buckets_.try_emplace(server);
  Bucket& b = it->second;
  if (fresh) {
    b.tokens = burst;
    b.refilled = now;
  }
  b.tokens = std::min(burst, b.tokens + (now - b.refilled) * per_s_);
  b.refilled = now;
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  return true;
}

void RateLimiter::Prune(double now) {
  if (per_s_ <= 0) {
    buckets_.clear();
    return;
  }
  // A bucket is full again two seconds (burst / rate) after its last report; a minute of quiet
  // leaves a wide margin.
  constexpr double kIdle = 60;
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    if (now - it->second.refilled > kIdle) {
      it = buckets_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace dctwin
