#include "twins/server_twin.h"

#include <gtest/gtest.h>

#include "tests/twins/twin_world.h"

namespace dctwin {
namespace {

using testing::TwinWorld;

TEST(ServerTwinTest, ThermalOpensOnlyAfterThreeConsecutiveHotReports) {
  TwinWorld w;
  w.Commission("s1", "r1");
  w.Report("s1", {{"temp_c", 90}});
  w.Report("s1", {{"temp_c", 90}});
  EXPECT_TRUE(w.EventsFor(Level::kServer, "s1").empty());
  w.Report("s1", {{"temp_c", 70}});  // breaks the run
  w.Report("s1", {{"temp_c", 90}});
  w.Report("s1", {{"temp_c", 90}});
  EXPECT_TRUE(w.EventsFor(Level::kServer, "s1").empty());
  w.Report("s1", {{"temp_c", 90.5}});
  auto events = w.EventsFor(Level::kServer, "s1");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, "thermal");
  EXPECT_EQ(events[0].state, IncidentState::kOpen);
  EXPECT_EQ(events[0].severity, Severity::kCritical);
  EXPECT_EQ(events[0].rack, "r1");
  EXPECT_EQ(events[0].datacenter, "dc1");
  EXPECT_NE(events[0].summary.find("temp_c = 90.5 > 85"), std::string::npos) << events[0].summary;
  EXPECT_EQ(w.server("s1").status(), HealthStatus::kCritical);
}

TEST(ServerTwinTest, ThresholdIsStrict) {
  TwinWorld w;
  w.Commission("s1", "r1");
  for (int i = 0; i < 5; ++i) w.Report("s1", {{"temp_c", 85.0}});
  EXPECT_TRUE(w.EventsFor(Level::kServer, "s1").empty());
}

TEST(ServerTwinTest, ResolvesAfterThreeClearReportsWithTheSameId) {
  TwinWorld w;
  w.Commission("s1", "r1");
  for (int i = 0; i < 3; ++i) w.Report("s1", {{"temp_c", 95}});
  w.Report("s1", {{"temp_c", 60}});
  w.Report("s1", {{"temp_c", 60}});
  w.Report("s1", {{"temp_c", 95}});  // hot again: the clear run starts over
  w.Report("s1", {{"temp_c", 60}});
  w.Report("s1", {{"temp_c", 60}});
  ASSERT_EQ(w.EventsFor(Level::kServer, "s1").size(), 1u);
  w.Report("s1", {{"temp_c", 60}});
  auto events = w.EventsFor(Level::kServer, "s1");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].state, IncidentState::kResolved);
  EXPECT_EQ(events[1].id, events[0].id);
  EXPECT_EQ(events[1].opened_at, events[0].opened_at);
  EXPECT_EQ(w.server("s1").status(), HealthStatus::kOk);
}

TEST(ServerTwinTest, ReportsWithoutTheMetricDoNotCountTowardsTheClear) {
  TwinWorld w;
  w.Commission("s1", "r1");
  for (int i = 0; i < 3; ++i) w.Report("s1", {{"temp_c", 95}});
  for (int i = 0; i < 5; ++i) w.Report("s1", {{"cpu_util", 0.1}});
  EXPECT_EQ(w.EventsFor(Level::kServer, "s1").size(), 1u);
}

TEST(ServerTwinTest, DiskOpensOnFirstReport) {
  TwinWorld w;
  w.Commission("s1", "r1");
  w.Report("s1", {{"disk_errors", 0}});
  EXPECT_TRUE(w.EventsFor(Level::kServer, "s1").empty());
  w.Report("s1", {{"disk_errors", 2}});
  auto events = w.EventsFor(Level::kServer, "s1");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, "disk");
  EXPECT_EQ(events[0].severity, Severity::kWarning);
}

TEST(ServerTwinTest, PowerUsesLessThan) {
  TwinWorld w;
  w.Commission("s1", "r1");
  for (int i = 0; i < 3; ++i) w.Report("s1", {{"psu_volts", 12.0}});
  EXPECT_TRUE(w.events.empty());
  for (int i = 0; i < 3; ++i) w.Report("s1", {{"psu_volts", 11.0}});
  auto events = w.EventsFor(Level::kServer, "s1");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, "power");
}

TEST(ServerTwinTest, CpuNeedsTheConditionForThreeHundredSecondsOfReports) {
  TwinWorld w;
  w.Commission("s1", "r1");
  // 30 reports 10 s apart cover 290 s: not yet.
  for (int i = 0; i < 30; ++i) w.Report("s1", {{"cpu_util", 0.99}}, 10);
  EXPECT_TRUE(w.EventsFor(Level::kServer, "s1").empty());
  w.Report("s1", {{"cpu_util", 0.99}}, 10);  // 300 s after the first
  auto events = w.EventsFor(Level::kServer, "s1");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, "cpu");
  EXPECT_NE(events[0].summary.find("for 300 s"), std::string::npos);
}

TEST(ServerTwinTest, CpuDurationRestartsWhenTheConditionBreaks) {
  TwinWorld w;
  w.Commission("s1", "r1");
  for (int i = 0; i < 20; ++i) w.Report("s1", {{"cpu_util", 0.99}}, 10);
  w.Report("s1", {{"cpu_util", 0.5}}, 10);
  for (int i = 0; i < 25; ++i) w.Report("s1", {{"cpu_util", 0.99}}, 10);
  EXPECT_TRUE(w.EventsFor(Level::kServer, "s1").empty());
}

TEST(ServerTwinTest, ForReportsRuleFromConfig) {
  ModelConfig m;
  Rule r;
  r.kind = "custom";
  r.metric = "fan_rpm";
  r.op = CompareOp::kLessEqual;
  r.threshold = 1000;
  r.for_reports = 2;
  r.clear_reports = 1;
  m.rules = {r};
  TwinWorld w(m);
  w.Commission("s1", "r1");
  w.Report("s1", {{"fan_rpm", 1000}});
  w.Report("s1", {{"fan_rpm", 900}});
  ASSERT_EQ(w.events.size(), 1u);
  w.Report("s1", {{"fan_rpm", 3000}});  // clear_reports = 1 overrides the model's 3
  ASSERT_EQ(w.events.size(), 2u);
  EXPECT_EQ(w.events[1].state, IncidentState::kResolved);
}

TEST(ServerTwinTest, GlobRuleMatchesManyMetricsAsOneIncident) {
  ModelConfig m;
  Rule r;
  r.kind = "network";
  r.metric = "interface-*/if_dropped.*";
  r.threshold = 5;
  m.rules = {r};
  TwinWorld w(m);
  w.Commission("s1", "r1");
  w.Report("s1", {{"interface-eth0/if_dropped.rx", 10}, {"interface-eth1/if_dropped.tx", 20}, {"other", 99}});
  ASSERT_EQ(w.events.size(), 1u);
  EXPECT_EQ(w.events[0].kind, "network");
  // Only when every matching metric is clear does the incident resolve.
  for (int i = 0; i < 3; ++i) w.Report("s1", {{"interface-eth0/if_dropped.rx", 0}, {"interface-eth1/if_dropped.tx", 20}});
  EXPECT_EQ(w.events.size(), 1u);
  for (int i = 0; i < 3; ++i) w.Report("s1", {{"interface-eth1/if_dropped.tx", 0}});
  ASSERT_EQ(w.events.size(), 2u);
  EXPECT_EQ(w.events[1].state, IncidentState::kResolved);
}

TEST(ServerTwinTest, SilentOpensAfterTheHeartbeatTimeoutAndResolvesOnTheNextReport) {
  TwinWorld w;
  w.Commission("s1", "r1");
  w.now += 59;
  w.Timers();
  EXPECT_TRUE(w.events.empty());
  w.now += 1;
  w.Timers();  // overdue: confirmed after min(storm_window_s, heartbeat / 4) = 10 s
  EXPECT_TRUE(w.events.empty());
  EXPECT_EQ(w.registry().overdue_count(), 1u);
  w.now += 10;
  w.Timers();
  ASSERT_EQ(w.events.size(), 1u);
  EXPECT_EQ(w.events[0].kind, "silent");
  EXPECT_EQ(w.registry().overdue_count(), 0u);
  EXPECT_EQ(w.events[0].severity, Severity::kCritical);
  EXPECT_EQ(w.server("s1").status(), HealthStatus::kSilent);
  w.now += 600;
  w.Timers();  // already silent: no second incident
  EXPECT_EQ(w.events.size(), 1u);
  w.Report("s1", {{"temp_c", 50}});
  ASSERT_EQ(w.events.size(), 2u);
  EXPECT_EQ(w.events[1].id, w.events[0].id);
  EXPECT_EQ(w.events[1].state, IncidentState::kResolved);
  EXPECT_EQ(w.server("s1").status(), HealthStatus::kOk);
}

TEST(ServerTwinTest, ReportsPushTheSilenceDeadlineOut) {
  TwinWorld w;
  w.Commission("s1", "r1");
  for (int i = 0; i < 20; ++i) {
    w.Report("s1", {{"temp_c", 50}}, 30);
    w.Timers();
  }
  EXPECT_TRUE(w.events.empty());
  w.now += 61;
  w.Timers();
  w.now += 10;
  w.Timers();
  EXPECT_EQ(w.events.size(), 1u);
}

TEST(ServerTwinTest, HeldSilenceOpensOnlyWhenReleasedAndNotAtAllIfTheServerReturns) {
  TwinWorld w;
  w.Commission("s1", "r1");
  w.Commission("s2", "r1");
  w.now += 100;
  w.Timers(/*hold=*/true);
  w.now += 100;
  w.Timers(/*hold=*/true);
  EXPECT_TRUE(w.events.empty());
  EXPECT_EQ(w.registry().overdue_count(), 2u);
  w.Report("s2", {{"temp_c", 40}}, 0);  // back before the hold ends: never silent
  w.Timers(/*hold=*/false);
  ASSERT_EQ(w.events.size(), 1u);
  EXPECT_EQ(w.events[0].subject, "s1");
  EXPECT_EQ(w.events[0].kind, "silent");
}

TEST(ServerTwinTest, ModelWithoutStormGuardOpensSilenceAtTheDeadline) {
  ModelConfig m = TwinWorld::DefaultModel();
  m.storm_fraction = 0;
  TwinWorld w(m);
  w.Commission("s1", "r1");
  w.now += 60;
  w.Timers();
  EXPECT_EQ(w.events.size(), 1u);
}

TEST(ServerTwinTest, HealthIsUnknownUntilTheFirstReportAndPublishedOnlyOnChange) {
  TwinWorld w;
  w.Commission("s1", "r1");
  const HealthUpdate* h = w.LastHealth(Level::kServer, "s1");
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(h->status, HealthStatus::kUnknown);
  EXPECT_EQ(h->rack, "r1");
  w.Report("s1", {{"temp_c", 50}});
  EXPECT_EQ(w.LastHealth(Level::kServer, "s1")->status, HealthStatus::kOk);
  const size_t n = w.health.size();
  for (int i = 0; i < 10; ++i) w.Report("s1", {{"temp_c", 50}});
  EXPECT_EQ(w.health.size(), n);
}

TEST(ServerTwinTest, ReportsFromUncommissionedServersAreRefused) {
  TwinWorld w;
  w.Report("ghost", {{"temp_c", 99}});
  EXPECT_EQ(w.uncommissioned, 1);
  EXPECT_EQ(w.registry().server_count(), 0u);
}

TEST(ServerTwinTest, AutoCommissionPutsUnknownServersIntoTheDefaultRack) {
  TwinWorld w(TwinWorld::DefaultModel(), /*auto_commission=*/true);
  w.Report("new1", {{"temp_c", 50}});
  EXPECT_EQ(w.uncommissioned, 0);
  ASSERT_NE(w.registry().server("new1"), nullptr);
  EXPECT_EQ(w.server("new1").rack(), "unassigned");
  EXPECT_EQ(w.server("new1").status(), HealthStatus::kOk);
}

TEST(ServerTwinTest, IncidentIdsAreUniqueAcrossReopen) {
  TwinWorld w;
  w.Commission("s1", "r1");
  w.Report("s1", {{"disk_errors", 1}});
  for (int i = 0; i < 3; ++i) w.Report("s1", {{"disk_errors", 0}});
  w.Report("s1", {{"disk_errors", 1}});
  ASSERT_EQ(w.events.size(), 3u);
  EXPECT_NE(w.events[0].id, w.events[2].id);
}

TEST(ServerTwinTest, DecommissionResolvesOpenIncidentsAndClearsHealth) {
  TwinWorld w;
  w.Commission("s1", "r1");
  w.Report("s1", {{"disk_errors", 1}});
  w.Decommission("s1");
  auto events = w.EventsFor(Level::kServer, "s1");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].state, IncidentState::kResolved);
  EXPECT_EQ(events[1].id, events[0].id);
  const HealthUpdate* h = w.LastHealth(Level::kServer, "s1");
  ASSERT_NE(h, nullptr);
  EXPECT_TRUE(h->cleared);
  EXPECT_EQ(w.registry().server("s1"), nullptr);
}

}  // namespace
}  // namespace dctwin

namespace dctwin {
namespace {

using testing::TwinWorld;

TEST(ServerTwinModelTest, RateRuleFiresOnARisingCounter) {
  ModelConfig m;
  Rule r;
  r.kind = "disk";
  r.metric = "disk_errors_total";
  r.threshold = 0;
  r.rate = true;
  r.for_reports = 2;
  m.rules = {r};
  TwinWorld w(m);
  w.Commission("s1", "r1");
  w.Report("s1", {{"disk_errors_total", 7}});  // no previous sample: no rate yet
  w.Report("s1", {{"disk_errors_total", 7}});
  w.Report("s1", {{"disk_errors_total", 7}});
  EXPECT_TRUE(w.events.empty());  // high but flat: fine
  w.Report("s1", {{"disk_errors_total", 9}});
  w.Report("s1", {{"disk_errors_total", 12}});
  ASSERT_EQ(w.events.size(), 1u);
  EXPECT_EQ(w.events[0].kind, "disk");
  EXPECT_NE(w.events[0].summary.find("rises at 0.3/s"), std::string::npos) << w.events[0].summary;
}

TEST(ServerTwinModelTest, AnomalyNamesTheMetricAndNeedsEnoughSamples) {
  ModelConfig m;  // no threshold rules
  m.anomaly_z = 4;
  m.anomaly_min_samples = 20;
  m.anomaly_for_reports = 2;
  TwinWorld w(m);
  w.Commission("s1", "r1");
  for (int i = 0; i < 10; ++i) w.Report("s1", {{"fan_rpm", 3000.0 + (i % 2 ? 20 : -20)}});
  w.Report("s1", {{"fan_rpm", 9000}});
  w.Report("s1", {{"fan_rpm", 9000}});
  EXPECT_TRUE(w.events.empty());  // too few samples to judge
  // The baseline learned the two outliers little: about 3000, give or take 20.
  for (int i = 0; i < 100; ++i) w.Report("s1", {{"fan_rpm", 3000.0 + (i % 2 ? 20 : -20)}});
  w.Report("s1", {{"fan_rpm", 3130}});
  EXPECT_TRUE(w.events.empty());  // a moderate shift in one report is not enough (anomaly_for_reports = 2)
  w.Report("s1", {{"fan_rpm", 3130}});
  ASSERT_EQ(w.events.size(), 1u);
  EXPECT_EQ(w.events[0].kind, "anomaly");
  EXPECT_NE(w.events[0].summary.find("fan_rpm"), std::string::npos) << w.events[0].summary;
  EXPECT_NE(w.events[0].summary.find("baseline"), std::string::npos) << w.events[0].summary;
  for (int i = 0; i < 3; ++i) w.Report("s1", {{"fan_rpm", 3000}});
  ASSERT_EQ(w.events.size(), 2u);
  EXPECT_EQ(w.events[1].state, IncidentState::kResolved);
  // A spike far beyond anything the metric did opens at once.
  w.Report("s1", {{"fan_rpm", 800}});
  ASSERT_EQ(w.events.size(), 3u);
  EXPECT_EQ(w.events[2].state, IncidentState::kOpen);
}

TEST(ServerTwinModelTest, ReportsFromTheFarFutureOrOlderThanTheWindowAreRefused) {
  TwinWorld w;
  w.now = 1795520000;
  w.Commission("s1", "r1");
  w.ReportAt("s1", w.now + 600, {{"temp_c", 99}});  // 10 minutes ahead of the gateway clock
  EXPECT_EQ(w.rejected, 1);
  w.ReportAt("s1", w.now, {{"temp_c", 50}});
  EXPECT_EQ(w.rejected, 1);
  w.ReportAt("s1", w.now - 901, {{"temp_c", 50}});  // older than the window before the newest
  EXPECT_EQ(w.rejected, 2);
  w.ReportAt("s1", w.now - 899, {{"temp_c", 50}});  // late, but inside the window
  EXPECT_EQ(w.rejected, 2);
  EXPECT_EQ(w.server("s1").window().rows(), 2u);
}

TEST(ServerTwinModelTest, LateReportsFillTheWindowButIncidentStateFollowsTheNewestReport) {
  // Reports that raced over shared ingest connections arrive out of order.
  TwinWorld w;
  w.now = 1795520000;
  w.Commission("s1", "r1");
  w.ReportAt("s1", w.now - 40, {{"temp_c", 50}});
  w.ReportAt("s1", w.now - 30, {{"temp_c", 90}});
  w.ReportAt("s1", w.now - 10, {{"temp_c", 90}});
  w.ReportAt("s1", w.now - 20, {{"temp_c", 90}});  // late: the third hot value in arrival order
  EXPECT_TRUE(w.events.empty());
  EXPECT_EQ(w.late, 1);
  EXPECT_EQ(w.applied, 4);
  double prev_ts = 0, prev_value = 0;
  ASSERT_TRUE(w.server("s1").window().Previous("temp_c", w.now - 10, &prev_ts, &prev_value));
  EXPECT_DOUBLE_EQ(prev_ts, w.now - 20);  // placed by its timestamp
  w.ReportAt("s1", w.now, {{"temp_c", 90}});  // third hot report in timestamp order after a newer one
  ASSERT_EQ(w.events.size(), 1u);
  EXPECT_EQ(w.events[0].kind, "thermal");
  EXPECT_EQ(w.late, 1);
}

TEST(ServerTwinModelTest, OldButConsistentTimestampsAreAccepted) {
  // Replayed or simulated data from the past is judged against the server's own newest report,
  // not against the gateway clock.
  TwinWorld w;
  w.now = 1795520000;
  w.Commission("s1", "r1");
  for (int i = 0; i < 3; ++i) w.ReportAt("s1", 1732442400.5 + i * 10, {{"temp_c", 91}});
  EXPECT_EQ(w.rejected, 0);
  ASSERT_EQ(w.events.size(), 1u);
  EXPECT_DOUBLE_EQ(w.events[0].opened_at, 1732442420.5);
}

TEST(QueryTest, ServerQueryAnswersStatusIncidentsAndWindowStatistics) {
  TwinWorld w;
  w.Commission("s1", "r1");
  w.Report("s1", {{"temp_c", 80}, {"cpu_util", 0.5}});
  w.Report("s1", {{"temp_c", 90}});
  w.Report("s1", {{"temp_c", 91}});
  w.Report("s1", {{"temp_c", 95}});
  w.Query(Level::kServer, "s1", QueryKind::kServer);
  w.Query(Level::kServer, "nope", QueryKind::kServer);
  ASSERT_EQ(w.replies.size(), 2u);
  const QueryReply& r = w.replies[0];
  EXPECT_TRUE(r.found);
  EXPECT_EQ(r.query.reply_token, 41u);
  const auto& v = std::get<ServerView>(r.view);
  EXPECT_EQ(v.rack, "r1");
  EXPECT_EQ(v.status, HealthStatus::kCritical);
  ASSERT_EQ(v.open.size(), 1u);
  EXPECT_EQ(v.open[0].kind, "thermal");
  EXPECT_EQ(v.window_s, 900);
  ASSERT_EQ(v.metrics.size(), 2u);
  EXPECT_EQ(v.metrics[0].metric, "temp_c");
  EXPECT_EQ(v.metrics[0].samples, 4u);
  EXPECT_DOUBLE_EQ(v.metrics[0].min, 80);
  EXPECT_DOUBLE_EQ(v.metrics[0].max, 95);
  EXPECT_DOUBLE_EQ(v.metrics[0].last, 95);
  EXPECT_DOUBLE_EQ(v.metrics[0].mean, 89);
  EXPECT_FALSE(w.replies[1].found);
  EXPECT_EQ(w.replies[1].subject, "nope");
}

TEST(QueryTest, UnhealthyRacksRackAndDatacenterQueries) {
  TwinWorld w;
  for (const char* s : {"a1", "a2", "a3"}) w.Commission(s, "ra");
  w.Commission("b1", "rb");
  w.Commission("c1", "rc");
  for (const char* s : {"a1", "a2", "a3"}) {
    for (int i = 0; i < 3; ++i) w.Report(s, {{"net_drop_rate", 0.5}}, 0);
  }
  w.Report("b1", {{"disk_errors", 1}});
  w.Report("c1", {{"temp_c", 40}});
  w.Query(Level::kDatacenter, "dc1", QueryKind::kUnhealthyRacks);
  w.Query(Level::kRack, "ra", QueryKind::kRack);
  w.Query(Level::kRack, "zz", QueryKind::kRack);
  ASSERT_EQ(w.replies.size(), 3u);
  const auto& dc = std::get<DatacenterView>(w.replies[0].view);
  ASSERT_EQ(dc.unhealthy.size(), 2u);
  EXPECT_EQ(dc.unhealthy[0].rack, "ra");
  EXPECT_EQ(dc.unhealthy[0].kinds, (std::vector<std::string>{"network"}));
  EXPECT_EQ(dc.unhealthy[0].incidents.size(), 1u);  // the rack incident
  EXPECT_EQ(dc.unhealthy[1].rack, "rb");
  EXPECT_EQ(dc.unhealthy[1].kinds, (std::vector<std::string>{"disk"}));
  EXPECT_EQ(dc.racks, 3u);
  const auto& ra = std::get<RackView>(w.replies[1].view);
  EXPECT_EQ(ra.servers, 3);
  EXPECT_EQ(ra.open.size(), 1u);
  EXPECT_EQ(ra.by_kind.at("network"), 3);
  EXPECT_EQ(ra.troubled.size(), 3u);
  EXPECT_FALSE(w.replies[2].found);
}

}  // namespace
}  // namespace dctwin

namespace dctwin {
namespace {

using testing::TwinWorld;

}  // namespace
}  // namespace dctwin

namespace dctwin {
namespace {

using testing::TwinWorld;

TEST(LimitsTest, MetricsBeyondTheLimitAreIgnoredAndCounted) {
  ModelConfig m = TwinWorld::DefaultModel();
  m.max_metrics = 3;
  TwinWorld w(m);
  w.Commission("s1", "r1");
  w.Report("s1", {{"a", 1}, {"b", 2}, {"c", 3}, {"d", 4}, {"e", 5}});
  EXPECT_EQ(w.server("s1").window().metric_count(), 3u);
  EXPECT_EQ(w.metrics_ignored, 2u);
}

}  // namespace
}  // namespace dctwin

namespace dctwin {
namespace {

using testing::TwinWorld;

TEST(ReloadTest, NewThresholdsApplyAndRulesThatAreGoneResolveTheirIncidents) {
  TwinWorld w;
  w.Commission("s1", "r1");
  w.Report("s1", {{"disk_errors", 2}});
  for (int i = 0; i < 2; ++i) w.Report("s1", {{"temp_c", 80}});
  ASSERT_EQ(w.events.size(), 1u);  // disk
  ModelConfig m = TwinWorld::DefaultModel();
  m.rules.erase(m.rules.begin() + 1);  // no disk rule any more
  m.rules[0].threshold = 75;           // thermal at 75
  w.UpdateModel(m);
  ASSERT_EQ(w.events.size(), 2u);
  EXPECT_EQ(w.events[1].kind, "disk");
  EXPECT_EQ(w.events[1].state, IncidentState::kResolved);
  EXPECT_NE(w.events[1].summary.find("removed or changed"), std::string::npos) << w.events[1].summary;
  // 80 now holds; three reports open it.
  w.Report("s1", {{"temp_c", 80}});
  w.Report("s1", {{"temp_c", 80}});
  EXPECT_EQ(w.events.size(), 2u);
  w.Report("s1", {{"temp_c", 80}});
  ASSERT_EQ(w.events.size(), 3u);
  EXPECT_EQ(w.events[2].kind, "thermal");
  EXPECT_EQ(w.events[2].state, IncidentState::kOpen);
}

}  // namespace
}  // namespace dctwin

namespace dctwin {
namespace {

TEST(ServerTwinFlapTest, FlappingIncidentStaysOpenUntilClearForTheStableTime) {
  ModelConfig m = testing::TwinWorld::DefaultModel();
  m.flap_count = 3;
  m.flap_window_s = 1000;
  m.flap_stable_s = 100;
  m.rules[0].runbook = "https://runbooks/thermal";
  testing::TwinWorld w(m);
  w.Commission("s1", "r1");
  // Two ordinary open/resolve cycles.
  for (int cycle = 0; cycle < 2; ++cycle) {
    for (int i = 0; i < 3; ++i) w.Report("s1", {{"temp_c", 95}});
    for (int i = 0; i < 3; ++i) w.Report("s1", {{"temp_c", 60}});
  }
  auto events = w.EventsFor(Level::kServer, "s1");
  ASSERT_EQ(events.size(), 4u);
  EXPECT_FALSE(events[0].flapping);
  EXPECT_EQ(events[0].runbook, "https://runbooks/thermal");
  // The third open within the window is flapping.
  for (int i = 0; i < 3; ++i) w.Report("s1", {{"temp_c", 95}});
  events = w.EventsFor(Level::kServer, "s1");
  ASSERT_EQ(events.size(), 5u);
  EXPECT_TRUE(events[4].flapping);
  EXPECT_NE(events[4].summary.find("flapping"), std::string::npos) << events[4].summary;
  // Clear reports 10 s apart: the condition clears after 3, then it must stay clear for 100 s.
  for (int i = 0; i < 8; ++i) w.Report("s1", {{"temp_c", 60}});
  EXPECT_EQ(w.EventsFor(Level::kServer, "s1").size(), 5u) << "resolved before the stable time";
  w.Report("s1", {{"temp_c", 95}});  // a swing back: the stable stretch starts over
  for (int i = 0; i < 10; ++i) w.Report("s1", {{"temp_c", 60}});  // 90 s of clear reports
  EXPECT_EQ(w.EventsFor(Level::kServer, "s1").size(), 5u);
  w.Report("s1", {{"temp_c", 60}});  // 100 s
  events = w.EventsFor(Level::kServer, "s1");
  ASSERT_EQ(events.size(), 6u);
  EXPECT_EQ(events[5].state, IncidentState::kResolved);
  EXPECT_NE(events[5].summary.find("stable for 100 s"), std::string::npos) << events[5].summary;
}

TEST(ServerTwinFlapTest, FlapCountZeroTurnsItOff) {
  ModelConfig m = testing::TwinWorld::DefaultModel();
  m.flap_count = 0;
  testing::TwinWorld w(m);
  w.Commission("s1", "r1");
  for (int cycle = 0; cycle < 6; ++cycle) {
    for (int i = 0; i < 3; ++i) w.Report("s1", {{"temp_c", 95}});
    for (int i = 0; i < 3; ++i) w.Report("s1", {{"temp_c", 60}});
  }
  for (const IncidentEvent& e : w.EventsFor(Level::kServer, "s1")) EXPECT_FALSE(e.flapping);
  EXPECT_EQ(w.EventsFor(Level::kServer, "s1").size(), 12u);
}

TEST(ServerTwinMaintenanceTest, ServersUnderMaintenanceNeitherGoSilentNorCorrelate) {
  ModelConfig m = testing::TwinWorld::DefaultModel();
  m.heartbeat_timeout_s = 60;
  m.storm_fraction = 0;
  testing::TwinWorld w(m);
  for (const char* s : {"s1", "s2", "s3"}) w.Commission(s, "r1");
  Silence maint;
  maint.id = "sil-m";
  maint.matchers = {{"rack", "r1"}};
  maint.starts_at = 0;
  maint.ends_at = 1e12;
  maint.maintenance = true;
  w.SetMaintenance({maint});
  EXPECT_TRUE(w.server("s1").maintenance());
  for (const char* s : {"s1", "s2", "s3"}) {
    for (int i = 0; i < 3; ++i) w.Report(s, {{"temp_c", 95}}, 1);
  }
  EXPECT_EQ(w.EventsFor(Level::kServer, "s1").size(), 1u) << "the server incident still opens";
  EXPECT_TRUE(w.EventsFor(Level::kRack, "r1").empty()) << "but the rack does not count servers under maintenance";
  w.now += 600;
  w.Timers();
  w.Timers();
  for (const IncidentEvent& e : w.EventsFor(Level::kServer, "s2")) EXPECT_NE(e.kind, "silent");
  // The maintenance ends: the rack correlates at once, and silence counts from now.
  w.SetMaintenance({});
  EXPECT_FALSE(w.server("s1").maintenance());
  EXPECT_EQ(w.EventsFor(Level::kRack, "r1").size(), 1u);
  w.now += 30;
  w.Timers();
  for (const IncidentEvent& e : w.EventsFor(Level::kServer, "s2")) EXPECT_NE(e.kind, "silent");
  w.now += 60;
  w.Timers();
  w.Timers();
  bool silent = false;
  for (const IncidentEvent& e : w.EventsFor(Level::kServer, "s2")) silent = silent || e.kind == "silent";
  EXPECT_TRUE(silent);
}

}  // namespace
}  // namespace dctwin

namespace dctwin {
namespace {

TEST(ServerTwinClockTest, RefusedTimestampsProveLifeAndOpenClockSkewUntilTheyAreGoodAgain) {
  ModelConfig m = testing::TwinWorld::DefaultModel();
  m.heartbeat_timeout_s = 60;
  m.storm_fraction = 0;
  testing::TwinWorld w(m);
  w.Commission("s1", "r1");
  for (int i = 0; i < 10; ++i) {
    w.ReportAt("s1", w.now + 3600, {{"temp_c", 50}});  // an hour ahead: refused
    w.now += 20;
    w.Timers();
  }
  auto events = w.EventsFor(Level::kServer, "s1");
  ASSERT_EQ(events.size(), 1u) << "a clock_skew, and never silent";
  EXPECT_EQ(events[0].kind, "clock_skew");
  EXPECT_EQ(events[0].severity, Severity::kWarning);
  EXPECT_NE(events[0].summary.find("3600 s ahead"), std::string::npos) << events[0].summary;
  w.Report("s1", {{"temp_c", 50}});
  events = w.EventsFor(Level::kServer, "s1");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].state, IncidentState::kResolved);
  EXPECT_EQ(events[1].kind, "clock_skew");
}

TEST(ServerTwinStaleTest, AMetricThatStopsBeingReportedResolvesWhatOnlyItKeptOpenAndLeavesTheWindow) {
  ModelConfig m = testing::TwinWorld::DefaultModel();
  m.metric_stale_s = 300;
  testing::TwinWorld w(m);
  w.Commission("s1", "r1");
  for (int i = 0; i < 3; ++i) w.Report("s1", {{"temp_c", 95}, {"cpu_util", 0.2}});
  ASSERT_EQ(w.EventsFor(Level::kServer, "s1").size(), 1u);
  // temp_c vanishes (a sensor plugin disabled); cpu_util keeps coming every 10 s.
  for (int i = 0; i < 29; ++i) w.Report("s1", {{"cpu_util", 0.2}});
  EXPECT_EQ(w.EventsFor(Level::kServer, "s1").size(), 1u) << "not stale before 300 s";
  for (int i = 0; i < 5; ++i) w.Report("s1", {{"cpu_util", 0.2}});
  auto events = w.EventsFor(Level::kServer, "s1");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].state, IncidentState::kResolved);
  EXPECT_NE(events[1].summary.find("temp_c stopped being reported"), std::string::npos) << events[1].summary;
  for (const MetricSummary& s : w.server("s1").View().metrics) EXPECT_NE(s.metric, "temp_c");
  // It comes back hot: a new incident needs its full count again.
  w.Report("s1", {{"temp_c", 95}});
  w.Report("s1", {{"temp_c", 95}});
  EXPECT_EQ(w.EventsFor(Level::kServer, "s1").size(), 2u);
  w.Report("s1", {{"temp_c", 95}});
  EXPECT_EQ(w.EventsFor(Level::kServer, "s1").size(), 3u);
}

TEST(MetricWindowRemoveTest, RemovingAMetricKeepsTheOthersAndDropsRowsLeftEmpty) {
  MetricWindow win(900, 100, 10);
  size_t dropped = 0;
  win.Add(10, {{"a", 1}, {"b", 2}}, &dropped);
  win.Add(20, {{"b", 3}}, &dropped);
  win.Add(30, {{"a", 4}}, &dropped);
  win.RemoveMetric("b");
  EXPECT_TRUE(win.Consistent());
  EXPECT_EQ(win.rows(), 2u);
  MetricSummary s;
  ASSERT_TRUE(win.Summarize("a", &s));
  EXPECT_EQ(s.samples, 2u);
  EXPECT_FALSE(win.Summarize("b", &s));
  win.RemoveMetric("a");
  EXPECT_TRUE(win.empty());
  EXPECT_TRUE(win.Consistent());
  win.Add(40, {{"c", 5}}, &dropped);
  ASSERT_TRUE(win.Summarize("c", &s));
  EXPECT_EQ(s.last, 5);
}

}  // namespace
}  // namespace dctwin

namespace dctwin {
namespace {

TEST(ServerTwinRateTest, RatesOfLargeCountersComeFromExactValues) {
  ModelConfig m = testing::TwinWorld::DefaultModel();
  Rule r;
  r.kind = "network";
  r.metric = "if_octets";
  r.op = CompareOp::kGreater;
  r.threshold = 0.05;  // per second
  r.rate = true;
  m.rules = {r};
  m.anomaly_z = 0;
  testing::TwinWorld w(m);
  w.Commission("s1", "r1");
  // 2^24 + 1 does not fit a float: read back from the window it would seem to move.
  for (int i = 0; i < 6; ++i) w.Report("s1", {{"if_octets", 16777217.0 + (i % 2)}});
  auto events = w.EventsFor(Level::kServer, "s1");
  ASSERT_EQ(events.size(), 1u) << "+1 in 10 s is 0.1/s, over the threshold";
  // A constant large counter never rises.
  testing::TwinWorld still(m);
  still.Commission("s2", "r1");
  for (int i = 0; i < 6; ++i) still.Report("s2", {{"if_octets", 4294967297.0}});
  EXPECT_TRUE(still.EventsFor(Level::kServer, "s2").empty());
  // And small steps on a huge counter are seen exactly: 3 per 10 s = 0.3/s.
  testing::TwinWorld steps(m);
  steps.Commission("s3", "r1");
  for (int i = 0; i < 3; ++i) steps.Report("s3", {{"if_octets", 123456789012.0 + 3 * i}});
  ASSERT_EQ(steps.EventsFor(Level::kServer, "s3").size(), 1u);
  EXPECT_NE(steps.EventsFor(Level::kServer, "s3")[0].summary.find("rises at 0.3/s"), std::string::npos)
      << steps.EventsFor(Level::kServer, "s3")[0].summary;
}

}  // namespace
}  // namespace dctwin

namespace dctwin {
namespace {

TEST(RuleIdentityTest, APrependedRuleLeavesConditionsWithTheirOwnRules) {
  testing::TwinWorld w;
  w.Commission("s1", "r1");
  for (int i = 0; i < 2; ++i) w.Report("s1", {{"temp_c", 95}});  // two of three towards thermal
  ModelConfig m = testing::TwinWorld::DefaultModel();
  Rule extra;
  extra.kind = "fan";
  extra.metric = "fan_rpm";
  extra.op = CompareOp::kLess;
  extra.threshold = 1000;
  m.rules.insert(m.rules.begin(), extra);  // every index moves by one
  w.UpdateModel(m);
  EXPECT_TRUE(w.events.empty());
  w.Report("s1", {{"temp_c", 95}});  // the third: the condition kept its count under its own rule
  ASSERT_EQ(w.events.size(), 1u);
  EXPECT_EQ(w.events[0].kind, "thermal");
  // A removed rule's incident resolves, saying why; nothing is left stranded.
  m.rules.erase(m.rules.begin() + 1);  // thermal
  w.UpdateModel(m);
  ASSERT_EQ(w.events.size(), 2u);
  EXPECT_EQ(w.events[1].state, IncidentState::kResolved);
  EXPECT_NE(w.events[1].summary.find("removed or changed"), std::string::npos) << w.events[1].summary;
  EXPECT_TRUE(w.server("s1").open_incidents().empty());
}

TEST(RuleIdentityTest, AnomalyOffResolvesAnomaliesAndNewThresholdsRecorrelateAtOnce) {
  ModelConfig m = testing::TwinWorld::DefaultModel();
  m.anomaly_min_samples = 10;
  m.anomaly_for_reports = 1;
  testing::TwinWorld w(m);
  w.Commission("s1", "r1");
  for (int i = 0; i < 20; ++i) w.Report("s1", {{"fan_rpm", 3000.0 + (i % 2)}});
  w.Report("s1", {{"fan_rpm", 9000}});
  ASSERT_EQ(w.EventsFor(Level::kServer, "s1").size(), 1u);
  EXPECT_EQ(w.EventsFor(Level::kServer, "s1")[0].kind, "anomaly");
  m.anomaly_z = 0;
  w.UpdateModel(m);
  ASSERT_EQ(w.EventsFor(Level::kServer, "s1").size(), 2u);
  EXPECT_EQ(w.EventsFor(Level::kServer, "s1")[1].state, IncidentState::kResolved);

  // Two hot servers in a rack; min_servers goes from 3 to 2: the rack incident opens at once.
  for (const char* s : {"h1", "h2"}) {
    w.Commission(s, "r9");
    for (int i = 0; i < 3; ++i) w.Report(s, {{"temp_c", 95}});
  }
  EXPECT_TRUE(w.EventsFor(Level::kRack, "r9").empty());
  m.rack_min_servers = 2;
  w.UpdateModel(m);
  ASSERT_EQ(w.EventsFor(Level::kRack, "r9").size(), 1u);
  EXPECT_EQ(w.EventsFor(Level::kRack, "r9")[0].state, IncidentState::kOpen);
  m.rack_min_servers = 3;
  w.UpdateModel(m);
  ASSERT_EQ(w.EventsFor(Level::kRack, "r9").size(), 2u);
  EXPECT_EQ(w.EventsFor(Level::kRack, "r9")[1].state, IncidentState::kResolved);
}

}  // namespace
}  // namespace dctwin
