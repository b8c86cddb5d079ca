#include "twins/datacenter_twin.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "tests/twins/twin_world.h"

namespace dctwin {
namespace {

using testing::TwinWorld;

void HotRack(TwinWorld& w, const std::string& rack, int servers = 3) {
  for (int i = 0; i < servers; ++i) w.Commission(rack + "-s" + std::to_string(i), rack);
  for (int i = 0; i < servers; ++i) {
    for (int k = 0; k < 3; ++k) w.Report(rack + "-s" + std::to_string(i), {{"temp_c", 95}}, 0);
  }
}

void CoolRack(TwinWorld& w, const std::string& rack, int servers = 3) {
  for (int i = 0; i < servers; ++i) {
    for (int k = 0; k < 3; ++k) w.Report(rack + "-s" + std::to_string(i), {{"temp_c", 40}}, 0);
  }
}

TEST(DatacenterTwinTest, StartsHealthy) {
  TwinWorld w;
  const HealthUpdate* h = w.LastHealth(Level::kDatacenter, "dc1");
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(h->status, HealthStatus::kOk);
  EXPECT_TRUE(h->unhealthy.empty());
}

TEST(DatacenterTwinTest, TwoRacksWithTheSameKindMakeADatacenterIncident) {
  TwinWorld w;
  HotRack(w, "r1");
  EXPECT_TRUE(w.EventsFor(Level::kDatacenter, "dc1").empty());
  HotRack(w, "r2");
  auto dc = w.EventsFor(Level::kDatacenter, "dc1");
  ASSERT_EQ(dc.size(), 1u);
  EXPECT_EQ(dc[0].kind, "thermal");
  EXPECT_EQ(dc[0].state, IncidentState::kOpen);
  EXPECT_TRUE(dc[0].rack.empty());
  // The second rack's incident was opened before the datacenter's; the datacenter tells both
  // racks, so their incidents now carry it.
  const HealthUpdate* h = w.LastHealth(Level::kDatacenter, "dc1");
  EXPECT_EQ(h->status, HealthStatus::kCritical);
  EXPECT_EQ(h->unhealthy, (std::vector<std::string>{"r1", "r2"}));
  ASSERT_EQ(h->open.size(), 1u);
  EXPECT_EQ(h->open[0], dc[0].id);

  CoolRack(w, "r1");
  dc = w.EventsFor(Level::kDatacenter, "dc1");
  ASSERT_EQ(dc.size(), 2u);
  EXPECT_EQ(dc[1].state, IncidentState::kResolved);
  EXPECT_EQ(dc[1].id, dc[0].id);
  // r1's rack incident resolves carrying the datacenter incident as its cause.
  auto r1 = w.EventsFor(Level::kRack, "r1");
  ASSERT_EQ(r1.size(), 2u);
  EXPECT_EQ(r1[1].caused_by, dc[0].id);
  CoolRack(w, "r2");
  EXPECT_EQ(w.LastHealth(Level::kDatacenter, "dc1")->status, HealthStatus::kOk);
  EXPECT_TRUE(w.dc().UnhealthyRacks().empty());
}

TEST(DatacenterTwinTest, UnhealthyRacksSayWhyAndSince) {
  TwinWorld w;
  w.Commission("a", "r1");
  w.Commission("b", "r2");
  const double t0 = w.now;
  w.Report("a", {{"disk_errors", 3}});
  auto racks = w.dc().UnhealthyRacks();
  ASSERT_EQ(racks.size(), 1u);
  EXPECT_EQ(racks[0]->rack, "r1");
  EXPECT_EQ(racks[0]->kinds, (std::vector<std::string>{"disk"}));
  EXPECT_EQ(racks[0]->since, t0);
  // One server with a warning makes the site "warning", not "critical".
  EXPECT_EQ(w.LastHealth(Level::kDatacenter, "dc1")->status, HealthStatus::kWarning);
}

TEST(DatacenterTwinTest, RackIncidentsOfDifferentKindsDoNotCorrelate) {
  TwinWorld w;
  HotRack(w, "r1");
  for (int i = 0; i < 3; ++i) w.Commission("p" + std::to_string(i), "r2");
  for (int i = 0; i < 3; ++i) {
    for (int k = 0; k < 3; ++k) w.Report("p" + std::to_string(i), {{"psu_volts", 10.0}}, 0);
  }
  EXPECT_EQ(w.EventsFor(Level::kRack, "r2").size(), 1u);
  EXPECT_TRUE(w.EventsFor(Level::kDatacenter, "dc1").empty());
}

TEST(DatacenterTwinTest, SilenceStormIsOneIncidentThatResolves) {
  TwinWorld w;
  w.Storm(true, 900, 1000);
  auto dc = w.EventsFor(Level::kDatacenter, "dc1");
  ASSERT_EQ(dc.size(), 1u);
  EXPECT_EQ(dc[0].kind, "silent_storm");
  EXPECT_EQ(dc[0].severity, Severity::kCritical);
  EXPECT_NE(dc[0].summary.find("900 of 1000 servers"), std::string::npos) << dc[0].summary;
  EXPECT_EQ(w.LastHealth(Level::kDatacenter, "dc1")->status, HealthStatus::kCritical);
  w.Storm(true, 950, 1000);  // still the same storm
  EXPECT_EQ(w.EventsFor(Level::kDatacenter, "dc1").size(), 1u);
  // Rack correlation does not touch it.
  HotRack(w, "r1");
  HotRack(w, "r2");
  CoolRack(w, "r1");
  w.Storm(false, 3, 1000);
  dc = w.EventsFor(Level::kDatacenter, "dc1");
  const auto storm_events = std::count_if(dc.begin(), dc.end(), [](const IncidentEvent& e) { return e.kind == "silent_storm"; });
  EXPECT_EQ(storm_events, 2);
  EXPECT_EQ(dc.back().kind, "silent_storm");
  EXPECT_EQ(dc.back().state, IncidentState::kResolved);
  EXPECT_EQ(dc.back().id, dc[0].id);
}

TEST(DatacenterTwinTest, ARackClaimedByTwoPodsIsOneConfigIncidentReportedOnce) {
  DatacenterTwin dc("dc1");
  Effects out;
  dc.Start(1000, out);
  out = Effects{};
  dc.OnRackConflict(RackConflict{"r05", "pod-a", "pod-b", true}, 1001, out);
  ASSERT_EQ(out.events.size(), 1u);
  EXPECT_EQ(out.events[0].kind, "config");
  EXPECT_EQ(out.events[0].state, IncidentState::kOpen);
  EXPECT_NE(out.events[0].summary.find("rack r05 by pod-a and pod-b"), std::string::npos) << out.events[0].summary;
  const std::string id = out.events[0].id;
  out = Effects{};
  dc.OnRackConflict(RackConflict{"r05", "pod-a", "pod-b", true}, 1002, out);  // again: nothing new
  dc.OnRackConflict(RackConflict{"r06", "pod-a", "pod-b", true}, 1002, out);  // another rack: the same incident
  EXPECT_TRUE(out.events.empty());
  dc.OnRackConflict(RackConflict{"r05", "", "pod-b", false}, 1003, out);
  EXPECT_TRUE(out.events.empty()) << "r06 is still claimed twice";
  dc.OnRackConflict(RackConflict{"r06", "pod-a", "pod-b", false}, 1004, out);
  ASSERT_EQ(out.events.size(), 1u);
  EXPECT_EQ(out.events[0].state, IncidentState::kResolved);
  EXPECT_EQ(out.events[0].id, id);
}

TEST(DatacenterTwinTest, APodGatewayOfflineOrABridgeDownIsOnePodOfflineIncident) {
  DatacenterTwin dc("dc1");
  Effects out;
  dc.Start(1000, out);
  out = Effects{};
  dc.OnPodStatus(PodStatus{"pod-b", false, /*bridge=*/true}, 1001, 1001, out);  // pod-b's broker cannot reach the site
  // Believed only when nothing from pod-b contradicts it for kBridgeConfirmS.
  dc.Tick(1005, 1005, out);
  EXPECT_TRUE(out.events.empty());
  dc.Tick(1001 + DatacenterTwin::kBridgeConfirmS, 1001 + DatacenterTwin::kBridgeConfirmS, out);
  ASSERT_EQ(out.events.size(), 1u);
  EXPECT_EQ(out.events[0].kind, "pod_offline");
  EXPECT_EQ(out.events[0].state, IncidentState::kOpen);
  EXPECT_NE(out.events[0].summary.find("the bridge from pod pod-b is down"), std::string::npos) << out.events[0].summary;
  const std::string id = out.events[0].id;
  out = Effects{};
  dc.OnPodStatus(PodStatus{"pod-a", false, false}, 1012, 1012, out);  // and pod-a's gateway stops
  dc.OnPodStatus(PodStatus{"pod-b", true, false}, 1013, 1013, out);   // pod-b's gateway status says nothing of its bridge
  dc.OnPodStatus(PodStatus{"pod-a", true, false}, 1014, 1014, out);   // pod-a is back
  for (const IncidentEvent& e : out.events) EXPECT_NE(e.state, IncidentState::kResolved) << e.summary;
  out = Effects{};
  dc.OnPodStatus(PodStatus{"pod-b", true, true}, 1015, 1015, out);  // the bridge is connected again
  ASSERT_EQ(out.events.size(), 1u);
  EXPECT_EQ(out.events[0].state, IncidentState::kResolved);
  EXPECT_EQ(out.events[0].id, id);
  EXPECT_NE(out.events[0].summary.find("bridge from pod pod-b is connected again"), std::string::npos);
  out = Effects{};
  dc.OnPodStatus(PodStatus{"pod-b", true, true}, 1016, 1016, out);  // retained "1" again at a resubscribe: nothing
  EXPECT_TRUE(out.events.empty());
}

TEST(DatacenterTwinTest, ABridgesStaleZeroCarriedOverTheBridgeOpensNothing) {
  DatacenterTwin dc("dc1");
  Effects out;
  dc.Start(1000, out);
  out = Effects{};
  // After a reconnect the pod's broker forwards the "0"s it published while the link was down,
  // each followed by messages from the pod (which the ingest posts as "1").
  for (int i = 0; i < 15; ++i) {
    dc.OnPodStatus(PodStatus{"pod-b", false, true}, 1000 + i, 1000 + i, out);
    dc.OnPodStatus(PodStatus{"pod-b", true, true}, 1000 + i, 1000 + i, out);
  }
  dc.Tick(1100, 1100, out);
  EXPECT_TRUE(out.events.empty());
  EXPECT_EQ(dc.status(), HealthStatus::kOk);
}

}  // namespace
}  // namespace dctwin
