#include "twins/rack_twin.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "tests/twins/twin_world.h"

namespace dctwin {
namespace {

using testing::TwinWorld;

void MakeHot(TwinWorld& w, const std::string& server) {
  for (int i = 0; i < 3; ++i) w.Report(server, {{"temp_c", 95}}, 0);
}
void MakeCool(TwinWorld& w, const std::string& server) {
  for (int i = 0; i < 3; ++i) w.Report(server, {{"temp_c", 50}}, 0);
}

TEST(RackTwinTest, ThreeServersWithTheSameKindMakeOneRackIncident) {
  TwinWorld w;
  for (const char* s : {"s1", "s2", "s3", "s4"}) w.Commission(s, "r1");
  MakeHot(w, "s1");
  MakeHot(w, "s2");
  EXPECT_TRUE(w.EventsFor(Level::kRack, "r1").empty());
  MakeHot(w, "s3");
  auto rack = w.EventsFor(Level::kRack, "r1");
  ASSERT_EQ(rack.size(), 1u);
  EXPECT_EQ(rack[0].kind, "thermal");
  EXPECT_EQ(rack[0].state, IncidentState::kOpen);
  EXPECT_EQ(rack[0].severity, Severity::kCritical);
  EXPECT_EQ(rack[0].rack, "r1");
  EXPECT_NE(rack[0].summary.find("3 of 4 servers"), std::string::npos) << rack[0].summary;
  // A fourth server with the same kind joins the rack incident: no second one.
  MakeHot(w, "s4");
  EXPECT_EQ(w.EventsFor(Level::kRack, "r1").size(), 1u);
  EXPECT_EQ(w.EventsFor(Level::kServer, "s4")[0].caused_by, rack[0].id);

  const HealthUpdate* h = w.LastHealth(Level::kRack, "r1");
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(h->status, HealthStatus::kCritical);
  EXPECT_EQ(h->by_kind.at("thermal"), 4);
  EXPECT_EQ(h->members, 4);
  ASSERT_EQ(h->open.size(), 1u);
  EXPECT_EQ(h->open[0], rack[0].id);
}

TEST(RackTwinTest, MembersCarryCausedByAndEveryOneStillResolves) {
  TwinWorld w;
  for (const char* s : {"s1", "s2", "s3"}) w.Commission(s, "r1");
  for (const char* s : {"s1", "s2", "s3"}) MakeHot(w, s);
  const std::string rack_id = w.EventsFor(Level::kRack, "r1").at(0).id;
  for (const char* s : {"s1", "s2", "s3"}) {
    EXPECT_EQ(w.server(s).open_incidents().at(0).caused_by, rack_id) << s;
  }
  // The first member to clear drops the rack below the threshold: the rack incident resolves,
  // and every member still publishes its own resolve, carrying the cause.
  MakeCool(w, "s1");
  auto rack = w.EventsFor(Level::kRack, "r1");
  ASSERT_EQ(rack.size(), 2u);
  EXPECT_EQ(rack[1].state, IncidentState::kResolved);
  EXPECT_EQ(rack[1].id, rack_id);
  MakeCool(w, "s2");
  MakeCool(w, "s3");
  for (const char* s : {"s1", "s2", "s3"}) {
    auto events = w.EventsFor(Level::kServer, s);
    ASSERT_EQ(events.size(), 2u) << s;
    EXPECT_EQ(events[1].state, IncidentState::kResolved);
    EXPECT_EQ(events[1].caused_by, rack_id) << s;
    // The cause reached the member's record as soon as the rack incident opened.
    auto updates = w.UpdatesFor(Level::kServer, s);
    ASSERT_EQ(updates.size(), 1u) << s;
    EXPECT_EQ(updates[0].id, events[0].id);
    EXPECT_EQ(updates[0].caused_by, rack_id) << s;
  }
  EXPECT_EQ(w.LastHealth(Level::kRack, "r1")->status, HealthStatus::kOk);
}

TEST(RackTwinTest, DifferentKindsDoNotCorrelate) {
  TwinWorld w;
  for (const char* s : {"s1", "s2", "s3"}) w.Commission(s, "r1");
  MakeHot(w, "s1");
  w.Report("s2", {{"disk_errors", 1}});
  for (int i = 0; i < 3; ++i) w.Report("s3", {{"psu_volts", 10}});
  EXPECT_TRUE(w.EventsFor(Level::kRack, "r1").empty());
  EXPECT_EQ(w.LastHealth(Level::kRack, "r1")->by_kind.size(), 3u);
}

TEST(RackTwinTest, ServersInOtherRacksDoNotCount) {
  TwinWorld w;
  w.Commission("s1", "r1");
  w.Commission("s2", "r1");
  w.Commission("s3", "r2");
  for (const char* s : {"s1", "s2", "s3"}) MakeHot(w, s);
  EXPECT_TRUE(w.EventsFor(Level::kRack, "r1").empty());
  EXPECT_TRUE(w.EventsFor(Level::kRack, "r2").empty());
}

TEST(RackTwinTest, DecommissionRemovesTheServersIncidentsFromItsRack) {
  TwinWorld w;
  for (const char* s : {"s1", "s2", "s3"}) w.Commission(s, "r1");
  for (const char* s : {"s1", "s2", "s3"}) MakeHot(w, s);
  ASSERT_EQ(w.EventsFor(Level::kRack, "r1").size(), 1u);
  w.Decommission("s3");
  auto rack = w.EventsFor(Level::kRack, "r1");
  ASSERT_EQ(rack.size(), 2u);
  EXPECT_EQ(rack[1].state, IncidentState::kResolved);
  const HealthUpdate* h = w.LastHealth(Level::kRack, "r1");
  EXPECT_EQ(h->members, 2);
  EXPECT_EQ(h->by_kind.at("thermal"), 2);
  // The decommissioned server resolved its own incident too.
  auto s3 = w.EventsFor(Level::kServer, "s3");
  ASSERT_EQ(s3.size(), 2u);
  EXPECT_EQ(s3[1].state, IncidentState::kResolved);
}

TEST(RackTwinTest, RackWithNoServersLeftIsRemovedAndItsHealthCleared) {
  TwinWorld w;
  w.Commission("s1", "r1");
  ASSERT_NE(w.registry().rack("r1"), nullptr);
  w.Decommission("s1");
  EXPECT_EQ(w.registry().rack("r1"), nullptr);
  EXPECT_TRUE(w.LastHealth(Level::kRack, "r1")->cleared);
  EXPECT_EQ(w.dc().rack_count(), 0u);
}

TEST(RackTwinTest, MovingAServerMovesItsIncidents) {
  TwinWorld w;
  for (const char* s : {"s1", "s2", "s3"}) w.Commission(s, "r1");
  for (const char* s : {"a1", "a2"}) w.Commission(s, "r2");
  for (const char* s : {"s1", "s2", "s3", "a1", "a2"}) MakeHot(w, s);
  ASSERT_EQ(w.EventsFor(Level::kRack, "r1").size(), 1u);
  ASSERT_TRUE(w.EventsFor(Level::kRack, "r2").empty());
  w.Commission("s3", "r2");  // moved, still hot
  EXPECT_EQ(w.server("s3").rack(), "r2");
  auto r1 = w.EventsFor(Level::kRack, "r1");
  ASSERT_EQ(r1.size(), 2u);
  EXPECT_EQ(r1[1].state, IncidentState::kResolved);
  auto r2 = w.EventsFor(Level::kRack, "r2");
  ASSERT_EQ(r2.size(), 1u);
  EXPECT_EQ(r2[0].state, IncidentState::kOpen);
  EXPECT_EQ(w.LastHealth(Level::kRack, "r1")->members, 2);
  EXPECT_EQ(w.LastHealth(Level::kRack, "r2")->members, 3);
  EXPECT_EQ(w.LastHealth(Level::kServer, "s3")->rack, "r2");
  // s3's incident kept its id through the move; its record says the new rack at once.
  auto moved = w.UpdatesFor(Level::kServer, "s3");
  ASSERT_FALSE(moved.empty());
  EXPECT_EQ(moved.back().rack, "r2");
  EXPECT_EQ(moved.back().id, w.EventsFor(Level::kServer, "s3").at(0).id);
  MakeCool(w, "s3");
  auto s3 = w.EventsFor(Level::kServer, "s3");
  ASSERT_EQ(s3.size(), 2u);
  EXPECT_EQ(s3[1].id, s3[0].id);
  EXPECT_EQ(s3[1].rack, "r2");
}

TEST(RackTwinTest, CommissioningTwiceIsHarmless) {
  TwinWorld w;
  w.Commission("s1", "r1");
  MakeHot(w, "s1");
  const size_t events = w.events.size();
  const size_t health = w.health.size();
  w.Commission("s1", "r1");
  EXPECT_EQ(w.events.size(), events);
  EXPECT_EQ(w.health.size(), health);
  EXPECT_EQ(w.server("s1").open_incidents().size(), 1u);
}

TEST(RackTwinTest, ThreeSilentServersReadAsALikelyTorFailure) {
  TwinWorld w;
  for (const char* s : {"s1", "s2", "s3"}) w.Commission(s, "r1");
  w.now += 61;
  w.Timers();
  w.now += 10;
  w.Timers();
  auto rack = w.EventsFor(Level::kRack, "r1");
  ASSERT_EQ(rack.size(), 1u);
  EXPECT_EQ(rack[0].kind, "silent");
  EXPECT_NE(rack[0].summary.find("ToR switch"), std::string::npos);
}

}  // namespace
}  // namespace dctwin

namespace dctwin {
namespace {

using testing::TwinWorld;

// A rack's members are saved as rows of their own: what is due to be written is the members that
// changed, and when the rack empties and goes, the rows of the members it last had.
TEST(RackTwinRowsTest, OnlyTheMembersThatChangedAreDueAndAnEmptiedRackTakesItsRowsAlong) {
  TwinWorld w;
  w.restoring().TakeDirty(0, true);
  for (const char* s : {"s1", "s2", "s3"}) w.Commission(s, "r1");
  TwinRegistry::Dirty dirty = w.restoring().TakeDirty(0, true);
  using Row = std::pair<std::string, std::string>;
  std::vector<Row> rows(dirty.rack_members.begin(), dirty.rack_members.end());
  std::sort(rows.begin(), rows.end());
  EXPECT_EQ(rows, (std::vector<Row>{{"r1", "s1"}, {"r1", "s2"}, {"r1", "s3"}}));

  w.Report("s2", {{"disk_errors", 1}}, 0);  // s2's incidents change, nobody else's
  dirty = w.restoring().TakeDirty(0, true);
  EXPECT_EQ(dirty.rack_members, (std::vector<Row>{{"r1", "s2"}}));

  for (const char* s : {"s1", "s2", "s3"}) w.Decommission(s);
  ASSERT_EQ(w.registry().rack("r1"), nullptr);
  dirty = w.restoring().TakeDirty(0, true);
  rows.assign(dirty.rack_members.begin(), dirty.rack_members.end());
  std::sort(rows.begin(), rows.end());
  EXPECT_EQ(rows, (std::vector<Row>{{"r1", "s1"}, {"r1", "s2"}, {"r1", "s3"}}));
}

}  // namespace
}  // namespace dctwin
