#include "twins/foresight.h"

#include <algorithm>
#include <cstdlib>

namespace dctwin {

namespace {

// A step between two neighbouring means this many times the usual one is a break.
constexpr double kBreakFactor = 8;
constexpr double kBand = 1.96;  // normal quantile of the 95 % band
// Mean absolute deviation to standard deviation, for normal noise.
constexpr double kMadToSigma = 1.2533;
// Reports of a run beyond half the shift before it is a change.
constexpr uint16_t kMinBeyond = 5;
// Weight of a report in the recent level.
constexpr double kRecentWeight = 0.2;

// Seconds until a line at `level` moving at `slope` reaches `threshold` from below (rising ops)
// or from above; infinity when it does not move that way.
double TimeTo(double level, double slope, double threshold, bool rising) {
  const double distance = rising ? threshold - level : level - threshold;
  const double speed = rising ? slope : -slope;
  if (distance <= 0) return 0;
  if (!(speed > 0)) return INFINITY;
  return distance / speed;
}

}  // namespace

bool TrendTracker::Add(double ts, double value, double lookback_s) {
  if (!std::isfinite(value) || std::fabs(value) > 1e300 || !std::isfinite(ts) || !(lookback_s > 0)) return false;
  const double width = lookback_s / kPoints;
  const int64_t bucket = static_cast<int64_t>(std::floor(ts / width));
  if (width_ != width) {  // first value, or the lookback changed
    *this = TrendTracker();
    width_ = width;
    base_ = value;
    bucket_ = bucket;
  }
  if (bucket < bucket_) return false;  // older than the bucket being filled: judged already
  bool closed = false;
  if (bucket > bucket_) {
    if (n_ > 0) {
      means_[static_cast<size_t>(bucket_ % kPoints)] = static_cast<float>(sum_ / n_ - base_);
      closed = true;
    }
    // Buckets nothing came in are empty (at most the whole ring).
    for (int64_t b = bucket_ + 1; b < bucket && b <= bucket_ + kPoints; ++b) means_[static_cast<size_t>(b % kPoints)] = NAN;
    bucket_ = bucket;
    sum_ = 0;
    n_ = 0;
  }
  sum_ += value;
  ++n_;
  return closed;
}

Projection TrendTracker::Project(double threshold, CompareOp op) const {
  Projection p;
  if (width_ <= 0) return p;
  // The closed buckets, oldest first: bucket_ - kPoints .. bucket_ - 1.
  std::array<float, kPoints> t{};
  std::array<float, kPoints> y{};
  int m = 0;
  for (int64_t b = bucket_ - kPoints; b < bucket_; ++b) {
    if (b < 0) continue;
    const float v = means_[static_cast<size_t>(b % kPoints)];
    if (std::isnan(v)) continue;
    t[static_cast<size_t>(m)] = static_cast<float>((b - (bucket_ - kPoints)) + 0.5);  // in buckets
    y[static_cast<size_t>(m)] = v;
    ++m;
  }
  p.at = static_cast<double>(bucket_) * width_;
  const bool rising = op == CompareOp::kGreater || op == CompareOp::kGreaterEqual;
  if (m < 2) return p;
  // The usual step between neighbours. A point far off both its neighbours on the same side is an
  // outlier (a spike that filled its bucket): it is left out. Then the newest break: a step far
  // beyond the usual one.
  std::array<float, kPoints> steps{};
  for (int i = 1; i < m; ++i) steps[static_cast<size_t>(i - 1)] = std::fabs(y[static_cast<size_t>(i)] - y[static_cast<size_t>(i - 1)]);
  std::nth_element(steps.begin(), steps.begin() + (m - 1) / 2, steps.begin() + (m - 1));
  const double usual = steps[static_cast<size_t>((m - 1) / 2)];
  const double tiny = 1e-9 * std::max(1.0, std::fabs(base_));
  // A step is far when it is far beyond the usual one and a quarter of the metric's whole range
  // over the lookback (a ramp that levels off has mostly flat steps: its rising ones are not breaks).
  const auto [lo, hi] = std::minmax_element(y.begin(), y.begin() + m);
  const double far = std::max({kBreakFactor * usual, 0.25 * (*hi - *lo), tiny});
  int kept = 0;
  for (int i = 0; i < m; ++i) {
    const auto at = static_cast<size_t>(i);
    if (i > 0 && i + 1 < m) {
      const double left = y[at] - y[at - 1], right = y[at] - y[at + 1];
      if (std::fabs(left) > far && std::fabs(right) > far && (left > 0) == (right > 0)) continue;
    }
    t[static_cast<size_t>(kept)] = t[at];
    y[static_cast<size_t>(kept)] = y[at];
    ++kept;
  }
  m = kept;
  auto jumps = [&](int i) {
    const double step = y[static_cast<size_t>(i)] - y[static_cast<size_t>(i - 1)];
    return std::fabs(step) > far && std::fabs(step) > tiny;
  };
  // The newest point far off the one before may yet be an outlier: it waits for the next.
  const double newest = base_ + y[static_cast<size_t>(m - 1)];
  if (m >= 2 && jumps(m - 1)) --m;
  int first = 0;
  for (int i = m - 1; i >= 1; --i) {
    if (jumps(i)) {
      first = i;
      const double step = y[static_cast<size_t>(i)] - y[static_cast<size_t>(i - 1)];
      p.broke = rising ? step < 0 : step > 0;
      break;
    }
  }
  const int n = m - first;
  p.points = n;
  p.level = newest;  // until there is a line: the newest mean
  if (n < kMinPoints) return p;
  p.broke = false;
  // Theil-Sen: the median of the pairwise slopes; the band from the ranks of Kendall's S.
  std::array<float, kPoints * (kPoints - 1) / 2> slopes{};
  size_t count = 0;
  for (int i = first; i < m; ++i) {
    for (int j = i + 1; j < m; ++j) {
      slopes[count++] = (y[static_cast<size_t>(j)] - y[static_cast<size_t>(i)]) / (t[static_cast<size_t>(j)] - t[static_cast<size_t>(i)]);
    }
  }
  auto rank = [&](double r) {
    const size_t k = static_cast<size_t>(std::clamp(r, 0.0, static_cast<double>(count - 1)));
    std::nth_element(slopes.begin(), slopes.begin() + static_cast<std::ptrdiff_t>(k), slopes.begin() + static_cast<std::ptrdiff_t>(count));
    return static_cast<double>(slopes[k]);
  };
  const double spread = kBand * std::sqrt(n * (n - 1.0) * (2.0 * n + 5) / 18);
  const double half = (static_cast<double>(count) - 1) / 2;
  const double slope = (rank(std::floor(half)) + rank(std::ceil(half))) / 2;  // per bucket
  const double low = rank(std::floor(half - spread / 2));
  const double high = rank(std::ceil(half + spread / 2));
  // The line through the newest third of the points (three at least): where the metric is now,
  // not where a line through the whole lookback puts it when the pace changed.
  const int recent = std::min(n, std::max(3, n / 3));
  std::array<float, kPoints> residuals{};
  for (int i = m - recent; i < m; ++i) {
    residuals[static_cast<size_t>(i - (m - recent))] = static_cast<float>(y[static_cast<size_t>(i)] - slope * t[static_cast<size_t>(i)]);
  }
  std::nth_element(residuals.begin(), residuals.begin() + recent / 2, residuals.begin() + recent);
  double intercept = residuals[static_cast<size_t>(recent / 2)];
  if (recent % 2 == 0) {
    intercept = (intercept + *std::max_element(residuals.begin(), residuals.begin() + recent / 2)) / 2;
  }
  p.known = true;
  p.span_s = (t[static_cast<size_t>(m - 1)] - t[static_cast<size_t>(first)] + 1) * width_;
  p.level = base_ + intercept + slope * kPoints;
  p.slope = slope / width_;
  p.slope_low = low / width_;
  p.slope_high = high / width_;
  if (Compare(p.level, op, threshold)) {
    p.eta = p.eta_low = p.eta_high = 0;
    return p;
  }
  p.eta = TimeTo(p.level, p.slope, threshold, rising);
  // The steeper end of the band reaches the threshold first.
  p.eta_low = TimeTo(p.level, rising ? p.slope_high : p.slope_low, threshold, rising);
  p.eta_high = TimeTo(p.level, rising ? p.slope_low : p.slope_high, threshold, rising);
  return p;
}

double ChangeTracker::Sigma() const { return kMadToSigma * robust_.Deviation(kChangeFloor); }

bool ChangeTracker::Step(Side& s, double z, double value, double ts, float recent, const ChangeParams& p) const {
  const double k = p.shift / 2;
  const double sum = std::max(0.0, s.sum + std::clamp(z, -2 * p.shift, 2 * p.shift) - k);
  if (sum <= 0) {
    s = Side();
    return false;
  }
  if (s.sum <= 0) {
    s = Side();
    s.start = ts;
    s.pre = recent;
  }
  s.sum = static_cast<float>(sum);
  s.values += value;
  if (s.n < UINT16_MAX) ++s.n;
  if (z > k && s.beyond < UINT16_MAX) ++s.beyond;
  const double moved = std::fabs(s.values / s.n - s.pre) / Sigma();
  return sum > 2 * p.shift && s.beyond >= kMinBeyond && 3 * s.beyond >= 2 * s.n && moved >= 0.75 * p.shift;
}

ChangeTracker::Event ChangeTracker::Observe(double ts, double value, const ChangeParams& p) {
  if (!std::isfinite(value) || std::fabs(value) > 1e37 || !std::isfinite(ts)) return Event::kNone;
  const double dt = samples_ > 0 ? std::max(0.0, ts - last_ts_) : 0;
  last_ts_ = ts;
  // The recent level (before this report) is what a run is compared with when it begins.
  const float recent = samples_ == 0 ? static_cast<float>(value) : recent_;
  recent_ = static_cast<float>(recent + kRecentWeight * (value - recent));
  const bool learned = samples_ >= static_cast<uint32_t>(std::max(2, p.min_samples));
  if (changed_) {
    after_sum_ += value;
    ++after_n_;
    const double sigma = Sigma();
    back_ = std::fabs(value - before_) < p.shift / 2 * sigma ? static_cast<uint8_t>(std::min(back_ + 1, 255)) : 0;
    if (back_ >= 3) {
      changed_ = false;
      rise_ = fall_ = Side();
      return Event::kReturned;
    }
    if (ts - changed_at_ >= p.accept_s) {
      changed_ = false;
      robust_.level = static_cast<float>(after());
      rise_ = fall_ = Side();
      return Event::kAccepted;
    }
    return Event::kNone;
  }
  if (!learned) {
    robust_.Learn(value, dt, samples_, p.min_samples, p.baseline_s, kChangeFloor);
    if (samples_ < UINT32_MAX) ++samples_;
    return Event::kNone;
  }
  const double z = (value - robust_.level) / Sigma();
  const bool up = p.direction != ChangeDirection::kDown && Step(rise_, z, value, ts, recent, p);
  const bool down = p.direction != ChangeDirection::kUp && Step(fall_, -z, value, ts, recent, p);
  if (up || down) {
    const Side& s = up ? rise_ : fall_;
    changed_ = true;
    up_change_ = up;
    back_ = 0;
    before_ = robust_.level;
    changed_at_ = s.start;
    after_sum_ = s.values;
    after_n_ = s.n;
    rise_ = fall_ = Side();
    return Event::kChanged;
  }
  // Values of a run in progress teach the level only as clipped steps: a step moves it little
  // before it is declared.
  robust_.Learn(value, dt, samples_, p.min_samples, p.baseline_s, kChangeFloor);
  if (samples_ < UINT32_MAX) ++samples_;
  return Event::kNone;
}

}  // namespace dctwin
