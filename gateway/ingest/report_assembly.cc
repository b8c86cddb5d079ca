#include "gateway/ingest/report_assembly.h"

#include <algorithm>
#include <cmath>

namespace dctwin {

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
    done->partial = false;
    a = Assembly{};
    completed = true;
    fresh = true;
  }
  if (fresh) {
    a.report.ts = part.ts;
    a.report.metrics = part.metrics;
  } else {
    for (const auto& m : part.metrics) {
      auto same = std::find_if(a.report.metrics.begin(), a.report.metrics.end(),
                               [&](const auto& x) { return x.first == m.first; });
      if (same != a.report.metrics.end()) {
        same->second = m.second;
      } else {
        a.report.metrics.push_back(m);
      }
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
