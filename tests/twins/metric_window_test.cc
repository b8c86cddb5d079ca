#include "twins/metric_window.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <random>
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

TEST(MetricWindowTest, FullFifteenMinuteWindowOfEightMetricsStaysUnderAKilobyte) {
  MetricWindow w(900, 1024, 64);
  Metrics m;
  for (int i = 0; i < 8; ++i) m.emplace_back("metric_" + std::to_string(i), i);
  for (int t = 0; t < 3600; t += 10) w.Add(1.7e9 + t, m, nullptr);
  EXPECT_EQ(w.rows(), 91u);  // 900 s at 10 s, both ends included
  EXPECT_LT(w.HeapBytes(), 1024u) << w.HeapBytes();
}

TEST(MetricWindowTest, LongRunningTimestampsStayPrecise) {
  MetricWindow w(900, 1024, 64);
  for (int t = 0; t < 100000; t += 10) w.Add(1.7e9 + t + 0.5, {{"m", 1}}, nullptr);
  EXPECT_DOUBLE_EQ(w.newest_ts(), 1.7e9 + 99990 + 0.5);
  EXPECT_NEAR(w.oldest_ts(), 1.7e9 + 99090 + 0.5, 1e-3);
}

// The compressed window against a plain one: random reports (late ones, gaps, new metrics,
// metrics dropped, values of every kind) give the same series as a list of rows kept by hand.
TEST(MetricWindowTest, CompressedRowsGiveBackWhatWasAdded) {
  std::mt19937 rng(7);
  for (int round = 0; round < 40; ++round) {
    const double window_s = 300;
    MetricWindow w(window_s, 1024, 6);
    // The reference: (ts, metric) -> value, in arrival order per timestamp.
    std::vector<std::tuple<double, std::string, float>> kept;
    std::vector<std::string> names;
    double newest = 0;
    double t = 1.7e9 + round;
    for (int i = 0; i < 200; ++i) {
      t += std::uniform_int_distribution<int>(1, 20000)(rng) / 1000.0;
      double ts = t;
      if (rng() % 10 == 0) ts = t - std::uniform_int_distribution<int>(0, 250000)(rng) / 1000.0;  // late
      if (!kept.empty() && ts < newest - window_s) continue;  // the twin refuses these
      Metrics m;
      for (int k = 0; k < 7; ++k) {
        if (rng() % 3 == 0) continue;
        double v = 0;
        switch (rng() % 5) {
          case 0: v = std::uniform_int_distribution<int>(-500, 5000)(rng) / 100.0; break;     // 2 decimals
          case 1: v = std::uniform_int_distribution<int>(0, 20000)(rng); break;               // integers
          case 2: v = std::uniform_real_distribution<double>(-1e6, 1e6)(rng); break;          // raw
          case 3: v = (rng() % 2) ? std::numeric_limits<double>::infinity() : 1e30; break;    // beyond decimals
          default: v = std::uniform_int_distribution<int>(0, 9999)(rng) / 10000.0; break;     // 4 decimals
        }
        m.emplace_back("m" + std::to_string(k), v);
      }
      if (m.empty()) continue;
      w.Add(ts, m, nullptr);
      newest = std::max(newest, ts);
      for (const auto& [name, v] : m) {
        if (std::find(names.begin(), names.end(), name) == names.end()) {
          if (names.size() >= 6) continue;
          names.push_back(name);
        }
        kept.emplace_back(ts, name, static_cast<float>(v));
      }
      if (i == 120) {  // a metric stops being reported
        w.RemoveMetric(names.front());
        const std::string gone = names.front();
        kept.erase(std::remove_if(kept.begin(), kept.end(), [&](const auto& k) { return std::get<1>(k) == gone; }),
                   kept.end());
        names.erase(names.begin());
      }
    }
    ASSERT_TRUE(w.Consistent());
    const double cutoff = newest - window_s;
    std::map<std::string, std::vector<std::pair<double, double>>> want;
    std::stable_sort(kept.begin(), kept.end(), [](const auto& a, const auto& b) { return std::get<0>(a) < std::get<0>(b); });
    for (const auto& [ts, name, v] : kept) {
      if (ts >= cutoff - 1e-9) want[name].emplace_back(ts, v);
    }
    std::map<std::string, std::vector<std::pair<double, double>>> got;
    for (const MetricSeries& series : w.Series()) got[series.metric] = series.points;
    ASSERT_EQ(got.size(), want.size()) << "round " << round;
    for (auto& [name, points] : want) {
      ASSERT_EQ(got[name].size(), points.size()) << name << " round " << round;
      for (size_t i = 0; i < points.size(); ++i) {
        EXPECT_NEAR(got[name][i].first, points[i].first, 1e-3);
        // The same float, bit for bit (decimal columns give back exactly what was stored).
        EXPECT_EQ(static_cast<float>(got[name][i].second), static_cast<float>(points[i].second)) << name;
      }
    }
  }
}

// A full 15-minute window of six metrics as collectors print them (a temperature to 0.01, a
// utilisation to 0.0001, watts, fan rpm, volts to 0.01, a drop counter mostly 0) takes well under
// a kilobyte compressed: the figure the memory budget of issue 23 needs (2,048 bytes a twin).
TEST(MetricWindowTest, AFullWindowOfCollectorValuesCompressesBelowAKilobyte) {
  MetricWindow w(900, 1024, 64);
  std::mt19937 rng(11);
  std::normal_distribution<double> noise(0, 1);
  double temp = 45, util = 0.4, watts = 310, rpm = 9000;
  for (int t = 0; t < 3600; t += 10) {
    temp += 0.05 * noise(rng);
    util = std::clamp(util + 0.02 * noise(rng), 0.0, 1.0);
    watts += 2 * noise(rng);
    rpm += 30 * noise(rng);
    w.Add(1.7e9 + t,
          {{"temp_c", std::round(temp * 100) / 100},
           {"cpu_util", std::round(util * 10000) / 10000},
           {"power_w", std::round(watts)},
           {"fan_rpm", std::round(rpm)},
           {"psu_volts", std::round((12 + 0.05 * noise(rng)) * 100) / 100},
           {"net_drop_rate", rng() % 50 == 0 ? 1.0 : 0.0}},
          nullptr);
  }
  EXPECT_EQ(w.rows(), 91u);
  EXPECT_LT(w.EncodedBytes(), 1000u) << w.EncodedBytes();
  std::printf("collector values: %zu bytes encoded, %zu on the heap\n", w.EncodedBytes(), w.HeapBytes());
  EXPECT_LT(w.HeapBytes(), 1200u) << w.HeapBytes();
  // The same window with values that fit no decimal scale still holds them exactly, at about the
  // cost of plain floats (4 bytes a value, a bitmap byte per 8 rows, the timestamp; up to 15
  // expired rows wait at the head of the first block).
  MetricWindow raw(900, 1024, 64);
  for (int t = 0; t < 3600; t += 10) {
    Metrics m;
    for (int k = 0; k < 6; ++k) m.emplace_back("m" + std::to_string(k), std::uniform_real_distribution<double>(0, 100)(rng));
    raw.Add(1.7e9 + t, m, nullptr);
  }
  EXPECT_LT(raw.EncodedBytes(), (91u + 15) * (6 * 4 + 1 + 1) + 200) << raw.EncodedBytes();
  std::printf("random floats: %zu bytes encoded\n", raw.EncodedBytes());
}

}  // namespace
}  // namespace dctwin
