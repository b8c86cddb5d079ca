// MetricBaseline: what one metric of one server normally does, learned report by report, and the
// anomaly test against it. It replaces the z-score against the 15-minute window, which missed
// what precedes failures: it needed three anomalous reports in a row (a spike one or two samples
// long never opened), its window absorbed a new level within minutes, and it forgot routine
// patterns (a nightly job looked new every night).
//
// - A robust baseline: the level and the typical deviation (mean absolute deviation) as
//   exponential averages over time (time constant `baseline_s`, by report timestamps, so missing
//   reports weigh nothing), each step clipped to three typical deviations: a spike moves it
//   little, a new level is accepted over hours, not minutes.
// - A daily envelope: for each hour of the day (UTC), the range the metric took in that hour on
//   the days before (it widens at once and narrows by half a day). A value inside it is routine,
//   whatever the baseline says: the nightly job that ran yesterday at 02:00 is not an anomaly
//   today at 02:00, and the same job at 13:00 is.
// - The test: score = |value - level| / deviation. It holds when the value is not routine, the
//   excursion goes beyond half again the largest one this metric made in the hours before (a
//   metric that jumps like this every hour is doing what it does), and either the score passes
//   twice `z` (a spike) or it passes `z` in `for_reports` of the last five reports (a shift).
//   Values off the baseline teach it nothing; a shift that lasts `baseline_s` becomes the new
//   level at once (it resolves, instead of creeping and flapping for hours).
//
// O(1) time per report and O(1) state per metric (168 bytes with the envelope).
// Not thread-safe; part of a ServerTwin.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>

namespace dctwin {

struct AnomalyParams {
  double z = 4;             // model.anomaly_z
  int min_samples = 30;     // model.anomaly_min_samples: learned before any judgement
  int for_reports = 3;      // model.anomaly_for_reports: of the last five (or of the last eight at most, when more), for a shift
  double baseline_s = 3600; // model.anomaly_baseline_s
};

// The smallest deviation a score divides by, as a part of the level and at least `absolute`: a
// metric that sat still, a flat zero, would make any change infinitely far. Not stored: the
// owner's choice. The anomaly baseline calls a tenth of a percent of a flat metric's level its
// noise; a change rule goes down to a millionth.
struct DeviationFloor {
  double relative;
  double absolute;
};
inline constexpr DeviationFloor kAnomalyFloor{1e-3, 1e-6};
inline constexpr DeviationFloor kChangeFloor{1e-6, 1e-9};

// A metric's level and typical deviation (mean absolute deviation), learned robustly: running
// means over the first `min_samples` reports (each step clipped to three deviations after the
// fifth), then exponential averages over `baseline_s` of report time (by timestamps, so missing
// reports weigh nothing), each step clipped to three deviations so that a spike moves them
// little. Shared by the anomaly baseline and the change rules. Eight bytes: a million servers
// keep several each.
struct RobustLevel {
  float level = 0;
  float deviation = 0;

  // The deviation a score divides by: never below `floor`.
  double Deviation(const DeviationFloor& floor) const;
  // Learns `value`, `dt` seconds of report time after the one before; `samples`: the reports
  // learned before it. `deviation_too` false: the level learns, the deviation does not.
  void Learn(double value, double dt, uint32_t samples, int min_samples, double baseline_s, const DeviationFloor& floor,
             bool deviation_too = true);
};

struct AnomalyJudgement {
  bool holds = false;
  bool routine = false;  // inside the envelope of its hour
  double score = 0;      // deviations from the level
  double level = 0;      // the baseline it was judged against
};

class MetricBaseline {
 public:
  // Judges `value` at `ts` against what was learned from the reports before it, then learns it.
  // Reports must come in timestamp order (the twin judges only its newest).
  AnomalyJudgement Observe(double ts, double value, const AnomalyParams& p);

  uint32_t samples() const { return samples_; }
  // Whether `value` is inside the range the metric took at this hour of day on the days before.
  bool RoutineAt(double ts, double value) const;
  double level() const { return robust_.level; }
  double deviation() const { return robust_.deviation; }

  template <class Archive>
  void serialize(Archive& ar, std::uint32_t version);

 private:
  bool Routine(int hour, double value) const;
  // The range of the hour being watched; an hour that ended joins the envelope. Values off their
  // baseline join it only as a run of at least kRoutineRun reports (a job that ran for minutes),
  // never as a spike.
  void NoteHour(double ts, int hour, double value, bool passes);
  // The hour of day (UTC) being watched and its day number: those of the report before (-1 and 0
  // before the first).
  int WatchedHour() const;
  uint32_t WatchedDay() const;

  // Packed by size, widest first (168 bytes; this is most of a server twin's memory, one per
  // metric). The hour being watched and its day are those of `last_ts_`, not kept apart.
  double excursion_start_ = 0;  // when the excursion going on began
  double last_ts_ = 0;
  RobustLevel robust_;
  float peak_ = 0;        // the largest score of the excursions before, decaying (half-life 6 h)
  float run_peak_ = 0;    // the largest score of the excursion going on (0: none)
  float excursion_sum_ = 0;     // the sum of its values, for the level it is accepted at
  float prior_level_ = NAN;     // the level before the last accepted shift (NaN: none)
  float hour_lo_ = 0, hour_hi_ = 0;  // the range of the hour being watched so far
  float run_lo_ = 0, run_hi_ = 0;    // the current run of values off their baseline
  uint32_t samples_ = 0;
  uint32_t learned_ = 0;  // bit h: the envelope of hour h has been learned
  uint16_t excursion_n_ = 0;
  uint16_t run_ = 0;      // the length of the run
  // The envelope per hour of day, as IEEE half floats (an envelope needs no more than three
  // digits; it halves the state).
  std::array<uint16_t, 24> day_lo_{};
  std::array<uint16_t, 24> day_hi_{};
  uint8_t recent_ = 0;    // bit i: the i-th report before passed z
};

// IEEE 754 half precision, rounded to nearest; out of range: infinity.
uint16_t ToHalf(float value);
float FromHalf(uint16_t half);

}  // namespace dctwin
