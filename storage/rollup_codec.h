// Rollups (contract v3): a server's metrics over one minute or one hour as [min, max, mean,
// last, count]. One row per server and bucket holds every metric of it, packed: metric ids from
// the MetricDictionary (varint), four float32 values, the count and when the last one came
// (varints). Thread-safe: pure functions, and a dictionary behind a mutex.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/thread_annotations.h"

namespace dctwin {

struct RollupValue {
  uint32_t metric = 0;  // MetricDictionary id
  float min = 0, max = 0, mean = 0, last = 0;
  uint32_t count = 0;
  uint32_t last_offset_s = 0;  // when `last` came, in seconds from the bucket's start
};

// One bucket of one server, as the store keeps it.
struct RollupRow {
  std::string server;
  int period_s = 60;  // 60 or 3600
  int64_t start = 0;  // the bucket's start, Unix seconds, a multiple of period_s
  std::string data;   // EncodeRollup
};

std::string EncodeRollup(const std::vector<RollupValue>& values);
// False when `data` is not what EncodeRollup writes.
bool DecodeRollup(std::string_view data, std::vector<RollupValue>* out);
// Two parts of one bucket (a late report, a restart in the middle of it) as one.
std::string MergeRollups(std::string_view a, std::string_view b);

// Metric names as small ids, shared by the shards that encode and the store that keeps them.
class MetricDictionary {
 public:
  uint32_t Id(std::string_view name);
  // Names not yet written to the database (the store writes them with the rows that use them).
  std::vector<std::pair<uint32_t, std::string>> Unsaved() const;
  void MarkSaved(uint32_t up_to);
  void Load(uint32_t id, std::string name);

 private:
  mutable Mutex mu_;
  std::unordered_map<std::string, uint32_t> ids_ GUARDED_BY(mu_);
  std::map<uint32_t, std::string> names_ GUARDED_BY(mu_);
  uint32_t next_ GUARDED_BY(mu_) = 1;
  uint32_t saved_ GUARDED_BY(mu_) = 0;  // ids up to this are in the database
};

}  // namespace dctwin
