// Forecasts and change points of one metric, driven report by report with their own clock.
#include "twins/foresight.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>

namespace dctwin {
namespace {

constexpr double kStep = 10;
constexpr double kHour = 3600;

class TrendTest : public ::testing::Test {
 protected:
  // Feeds reports every 10 s for `seconds`; returns the projection after the last closed bucket.
  Projection Feed(double seconds, const std::function<double(double)>& value, double threshold = 95,
                  CompareOp op = CompareOp::kGreater) {
    Projection p;
    for (double end = t_ + seconds; t_ < end; t_ += kStep) {
      if (trend_.Add(t_, value(t_), lookback_)) p = trend_.Project(threshold, op);
    }
    return p;
  }
  double Noise(double sigma) { return std::normal_distribution<double>(0, sigma)(rng_); }

  TrendTracker trend_;
  double lookback_ = 6 * kHour;
  double t_ = 1'000'000'020;
  std::mt19937 rng_{11};
};

TEST_F(TrendTest, ALinearFillIsProjectedToItsCrossingWithABandAroundIt) {
  // 60 % and 2 % an hour: 95 is 17.5 h after the start.
  const double start = t_;
  const double rate = 2.0 / kHour;
  Projection p = Feed(6 * kHour, [&](double t) { return 60 + rate * (t - start) + Noise(0.3); });
  ASSERT_TRUE(p.known);
  EXPECT_NEAR(p.slope * kHour, 2.0, 0.1);
  const double expected = start + 35.0 / rate - p.at;
  EXPECT_NEAR(p.eta, expected, 0.05 * expected);
  EXPECT_LE(p.eta_low, p.eta);
  EXPECT_GE(p.eta_high, p.eta);
  EXPECT_LT(p.eta_high - p.eta_low, 0.3 * p.eta);  // a clean trend: a narrow band
  EXPECT_GT(p.eta_high - p.eta_low, 0);
}

TEST_F(TrendTest, NothingIsForecastBeforeASixthOfTheLookback) {
  const double start = t_;
  Projection p = Feed(50 * 60, [&](double t) { return 60 + (t - start) / 100; });
  EXPECT_FALSE(p.known);
  p = Feed(20 * 60, [&](double t) { return 60 + (t - start) / 100; });
  EXPECT_TRUE(p.known);
}

TEST_F(TrendTest, AFlatOrFallingMetricNeverCrosses) {
  Projection p = Feed(3 * kHour, [&](double) { return 50 + Noise(2); });
  ASSERT_TRUE(p.known);
  // Noise alone gives a slope near zero with a band on both sides of it: far or never.
  EXPECT_TRUE(!std::isfinite(p.eta) || p.eta > 100 * kHour) << p.eta;
  const double start = t_;
  p = Feed(6 * kHour, [&](double t) { return 50 - (t - start) / kHour; });
  EXPECT_TRUE(std::isinf(p.eta));
  EXPECT_TRUE(std::isinf(p.eta_low));
}

TEST_F(TrendTest, OutliersDoNotBendTheTrend) {
  const double start = t_;
  // A fifth of the buckets hold a wild spike (one report of 1000 in ten minutes of 60-ish).
  int i = 0;
  Projection p = Feed(6 * kHour, [&](double t) { return (i++ % 300 == 17) ? 10000.0 : 60 + (t - start) / kHour; });
  ASSERT_TRUE(p.known);
  EXPECT_NEAR(p.slope * kHour, 1.0, 0.15);
}

TEST_F(TrendTest, ACounterResetStartsANewSegmentInsteadOfATurn) {
  const double start = t_;
  Projection p = Feed(4 * kHour, [&](double t) { return 1e6 + 100 * (t - start); });
  ASSERT_TRUE(p.known);
  const double reset = t_;
  // Reset to zero, counting on at the same pace.
  p = Feed(10 * 60, [&](double t) { return 100 * (t - reset); }, 5e6);
  // One point after the drop may yet be an outlier: the trend before stands.
  EXPECT_TRUE(p.known);
  EXPECT_FALSE(p.broke);
  p = Feed(20 * 60, [&](double t) { return 100 * (t - reset); }, 5e6);
  EXPECT_FALSE(p.known);
  EXPECT_TRUE(p.broke);  // away from the threshold: the forecast before it no longer holds
  p = Feed(2 * kHour, [&](double t) { return 100 * (t - reset); }, 5e6);
  ASSERT_TRUE(p.known);
  EXPECT_FALSE(p.broke);
  EXPECT_NEAR(p.slope, 100, 1);  // the pace, not the drop
  EXPECT_NEAR(p.at + p.eta, reset + 5e6 / 100, 600);
}

TEST_F(TrendTest, AFallingMetricIsForecastTowardsABelowThreshold) {
  const double start = t_;
  Projection p = Feed(3 * kHour, [&](double t) { return 12.2 - 0.1 * (t - start) / kHour; }, 11.4, CompareOp::kLess);
  ASSERT_TRUE(p.known);
  EXPECT_NEAR(p.at + p.eta, start + 8 * kHour, 0.1 * kHour);
}

TEST_F(TrendTest, AMetricBeyondTheThresholdAlreadyHasNoTimeLeft) {
  Projection p = Feed(2 * kHour, [&](double) { return 97.0; });
  ASSERT_TRUE(p.known);
  EXPECT_EQ(p.eta, 0);
  EXPECT_EQ(p.eta_high, 0);
}

TEST_F(TrendTest, GapsAreLeftOutAndALookbackChangeStartsAfresh) {
  const double start = t_;
  Feed(1 * kHour, [&](double t) { return (t - start) / 60; });
  t_ += 2 * kHour;  // two hours of nothing
  Projection p = Feed(1 * kHour, [&](double t) { return (t - start) / 60; }, 1e9);
  ASSERT_TRUE(p.known);
  EXPECT_NEAR(p.slope * 60, 1, 0.01);
  lookback_ = 1 * kHour;
  p = Feed(5 * 60, [&](double t) { return (t - start) / 60; }, 1e9);
  EXPECT_FALSE(p.known);
}

class ChangeTest : public ::testing::Test {
 protected:
  // Feeds `n` reports from t_ on; the events that are not kNone, with their report times.
  std::vector<std::pair<ChangeTracker::Event, double>> Feed(int n, const std::function<double(double)>& value) {
    std::vector<std::pair<ChangeTracker::Event, double>> events;
    for (int i = 0; i < n; ++i, t_ += kStep) {
      const auto e = c_.Observe(t_, value(t_), p_);
      if (e != ChangeTracker::Event::kNone) events.emplace_back(e, t_);
    }
    return events;
  }
  double Noise(double sigma) { return std::normal_distribution<double>(0, sigma)(rng_); }

  ChangeTracker c_;
  ChangeParams p_;
  double t_ = 1'000'000'000;
  std::mt19937 rng_{5};
};

TEST_F(ChangeTest, AStepThatHoldsIsDatedWithTheLevelsBeforeAndAfter) {
  EXPECT_TRUE(Feed(360, [&](double) { return 24 + Noise(0.5); }).empty());
  const double step = t_;
  // A fan fails: four degrees up, and it stays.
  auto events = Feed(30, [&](double) { return 28 + Noise(0.5); });
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].first, ChangeTracker::Event::kChanged);
  EXPECT_LE(events[0].second - step, 60);  // within six reports
  EXPECT_TRUE(c_.changed());
  EXPECT_TRUE(c_.up());
  EXPECT_NEAR(c_.before(), 24, 0.3);
  EXPECT_NEAR(c_.after(), 28, 0.3);
  EXPECT_NEAR(c_.changed_at(), step, 20);
  EXPECT_GT(c_.size(), 3);
}

TEST_F(ChangeTest, NoiseSpikesAndASlowDriftAreNoChange) {
  // A day of noise with a spike every ten minutes and a pair of them every hour.
  int i = 0;
  auto events = Feed(8640, [&](double) {
    ++i;
    if (i % 60 == 0 || i % 360 == 2) return 50.0 + 20;
    return 50 + Noise(1);
  });
  EXPECT_TRUE(events.empty()) << events.size() << " at " << events[0].second - 1'000'000'000;
  // A drift of a tenth of a deviation an hour.
  const double start = t_;
  events = Feed(2160, [&](double t) { return 50 + 0.1 * (t - start) / kHour + Noise(1); });
  EXPECT_TRUE(events.empty());
}

TEST_F(ChangeTest, ItResolvesWhenTheMetricReturns) {
  Feed(360, [&](double) { return 24 + Noise(0.5); });
  Feed(30, [&](double) { return 28 + Noise(0.5); });
  ASSERT_TRUE(c_.changed());
  auto events = Feed(10, [&](double) { return 24 + Noise(0.3); });
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].first, ChangeTracker::Event::kReturned);
  EXPECT_FALSE(c_.changed());
  EXPECT_NEAR(c_.level(), 24, 0.3);
}

TEST_F(ChangeTest, ANewLevelIsAcceptedAfterAcceptS) {
  p_.accept_s = 1800;
  Feed(360, [&](double) { return 24 + Noise(0.5); });
  const double step = t_;
  auto events = Feed(400, [&](double) { return 28 + Noise(0.5); });
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].first, ChangeTracker::Event::kAccepted);
  EXPECT_NEAR(events[1].second - step, 1800, 60);
  EXPECT_NEAR(c_.level(), 28, 0.2);
  // At the new level nothing more happens; a return to 24 is a new change, down.
  events = Feed(20, [&](double) { return 24 + Noise(0.5); });
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].first, ChangeTracker::Event::kChanged);
  EXPECT_FALSE(c_.up());
}

TEST_F(ChangeTest, OnlyTheAskedDirectionCounts) {
  p_.direction = ChangeDirection::kUp;
  Feed(360, [&](double) { return 24 + Noise(0.5); });
  EXPECT_TRUE(Feed(60, [&](double) { return 20 + Noise(0.5); }).empty());
  EXPECT_FALSE(c_.changed());
}

TEST_F(ChangeTest, AFlatMetricThatStepsIsAChangeAndNonFiniteValuesAreIgnored) {
  Feed(100, [&](double) { return 4.0; });  // four fans
  EXPECT_TRUE(Feed(5, [&](double) { return NAN; }).empty());
  auto events = Feed(5, [&](double) { return 3.0; });
  ASSERT_EQ(events.size(), 1u);
  EXPECT_FALSE(c_.up());
  EXPECT_NEAR(c_.before(), 4.0, 1e-6);
}

}  // namespace
}  // namespace dctwin
