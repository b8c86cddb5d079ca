// TwinRegistry's hand-over of changed twins for saving: what must be saved with the next flush,
// and what (a window that only gained samples) may wait.
#include <gtest/gtest.h>

#include <algorithm>

#include "twins/twin_registry.h"

#include "tests/twins/twin_world.h"

namespace dctwin {
namespace {

class DirtyTrackingTest : public ::testing::Test {
 protected:
  explicit DirtyTrackingTest(double sample_flush_s = 30) : registry_(Model(), Options(sample_flush_s)) {}

  static ModelConfig Model() {
    ModelConfig m;
    m.rules = DefaultRules();
    return m;
  }
  static RegistryOptions Options(double sample_flush_s) {
    RegistryOptions o;
    o.sample_flush_s = sample_flush_s;
    return o;
  }
  void Send(const std::string& server, Message msg) {
    Effects out;
    registry_.Handle(Envelope{{Level::kServer, server}, now_, std::move(msg)}, out);
  }
  void Report(const std::string& server, double temp) {
    dctwin::Report r;
    r.ts = now_;
    r.metrics = {{"temp_c", temp}};
    Send(server, std::move(r));
  }
  static bool In(const std::vector<TwinAddress>& v, const std::string& server) {
    return std::any_of(v.begin(), v.end(), [&](const TwinAddress& a) { return a.level == Level::kServer && a.id == server; });
  }
  static bool Has(const TwinRegistry::Dirty& d, const std::string& server) {
    return In(d.changed, server) || In(d.sampled, server);
  }
  static bool Empty(const TwinRegistry::Dirty& d) { return d.changed.empty() && d.sampled.empty(); }

  double now_ = 1000;
  TwinRegistry registry_;
};

TEST_F(DirtyTrackingTest, SamplesWaitButIncidentsAndCommissionsDoNot) {
  Send("s1", Commission{"r1"});
  Send("s2", Commission{"r1"});
  ASSERT_TRUE(Has(registry_.TakeDirty(now_, false), "s1"));  // a commission is saved at once
  Report("s1", 40);
  Report("s2", 40);
  ASSERT_TRUE(Has(registry_.TakeDirty(now_, false), "s1"));  // so is the first report: health unknown -> ok

  now_ += 10;
  Report("s1", 40);  // samples only
  Report("s2", 40);
  EXPECT_EQ(registry_.dirty_count(), 0u);
  EXPECT_EQ(registry_.sampled_count(), 2u);
  EXPECT_TRUE(Empty(registry_.TakeDirty(now_ + 29, false)));

  now_ += 10;
  for (int i = 0; i < 3; ++i) Report("s2", 95);  // the third opens a thermal incident
  TwinRegistry::Dirty dirty = registry_.TakeDirty(now_, false);
  EXPECT_TRUE(In(dirty.changed, "s2"));  // the incident, and its samples with it: committed first
  EXPECT_FALSE(Has(dirty, "s1"));  // its first sample is 10 s old, not 30
  EXPECT_EQ(registry_.sampled_count(), 1u);

  dirty = registry_.TakeDirty(now_ + 20, false);  // s1's first unsaved sample is now 30 s old
  EXPECT_TRUE(In(dirty.sampled, "s1"));
  EXPECT_FALSE(In(dirty.changed, "s1"));  // samples only: they wait behind incidents
  EXPECT_FALSE(Has(dirty, "s2"));  // saved with its incident; nothing new since
  EXPECT_EQ(registry_.sampled_count(), 0u);
  EXPECT_TRUE(Empty(registry_.TakeDirty(now_ + 1000, false)));
}

TEST_F(DirtyTrackingTest, TheSameCommissionAgainWritesNothing) {
  Send("s1", Commission{"r1"});
  ASSERT_TRUE(Has(registry_.TakeDirty(now_, false), "s1"));
  Effects out;
  // A retained provisioning message comes again at every subscribe.
  EXPECT_EQ(registry_.Handle(Envelope{{Level::kServer, "s1"}, now_, Commission{"r1"}}, out),
            TwinRegistry::Outcome::kIgnored);
  EXPECT_TRUE(out.sends.empty());
  EXPECT_TRUE(out.health.empty());
  EXPECT_EQ(registry_.dirty_count(), 0u);
  // Another rack is a move, and is saved.
  EXPECT_EQ(registry_.Handle(Envelope{{Level::kServer, "s1"}, now_, Commission{"r2"}}, out),
            TwinRegistry::Outcome::kApplied);
  EXPECT_TRUE(Has(registry_.TakeDirty(now_, false), "s1"));
}

TEST_F(DirtyTrackingTest, EverythingIsHandedOutOnAFinalFlushAndDecommissionForgetsSamples) {
  Send("s1", Commission{"r1"});
  Send("s2", Commission{"r1"});
  Report("s1", 40);
  Report("s2", 40);
  registry_.TakeDirty(now_, false);
  Report("s1", 40);
  Report("s2", 40);
  Send("s2", Decommission{});
  EXPECT_EQ(registry_.sampled_count(), 1u);
  const TwinRegistry::Dirty dirty = registry_.TakeDirty(now_, true);
  EXPECT_TRUE(Has(dirty, "s1"));
  EXPECT_TRUE(Has(dirty, "s2"));  // its row is deleted
  EXPECT_EQ(registry_.sampled_count(), 0u);
}

class NoSampleDelayTest : public DirtyTrackingTest {
 protected:
  NoSampleDelayTest() : DirtyTrackingTest(0) {}
};

TEST_F(NoSampleDelayTest, SamplesAreSavedWithTheNextFlush) {
  Send("s1", Commission{"r1"});
  Report("s1", 40);
  registry_.TakeDirty(now_, false);
  Report("s1", 40);
  EXPECT_EQ(registry_.dirty_count(), 1u);
  EXPECT_TRUE(Has(registry_.TakeDirty(now_, false), "s1"));
}

}  // namespace
}  // namespace dctwin

namespace dctwin {
namespace {

TEST(SilenceClockTest, AWallClockStepDoesNotMakeServersOverdueDeadlinesRunOnTheMonotonicClock) {
  ModelConfig m = testing::TwinWorld::DefaultModel();
  m.heartbeat_timeout_s = 60;
  m.storm_fraction = 0;
  testing::TwinWorld w(m);
  w.mono = 100;
  w.Commission("s1", "r1");
  w.Report("s1", {{"temp_c", 40}}, 0);
  // NTP steps the wall clock an hour ahead; five seconds pass.
  w.now += 3600;
  w.mono += 5;
  w.Timers();
  w.Timers();
  EXPECT_TRUE(w.EventsFor(Level::kServer, "s1").empty()) << "overdue by the wall clock only";
  // A real minute of silence (and the confirmation) later it is silent, stamped with the wall clock.
  w.now += 70;
  w.mono += 70;
  w.Timers();
  auto events = w.EventsFor(Level::kServer, "s1");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, "silent");
  EXPECT_EQ(events[0].opened_at, 1000 + 3600 + 70);
}

}  // namespace
}  // namespace dctwin
