#include "twins/baseline.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace dctwin {

namespace {

constexpr double kDay = 86400;
constexpr double kPeakHalfLife = 6 * 3600;
constexpr int kRoutineRun = 6;  // a minute at a 10 s interval
// The hour of the day (UTC) of a report time, and its day number.
int HourOfDay(double ts) { return static_cast<int>(std::fmod(std::max(0.0, ts), kDay) / 3600); }
uint32_t DayOf(double ts) { return static_cast<uint32_t>(std::max(0.0, std::floor(ts / kDay))); }

}  // namespace

AnomalyJudgement MetricBaseline::Observe(double ts, double value, const AnomalyParams& p) {
  AnomalyJudgement j;
  // The baseline is kept in floats: a value beyond their range would poison it for good.
  if (!std::isfinite(value) || std::fabs(value) > 1e37 || !std::isfinite(ts)) return j;
  bool passes = false;
  const double dt = samples_ > 0 ? std::max(0.0, ts - last_ts_) : 0;
  const int hour = HourOfDay(ts);
  if (static_cast<int>(samples_) >= std::max(2, p.min_samples)) {
    const double deviation = robust_.Deviation(kAnomalyFloor);
    j.level = robust_.level;
    j.score = std::fabs(value - robust_.level) / deviation;
    // Back at the level from before the last accepted shift (the fan was swapped): that is the
    // level again, not a new excursion.
    if (std::isfinite(prior_level_) && std::fabs(value - prior_level_) < p.z * deviation) {
      robust_.level = prior_level_;
      prior_level_ = NAN;
      j.level = robust_.level;
      j.score = std::fabs(value - robust_.level) / deviation;
    }
    j.routine = Routine(hour, value);
    passes = j.score >= p.z && !j.routine;
    recent_ = static_cast<uint8_t>((recent_ << 1) | (passes ? 1 : 0));
    if (passes) {
      if (run_peak_ <= 0) {
        excursion_start_ = ts;
        excursion_sum_ = 0;
        excursion_n_ = 0;
      }
      run_peak_ = std::max<float>(run_peak_, static_cast<float>(j.score));
      excursion_sum_ += static_cast<float>(value);
      if (excursion_n_ < UINT16_MAX) ++excursion_n_;
    }
    // An excursion counts only when it goes beyond what the metric's excursions before it
    // reached (decaying with a half-life of six hours): a metric that makes such jumps every hour
    // or two is doing what it does.
    const double peak = peak_ * std::exp2(-dt / kPeakHalfLife);
    const bool novel = run_peak_ > 1.5 * peak;
    // Of the last five reports (of the last `for_reports`, up to eight, when it asks for more).
    const int need = std::clamp(p.for_reports, 1, 8);
    int shifted = 0;
    for (int i = 0; i < std::max(5, need); ++i) shifted += (recent_ >> i) & 1;
    const bool spike = j.score >= 2 * p.z;
    j.holds = passes && novel && (spike || shifted >= need);
    peak_ = static_cast<float>(peak);
    const bool accepted = passes && run_peak_ > 0 && ts - excursion_start_ >= p.baseline_s;
    if (accepted) {
      // A shift that has lasted the baseline's time is the new normal: the level moves to it
      // at once (rather than creeping after it for hours, flapping on the way).
      prior_level_ = robust_.level;
      robust_.level = excursion_sum_ / std::max<uint16_t>(1, excursion_n_);
      j.holds = false;
      recent_ = 0;
    }
    if ((shifted == 0 || accepted) && run_peak_ > 0) {  // back on the baseline, or a new one
      // Remembered when it was an excursion of the kind that opens (a spike or a shift), not a
      // stray value in the tail of the noise.
      if (run_peak_ >= 2 * p.z || excursion_n_ >= need) peak_ = std::max(peak_, run_peak_);
      run_peak_ = 0;
    }
  }
  // A value off its baseline teaches it nothing (see the acceptance above); one beyond z does not
  // teach the deviation (else a step would teach the baseline its own size within minutes).
  if (!passes) robust_.Learn(value, dt, samples_, p.min_samples, p.baseline_s, kAnomalyFloor, j.score < p.z);
  NoteHour(ts, hour, value, passes);
  last_ts_ = ts;
  if (samples_ < UINT32_MAX) ++samples_;
  return j;
}

double RobustLevel::Deviation(const DeviationFloor& floor) const {
  return std::max({static_cast<double>(deviation), floor.relative * std::fabs(level), floor.absolute});
}

void RobustLevel::Learn(double value, double dt, uint32_t samples, int min_samples, double baseline_s,
                        const DeviationFloor& floor, bool deviation_too) {
  if (samples == 0) {
    level = static_cast<float>(value);
    deviation = 0;
    return;
  }
  const double dev = value - level;
  if (static_cast<int>(samples) < std::max(2, min_samples)) {
    // Learning from scratch: running means, so that the first judgement has a baseline; after
    // the first few reports each step is clipped too, so that an outlier among them weighs little.
    const double n = samples + 1.0;
    const double clip = samples >= 5 ? 3 * Deviation(floor) : INFINITY;
    level = static_cast<float>(level + std::clamp(dev, -clip, clip) / n);
    deviation = static_cast<float>(deviation + (std::min(std::fabs(dev), clip) - deviation) / n);
    return;
  }
  const double alpha = 1 - std::exp(-dt / std::max(1.0, baseline_s));
  const double clip = 3 * Deviation(floor);
  level = static_cast<float>(level + alpha * std::clamp(dev, -clip, clip));
  if (deviation_too) deviation = static_cast<float>(deviation + alpha * (std::min(std::fabs(dev), clip) - deviation));
}

int MetricBaseline::WatchedHour() const { return samples_ > 0 ? HourOfDay(last_ts_) : -1; }

uint32_t MetricBaseline::WatchedDay() const { return samples_ > 0 ? DayOf(last_ts_) : 0; }

bool MetricBaseline::RoutineAt(double ts, double value) const {
  return Routine(HourOfDay(ts), value);
}

bool MetricBaseline::Routine(int hour, double value) const {
  if ((learned_ >> hour & 1) == 0) return false;
  const double lo = FromHalf(day_lo_[static_cast<size_t>(hour)]), hi = FromHalf(day_hi_[static_cast<size_t>(hour)]);
  const double margin = 0.1 * (hi - lo) + 2 * robust_.Deviation(kAnomalyFloor);
  return value >= lo - margin && value <= hi + margin;
}

void MetricBaseline::NoteHour(double ts, int hour, double value, bool passes) {
  const int watched = WatchedHour();
  const bool same_hour = hour == watched && DayOf(ts) == WatchedDay();
  const auto v = static_cast<float>(value);
  auto run_joins_hour = [&] {
    if (run_ >= kRoutineRun) {
      hour_lo_ = std::min(hour_lo_, run_lo_);
      hour_hi_ = std::max(hour_hi_, run_hi_);
    }
  };
  if (passes) {
    run_lo_ = run_ > 0 ? std::min(run_lo_, v) : v;
    run_hi_ = run_ > 0 ? std::max(run_hi_, v) : v;
    if (run_ < UINT16_MAX) ++run_;
  }
  if (same_hour) {
    if (!passes) {
      run_joins_hour();
      run_ = 0;
      hour_lo_ = std::min(hour_lo_, v);
      hour_hi_ = std::max(hour_hi_, v);
    }
    return;
  }
  // The hour ends: a run that ended now, or goes on across it, belongs to it too.
  run_joins_hour();
  if (!passes) run_ = 0;
  if (watched >= 0 && hour_lo_ <= hour_hi_) {
    // The hour that ended joins the envelope of its hour of day: at once where it is wider, by
    // a quarter where it is narrower (a job that skips a day is still routine the day after).
    const auto h = static_cast<size_t>(watched);
    float lo = hour_lo_, hi = hour_hi_;
    if (learned_ >> watched & 1) {
      const float was_lo = FromHalf(day_lo_[h]), was_hi = FromHalf(day_hi_[h]);
      lo = lo < was_lo ? lo : was_lo + (lo - was_lo) / 4;
      hi = hi > was_hi ? hi : was_hi + (hi - was_hi) / 4;
    }
    // Rounded outwards by a half float's step, so that the envelope never loses what it saw.
    day_lo_[h] = ToHalf(lo - std::fabs(lo) / 1024);
    day_hi_[h] = ToHalf(hi + std::fabs(hi) / 1024);
    learned_ |= 1u << watched;
  }
  // An hour that starts off its baseline starts empty (lo > hi).
  hour_lo_ = passes ? INFINITY : v;
  hour_hi_ = passes ? -INFINITY : v;
}

uint16_t ToHalf(float value) {
  uint32_t f;
  std::memcpy(&f, &value, 4);
  const uint32_t sign = (f >> 16) & 0x8000;
  const int exponent = static_cast<int>((f >> 23) & 0xff) - 127 + 15;
  uint32_t mantissa = f & 0x7fffff;
  if (((f >> 23) & 0xff) == 0xff) return static_cast<uint16_t>(sign | 0x7c00 | (mantissa ? 0x200 : 0));  // inf, NaN
  if (exponent >= 31) return static_cast<uint16_t>(sign | 0x7c00);
  if (exponent <= 0) {
    if (exponent < -10) return static_cast<uint16_t>(sign);
    mantissa |= 0x800000;
    const int shift = 14 - exponent;
    uint32_t half = mantissa >> shift;
    if ((mantissa >> (shift - 1)) & 1) ++half;  // round half up
    return static_cast<uint16_t>(sign | half);
  }
  uint32_t half = sign | static_cast<uint32_t>(exponent) << 10 | mantissa >> 13;
  if (mantissa & 0x1000) ++half;  // round half up (may carry into the exponent: still right)
  return static_cast<uint16_t>(half);
}

float FromHalf(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000) << 16;
  const uint32_t exponent = (h >> 10) & 0x1f;
  uint32_t mantissa = h & 0x3ff;
  uint32_t f;
  if (exponent == 0) {
    if (mantissa == 0) {
      f = sign;
    } else {
      int e = -1;
      do {
        ++e;
        mantissa <<= 1;
      } while ((mantissa & 0x400) == 0);
      f = sign | static_cast<uint32_t>(127 - 15 - e) << 23 | (mantissa & 0x3ff) << 13;
    }
  } else if (exponent == 0x1f) {
    f = sign | 0x7f800000 | mantissa << 13;
  } else {
    f = sign | (exponent + 127 - 15) << 23 | mantissa << 13;
  }
  float out;
  std::memcpy(&out, &f, 4);
  return out;
}

}  // namespace dctwin
