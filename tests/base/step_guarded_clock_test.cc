#include "base/step_guarded_clock.h"

#include <gtest/gtest.h>

#include <vector>

namespace dctwin {
namespace {

struct FakeClocks {
  double wall = 1.8e9;
  double mono = 1000;
  void Advance(double s) {
    wall += s;
    mono += s;
  }
};

TEST(StepGuardedClockTest, FollowsTheWallClockWhileItDoesNotStep) {
  FakeClocks c;
  StepGuardedClock clock([&] { return c.wall; }, [&] { return c.mono; });
  EXPECT_DOUBLE_EQ(clock.Now(), 1.8e9);
  c.Advance(10.5);
  EXPECT_DOUBLE_EQ(clock.Now(), 1.8e9 + 10.5);
  c.wall += 0.3;  // NTP slews by small amounts: not a step
  c.Advance(1);
  EXPECT_DOUBLE_EQ(clock.Now(), 1.8e9 + 11.8);
  EXPECT_EQ(clock.steps(), 0u);
}

TEST(StepGuardedClockTest, ABackwardStepIsAbsorbedAtHalfSpeedAndNeverGoesBack) {
  FakeClocks c;
  std::vector<double> steps;
  StepGuardedClock clock([&] { return c.wall; }, [&] { return c.mono; }, 1.0, [&](double s) { steps.push_back(s); });
  clock.Now();
  c.Advance(60);
  const double before = clock.Now();
  c.wall -= 300;  // stepped back 5 minutes
  c.Advance(1);
  const double after = clock.Now();
  EXPECT_GT(after, before);
  EXPECT_LE(after - before, 1.0);
  EXPECT_EQ(steps, std::vector<double>{-300});
  EXPECT_NEAR(clock.ahead_s(), 300, 1e-9);
  double last = after;
  for (int i = 0; i < 700; ++i) {  // reports every second for a while
    c.Advance(1);
    const double t = clock.Now();
    EXPECT_GT(t, last) << "at " << i;
    EXPECT_GE(t - last, 0.5 - 1e-9);
    last = t;
  }
  EXPECT_DOUBLE_EQ(clock.ahead_s(), 0) << "caught up within twice the step";
  EXPECT_DOUBLE_EQ(last, c.wall);
  EXPECT_EQ(clock.steps(), 1u) << "one step, one report";
}

TEST(StepGuardedClockTest, AForwardStepIsFollowedAtOnce) {
  FakeClocks c;
  StepGuardedClock clock([&] { return c.wall; }, [&] { return c.mono; });
  clock.Now();
  c.wall += 3600;
  c.Advance(1);
  EXPECT_DOUBLE_EQ(clock.Now(), c.wall);
  EXPECT_EQ(clock.steps(), 1u);
}

}  // namespace
}  // namespace dctwin
