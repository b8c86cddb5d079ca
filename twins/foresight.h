// Foresight: what one metric of one server is heading for, for the forecast and change rules.
//
// - TrendTracker (forecast rules): the metric's means over the rule's lookback, in kPoints
//   buckets (the 1-minute rollups, coarsened so the state is fixed: 6 h of lookback are 36 means
//   of 10 minutes). When a bucket closes, the trend is fitted again: the Theil-Sen slope (the
//   median of the slopes between every two points, robust to outliers) with its rank-based 95 %
//   band, and the time until the fitted line crosses the threshold. A step between two buckets
//   far beyond the usual one (a counter reset, a disk cleaned up) starts a new segment: only the
//   points after the last such break are fitted, so a reset never reads as a trend.
// - ChangeTracker (change rules): the metric's level and typical deviation (robust exponential
//   averages over the baseline time) and a two-sided CUSUM on the standardised value, clipped so
//   one spike cannot decide alone. A change is declared when the sum passes 2 x shift, at least
//   five reports of the run were beyond half the shift and two thirds of the run was (a burst of a
//   few reports is no step), and the run's mean is three quarters of the shift away from where the
//   metric was just before it began (a level that wanders there over an hour is no step either);
//   it is dated when the sum last left zero. It ends when the metric returns near its old level or
//   once the new level has lasted accept_s (then it is the level).
//
// O(1) time per report and O(1) state (about 190 and 90 bytes); the fit (at most 630 slopes)
// runs once per bucket. Not thread-safe; part of a ServerTwin.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>

#include "twins/baseline.h"
#include "twins/model.h"

namespace dctwin {

// What a trend says about a threshold.
struct Projection {
  bool known = false;  // enough points since the last break for a trend
  bool broke = false;  // the newest break moved the metric away from the threshold (a reset)
  double at = 0;       // the time it refers to: the end of the newest closed bucket
  double level = 0;    // the fitted value at `at`
  double slope = 0;    // per second
  double slope_low = 0, slope_high = 0;  // 95 % band of the slope
  int points = 0;      // fitted
  double span_s = 0;   // the time they cover
  // Seconds from `at` until the fitted line crosses the threshold (0: it is beyond already;
  // infinity: it moves away or not at all); low/high from the slope's band.
  double eta = INFINITY, eta_low = INFINITY, eta_high = INFINITY;
};

class TrendTracker {
 public:
  static constexpr int kPoints = 36;
  static constexpr int kMinPoints = 6;  // a sixth of the lookback before any forecast

  TrendTracker() { means_.fill(NAN); }

  // Adds a report's value (reports in timestamp order). True when a bucket closed: time to
  // project again. A change of lookback_s starts afresh.
  bool Add(double ts, double value, double lookback_s);
  Projection Project(double threshold, CompareOp op) const;

  template <class Archive>
  void serialize(Archive& ar, std::uint32_t version);

 private:
  double width_ = 0;    // bucket width: lookback_s / kPoints (0: nothing yet)
  double base_ = 0;     // the means are kept as float offsets from this (the first value)
  int64_t bucket_ = 0;  // number of the bucket being filled: floor(ts / width_)
  double sum_ = 0;      // of the bucket being filled
  uint32_t n_ = 0;
  std::array<float, kPoints> means_;  // closed bucket b at [b % kPoints]; NaN: no report in it
};

struct ChangeParams {
  ChangeDirection direction = ChangeDirection::kBoth;
  double shift = 3;         // in standard deviations
  double accept_s = 3600;   // a new level that lasts this long is the level
  double baseline_s = 3600; // time constant of the level and deviation (model.anomaly_baseline_s)
  int min_samples = 30;     // learned before any judgement (model.anomaly_min_samples)
};

class ChangeTracker {
 public:
  enum class Event : uint8_t { kNone, kChanged, kReturned, kAccepted };

  // Judges `value` at `ts` (reports in timestamp order) and learns from it.
  Event Observe(double ts, double value, const ChangeParams& p);

  bool changed() const { return changed_; }
  // The change just declared is not one (the level it went to is routine at this hour): the
  // level stays, the watch starts over.
  void Dismiss() {
    changed_ = false;
    rise_ = fall_ = Side();
  }
  bool up() const { return up_change_; }
  double before() const { return before_; }
  double after() const { return after_n_ > 0 ? after_sum_ / after_n_ : before_; }
  double changed_at() const { return changed_at_; }
  // The change in standard deviations of the level before it.
  double size() const { return (after() - before_) / Sigma(); }
  double level() const { return robust_.level; }
  uint32_t samples() const { return samples_; }

  template <class Archive>
  void serialize(Archive& ar, std::uint32_t version);

 private:
  // One side of the CUSUM: the sum, when it last left zero, and its run since.
  struct Side {
    float sum = 0;
    double start = 0;
    double values = 0;  // sum of the run's values
    uint16_t n = 0;     // reports in the run
    uint16_t beyond = 0;  // of them beyond half the shift
    float pre = 0;        // the recent level when the run began
    template <class Archive>
    void serialize(Archive& ar, std::uint32_t /*version*/) {
      ar(sum, start, values, n, beyond, pre);
    }
  };
  double Sigma() const;
  // Adds standardised `z` (clipped) to a side; true when it declares a change. `recent`: the
  // recent level before this report.
  bool Step(Side& s, double z, double value, double ts, float recent, const ChangeParams& p) const;

  RobustLevel robust_;  // with kChangeFloor
  float recent_ = 0;     // the level of the last few reports (a fast exponential average)
  uint32_t samples_ = 0;
  double last_ts_ = 0;
  Side rise_, fall_;
  bool changed_ = false;
  bool up_change_ = false;
  uint8_t back_ = 0;  // reports in a row near the level before the change
  float before_ = 0;
  double changed_at_ = 0;
  double after_sum_ = 0;
  uint32_t after_n_ = 0;
};

}  // namespace dctwin
