// RollupAccumulator: a shard's 1-minute and 1-hour rollups of its servers' metrics, folded from
// every applied report (by the report's own time) and handed to the store writer in batches once
// a bucket's period has passed. Beside the 15-minute window, which stays as it is.
//
// A report that comes for a bucket already handed over (late, or after a restart in the middle
// of an hour) makes a second part of that bucket: the store merges the parts.
//
// Owned by one shard thread.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "storage/rollup_codec.h"

namespace dctwin {

class RollupAccumulator {
 public:
  explicit RollupAccumulator(MetricDictionary& dictionary) : dictionary_(dictionary) {}

  void Add(const std::string& server, double ts, const std::vector<std::pair<std::string, double>>& metrics);
  // Hands over every bucket whose period ended `grace_s` or more before `now` (every bucket,
  // finished or not, with now = +infinity: at stop). With `hours_so_far`, also what each open
  // hour holds so far (a part the store merges), so that a crash loses at most the time since.
  void Close(double now, bool hours_so_far = false, double grace_s = 5);
  // The same pass a slice at a time (the shard's ticks), so that a shard of 100,000 servers is
  // never held up for all of it at once: BeginClose() takes the servers there are now; each
  // CloseSome() looks at up to `max` of them by Close()'s rules; true once the pass is over.
  void BeginClose(bool hours_so_far);
  bool CloseSome(double now, size_t max, double grace_s = 5);
  bool closing() const { return !pass_.empty(); }
  // A decommissioned server: what it has goes out now.
  void Forget(const std::string& server);
  std::vector<RollupRow> Take() { return std::exchange(closed_, {}); }
  size_t servers() const { return servers_.size(); }

 private:
  struct Acc {
    uint32_t metric;
    float min, max, last;
    double sum;
    uint32_t count;
    uint32_t last_offset_s;
  };
  struct Bucket {
    int64_t start = -1;  // -1: empty
    std::vector<Acc> acc;
  };
  struct Server {
    Bucket minute, hour;
  };
  void Fold(const std::string& server, Bucket& b, int period_s, double ts, const std::vector<uint32_t>& ids,
            const std::vector<std::pair<std::string, double>>& metrics);
  void Emit(const std::string& server, int period_s, Bucket& b);
  void CloseOne(const std::string& server, Server& s, double now, bool hours_so_far, double grace_s);
  // `hint`: where to look first (the place after the metric put last).
  static void Put(Bucket& b, uint32_t id, double v, uint32_t offset, size_t* hint);
  // Metrics per server and bucket, like the twin's window (model.max_metrics' default).
  static constexpr size_t kMaxMetrics = 1024;

  MetricDictionary& dictionary_;
  std::unordered_map<std::string, Server> servers_;
  std::unordered_map<std::string, uint32_t> ids_;  // this shard's copy of the dictionary
  std::vector<uint32_t> scratch_;
  std::vector<RollupRow> closed_;
  std::vector<std::string> pass_;  // servers the pass in progress has still to look at (from the back)
  bool pass_hours_ = false;
};

}  // namespace dctwin
