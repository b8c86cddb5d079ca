// ReplyBook: where the answers to MQTT 5 requests go. A query reaches a twin carrying only a
// token; the book keeps the Response Topic and Correlation Data for it until the answer is
// published or the query is given up (not posted, or not answered here: another gateway holds
// its subject).
//
// Thread-safe: Open from the ingest threads, Take/Forget from the effects stage and the shards.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>

#include "base/thread_annotations.h"

namespace dctwin {

struct ReplyTo {
  std::string topic;
  std::string correlation;
};

class ReplyBook {
 public:
  uint64_t Open(ReplyTo to) {
    MutexLock lock(mu_);
    const uint64_t token = ++next_;
    waiting_.emplace(token, std::move(to));
    return token;
  }
  std::optional<ReplyTo> Take(uint64_t token) {
    MutexLock lock(mu_);
    auto it = waiting_.find(token);
    if (it == waiting_.end()) return std::nullopt;
    ReplyTo to = std::move(it->second);
    waiting_.erase(it);
    return to;
  }
  void Forget(uint64_t token) {
    MutexLock lock(mu_);
    waiting_.erase(token);
  }
  size_t waiting() const {
    MutexLock lock(mu_);
    return waiting_.size();
  }

 private:
  mutable Mutex mu_;
  uint64_t next_ GUARDED_BY(mu_) = 0;
  std::unordered_map<uint64_t, ReplyTo> waiting_ GUARDED_BY(mu_);
};

}  // namespace dctwin
