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
// Every name is kept for good (in memory and in the database), so their number is bounded: a
// host that reports a new name in every report (a counter in the name, a container's id) would
// otherwise grow both without end. Past `max_names`, a new name gets no id (0): its values are
// kept in the twin's window as before, but in no rollup; each refusal is counted, and said in the
// log at the first and at every power of two.
class MetricDictionary {
 public:
  // Each name is in two maps (an estimate of some 200 bytes; about 50 MB when full). A site's
  // daemons report a few thousand names.
  static constexpr size_t kMaxNames = size_t{1} << 18;

  explicit MetricDictionary(size_t max_names = kMaxNames) : max_names_(max_names) {}

  // The name's id; 0 when the name is new and the dictionary is full.
  uint32_t Id(std::string_view name);
  // Names not yet written to the database (the store writes them with the rows that use them).
  std::vector<std::pair<uint32_t, std::string>> Unsaved() const;
  void MarkSaved(uint32_t up_to);
  // A name read back from the database (all of them are, whatever the bound).
  void Load(uint32_t id, std::string name);
  size_t size() const;
  // New names refused because the dictionary was full.
  uint64_t refused() const;

 private:
  const size_t max_names_;
  mutable Mutex mu_;
  std::unordered_map<std::string, uint32_t> ids_ GUARDED_BY(mu_);
  std::map<uint32_t, std::string> names_ GUARDED_BY(mu_);
  uint32_t next_ GUARDED_BY(mu_) = 1;
  uint32_t saved_ GUARDED_BY(mu_) = 0;  // ids up to this are in the database
  uint64_t refused_ GUARDED_BY(mu_) = 0;
};

}  // namespace dctwin
