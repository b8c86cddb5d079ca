#include "gateway/ingest/report_assembly.h"

#include <gtest/gtest.h>

namespace dctwin {
namespace {

Report Part(double ts, std::string metric, double value) {
  Report r;
  r.ts = ts;
  r.partial = true;
  r.metrics = {{std::move(metric), value}};
  return r;
}

TEST(ReportAssemblerTest, PartsOfOneIntervalBecomeOneReport) {
  ReportAssembler a(1.0);
  Report done;
  EXPECT_FALSE(a.Add("s1", Part(1795520000.01, "load/load.shortterm", 0.5), 10.0, &done));
  EXPECT_FALSE(a.StartsReport("s1", Part(1795520000.02, "memory/memory-used", 1e9)));
  EXPECT_FALSE(a.Add("s1", Part(1795520000.02, "memory/memory-used", 1e9), 10.0, &done));
  EXPECT_FALSE(a.Add("s1", Part(1795520000.03, "load/load.shortterm", 0.6), 10.0, &done));  // a newer value
  // A part from the next interval completes the first report.
  EXPECT_TRUE(a.StartsReport("s1", Part(1795520010.0, "load/load.shortterm", 0.7)));
  ASSERT_TRUE(a.Add("s1", Part(1795520010.0, "load/load.shortterm", 0.7), 20.0, &done));
  EXPECT_FALSE(done.partial);
  EXPECT_DOUBLE_EQ(done.ts, 1795520000.01);
  ASSERT_EQ(done.metrics.size(), 2u);
  EXPECT_DOUBLE_EQ(done.metrics[0].second, 0.6);
  // The last report is complete once no part has come for assemble_s.
  EXPECT_TRUE(a.Expire(20.5).empty());
  auto expired = a.Expire(21.0);
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0].first, "s1");
  EXPECT_EQ(expired[0].second.metrics.size(), 1u);
  EXPECT_EQ(a.assembling(), 0u);
}

// A big host: hundreds of parts, each metric once, in the order they came; and a host that sends
// the same metric over and over within one interval does not grow its report.
TEST(ReportAssemblerTest, HundredsOfPartsKeepTheirOrderAndRepeatsStayOneMetric) {
  ReportAssembler a(1.0);
  Report done;
  for (int i = 0; i < 500; ++i) a.Add("big", Part(1000.0, "cpu-" + std::to_string(i) + "/percent", i), 1.0, &done);
  for (int i = 0; i < 100000; ++i) a.Add("big", Part(1000.5, "cpu-7/percent", 1000.0 + i), 1.0, &done);
  auto expired = a.Expire(3.0);
  ASSERT_EQ(expired.size(), 1u);
  const auto& metrics = expired[0].second.metrics;
  ASSERT_EQ(metrics.size(), 500u);
  for (int i = 0; i < 500; ++i) EXPECT_EQ(metrics[static_cast<size_t>(i)].first, "cpu-" + std::to_string(i) + "/percent");
  EXPECT_DOUBLE_EQ(metrics[7].second, 100999.0) << "the last value given";
  EXPECT_DOUBLE_EQ(metrics[8].second, 8.0);
}

TEST(ReportAssemblerTest, ServersAreAssembledApartAndAForgottenOneLeavesNothing) {
  ReportAssembler a(1.0);
  Report done;
  a.Add("s1", Part(100, "cpu", 1), 0, &done);
  a.Add("s2", Part(100, "cpu", 2), 0, &done);
  a.Forget("s1");
  auto expired = a.Expire(5);
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0].first, "s2");
}

TEST(RateLimiterTest, AServerSendingTooFastIsLimitedAndRecovers) {
  RateLimiter limiter(5);  // bursts of 10
  int taken = 0;
  for (int i = 0; i < 25; ++i) taken += limiter.Take("s1", 1000) ? 1 : 0;
  EXPECT_EQ(taken, 10);
  EXPECT_TRUE(limiter.Take("s2", 1000));  // each server has its own budget
  taken = 0;
  for (int i = 0; i < 10; ++i) taken += limiter.Take("s1", 1001) ? 1 : 0;  // one second refills five
  EXPECT_EQ(taken, 5);
}

TEST(RateLimiterTest, QuietServersAreForgottenAndZeroMeansNoLimit) {
  RateLimiter limiter(5);
  limiter.Take("s1", 1000);
  limiter.Take("s2", 1050);
  limiter.Prune(1070);
  EXPECT_EQ(limiter.tracked(), 1u);  // s1 has been full for a minute
  limiter.set_rate(0);
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(limiter.Take("s3", 1070));
}

}  // namespace
}  // namespace dctwin
