// StepGuardedClock: wall-clock time (Unix seconds) that a step of the system clock never moves
// backwards. NTP stepping the clock, a VM resumed from a snapshot or an operator's `date -s` can
// move the wall clock by minutes at once; the gateway stamps reports, events and timers with this
// clock instead, so that durations measured on it stay true:
//  - each reading compares the wall clock's progress with the monotonic clock's; a difference of
//    more than `tolerance_s` is a step (counted, and reported once through `on_step`);
//  - a forward step is followed at once (time really is later than the gateway thought);
//  - a backward step is not: the clock keeps going from where it was, at half speed, until the
//    wall clock has caught up with it (a 5-minute step is absorbed in 10 minutes), so it never
//    goes backwards and never stands still.
// The sources are injectable for tests. Thread-safe.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>

namespace dctwin {

class StepGuardedClock {
 public:
  using Source = std::function<double()>;
  // on_step(seconds): called (under no lock the caller holds, but under this clock's own) with
  // the size of each step, negative for a backward one.
  explicit StepGuardedClock(Source wall = SystemWall, Source mono = SystemMono, double tolerance_s = 1.0,
                            std::function<void(double)> on_step = nullptr)
      : wall_(std::move(wall)), mono_(std::move(mono)), tolerance_s_(tolerance_s), on_step_(std::move(on_step)) {}

  double Now() {
    std::lock_guard<std::mutex> lock(mu_);
    const double wall = wall_();
    const double mono = mono_();
    if (!started_) {
      started_ = true;
      last_wall_ = wall;
      last_mono_ = mono;
      last_ = wall;
      return wall;
    }
    const double elapsed = mono - last_mono_;
    const double step = (wall - last_wall_) - elapsed;
    last_wall_ = wall;
    last_mono_ = mono;
    // Absorb what we are ahead of the wall clock at half speed over the time that passed.
    ahead_ = ahead_ > 0 ? std::max(0.0, ahead_ - 0.5 * std::max(0.0, elapsed)) : 0;
    if (step > tolerance_s_ || step < -tolerance_s_) {
      ++steps_;
      if (on_step_) on_step_(step);
      ahead_ = std::max(0.0, ahead_ - step);  // backward: ahead by that much more; forward: less
    }
    last_ = std::max(last_, wall + ahead_);
    return last_;
  }
  uint64_t steps() const {
    std::lock_guard<std::mutex> lock(mu_);
    return steps_;
  }
  // Seconds this clock is ahead of the wall clock (absorbing a backward step).
  double ahead_s() const {
    std::lock_guard<std::mutex> lock(mu_);
    return ahead_;
  }

  static double SystemWall() {
    return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  }
  static double SystemMono() {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  }

 private:
  const Source wall_;
  const Source mono_;
  const double tolerance_s_;
  const std::function<void(double)> on_step_;

  mutable std::mutex mu_;
  bool started_ = false;
  double last_wall_ = 0;
  double last_mono_ = 0;
  double last_ = 0;   // the last reading: never decreases
  double ahead_ = 0;  // how far ahead of the wall clock this clock is
  uint64_t steps_ = 0;
};

}  // namespace dctwin
