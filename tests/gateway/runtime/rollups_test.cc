// Rollups: the accumulator's buckets, their packing, and the merge of two parts of one bucket.
#include "gateway/runtime/rollups.h"

#include <gtest/gtest.h>

#include <limits>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace dctwin {
namespace {

TEST(RollupCodecTest, PackedValuesReadBackAndPartsMerge) {
  const std::vector<RollupValue> a{{1, 1, 5, 3, 5, 5, 50}, {2, 10, 10, 10, 10, 1, 0}};
  const std::vector<RollupValue> b{{1, 0, 9, 6, 9, 5, 59}, {3, 7, 7, 7, 7, 1, 3}};
  std::vector<RollupValue> out;
  ASSERT_TRUE(DecodeRollup(EncodeRollup(a), &out));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].max, 5);
  EXPECT_EQ(out[1].count, 1u);
  ASSERT_TRUE(DecodeRollup(MergeRollups(EncodeRollup(a), EncodeRollup(b)), &out));
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].min, 0);
  EXPECT_EQ(out[0].max, 9);
  EXPECT_FLOAT_EQ(out[0].mean, 4.5);
  EXPECT_EQ(out[0].last, 9);  // the part whose last came later
  EXPECT_EQ(out[0].count, 10u);
  EXPECT_EQ(out[2].metric, 3u);
  EXPECT_FALSE(DecodeRollup("x", &out));
  EXPECT_FALSE(DecodeRollup(EncodeRollup(a).substr(0, 7), &out));
  // A part that cannot be read gives way to the other.
  EXPECT_EQ(MergeRollups("junk", EncodeRollup(b)), EncodeRollup(b));
}

// Reports in another order, and more metrics than a twin keeps: every value in its own metric, at
// most 1,024 metrics per server and bucket.
TEST(RollupAccumulatorTest, EveryValueFoldsIntoItsMetricAndABucketIsBounded) {
  MetricDictionary dict;
  RollupAccumulator acc(dict);
  const double t0 = 1800000000;
  acc.Add("s1", t0, {{"a", 1}, {"b", 2}, {"c", 3}});
  acc.Add("s1", t0 + 10, {{"c", 30}, {"a", 10}});
  acc.Add("s1", t0 + 20, {{"b", 20}, {"b", 21}, {"a", 100}});
  std::vector<std::pair<std::string, double>> wide;
  for (int i = 0; i < 2000; ++i) wide.emplace_back("m" + std::to_string(i), i);
  acc.Add("s2", t0, wide);
  acc.Close(std::numeric_limits<double>::infinity());
  std::map<std::pair<std::string, int>, std::vector<RollupValue>> got;
  for (const RollupRow& r : acc.Take()) ASSERT_TRUE(DecodeRollup(r.data, &got[{r.server, r.period_s}]));
  std::map<uint32_t, RollupValue> s1;
  for (const RollupValue& v : got[std::make_pair(std::string("s1"), 60)]) s1[v.metric] = v;
  ASSERT_EQ(s1.size(), 3u);
  EXPECT_EQ(s1[dict.Id("a")].count, 3u);
  EXPECT_EQ(s1[dict.Id("a")].max, 100);
  EXPECT_EQ(s1[dict.Id("b")].count, 3u);
  EXPECT_EQ(s1[dict.Id("b")].last, 21);
  EXPECT_EQ(s1[dict.Id("c")].count, 2u);
  const std::pair<std::string, int> minute{"s2", 60}, hour{"s2", 3600};
  EXPECT_EQ(got[minute].size(), 1024u);
  EXPECT_EQ(got[hour].size(), 1024u);
}

TEST(RollupAccumulatorTest, BucketsCloseWhenTheirPeriodHasPassedAndLateReportsMakeParts) {
  MetricDictionary dict;
  RollupAccumulator acc(dict);
  const double t0 = 1800000000;  // a whole hour
  for (int i = 0; i < 12; ++i) acc.Add("s1", t0 + 10 * i, {{"temp_c", static_cast<double>(i)}, {"fan", 100.0}});
  // Reports of minute 0 (i = 0..5) and minute 1 (6..11): minute 0 was handed over at minute 1.
  std::vector<RollupRow> rows = acc.Take();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].period_s, 60);
  EXPECT_EQ(rows[0].start, static_cast<int64_t>(t0));
  std::vector<RollupValue> v;
  ASSERT_TRUE(DecodeRollup(rows[0].data, &v));
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0].metric, dict.Id("temp_c"));
  EXPECT_EQ(v[0].min, 0);
  EXPECT_EQ(v[0].max, 5);
  EXPECT_FLOAT_EQ(v[0].mean, 2.5);
  EXPECT_EQ(v[0].last, 5);
  EXPECT_EQ(v[0].count, 6u);
  EXPECT_EQ(v[0].last_offset_s, 50u);
  // A late report for minute 0: a part of its own.
  acc.Add("s1", t0 + 30, {{"temp_c", 100.0}});
  rows = acc.Take();
  ASSERT_EQ(rows.size(), 1u);  // the hour is still open: the report joins it
  EXPECT_EQ(rows[0].start, static_cast<int64_t>(t0));
  // Nothing else is due before its period has passed (and the grace after it).
  acc.Close(t0 + 120 + 4);
  EXPECT_TRUE(acc.Take().empty());
  acc.Close(t0 + 120 + 5);
  rows = acc.Take();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].start, static_cast<int64_t>(t0 + 60));
  // At stop, the hour so far.
  acc.Close(std::numeric_limits<double>::infinity());
  rows = acc.Take();
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0].period_s, 3600);
  ASSERT_TRUE(DecodeRollup(rows[0].data, &v));
  EXPECT_EQ(v[0].count, 13u);
  // Every ten minutes, the hours so far: parts of one bucket, nothing lost or counted twice.
  acc.Add("s3", t0, {{"temp_c", 1.0}});
  acc.Close(t0 + 600, true);
  rows = acc.Take();
  ASSERT_EQ(rows.size(), 2u);  // its minute (long over) and its hour so far
  acc.Add("s3", t0 + 601, {{"temp_c", 3.0}});
  acc.Close(std::numeric_limits<double>::infinity());
  rows = acc.Take();
  ASSERT_EQ(rows.size(), 2u);
  std::string hour;
  for (const RollupRow& r : rows) {
    if (r.period_s == 3600) hour = r.data;
  }
  ASSERT_TRUE(DecodeRollup(hour, &v));
  EXPECT_EQ(v[0].count, 1u);
  EXPECT_EQ(v[0].min, 3);
  acc.Add("s2", t0, {{"temp_c", 1.0}});
  acc.Forget("s2");
  EXPECT_EQ(acc.Take().size(), 2u);
  EXPECT_EQ(acc.servers(), 2u);  // s1 and s3
}

// A host that names a new metric in every report fills the dictionary up to its bound and no
// further: past it new names are kept in no rollup (counted), and the names it holds go on.
TEST(RollupAccumulatorTest, AFullDictionaryRefusesNewNamesAndKeepsTheOthersRolledUp) {
  MetricDictionary dict(3);
  RollupAccumulator acc(dict);
  const double t0 = 1800000000;
  acc.Add("s1", t0, {{"a", 1}, {"b", 2}, {"c", 3}, {"d", 4}});
  for (int i = 0; i < 5; ++i) acc.Add("s1", t0 + 1 + i, {{"a", 10}, {"name-" + std::to_string(i), 1}});
  EXPECT_EQ(dict.size(), 3u);
  EXPECT_EQ(dict.refused(), 6u);  // d, then name-0 to name-4
  EXPECT_EQ(dict.Unsaved().size(), 3u);
  acc.Close(std::numeric_limits<double>::infinity());
  std::vector<RollupRow> rows = acc.Take();
  ASSERT_EQ(rows.size(), 2u);  // its minute and its hour
  for (const RollupRow& r : rows) {
    std::vector<RollupValue> v;
    ASSERT_TRUE(DecodeRollup(r.data, &v));
    ASSERT_EQ(v.size(), 3u);
    EXPECT_EQ(v[0].metric, dict.Id("a"));
    EXPECT_EQ(v[0].count, 6u);
    for (const RollupValue& x : v) EXPECT_NE(x.metric, 0u);
  }
  // A name refused once is asked again (not remembered as refused), and refused again.
  acc.Add("s1", t0 + 10, {{"d", 5}});
  EXPECT_EQ(dict.refused(), 7u);
  // Names read back from the database load whatever the bound.
  dict.Load(9, "e");
  EXPECT_EQ(dict.Id("e"), 9u);
}

}  // namespace
}  // namespace dctwin

namespace dctwin {
namespace {

// The pass a shard makes once a minute, a slice per tick: the same rows as one Close(), and a
// server decommissioned during the pass is skipped.
TEST(RollupAccumulatorTest, APassInSlicesClosesWhatOneCloseWould) {
  MetricDictionary dict;
  RollupAccumulator whole(dict), sliced(dict);
  const double t0 = 1800000000;
  for (int i = 0; i < 7; ++i) {
    for (RollupAccumulator* acc : {&whole, &sliced}) acc->Add("s" + std::to_string(i), t0 + i, {{"temp_c", 40.0 + i}});
  }
  whole.Close(t0 + 600, true);
  sliced.BeginClose(true);
  sliced.Forget("s3");  // its buckets go now, and the pass passes over it
  ASSERT_TRUE(sliced.closing());
  EXPECT_FALSE(sliced.CloseSome(t0 + 600, 3));
  EXPECT_FALSE(sliced.CloseSome(t0 + 600, 3));
  EXPECT_TRUE(sliced.CloseSome(t0 + 600, 3));
  EXPECT_FALSE(sliced.closing());
  auto key = [](const RollupRow& r) { return r.server + "/" + std::to_string(r.period_s) + "/" + r.data; };
  std::multiset<std::string> a, b;
  for (const RollupRow& r : whole.Take()) a.insert(key(r));
  for (const RollupRow& r : sliced.Take()) b.insert(key(r));
  EXPECT_EQ(a.size(), 14u);  // 7 minutes, 7 hours so far
  EXPECT_EQ(a, b);
}

}  // namespace
}  // namespace dctwin
