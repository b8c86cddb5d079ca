// Forecast and change rules in a server twin: the incidents they open and resolve, what those
// carry, and that their state survives a restart.
#include <gtest/gtest.h>

#include <cmath>

#include "storage/twin_codec.h"
#include "tests/twins/twin_world.h"
#include "twins/server_twin.h"

namespace dctwin {
namespace {

using testing::TwinWorld;

constexpr double kHour = 3600;
const char* kDisk = "df-root/percent_bytes-used";

double FigureOf(const IncidentEvent& e, const std::string& name) {
  for (const Figure& f : e.figures) {
    if (f.name == name) return f.value;
  }
  ADD_FAILURE() << "no figure " << name << " in " << e.summary;
  return NAN;
}

Rule ForecastRule() {
  Rule r;
  r.kind = "disk_full";
  r.metric = "df-*/percent_bytes-used";
  r.op = CompareOp::kGreater;
  r.threshold = 95;
  r.forecast_s = 4 * kHour;
  r.lookback_s = 6 * kHour;
  return r;
}

Rule ChangeRule(ChangeDirection direction) {
  Rule r;
  r.kind = "change";
  r.metric = "inlet_temp";
  r.change = direction;
  r.shift = 3;
  r.change_accept_s = 3600;
  return r;
}

ModelConfig Model(std::vector<Rule> rules) {
  ModelConfig m;
  m.anomaly_z = 0;  // these tests are about the rules alone
  m.rules = std::move(rules);
  return m;
}

// Reports every minute from `w.now` on until `until`; value(t) gives the disk's fill.
template <class F>
void FillUntil(TwinWorld& w, double until, F value) {
  while (w.now < until) w.Report("s1", {{kDisk, value(w.now)}}, 60);
}

TEST(ServerTwinForecastTest, OpensWhenTheCrossingIsWithinForecastSAndSaysWhenWithABand) {
  TwinWorld w(Model({ForecastRule()}));
  w.now = 1795520000;
  w.Commission("s1", "r1");
  const double start = w.now;
  // 80 % and 2 % an hour: 95 at start + 7.5 h, within 4 h from start + 3.5 h.
  auto fill = [&](double t) { return 80 + 2 * (t - start) / kHour + 0.05 * std::sin(t); };
  FillUntil(w, start + 3 * kHour, fill);
  EXPECT_TRUE(w.EventsFor(Level::kServer, "s1").empty());
  FillUntil(w, start + 4 * kHour, fill);
  auto events = w.EventsFor(Level::kServer, "s1");
  ASSERT_EQ(events.size(), 1u);
  const IncidentEvent e = events[0];
  EXPECT_EQ(e.kind, "disk_full");
  EXPECT_EQ(e.state, IncidentState::kOpen);
  EXPECT_EQ(e.metric, kDisk);
  EXPECT_NEAR(e.at, start + 3.5 * kHour, 0.2 * kHour);
  const double eta = FigureOf(e, "eta_s");
  EXPECT_NEAR(e.at + eta, start + 7.5 * kHour, 0.2 * kHour);
  EXPECT_LE(FigureOf(e, "eta_low_s"), eta);
  EXPECT_GE(FigureOf(e, "eta_high_s"), eta);
  EXPECT_EQ(FigureOf(e, "threshold"), 95);
  EXPECT_NE(e.summary.find(std::string(kDisk) + " reaches 95 in ~3.9 h ("), std::string::npos) << e.summary;
  EXPECT_NE(e.summary.find("now 87.2"), std::string::npos) << e.summary;
  EXPECT_NE(e.summary.find("/h over the last 3.7 h"), std::string::npos) << e.summary;
  EXPECT_NE(e.summary.find(" h, around 2026-11-24T19:0"), std::string::npos) << e.summary;
  EXPECT_NE(e.summary.find("Z) on server s1"), std::string::npos) << e.summary;
  EXPECT_EQ(w.server("s1").status(), HealthStatus::kWarning);

  // The query shows the forecast.
  w.Query(Level::kServer, "s1", QueryKind::kServer);
  ASSERT_EQ(w.replies.size(), 1u);
  const auto& view = std::get<ServerView>(w.replies[0].view);
  ASSERT_EQ(view.foresight.size(), 1u);
  EXPECT_TRUE(view.foresight[0].forecast);
  EXPECT_TRUE(view.foresight[0].firing);
  EXPECT_TRUE(view.foresight[0].projection.known);

  // As forecast, the record stands (its eta counts from its `at`): no update.
  FillUntil(w, start + 4.5 * kHour, fill);
  EXPECT_TRUE(w.UpdatesFor(Level::kServer, "s1").empty());
  // The fill speeds up to 4 % an hour: the crossing comes closer, the record follows it, and the
  // incident stays one.
  const double faster = w.now;
  const double at = fill(faster);
  FillUntil(w, faster + 2 * kHour, [&](double t) { return at + 4 * (t - faster) / kHour; });
  EXPECT_EQ(w.EventsFor(Level::kServer, "s1").size(), 1u);
  auto updates = w.UpdatesFor(Level::kServer, "s1");
  ASSERT_FALSE(updates.empty());
  EXPECT_LT(updates.back().at + FigureOf(updates.back(), "eta_s"), start + 7.25 * kHour);

  // A clean-up: the fill falls to 40 % and stays. The forecast ends, saying why.
  FillUntil(w, w.now + 0.5 * kHour, [](double) { return 40.0; });
  events = w.EventsFor(Level::kServer, "s1");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].state, IncidentState::kResolved);
  EXPECT_EQ(events[1].id, e.id);
  EXPECT_NE(events[1].summary.find("fell back to 40"), std::string::npos) << events[1].summary;
}

TEST(ServerTwinForecastTest, HysteresisHoldsItUntilTheCrossingIsPastOneAndAHalfForecastS) {
  TwinWorld w(Model({ForecastRule()}));
  w.now = 1795520000;
  w.Commission("s1", "r1");
  const double start = w.now;
  // 4 % an hour from 70: 95 at start + 6.25 h, within 4 h from start + 2.25 h.
  FillUntil(w, start + 3 * kHour, [&](double t) { return 70 + 4 * (t - start) / kHour; });
  ASSERT_EQ(w.EventsFor(Level::kServer, "s1").size(), 1u);
  // It slows to a pace that puts the crossing ~5 h out: within 1.5 x 4 h, so it holds.
  const double slow = w.now;
  const double level = 70 + 4 * (slow - start) / kHour;
  auto slower = [&](double t) { return level + (95 - level) / 5 * (t - slow) / kHour; };
  FillUntil(w, slow + 3 * kHour, slower);
  auto events = w.EventsFor(Level::kServer, "s1");
  ASSERT_EQ(events.size(), 1u) << events.back().summary;
  // It stops filling: the trend turns flat and the forecast resolves.
  const double stop = w.now;
  const double held = slower(stop);
  FillUntil(w, stop + 6 * kHour, [&](double) { return held; });
  events = w.EventsFor(Level::kServer, "s1");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].state, IncidentState::kResolved);
  EXPECT_NE(events[1].summary.find("no longer"), std::string::npos) << events[1].summary;
}

// inlet_temp at 24 (noise 0.3), then `after`, from report `step` on.
void Inlet(TwinWorld& w, int reports, double level) {
  for (int i = 0; i < reports; ++i) w.Report("s1", {{"inlet_temp", level + 0.3 * std::sin(i * 1.7)}});
}

TEST(ServerTwinChangeTest, AStepOpensAChangeWithBeforeAfterAndWhenAndItResolvesOnReturn) {
  TwinWorld w(Model({ChangeRule(ChangeDirection::kBoth)}));
  w.now = 1795520000;
  w.Commission("s1", "r1");
  Inlet(w, 200, 24);
  EXPECT_TRUE(w.EventsFor(Level::kServer, "s1").empty());
  const double step = w.now;
  Inlet(w, 10, 28);
  auto events = w.EventsFor(Level::kServer, "s1");
  ASSERT_EQ(events.size(), 1u);
  const IncidentEvent e = events[0];
  EXPECT_EQ(e.kind, "change");
  EXPECT_EQ(e.metric, "inlet_temp");
  EXPECT_NEAR(FigureOf(e, "before"), 24, 0.2);
  EXPECT_NEAR(FigureOf(e, "after"), 28, 0.3);
  EXPECT_NEAR(FigureOf(e, "changed_at"), step, 20);
  EXPECT_NE(e.summary.find("inlet_temp stepped up from 24"), std::string::npos) << e.summary;
  Inlet(w, 30, 28);
  EXPECT_EQ(w.EventsFor(Level::kServer, "s1").size(), 1u);
  Inlet(w, 5, 24);
  events = w.EventsFor(Level::kServer, "s1");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].state, IncidentState::kResolved);
  EXPECT_NE(events[1].summary.find("returned to its level before the change"), std::string::npos) << events[1].summary;
}

TEST(ServerTwinChangeTest, ANewLevelThatLastsChangeAcceptSIsAccepted) {
  Rule rule = ChangeRule(ChangeDirection::kUp);
  rule.change_accept_s = 600;
  TwinWorld w(Model({rule}));
  w.now = 1795520000;
  w.Commission("s1", "r1");
  Inlet(w, 200, 24);
  Inlet(w, 80, 28);
  auto events = w.EventsFor(Level::kServer, "s1");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].state, IncidentState::kResolved);
  EXPECT_NEAR(events[1].at - events[0].opened_at, 600, 60);
  EXPECT_NE(events[1].summary.find("is now its level"), std::string::npos) << events[1].summary;
  // A step down is not watched by an "up" rule.
  Inlet(w, 40, 24);
  EXPECT_EQ(w.EventsFor(Level::kServer, "s1").size(), 2u);
}

// What the server's query says its forecast and change rules see.
size_t Watched(TwinWorld& w) {
  w.replies.clear();
  w.Query(Level::kServer, "s1", QueryKind::kServer);
  return w.replies.size() == 1 ? std::get<ServerView>(w.replies[0].view).foresight.size() : 0;
}

TEST(ServerTwinForesightTest, WatchesSurviveARestartAndFollowTheirRuleByIdentity) {
  const ModelConfig model = Model({ForecastRule(), ChangeRule(ChangeDirection::kBoth)});
  TwinWorld w(model);
  w.now = 1795520000;
  w.Commission("s1", "r1");
  const double start = w.now;
  while (w.now < start + 2 * kHour) {
    w.Report("s1", {{kDisk, 80 + 4 * (w.now - start) / kHour}, {"inlet_temp", 24 + 0.3 * std::sin(w.now)}}, 60);
  }
  ASSERT_EQ(w.EventsFor(Level::kServer, "s1").size(), 1u);  // the forecast
  const ServerTwin& original = w.server("s1");
  const std::string bytes = EncodeTwin(original);
  ServerTwin copy("s1", "dc1", model);
  ASSERT_TRUE(DecodeTwin(bytes, &copy).ok());
  EXPECT_EQ(EncodeTwin(copy), bytes);
  ASSERT_EQ(copy.open_incidents().size(), 1u);
  EXPECT_EQ(copy.open_incidents()[0].metric, kDisk);
  EXPECT_FALSE(copy.open_incidents()[0].figures.empty());
  EXPECT_EQ(copy.Foresight(RuleSet(model)).size(), 2u);

  // The rules are reordered and the threshold moves: the watches follow by identity.
  Rule forecast = ForecastRule();
  forecast.threshold = 99;
  w.UpdateModel(Model({ChangeRule(ChangeDirection::kBoth), forecast}));
  EXPECT_EQ(w.EventsFor(Level::kServer, "s1").size(), 1u);
  EXPECT_EQ(Watched(w), 2u);
  // The change rule is removed: its watch goes; the forecast stays.
  w.UpdateModel(Model({forecast}));
  EXPECT_EQ(Watched(w), 1u);
}

}  // namespace
}  // namespace dctwin
