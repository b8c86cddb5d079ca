// DeadLetters: where rejected input goes. Every rejection is counted by reason; a log line and a
// dead letter on P/deadletter/<reason> follow, both rate-limited so that a flood of garbage can
// neither fill the log nor the broker. Thread-safe.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

#include "base/thread_annotations.h"
#include "gateway/mqtt/message_sink.h"

namespace dctwin {

enum class RejectReason : uint8_t {
  kBadTopic,
  kBadId,
  kBadJson,
  kBadMetric,
  kBadTimestamp,
  kBadProvisioning,
  kTooLarge,
  kUncommissioned,
  kQueueFull,
  kShuttingDown,
  kNoResponseTopic,
  kBadQuery,
  kRateLimited,
  kLimit,
  kConflict,  // site: two pods publish the same rack
  kBadResponseTopic,  // an answer may not go where the request asked
  kCount,
};

std::string_view RejectReasonName(RejectReason reason);

class DeadLetters {
 public:
  DeadLetters(std::string prefix, MessageSink& sink, double per_second);

  void Reject(RejectReason reason, std::string_view topic, std::string_view detail, std::string_view payload);

  uint64_t count(RejectReason reason) const {
    return counts_[static_cast<size_t>(reason)].load(std::memory_order_relaxed);
  }
  uint64_t total() const;
  uint64_t published() const { return published_.load(std::memory_order_relaxed); }

  static std::string Json(std::string_view topic, RejectReason reason, std::string_view detail,
                          std::string_view payload);

 private:
  bool TakeToken(std::chrono::steady_clock::time_point now) REQUIRES(mu_);

  // Constant after construction
  const std::string prefix_;
  MessageSink& sink_;
  const double per_second_;

  std::array<std::atomic<uint64_t>, static_cast<size_t>(RejectReason::kCount)> counts_{};
  std::atomic<uint64_t> published_{0};
  Mutex mu_;
  double tokens_ GUARDED_BY(mu_) = 0;
  std::chrono::steady_clock::time_point refilled_ GUARDED_BY(mu_);
  uint64_t suppressed_ GUARDED_BY(mu_) = 0;
};

}  // namespace dctwin
