#include "twins/metric_window.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace dctwin {
namespace {

using Metrics = std::vector<std::pair<std::string, double>>;

TEST(MetricWindowTest, SummarizesEachMetricOverTheWindow) {
  MetricWindow w(900, 1024, 64);
  w.Add(100, {{"temp_c", 50}, {"cpu", 0.5}}, nullptr);
  w.Add(110, {{"temp_c", 70}}, nullptr);
  w.Add(120, {{"temp_c", 60}, {"cpu", 0.7}}, nullptr);
  MetricSummary s;
  ASSERT_TRUE(w.Summarize("temp_c", &s));
  EXPECT_EQ(s.samples, 3u);
  EXPECT_DOUBLE_EQ(s.last, 60);
  EXPECT_DOUBLE_EQ(s.min, 50);
  EXPECT_DOUBLE_EQ(s.max, 70);
  EXPECT_DOUBLE_EQ(s.mean, 60);
  ASSERT_TRUE(w.Summarize("cpu", &s));
  EXPECT_EQ(s.samples, 2u);  // the report without cpu is not a sample of it
  EXPECT_NEAR(s.mean, 0.6, 1e-6);
  EXPECT_FALSE(w.Summarize("missing", &s));
}

// Columns are found in one pass when a report lists its metrics in the window's order; any other
// order, gaps, new names and names given twice land in the same places.
TEST(MetricWindowTest, EveryValueLandsInItsColumnWhateverTheOrder) {
  MetricWindow w(900, 1024, 3);
  size_t dropped = 0;
  w.Add(100, {{"a", 1}, {"b", 2}, {"c", 3}}, &dropped);
  w.Add(110, {{"c", 13}, {"a", 11}, {"b", 12}}, &dropped);                  // another order
  w.Add(120, {{"b", 22}, {"b", 23}, {"c", 24}}, &dropped);                  // a gap, b twice (the last counts)
  w.Add(130, {{"a", 31}, {"d", 34}, {"d", 35}, {"c", 33}}, &dropped);       // d: past max_metrics, twice
  w.Add(140, {{"c", 43}, {"b", 42}, {"a", 41}, {"b", 44}}, &dropped);
  EXPECT_EQ(dropped, 2u);
  EXPECT_EQ(w.metric_count(), 3u);
  std::map<std::string, std::vector<std::pair<double, double>>> got;
  for (const MetricSeries& s : w.Series()) got[s.metric] = s.points;
  EXPECT_EQ(got["a"], (std::vector<std::pair<double, double>>{{100, 1}, {110, 11}, {130, 31}, {140, 41}}));
  EXPECT_EQ(got["b"], (std::vector<std::pair<double, double>>{{100, 2}, {110, 12}, {120, 23}, {140, 44}}));
  EXPECT_EQ(got["c"], (std::vector<std::pair<double, double>>{{100, 3}, {110, 13}, {120, 24}, {130, 33}, {140, 43}}));
  // A new name given twice in its first report is one column.
  MetricWindow v(900, 1024, 8);
  v.Add(100, {{"x", 1}, {"x", 2}, {"y", 3}}, nullptr);
  EXPECT_EQ(v.metric_count(), 2u);
  MetricSummary s;
  ASSERT_TRUE(v.Summarize("x", &s));
  EXPECT_EQ(s.last, 2);
}

TEST(MetricWindowTest, EntriesExpireByTimestamp) {
  MetricWindow w(60, 1024, 64);
  for (int t = 0; t <= 120; t += 10) w.Add(1000 + t, {{"m", static_cast<double>(t)}}, nullptr);
  // newest 1120: rows at 1060..1120 remain
  EXPECT_EQ(w.rows(), 7u);
  EXPECT_DOUBLE_EQ(w.oldest_ts(), 1060);
  MetricSummary s;
  ASSERT_TRUE(w.Summarize("m", &s));
  EXPECT_DOUBLE_EQ(s.min, 60);
}

TEST(MetricWindowTest, LateReportIsPlacedByItsTimestamp) {
  MetricWindow w(900, 1024, 64);
  w.Add(100, {{"m", 1}}, nullptr);
  w.Add(120, {{"m", 3}}, nullptr);
  w.Add(110, {{"m", 2}}, nullptr);  // arrives last, belongs in the middle
  MetricSummary s;
  ASSERT_TRUE(w.Summarize("m", &s));
  EXPECT_DOUBLE_EQ(s.last, 3);  // newest by timestamp, not by arrival
  double prev_ts = 0, prev = 0;
  ASSERT_TRUE(w.Previous("m", 120, &prev_ts, &prev));
  EXPECT_DOUBLE_EQ(prev_ts, 110);
  EXPECT_DOUBLE_EQ(prev, 2);
}

TEST(MetricWindowTest, RowAndMetricLimitsHold) {
  MetricWindow w(1e6, 5, 2);
  size_t dropped = 0;
  for (int i = 0; i < 20; ++i) w.Add(i, {{"a", 1}, {"b", 2}, {"c", 3}}, &dropped);
  EXPECT_EQ(w.rows(), 5u);
  EXPECT_EQ(w.metric_count(), 2u);
  EXPECT_EQ(dropped, 20u);
}

TEST(MetricWindowTest, FullFifteenMinuteWindowOfEightMetricsStaysUnderFourKilobytes) {
  MetricWindow w(900, 1024, 64);
  Metrics m;
  for (int i = 0; i < 8; ++i) m.emplace_back("metric_" + std::to_string(i), i);
  for (int t = 0; t < 3600; t += 10) w.Add(1.7e9 + t, m, nullptr);
  EXPECT_EQ(w.rows(), 91u);  // 900 s at 10 s, both ends included
  EXPECT_LT(w.HeapBytes(), 4096u) << w.HeapBytes();
}

TEST(MetricWindowTest, LongRunningTimestampsStayPrecise) {
  MetricWindow w(900, 1024, 64);
  for (int t = 0; t < 100000; t += 10) w.Add(1.7e9 + t + 0.5, {{"m", 1}}, nullptr);
  EXPECT_DOUBLE_EQ(w.newest_ts(), 1.7e9 + 99990 + 0.5);
  EXPECT_NEAR(w.oldest_ts(), 1.7e9 + 99090 + 0.5, 1e-3);
}

}  // namespace
}  // namespace dctwin
