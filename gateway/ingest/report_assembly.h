// Ingest steps that run on a server's owner shard, before its twin sees a report:
//
// ReportAssembler: collectd and Telegraf send one message per plugin (and type instance) each
// interval. Parts whose timestamps lie within assemble_s of the first are one report; it is
// complete when a part of the next interval arrives, or when no part has come for assemble_s.
//
// RateLimiter: a token bucket per server (max_messages_per_s, bursts of twice that). It counts
// reports, not messages: all the parts of one report take one token.
//
// Threads: each instance belongs to one shard and is used on its thread only.
#pragma once

#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "twins/messages.h"

namespace dctwin {

class ReportAssembler {
 public:
  explicit ReportAssembler(double assemble_s) : assemble_s_(assemble_s) {}
  void set_assemble_s(double s) { assemble_s_ = s; }

  // The part begins a new report (rather than adding to the one being assembled).
  bool StartsReport(const std::string& server, const Report& part) const;
  // Adds a part (at monotonic time `mono`). When it begins the next report, the previous one is
  // complete: it is returned in *done and true is returned.
  bool Add(const std::string& server, const Report& part, double mono, Report* done);
  // Reports whose newest part is assemble_s old, complete: (server, report).
  std::vector<std::pair<std::string, Report>> Expire(double mono);
  void Forget(const std::string& server) { assembling_.erase(server); }
  size_t assembling() const { return assembling_.size(); }

 private:
  struct Assembly {
    Report report;
    double last_part = 0;  // monotonic clock of the newest part
    size_t distinct = 0;   // metrics known to have distinct names (the first `distinct` of them)
  };
  double assemble_s_;
  std::unordered_map<std::string, Assembly> assembling_;
};

class RateLimiter {
 public:
  explicit RateLimiter(double per_s) : per_s_(per_s) {}
  void set_rate(double per_s) { per_s_ = per_s; }

  // Takes one token of the server's budget at `now` (monotonic seconds: a step of the wall clock
  // must not stop the refill); false: over the limit.
  bool Take(const std::string& server, double now);
  void Forget(const std::string& server) { buckets_.erase(server); }
  // Drops the buckets that have been full for a while (their servers went quiet): they would
  // start full again anyway.
  void Prune(double now);
  size_t tracked() const { return buckets_.size(); }

 private:
  struct Bucket {
    double tokens = 0;
    double refilled = 0;
  };
  double per_s_;
  std::unordered_map<std::string, Bucket> buckets_;
};

}  // namespace dctwin
