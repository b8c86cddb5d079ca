#include "gateway/runtime/silence_census.h"

#include <gtest/gtest.h>

namespace dctwin {
namespace {

TEST(SilenceCensusTest, StormStartsAtTheFractionAndEndsBelowHalfOfIt) {
  ModelConfig m;  // storm_fraction 0.5, storm_min_servers 10
  SilenceCensus c(2);
  c.Report(0, 10, 50);
  c.Report(1, 10, 50);
  EXPECT_FALSE(c.Evaluate(m, true, 1000).has_value());  // 20 %: no storm (and no change)
  EXPECT_FALSE(c.hold());
  c.Report(1, 41, 50);
  auto s = c.Evaluate(m, true, 1001);  // 51 %
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->active);
  EXPECT_EQ(s->silent, 51);
  EXPECT_EQ(s->total, 100);
  EXPECT_TRUE(c.hold());
  c.Report(1, 20, 50);
  EXPECT_FALSE(c.Evaluate(m, true, 1002).has_value());  // 30 %: still the storm (ends below 25 %)
  c.Report(1, 10, 50);
  s = c.Evaluate(m, true, 1003);
  ASSERT_TRUE(s);
  EXPECT_FALSE(s->active);
  EXPECT_FALSE(c.hold());
}

TEST(SilenceCensusTest, FewServersNeverMakeAStorm) {
  ModelConfig m;
  SilenceCensus c(1);
  c.Report(0, 5, 5);
  EXPECT_FALSE(c.Evaluate(m, true, 1000).has_value());
  EXPECT_FALSE(c.hold());
}

TEST(SilenceCensusTest, HoldsWhileCutOffAndForOneHeartbeatAfterReconnecting) {
  ModelConfig m;  // heartbeat 60 s
  SilenceCensus c(1);
  c.Report(0, 0, 3);
  c.Evaluate(m, false, 999);  // not connected yet
  EXPECT_TRUE(c.hold());
  c.Evaluate(m, true, 1000);  // the first connect is no reconnect: no grace
  EXPECT_FALSE(c.hold());
  c.Evaluate(m, false, 1001);
  EXPECT_TRUE(c.hold());
  c.Evaluate(m, true, 1002);
  EXPECT_TRUE(c.hold());
  c.Evaluate(m, true, 1061);
  EXPECT_TRUE(c.hold());
  c.Evaluate(m, true, 1062.5);
  EXPECT_FALSE(c.hold());
}

}  // namespace
}  // namespace dctwin
