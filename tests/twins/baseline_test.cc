// The anomaly baseline of one metric, driven report by report with its own clock.
#include "twins/baseline.h"

#include <cereal/archives/binary.hpp>
#include <cereal/types/array.hpp>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>
#include <sstream>

#include "twins/twin_serialization.h"

namespace dctwin {
namespace {

constexpr double kStep = 10;
constexpr double kDay = 86400;

class BaselineTest : public ::testing::Test {
 protected:
  // Feeds `n` reports from `t_` on; returns how many held.
  int Feed(int n, const std::function<double(double)>& value) {
    int held = 0;
    for (int i = 0; i < n; ++i, t_ += kStep) held += b_.Observe(t_, value(t_), p_).holds ? 1 : 0;
    return held;
  }
  double Noise(double sigma) { return std::normal_distribution<double>(0, sigma)(rng_); }

  MetricBaseline b_;
  AnomalyParams p_;
  double t_ = 10 * kDay;  // midnight UTC
  std::mt19937 rng_{7};
};

TEST_F(BaselineTest, NothingIsJudgedBeforeMinSamples) {
  p_.min_samples = 30;
  EXPECT_EQ(Feed(29, [&](double) { return 45 + Noise(0.4); }), 0);
  EXPECT_EQ(b_.samples(), 29u);
  // Even a wild value is only learned while the baseline is young.
  EXPECT_FALSE(b_.Observe(t_, 1000, p_).holds);
}

TEST_F(BaselineTest, ASingleSpikeOpensAndNoiseDoesNot) {
  EXPECT_EQ(Feed(2000, [&](double) { return 45 + Noise(0.4); }), 0) << "Gaussian noise never passes 8 deviations";
  const AnomalyJudgement spike = b_.Observe(t_, 53, p_);
  t_ += kStep;
  EXPECT_TRUE(spike.holds) << spike.score;
  EXPECT_GT(spike.score, 8);
  EXPECT_NEAR(spike.level, 45, 0.1) << "the spike is judged against the level before it";
  EXPECT_NEAR(b_.level(), 45, 0.1) << "and moves it little";
  EXPECT_EQ(Feed(10, [&](double) { return 45 + Noise(0.4); }), 0);
}

TEST_F(BaselineTest, ASpikeNoLargerThanTheMetricsRecentExcursionsIsNotNew) {
  Feed(2000, [&](double) { return 45 + Noise(0.4); });
  ASSERT_TRUE(b_.Observe(t_, 55, p_).holds);
  t_ += kStep;
  Feed(60, [&](double) { return 45 + Noise(0.4); });  // ten minutes later, the same excursion
  EXPECT_FALSE(b_.Observe(t_, 55, p_).holds);
  t_ += kStep;
  // A day later the memory of it has faded: the same excursion is an anomaly again.
  Feed(static_cast<int>(kDay / kStep), [&](double) { return 45 + Noise(0.4); });
  EXPECT_TRUE(b_.Observe(t_, 55, p_).holds);
}

TEST_F(BaselineTest, AStepThatHoldsStaysAnomalousUntilItIsAccepted) {
  p_.baseline_s = 3 * 3600;
  Feed(2000, [&](double) { return 31 + Noise(0.5); });
  // A fan fails: four degrees more, for good. The 15-minute window absorbed this within minutes.
  EXPECT_GT(Feed(3 * 360 - 10, [&](double) { return 35 + Noise(0.5); }), 3 * 360 - 20);
  EXPECT_NEAR(b_.level(), 31, 0.1) << "values off the baseline teach it nothing";
}

TEST_F(BaselineTest, AModerateShiftOpensOnlyWhenItLasts) {
  p_.for_reports = 3;
  Feed(2000, [&](double) { return 100 + Noise(1); });
  // Two reports five deviations off (under the spike's bar of eight), then back: nothing.
  EXPECT_EQ(Feed(2, [&](double) { return 104.2; }), 0);
  // Three in a row: a shift.
  EXPECT_GT(Feed(3, [&](double) { return 104.2; }), 0);
  // The same three a minute after it: no further than the excursion it just made, nothing new.
  EXPECT_EQ(Feed(5, [&](double) { return 100 + Noise(1); }), 0);
  EXPECT_EQ(Feed(3, [&](double) { return 104.2; }), 0);
  // Half a day later that memory has faded: a shift again.
  Feed(static_cast<int>(12 * 3600 / kStep), [&](double) { return 100 + Noise(1); });
  EXPECT_GT(Feed(3, [&](double) { return 104.2; }), 0);
}

TEST_F(BaselineTest, AShiftThatLastsBecomesTheLevelAndTheReturnIsNotANewAnomaly) {
  p_.baseline_s = 3600;
  Feed(2000, [&](double) { return 31 + Noise(0.5); });
  EXPECT_GT(Feed(360, [&](double) { return 35 + Noise(0.5); }), 300) << "a step is an anomaly for its first hour";
  EXPECT_EQ(Feed(60, [&](double) { return 35 + Noise(0.5); }), 0) << "then it is the new level";
  EXPECT_NEAR(b_.level(), 35, 0.2);
  EXPECT_EQ(Feed(60, [&](double) { return 31 + Noise(0.5); }), 0) << "back where it was: not a new anomaly";
  EXPECT_NEAR(b_.level(), 31, 0.2);
}

TEST_F(BaselineTest, ARoutineOfYesterdayIsNotAnAnomalyTodayButTheSameOffScheduleIs) {
  // A nightly job pins the CPU from 02:00 to 02:30.
  auto cpu = [&](double t) {
    const double tod = std::fmod(t, kDay);
    return (tod >= 2 * 3600 && tod < 2 * 3600 + 1800) ? 0.9 + Noise(0.02) : 0.2 + Noise(0.03);
  };
  const int first_night = Feed(static_cast<int>(kDay / kStep), cpu);
  EXPECT_GT(first_night, 0) << "the first night, the job is new";
  EXPECT_EQ(Feed(static_cast<int>(kDay / kStep), cpu), 0) << "the second night it is routine";
  // The same job at 13:00 is not.
  t_ = std::floor(t_ / kDay) * kDay + 13 * 3600;
  EXPECT_GT(Feed(6, [&](double) { return 0.9 + Noise(0.02); }), 0);
}

TEST_F(BaselineTest, MissingReportsWeighNothingAndAFlatMetricIsNotInfinitelyTouchy) {
  Feed(500, [&](double) { return 0.0; });
  t_ += 3600;  // an hour without reports
  EXPECT_EQ(b_.level(), 0);
  // A flat zero has no deviation: the floor keeps a tiny change from being infinite.
  const AnomalyJudgement j = b_.Observe(t_, 1e-9, p_);
  EXPECT_FALSE(j.holds);
  EXPECT_TRUE(std::isfinite(j.score));
}

TEST_F(BaselineTest, AValueBeyondAFloatsRangeIsIgnoredNotLearned) {
  Feed(200, [&](double) { return 45 + Noise(0.4); });
  EXPECT_FALSE(b_.Observe(t_, 1e300, p_).holds);
  t_ += kStep;
  EXPECT_NEAR(b_.level(), 45, 0.2);
  EXPECT_TRUE(b_.Observe(t_, 60, p_).holds) << "and the baseline still judges";
}

// A million servers keep several baselines each: the state is packed, and what it no longer keeps
// (the hour being watched and its day, derived from the last report) is still stored, so that a
// baseline saved in the middle of an hour, or of an excursion, goes on as if it had never been.
TEST_F(BaselineTest, SavedInTheMiddleOfAnHourItGoesOnAsIfNeverSaved) {
  EXPECT_LE(sizeof(MetricBaseline), 168u);
  auto cpu = [&](double t) {
    const double tod = std::fmod(t, kDay);
    return (tod >= 2 * 3600 && tod < 2 * 3600 + 1800) ? 0.9 + Noise(0.02) : 0.2 + Noise(0.03);
  };
  Feed(static_cast<int>(kDay / kStep) + 2 * 360 + 90, cpu);  // a day, then into 02:15 of the next
  MetricBaseline saved;
  {
    std::stringstream bytes;
    {
      cereal::BinaryOutputArchive out(bytes);
      out(b_);
    }
    cereal::BinaryInputArchive in(bytes);
    in(saved);
  }
  for (int i = 0; i < 2 * 360; ++i, t_ += kStep) {  // to 04:15: the hour ends twice
    const double v = cpu(t_);
    const AnomalyJudgement a = b_.Observe(t_, v, p_), b = saved.Observe(t_, v, p_);
    ASSERT_EQ(a.holds, b.holds) << i;
    ASSERT_EQ(a.score, b.score) << i;
  }
  for (int hour = 0; hour < 24; ++hour) {
    const double at = std::floor(t_ / kDay) * kDay + hour * 3600;
    EXPECT_EQ(b_.RoutineAt(at, 0.9), saved.RoutineAt(at, 0.9)) << hour;
  }
  EXPECT_TRUE(saved.RoutineAt(std::floor(t_ / kDay) * kDay + 2 * 3600, 0.9)) << "the job's hour was learned";
}

TEST(HalfFloatTest, RoundTripsWithinItsPrecision) {
  for (float v : {0.0f, 1.0f, -1.0f, 0.2f, 0.9f, 45.3f, 1500.0f, 65504.0f, 1e-5f, -3.25e-3f}) {
    EXPECT_NEAR(FromHalf(ToHalf(v)), v, std::fabs(v) / 1000 + 1e-7) << v;
  }
  EXPECT_TRUE(std::isinf(FromHalf(ToHalf(1e6f))));
  EXPECT_EQ(FromHalf(ToHalf(-0.0f)), 0.0f);
}

}  // namespace
}  // namespace dctwin
