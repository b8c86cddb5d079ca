#include "twins/control.h"

#include <gtest/gtest.h>

namespace dctwin {
namespace {

ControlOptions Options() {
  ControlOptions o;
  o.keys.push_back(ControlKeySpec{"power_cap_w", ControlType::kNumber, 100.0, 1000.0, {}});
  o.keys.push_back(ControlKeySpec{"drain", ControlType::kBool, std::nullopt, std::nullopt, {}});
  o.keys.push_back(ControlKeySpec{"fan_profile", ControlType::kString, std::nullopt, std::nullopt, {"quiet", "max"}});
  o.ack_timeout_s = 60;
  o.max_drained_per_rack = 0.25;
  o.max_drained_per_datacenter = 0.2;
  o.max_changes_per_min = 100;
  return o;
}

ControlChange Set(const std::string& server, const std::string& key, ControlValue v) {
  ControlChange c;
  c.server = server;
  c.set.emplace_back(key, std::move(v));
  c.by = "test";
  return c;
}

class ControlBookTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 1; i <= 8; ++i) book_.Commission("s" + std::to_string(i), i <= 4 ? "r1" : "r2");
  }
  ControlBook book_{Options()};
};

TEST(ControlValueTest, ValuesAreCheckedAgainstTheirKey) {
  const ControlOptions o = Options();
  EXPECT_EQ(CheckValue(*o.Key("power_cap_w"), ControlValue(350.0)), "");
  EXPECT_EQ(CheckValue(*o.Key("power_cap_w"), ControlValue(50.0)), "power_cap_w must be at least 100 (got 50)");
  EXPECT_EQ(CheckValue(*o.Key("power_cap_w"), ControlValue(true)), "power_cap_w must be a number");
  EXPECT_EQ(CheckValue(*o.Key("drain"), ControlValue(std::string("yes"))), "drain must be true or false");
  EXPECT_EQ(CheckValue(*o.Key("fan_profile"), ControlValue(std::string("loud"))),
            "fan_profile must be one of quiet, max (got loud)");
  EXPECT_EQ(ControlBook::Allowed(0.25, 4), 1);
  EXPECT_EQ(ControlBook::Allowed(0.25, 3), 1);  // a small rack can always drain one
  EXPECT_EQ(ControlBook::Allowed(0.25, 40), 10);
  EXPECT_EQ(ControlBook::Allowed(0, 40), 0);
}

TEST_F(ControlBookTest, VersionsCountUpAndARefusedChangeChangesNothing) {
  EXPECT_EQ(book_.Change(Set("s1", "power_cap_w", 300.0), 10, 10, true).servers.at(0).second, 1u);
  EXPECT_EQ(book_.Change(Set("s1", "power_cap_w", 310.0), 11, 11, true).servers.at(0).second, 2u);
  ControlChange stale = Set("s1", "power_cap_w", 320.0);
  stale.version = 1;
  ControlDecision d = book_.Change(stale, 12, 12, true);
  EXPECT_EQ(d.interlock, "version");
  EXPECT_EQ(std::get<double>(book_.Find("s1")->desired.at("power_cap_w")), 310.0);
  // A preview changes nothing either.
  EXPECT_TRUE(book_.Change(Set("s1", "power_cap_w", 330.0), 13, 13, false).error.empty());
  EXPECT_EQ(book_.Find("s1")->version, 2u);
  ControlChange remove;
  remove.server = "s1";
  remove.set.emplace_back("power_cap_w", std::nullopt);
  book_.Change(remove, 14, 14, true);
  EXPECT_TRUE(book_.Find("s1")->desired.empty());
}

TEST_F(ControlBookTest, DrainsAreCountedThroughReportsMovesAndDecommissions) {
  EXPECT_TRUE(book_.Change(Set("s1", "drain", true), 1, 1, true).error.empty());
  EXPECT_EQ(book_.Change(Set("s2", "drain", true), 1, 1, true).interlock, "max_drained_per_rack");
  ASSERT_EQ(book_.Report("s1", 1, {{"drain", true}}, {}, kAckApplied, "", 1).kind, ReportOutcome::Kind::kApplied);
  // Undoing a drain counts until the server says it is undone.
  book_.Change(Set("s1", "drain", false), 2, 2, true);
  EXPECT_EQ(book_.drained_in_rack("r1"), 1);
  EXPECT_EQ(book_.Change(Set("s2", "drain", true), 3, 3, true).interlock, "max_drained_per_rack");
  ASSERT_EQ(book_.Report("s1", 2, {{"drain", false}}, {}, kAckApplied, "", 4).kind, ReportOutcome::Kind::kApplied);
  EXPECT_EQ(book_.drained_in_rack("r1"), 0);
  EXPECT_TRUE(book_.Change(Set("s2", "drain", true), 5, 5, true).error.empty());
  // The site: 8 servers at 0.2 allow 1... at least 1; s5 in r2 would make 2.
  EXPECT_EQ(book_.Change(Set("s5", "drain", true), 6, 6, true).interlock, "max_drained_per_datacenter");
  // s2 moves to r2: its drain goes along; decommissioned, it is gone.
  book_.Commission("s2", "r2");
  EXPECT_EQ(book_.drained_in_rack("r1"), 0);
  EXPECT_EQ(book_.drained_in_rack("r2"), 1);
  book_.Decommission("s2");
  EXPECT_EQ(book_.drained_in_rack("r2"), 0);
  EXPECT_EQ(book_.drained_total(), 0);
  EXPECT_EQ(book_.Find("s2"), nullptr);
  EXPECT_TRUE(book_.Change(Set("s5", "drain", true), 7, 7, true).error.empty());
}

TEST_F(ControlBookTest, ARackChangeIsWholeOrNothing) {
  book_.Change(Set("s1", "drain", true), 1, 1, true);
  ControlChange rack;
  rack.rack = "r1";
  rack.set.emplace_back("drain", true);
  EXPECT_EQ(book_.Change(rack, 2, 2, true).interlock, "max_drained_per_rack");
  for (const char* s : {"s2", "s3", "s4"}) EXPECT_EQ(book_.Find(s), nullptr) << s;
  rack.set = {{"power_cap_w", 200.0}};
  ControlDecision d = book_.Change(rack, 3, 3, true);
  ASSERT_EQ(d.servers.size(), 4u);
  EXPECT_EQ(d.servers[0], (std::pair<std::string, uint64_t>{"s1", 2}));
  EXPECT_EQ(d.servers[1], (std::pair<std::string, uint64_t>{"s2", 1}));
}

TEST_F(ControlBookTest, TheRateOfChangesIsLimitedPerMinuteOfTheMonotonicClock) {
  ControlOptions o = Options();
  o.max_changes_per_min = 3;
  ControlBook book(o);
  book.Commission("s1", "r1");
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(book.Change(Set("s1", "power_cap_w", 200.0 + i), 0, 100 + i, true).error.empty());
  EXPECT_EQ(book.Change(Set("s1", "power_cap_w", 300.0), 0, 130, true).interlock, "max_changes_per_min");
  EXPECT_TRUE(book.Change(Set("s1", "power_cap_w", 300.0), 0, 160.5, true).error.empty());
}

TEST_F(ControlBookTest, ReportsOutOfOrderAreStaleAndAnUnissuedVersionIsRefused) {
  book_.Change(Set("s1", "power_cap_w", 300.0), 1, 1, true);
  book_.Change(Set("s1", "power_cap_w", 400.0), 2, 2, true);
  EXPECT_EQ(book_.Report("s1", 3, {}, {}, kAckApplied, "", 3).kind, ReportOutcome::Kind::kRefused);
  EXPECT_EQ(book_.Report("s1", 2, {{"power_cap_w", 400.0}}, {}, kAckApplied, "", 3).kind, ReportOutcome::Kind::kApplied);
  EXPECT_EQ(book_.Report("s1", 2, {{"power_cap_w", 400.0}}, {}, kAckApplied, "", 4).kind, ReportOutcome::Kind::kUnchanged);
  EXPECT_EQ(book_.Report("s1", 1, {{"power_cap_w", 300.0}}, {}, kAckApplied, "", 5).kind, ReportOutcome::Kind::kStale);
  EXPECT_EQ(book_.Report("s1", 2, {}, {}, kAckInProgress, "", 5).kind, ReportOutcome::Kind::kStale);
  EXPECT_EQ(book_.Find("s1")->State(), ControlState::kInSync);
  EXPECT_EQ(book_.Report("nope", 0, {}, {}, kAckApplied, "", 5).kind, ReportOutcome::Kind::kRefused);
}

TEST_F(ControlBookTest, TimeoutsRefusalsAndDriftDecideTheIncidents) {
  book_.Change(Set("s1", "power_cap_w", 300.0), 1000, 10, true);
  ControlIncidents inc;
  EXPECT_FALSE(book_.Incidents("s1", &inc));
  EXPECT_TRUE(book_.CheckTimeouts(69).empty());
  EXPECT_EQ(book_.CheckTimeouts(70), std::vector<std::string>{"s1"});
  EXPECT_EQ(book_.Find("s1")->State(), ControlState::kTimeout);
  ASSERT_TRUE(book_.Incidents("s1", &inc));
  EXPECT_TRUE(inc.control);
  EXPECT_NE(inc.control_summary.find("not applied by server s1 in rack r1 within 60 s (power_cap_w is not reported, desired 300)"),
            std::string::npos) << inc.control_summary;
  // Refused: still open; applied: resolved.
  book_.Report("s1", 1, {}, {}, kAckRefused, "BMC says no", 1100);
  EXPECT_EQ(book_.Find("s1")->State(), ControlState::kRejected);
  EXPECT_FALSE(book_.Incidents("s1", &inc));
  book_.Report("s1", 1, {{"power_cap_w", 300.0}}, {}, kAckApplied, "", 1200);
  ASSERT_TRUE(book_.Incidents("s1", &inc));
  EXPECT_FALSE(inc.control);
  // The value leaves its desired one after it was applied: drift, until it is back.
  book_.Report("s1", 1, {{"power_cap_w", 500.0}}, {}, kAckApplied, "", 1300);
  ASSERT_TRUE(book_.Incidents("s1", &inc));
  EXPECT_TRUE(inc.drift);
  EXPECT_EQ(inc.drift_summary, "server s1 in rack r1 left its desired state after applying version 1: power_cap_w is 500, desired 300");
  book_.Report("s1", 1, {{"power_cap_w", 300.0}}, {}, kAckApplied, "", 1400);
  ASSERT_TRUE(book_.Incidents("s1", &inc));
  EXPECT_FALSE(inc.drift);
}

TEST_F(ControlBookTest, ARestoredWaitingVersionKeepsWhatIsLeftOfItsTimeout) {
  ServerControl s;
  s.version = 3;
  s.desired["power_cap_w"] = 300.0;
  s.changed_at = 1000;  // 40 s of the 60 went by before the restart
  ControlBook book(Options());
  book.Commission("s1", "r1");
  book.Restore("s1", s, 1040, 5);
  EXPECT_TRUE(book.CheckTimeouts(24).empty());
  EXPECT_EQ(book.CheckTimeouts(25), std::vector<std::string>{"s1"});
}

}  // namespace
}  // namespace dctwin
