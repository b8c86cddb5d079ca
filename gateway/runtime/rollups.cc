#include "gateway/runtime/rollups.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace dctwin {

void RollupAccumulator::Put(Bucket& b, uint32_t id, double v, uint32_t offset, size_t* hint) {
  if (id == 0) return;  // a name the dictionary had no room for
  // Reports list their metrics in the same order time after time: the one after the last found
  // is tried first, so a report of hundreds of metrics is folded in one pass.
  size_t k = *hint < b.acc.size() && b.acc[*hint].metric == id ? *hint : b.acc.size();
  if (k == b.acc.size()) {
    for (size_t i = 0; i < b.acc.size(); ++i) {
      if (b.acc[i].metric == id) {
        k = i;
        break;
      }
    }
  }
  if (k == b.acc.size()) {
    if (b.acc.size() >= kMaxMetrics) return;  // as many as a server twin keeps
    const auto f = static_cast<float>(v);
    b.acc.push_back(Acc{id, f, f, f, v, 1, offset});
    *hint = b.acc.size();
    return;
  }
  Acc& a = b.acc[k];
  a.min = std::min(a.min, static_cast<float>(v));
  a.max = std::max(a.max, static_cast<float>(v));
  a.sum += v;
  ++a.count;
  if (offset >= a.last_offset_s) {
    a.last = static_cast<float>(v);
    a.last_offset_s = offset;
  }
  *hint = k + 1;
}

void RollupAccumulator::Emit(const std::string& server, int period_s, Bucket& b) {
  if (b.start < 0) return;
  if (b.acc.empty()) {  // an hour's part was handed over and nothing came since
    b.start = -1;
    return;
  }
  std::vector<RollupValue> values;
  values.reserve(b.acc.size());
  for (const Acc& a : b.acc) {
    values.push_back(RollupValue{a.metric, a.min, a.max, static_cast<float>(a.sum / a.count), a.last, a.count,
                                 a.last_offset_s});
  }
  closed_.push_back(RollupRow{server, period_s, b.start, EncodeRollup(values)});
  b.start = -1;
  b.acc.clear();
}

void RollupAccumulator::Fold(const std::string& server, Bucket& b, int period_s, double ts,
                             const std::vector<uint32_t>& ids, const std::vector<std::pair<std::string, double>>& metrics) {
  const auto start = static_cast<int64_t>(std::floor(ts / period_s)) * period_s;
  const auto offset = static_cast<uint32_t>(std::clamp(ts - static_cast<double>(start), 0.0, static_cast<double>(period_s)));
  if (b.start >= 0 && start < b.start) {
    // Late: a part of an older bucket of its own, merged with the rest by the store.
    Bucket late;
    late.start = start;
    size_t hint = 0;
    for (size_t i = 0; i < metrics.size(); ++i) Put(late, ids[i], metrics[i].second, offset, &hint);
    Emit(server, period_s, late);
    return;
  }
  if (b.start >= 0 && start > b.start) Emit(server, period_s, b);
  b.start = start;
  size_t hint = 0;
  for (size_t i = 0; i < metrics.size(); ++i) Put(b, ids[i], metrics[i].second, offset, &hint);
}

void RollupAccumulator::Add(const std::string& server, double ts,
                            const std::vector<std::pair<std::string, double>>& metrics) {
  if (metrics.empty() || !(ts > 0)) return;
  scratch_.clear();
  for (const auto& [name, value] : metrics) {
    auto it = ids_.find(name);
    if (it != ids_.end()) {
      scratch_.push_back(it->second);
      continue;
    }
    // A name the full dictionary refused (0) is not remembered here either: it is asked again.
    const uint32_t id = dictionary_.Id(name);
    if (id != 0) ids_.emplace(name, id);
    scratch_.push_back(id);
  }
  Server& s = servers_[server];
  // The buckets are sized to what the report folds, not doubled past it: a server keeps their
  // room from one period to the next (a cleared vector keeps its capacity), 6 metrics in 6 places.
  const auto refused = static_cast<size_t>(std::count(scratch_.begin(), scratch_.end(), 0u));
  const size_t folded = std::min(scratch_.size() - refused, kMaxMetrics);
  for (Bucket* b : {&s.minute, &s.hour}) {
    if (b->acc.capacity() < folded) b->acc.reserve(folded);
  }
  Fold(server, s.minute, 60, ts, scratch_, metrics);
  Fold(server, s.hour, 3600, ts, scratch_, metrics);
}

void RollupAccumulator::CloseOne(const std::string& server, Server& s, double now, bool hours_so_far,
                                 double grace_s) {
  if (s.minute.start >= 0 && static_cast<double>(s.minute.start + 60) + grace_s <= now) Emit(server, 60, s.minute);
  if (s.hour.start < 0) return;
  if (static_cast<double>(s.hour.start + 3600) + grace_s <= now) {
    Emit(server, 3600, s.hour);
  } else if (hours_so_far) {
    // The next reports of this hour start a new part: the bucket stays this hour's.
    const int64_t start = s.hour.start;
    Emit(server, 3600, s.hour);
    s.hour.start = start;
  }
}

void RollupAccumulator::Close(double now, bool hours_so_far, double grace_s) {
  for (auto& [server, s] : servers_) CloseOne(server, s, now, hours_so_far, grace_s);
}

void RollupAccumulator::BeginClose(bool hours_so_far) {
  pass_.clear();
  pass_.reserve(servers_.size());
  for (const auto& [server, s] : servers_) pass_.push_back(server);
  pass_hours_ = hours_so_far;
}

bool RollupAccumulator::CloseSome(double now, size_t max, double grace_s) {
  for (size_t n = 0; n < max && !pass_.empty(); ++n) {
    auto it = servers_.find(pass_.back());  // gone meanwhile (decommissioned): nothing to close
    if (it != servers_.end()) CloseOne(it->first, it->second, now, pass_hours_, grace_s);
    pass_.pop_back();
  }
  return pass_.empty();
}

void RollupAccumulator::Forget(const std::string& server) {
  auto it = servers_.find(server);
  if (it == servers_.end()) return;
  Emit(server, 60, it->second.minute);
  Emit(server, 3600, it->second.hour);
  servers_.erase(it);
}

}  // namespace dctwin
