// Group twins (a power feed, a cooling unit, a ToR switch): correlation across the racks they
// serve, caused_by on the racks' and servers' incidents, health, and what a reload of the
// inventory does to them. The whole small datacenter in one registry (TwinWorld).
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>

#include "tests/twins/twin_world.h"
#include "twins/topology.h"

namespace dctwin {
namespace {

using testing::TwinWorld;

std::shared_ptr<const Topology> FeedAndSwitch() {
  auto t = std::make_shared<Topology>();
  for (const char* r : {"r1", "r2", "r3"}) t->Add("feed:A-12", r);
  t->Add("tor:sw-1", "r1");
  t->Add("cooling:crah-3", "r3");
  return t;
}

ModelConfig Model(std::shared_ptr<const Topology> topology) {
  ModelConfig m = TwinWorld::DefaultModel();
  m.topology = std::move(topology);
  m.group_min_racks = 2;
  m.group_min_servers = 5;
  return m;
}

class GroupTwinTest : public ::testing::Test {
 protected:
  GroupTwinTest() : world_(Model(FeedAndSwitch())) {
    const auto topology = FeedAndSwitch();
    for (const auto& [group, racks] : topology->group_racks) {
      world_.Deliver({Envelope{{Level::kGroup, group}, world_.now, GroupDefinition{racks}}});
    }
    for (const char* r : {"r1", "r2", "r3"}) {
      for (int i = 0; i < 4; ++i) world_.Commission(std::string(r) + "-s" + std::to_string(i), r);
    }
  }
  // Every server of `rack` reports psu_volts `volts` three times.
  void Volts(const std::string& rack, double volts, int servers = 4) {
    for (int round = 0; round < 3; ++round) {
      for (int i = 0; i < servers; ++i) world_.Report(rack + "-s" + std::to_string(i), {{"psu_volts", volts}}, 0);
      world_.now += 10;
    }
  }
  std::vector<IncidentEvent> Opens(Level level, const std::string& subject) const {
    std::vector<IncidentEvent> out;
    for (const IncidentEvent& e : world_.EventsFor(level, subject)) {
      if (e.state == IncidentState::kOpen) out.push_back(e);
    }
    return out;
  }
  // The record of `subject`'s incident of `kind` as it stands after every update.
  std::string CauseOf(Level level, const std::string& subject, const std::string& kind) const {
    std::string cause;
    for (const IncidentEvent& e : world_.events) {
      if (e.level == level && e.subject == subject && e.kind == kind &&
          (e.state == IncidentState::kOpen || e.state == IncidentState::kUpdated)) {
        cause = e.caused_by;
      }
    }
    return cause;
  }

  TwinWorld world_;
};

TEST_F(GroupTwinTest, EveryGroupPublishesItsHealthWhenDefined) {
  for (const char* g : {"feed:A-12", "tor:sw-1", "cooling:crah-3"}) {
    const HealthUpdate* h = world_.LastHealth(Level::kGroup, g);
    ASSERT_NE(h, nullptr) << g;
    EXPECT_EQ(h->status, HealthStatus::kOk);
  }
  EXPECT_EQ(world_.LastHealth(Level::kGroup, "feed:A-12")->members, 3);
}

TEST_F(GroupTwinTest, TwoRacksOfAFeedWithPowerIncidentsAreOneFeedIncidentThatCausesTheirs) {
  Volts("r1", 10.0);
  EXPECT_TRUE(Opens(Level::kGroup, "feed:A-12").empty()) << "one rack is not the feed";
  Volts("r2", 10.0);
  const auto opens = Opens(Level::kGroup, "feed:A-12");
  ASSERT_EQ(opens.size(), 1u);
  const IncidentEvent& feed = opens[0];
  EXPECT_EQ(feed.kind, "power");
  EXPECT_EQ(feed.severity, Severity::kCritical);
  EXPECT_EQ(feed.subject, "feed:A-12");
  EXPECT_NE(feed.summary.find("feed"), std::string::npos) << feed.summary;
  // The racks' power incidents say the feed caused them; the datacenter, whose threshold of two
  // racks is met too, adds nothing: both racks are on the feed.
  EXPECT_TRUE(Opens(Level::kDatacenter, "dc1").empty());
  EXPECT_EQ(CauseOf(Level::kRack, "r1", "power"), feed.id);
  EXPECT_EQ(CauseOf(Level::kRack, "r2", "power"), feed.id);
  // The servers' are caused by their rack's incident (the nearer cause).
  EXPECT_EQ(CauseOf(Level::kServer, "r1-s0", "power"), Opens(Level::kRack, "r1").at(0).id);
  // Neither the switch nor the cooling unit can cause power incidents.
  EXPECT_TRUE(Opens(Level::kGroup, "tor:sw-1").empty());
  EXPECT_TRUE(Opens(Level::kGroup, "cooling:crah-3").empty());
  const HealthUpdate* h = world_.LastHealth(Level::kGroup, "feed:A-12");
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(h->status, HealthStatus::kCritical);
  EXPECT_EQ(h->unhealthy, (std::vector<std::string>{"r1", "r2"}));

  world_.Query(Level::kGroup, "feed:A-12", QueryKind::kGroup);
  ASSERT_FALSE(world_.replies.empty());
  const auto* view = std::get_if<GroupView>(&world_.replies.back().view);
  ASSERT_NE(view, nullptr);
  EXPECT_EQ(view->racks, (std::vector<std::string>{"r1", "r2", "r3"}));
  EXPECT_EQ(view->troubled.size(), 2u);
  ASSERT_EQ(view->open.size(), 1u);

  // One rack recovers: below group.min_racks, but 4 servers are below min_servers too: resolved.
  Volts("r2", 12.0);
  const auto events = world_.EventsFor(Level::kGroup, "feed:A-12");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].state, IncidentState::kResolved);
  EXPECT_EQ(events[1].id, feed.id);
  EXPECT_EQ(world_.LastHealth(Level::kGroup, "feed:A-12")->status, HealthStatus::kOk);
}

TEST_F(GroupTwinTest, RacksOnDifferentFeedsAreADatacenterIncident) {
  auto t = std::make_shared<Topology>();
  t->Add("feed:A-12", "r1");
  t->Add("feed:B-1", "r2");
  world_.UpdateModel(Model(t));
  Volts("r1", 10.0);
  Volts("r2", 10.0);
  ASSERT_EQ(Opens(Level::kDatacenter, "dc1").size(), 1u);
  EXPECT_TRUE(Opens(Level::kGroup, "feed:A-12").empty());
}

TEST_F(GroupTwinTest, ServersAcrossRacksBelowTheRackThresholdStillMakeAGroupIncident) {
  // Two servers in each rack: no rack incident (rack.min_servers is 3), but 6 servers on the feed.
  Volts("r1", 10.0, 2);
  Volts("r2", 10.0, 2);
  EXPECT_TRUE(Opens(Level::kRack, "r1").empty());
  Volts("r3", 10.0, 2);
  const auto opens = Opens(Level::kGroup, "feed:A-12");
  ASSERT_EQ(opens.size(), 1u);
  // Where the rack has no incident of the kind, the servers' are caused by the feed's.
  EXPECT_EQ(CauseOf(Level::kServer, "r1-s0", "power"), opens[0].id);
  EXPECT_EQ(CauseOf(Level::kServer, "r3-s1", "power"), opens[0].id);
}

TEST_F(GroupTwinTest, ServersOfOneRackOfSeveralAreThatRacksTroubleNotTheFeeds) {
  ModelConfig m = Model(FeedAndSwitch());
  m.group_min_servers = 4;
  world_.UpdateModel(m);
  Volts("r2", 10.0);  // four servers, one rack of three on the feed
  EXPECT_TRUE(Opens(Level::kGroup, "feed:A-12").empty());
  Volts("r3", 10.0);  // a second rack: the feed's now
  EXPECT_EQ(Opens(Level::kGroup, "feed:A-12").size(), 1u);
}

TEST_F(GroupTwinTest, ADeadSwitchOfOneRackIsASwitchIncidentFromItsServers) {
  // tor:sw-1 serves r1 alone: the rack threshold of 2 racks can never be met, the servers' can.
  ModelConfig m = Model(FeedAndSwitch());
  m.group_min_servers = 4;
  world_.UpdateModel(m);
  for (int i = 0; i < 4; ++i) {
    for (int round = 0; round < 3; ++round) world_.Report("r1-s" + std::to_string(i), {{"net_drop_rate", 0.5}}, 0);
  }
  const auto opens = Opens(Level::kGroup, "tor:sw-1");
  ASSERT_EQ(opens.size(), 1u);
  EXPECT_EQ(opens[0].kind, "network");
  EXPECT_EQ(CauseOf(Level::kRack, "r1", "network"), opens[0].id);
  EXPECT_TRUE(Opens(Level::kGroup, "feed:A-12").empty()) << "a feed does not cause network incidents";
}

TEST_F(GroupTwinTest, AGroupTheInventoryNoLongerNamesResolvesAndClearsItsHealth) {
  Volts("r1", 10.0);
  Volts("r2", 10.0);
  ASSERT_EQ(Opens(Level::kGroup, "feed:A-12").size(), 1u);
  auto t = std::make_shared<Topology>();
  t->Add("tor:sw-1", "r1");
  world_.UpdateModel(Model(t));
  world_.Deliver({Envelope{{Level::kGroup, "feed:A-12"}, world_.now, GroupDefinition{}}});
  const auto events = world_.EventsFor(Level::kGroup, "feed:A-12");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].state, IncidentState::kResolved);
  const HealthUpdate* h = world_.LastHealth(Level::kGroup, "feed:A-12");
  ASSERT_NE(h, nullptr);
  EXPECT_TRUE(h->cleared);
  EXPECT_EQ(world_.registry().group("feed:A-12"), nullptr);
}

TEST_F(GroupTwinTest, ARackThatLeavesTheGroupNoLongerCounts) {
  Volts("r1", 10.0);
  Volts("r2", 10.0);
  ASSERT_EQ(Opens(Level::kGroup, "feed:A-12").size(), 1u);
  // The inventory moves r2 to another feed: A-12 has one rack with power incidents left.
  auto t = std::make_shared<Topology>();
  t->Add("feed:A-12", "r1");
  t->Add("feed:A-12", "r3");
  t->Add("feed:B-1", "r2");
  world_.UpdateModel(Model(t));
  world_.Deliver({Envelope{{Level::kGroup, "feed:A-12"}, world_.now, GroupDefinition{{"r1", "r3"}}},
                  Envelope{{Level::kGroup, "feed:B-1"}, world_.now, GroupDefinition{{"r2"}}}});
  const auto events = world_.EventsFor(Level::kGroup, "feed:A-12");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].state, IncidentState::kResolved);
  EXPECT_TRUE(Opens(Level::kGroup, "feed:B-1").empty());
  EXPECT_EQ(world_.LastHealth(Level::kGroup, "feed:B-1")->members, 1);
}

TEST(TopologyTest, GroupIdsAndTheKindsEachCanCause) {
  EXPECT_TRUE(IsValidGroupId("feed:A-12"));
  EXPECT_TRUE(IsValidGroupId("cooling:crah-3"));
  EXPECT_TRUE(IsValidGroupId("tor:sw-r07"));
  EXPECT_FALSE(IsValidGroupId("pdu:A-12"));
  EXPECT_FALSE(IsValidGroupId("feed:"));
  EXPECT_FALSE(IsValidGroupId("feed:a/b"));
  EXPECT_TRUE(GroupCauses("feed:A-12", "power"));
  EXPECT_TRUE(GroupCauses("feed:A-12", "silent"));
  EXPECT_FALSE(GroupCauses("feed:A-12", "thermal"));
  EXPECT_TRUE(GroupCauses("cooling:c", "thermal"));
  EXPECT_TRUE(GroupCauses("tor:t", "network"));
  EXPECT_FALSE(GroupCauses("tor:t", "power"));
}

}  // namespace
}  // namespace dctwin
