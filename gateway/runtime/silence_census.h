// SilenceCensus: the alert-storm guard's gateway-wide view. Every shard reports, each tick, how
// many of its servers are overdue (deadline passed, silence not yet confirmed) out of how many;
// the main loop evaluates the sum. When at least storm_fraction of the servers are overdue at
// once, or the gateway itself is cut off from the broker (or reconnected less than one heartbeat
// timeout ago), shards hold per-server `silent` back; a storm also opens one datacenter-level
// `silent_storm` incident. With storm_fraction = 0 the guard is off and nothing is held.
//
// Thread-safe: Report() from shard threads, Evaluate() from the main loop, hold() from anywhere.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "twins/messages.h"
#include "twins/model.h"

namespace dctwin {

class SilenceCensus {
 public:
  explicit SilenceCensus(size_t shards) : slots_(std::make_unique<Slot[]>(shards)), shards_(shards) {}

  void Report(size_t shard, int64_t overdue, int64_t total) {
    slots_[shard].overdue.store(overdue, std::memory_order_relaxed);
    slots_[shard].total.store(total, std::memory_order_relaxed);
  }
  bool hold() const { return hold_.load(std::memory_order_relaxed); }

  // Main loop only. Returns the new storm state when it changed, for the datacenter twin.
  std::optional<SilenceStorm> Evaluate(const ModelConfig& model, bool link_up, double now) {
    int64_t overdue = 0, total = 0;
    for (size_t i = 0; i < shards_; ++i) {
      overdue += slots_[i].overdue.load(std::memory_order_relaxed);
      total += slots_[i].total.load(std::memory_order_relaxed);
    }
    // After a reconnect (not the first connect) the servers' reports need time to flow again.
    if (link_up && !link_up_ && was_up_) grace_until_ = now + model.heartbeat_timeout_s;
    was_up_ = was_up_ || link_up;
    link_up_ = link_up;
    const double share = total > 0 ? static_cast<double>(overdue) / static_cast<double>(total) : 0;
    const bool enough = model.storm_fraction > 0 && total >= model.storm_min_servers;
    // Hysteresis: a storm starts at storm_fraction and ends below half of it.
    const bool storm = enough && (storm_ ? share >= model.storm_fraction / 2 : share >= model.storm_fraction);
    hold_.store(model.storm_fraction > 0 && (storm || !link_up || now < grace_until_), std::memory_order_relaxed);
    if (storm == storm_) return std::nullopt;
    storm_ = storm;
    return SilenceStorm{storm, static_cast<int>(overdue), static_cast<int>(total)};
  }

 private:
  struct alignas(64) Slot {
    std::atomic<int64_t> overdue{0};
    std::atomic<int64_t> total{0};
  };

  std::unique_ptr<Slot[]> slots_;
  const size_t shards_;
  std::atomic<bool> hold_{false};
  // Main loop only
  bool storm_ = false;
  bool link_up_ = false;
  bool was_up_ = false;
  double grace_until_ = 0;
};

}  // namespace dctwin
