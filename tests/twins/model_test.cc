#include "twins/model.h"

#include <gtest/gtest.h>

namespace dctwin {
namespace {

Rule MakeRule(const char* kind, const char* metric, CompareOp op, double threshold, bool rate = false) {
  Rule r;
  r.kind = kind;
  r.metric = metric;
  r.op = op;
  r.threshold = threshold;
  r.rate = rate;
  return r;
}

TEST(RuleSetTest, RulesForMatchesNamesAndGlobsInConfigOrder) {
  ModelConfig m;
  m.rules = {MakeRule("network", "interface-*/if_dropped.*", CompareOp::kGreater, 0),
             MakeRule("thermal", "temp_c", CompareOp::kGreater, 85),
             MakeRule("network", "interface-eth0/if_dropped.rx", CompareOp::kGreater, 10)};
  RuleSet rules(m);
  EXPECT_EQ(rules.RulesFor("interface-eth0/if_dropped.rx"), (std::vector<uint16_t>{0, 2}));
  EXPECT_EQ(rules.RulesFor("interface-eth1/if_dropped.tx"), (std::vector<uint16_t>{0}));
  EXPECT_EQ(rules.RulesFor("temp_c"), (std::vector<uint16_t>{1}));
  EXPECT_TRUE(rules.RulesFor("temp_c2").empty());
  // Asked again: the cached answer is the same.
  EXPECT_EQ(rules.RulesFor("interface-eth0/if_dropped.rx"), (std::vector<uint16_t>{0, 2}));
}

TEST(RuleSetTest, IdentityIsWhatARuleWatchesNotItsThresholdOrPlace) {
  const Rule a = MakeRule("thermal", "temp_c", CompareOp::kGreater, 85);
  Rule b = a;
  b.threshold = 75;
  b.for_reports = 5;
  b.severity = Severity::kWarning;
  EXPECT_EQ(RuleSet::Identity(a), RuleSet::Identity(b));
  EXPECT_NE(RuleSet::Identity(a), RuleSet::Identity(MakeRule("thermal", "temp_c", CompareOp::kGreaterEqual, 85)));
  EXPECT_NE(RuleSet::Identity(a), RuleSet::Identity(MakeRule("thermal", "temp_c", CompareOp::kGreater, 85, true)));
  EXPECT_NE(RuleSet::Identity(a), RuleSet::Identity(MakeRule("fan", "temp_c", CompareOp::kGreater, 85)));
  ModelConfig m;
  m.rules = {MakeRule("disk", "disk_errors", CompareOp::kGreater, 0), b};
  RuleSet rules(m);
  EXPECT_EQ(rules.IndexOf(RuleSet::Identity(a)), 1);
  EXPECT_EQ(rules.IndexOf(RuleSet::Identity(MakeRule("power", "psu_volts", CompareOp::kLess, 11.4))), -1);
}

TEST(RuleSetTest, ClearReportsFallBackToTheModelDefault) {
  ModelConfig m;
  m.clear_reports = 3;
  m.rules = {MakeRule("a", "x", CompareOp::kLess, 1), MakeRule("b", "y", CompareOp::kLessEqual, 1)};
  m.rules[1].clear_reports = 7;
  RuleSet rules(m);
  EXPECT_EQ(rules.ClearReports(0), 3);
  EXPECT_EQ(rules.ClearReports(1), 7);
  EXPECT_TRUE(rules.rule(0).Holds(0.5));
  EXPECT_FALSE(rules.rule(0).Holds(1));
  EXPECT_TRUE(rules.rule(1).Holds(1));
}

}  // namespace
}  // namespace dctwin
