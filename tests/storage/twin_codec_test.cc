#include "storage/twin_codec.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "tests/twins/twin_world.h"

namespace dctwin {
namespace {

using testing::TwinWorld;

// A world with a bit of everything: windows, open incidents at every level, correlation.
TwinWorld BusyWorld() {
  TwinWorld w;
  w.now = 1795520000;
  for (const char* rack : {"ra", "rb"}) {
    for (int i = 0; i < 3; ++i) w.Commission(std::string(rack) + std::to_string(i), rack);
  }
  for (const char* rack : {"ra", "rb"}) {
    for (int i = 0; i < 3; ++i) {
      for (int k = 0; k < 4; ++k) w.Report(std::string(rack) + std::to_string(i), {{"temp_c", 90.5 + k}, {"fan", 3000}}, 5);
    }
  }
  return w;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(TwinCodecTest, ServerTwinRoundTrips) {
  TwinWorld w = BusyWorld();
  const ServerTwin& original = w.server("ra0");
  const std::string bytes = EncodeTwin(original);
  ServerTwin copy("ra0", "dc1", TwinWorld::DefaultModel());
  ASSERT_TRUE(DecodeTwin(bytes, &copy).ok());
  EXPECT_EQ(EncodeTwin(copy), bytes);
  EXPECT_EQ(copy.rack(), "ra");
  EXPECT_TRUE(copy.commissioned());
  ASSERT_EQ(copy.open_incidents().size(), 1u);
  EXPECT_EQ(copy.open_incidents()[0].id, original.open_incidents()[0].id);
  EXPECT_FALSE(copy.open_incidents()[0].caused_by.empty());
  EXPECT_EQ(copy.window().rows(), 4u);
  EXPECT_EQ(copy.status(), HealthStatus::kCritical);
}

// A healthy twin that learned its metrics live holds no more than the same twin restored (which
// sizes everything exactly), apart from its window's spare rows: a first report of 6 metrics
// gave the baselines the room of 8 (400 bytes per twin, for good) before they were sized to it.
TEST(TwinCodecTest, ATwinThatLearnedLiveHoldsWhatItsRestoredCopyHolds) {
  TwinWorld w;
  w.now = 1795520000;
  w.Commission("s1", "ra");
  for (int k = 0; k < 10; ++k) {
    w.Report("s1", {{"temp_c", 40.0 + k % 3}, {"cpu_util", 0.4}, {"power_w", 250}, {"fan_rpm", 8000},
                    {"psu_volts", 12.1}, {"mem_used", 0.5}});
  }
  const ServerTwin& live = w.server("s1");
  ASSERT_TRUE(live.open_incidents().empty());
  ServerTwin copy("s1", "dc1", TwinWorld::DefaultModel());
  ASSERT_TRUE(DecodeTwin(EncodeTwin(live), &copy).ok());
  EXPECT_EQ(live.ApproxBytes() - live.window().HeapBytes(), copy.ApproxBytes() - copy.window().HeapBytes());
}

TEST(TwinCodecTest, RackAndDatacenterRoundTrip) {
  TwinWorld w = BusyWorld();
  const RackTwin& rack = *w.registry().rack("ra");
  // The rack's members are rows of their own, restored into it one by one.
  RackTwin rack_copy("ra", "dc1");
  ASSERT_TRUE(DecodeTwin(EncodeTwin(rack), &rack_copy).ok());
  EXPECT_TRUE(rack_copy.members().empty());
  for (const auto& [server, open] : rack.members()) {
    RackMemberRow row;
    ASSERT_TRUE(DecodeRackMember(EncodeRackMember(RackMemberRow{open, false}), &row).ok());
    rack_copy.RestoreMember(server, std::move(row.open), row.maintenance);
  }
  EXPECT_TRUE(rack_copy.TakeChangedMembers().empty());
  EXPECT_FALSE(rack_copy.TakeLegacyMembers());
  EXPECT_EQ(rack_copy.open_incidents().size(), 1u);
  EXPECT_EQ(rack_copy.members().size(), 3u);
  EXPECT_EQ(rack_copy.Histogram().at("thermal"), 3);
  // The datacenter's racks are rows of their own, restored into it one by one.
  DatacenterTwin dc_copy("dc1");
  ASSERT_TRUE(DecodeTwin(EncodeTwin(w.dc()), &dc_copy).ok());
  EXPECT_TRUE(dc_copy.racks().empty());
  for (const auto& [id, status] : w.dc().racks()) {
    RackStatus copy;
    ASSERT_TRUE(DecodeRackStatus(EncodeRackStatus(status), &copy).ok());
    dc_copy.RestoreRack(std::move(copy));
  }
  EXPECT_EQ(dc_copy.open_incidents().size(), 1u);
  EXPECT_EQ(dc_copy.UnhealthyRacks().size(), 2u);
  EXPECT_EQ(dc_copy.status(), w.dc().status());
  EXPECT_TRUE(dc_copy.TakeChangedRacks().empty());  // what was restored is what the store holds
  EXPECT_FALSE(dc_copy.TakeLegacyRacks());
}

// BusyWorld's rack "ra" as version 4 wrote it, with its members inside (written by the build of
// commit 2008115, kept as a file).
TEST(TwinCodecTest, ARackSavedWithItsMembersInsideHasThemSavedAsRows) {
  TwinWorld w = BusyWorld();
  const std::string bytes = ReadAll(DCTWIN_SOURCE_DIR "/tests/storage/data/rack_twin_v4.bin");
  ASSERT_FALSE(bytes.empty());
  RackTwin rack("ra", "dc1");
  ASSERT_TRUE(DecodeTwin(bytes, &rack).ok());
  EXPECT_EQ(rack.members().size(), 3u);
  EXPECT_EQ(rack.Histogram(), w.registry().rack("ra")->Histogram());
  EXPECT_EQ(rack.status(), w.registry().rack("ra")->status());
  ASSERT_TRUE(rack.TakeLegacyMembers());
  EXPECT_EQ(rack.TakeChangedMembers(), (std::vector<std::string>{"ra0", "ra1", "ra2"}));
  // Saved again, the twin no longer carries them.
  RackTwin again("ra", "dc1");
  ASSERT_TRUE(DecodeTwin(EncodeTwin(rack), &again).ok());
  EXPECT_TRUE(again.members().empty());
  EXPECT_EQ(again.open_incidents().size(), 1u);
}

// BusyWorld's datacenter twin as version 4 wrote it, with its racks inside (written by the
// build of commit 2008115, kept as a file).
TEST(TwinCodecTest, ADatacenterSavedWithItsRacksInsideHasThemSavedAsRows) {
  TwinWorld w = BusyWorld();
  const std::string bytes = ReadAll(DCTWIN_SOURCE_DIR "/tests/storage/data/datacenter_twin_v4.bin");
  ASSERT_FALSE(bytes.empty());
  DatacenterTwin dc("dc1");
  ASSERT_TRUE(DecodeTwin(bytes, &dc).ok());
  EXPECT_EQ(dc.racks().size(), 2u);
  EXPECT_EQ(dc.UnhealthyRacks().size(), 2u);
  EXPECT_EQ(dc.status(), w.dc().status());
  ASSERT_TRUE(dc.TakeLegacyRacks());
  EXPECT_EQ(dc.TakeChangedRacks(), (std::vector<std::string>{"ra", "rb"}));
  // Saved again, the twin no longer carries them.
  DatacenterTwin again("dc1");
  ASSERT_TRUE(DecodeTwin(EncodeTwin(dc), &again).ok());
  EXPECT_TRUE(again.racks().empty());
  EXPECT_EQ(again.open_incidents().size(), 1u);
}

TEST(TwinCodecTest, GarbageIsCorruptionNotACrash) {
  ServerTwin twin("x", "dc1", TwinWorld::DefaultModel());
  // (all zeros: found by fuzz_twin_state; empty containers must not reach memcpy)
  for (const std::string& bytes : {std::string(), std::string("\xff\xff\xff\xff\xff\xff\xff\xff", 8),
                                   std::string(3, '\0'), std::string(1000, '\x7f'), std::string(540, '\0')}) {
    Status s = DecodeTwin(bytes, &twin);
    EXPECT_FALSE(s.ok());
    EXPECT_EQ(s.code(), Status::Code::kCorruption) << s.ToString();
  }
  // A valid encoding with bytes after it is refused too.
  TwinWorld w = BusyWorld();
  EXPECT_FALSE(DecodeTwin(EncodeTwin(w.server("ra0")) + "x", &twin).ok());
}

// `twin` as a restart under model `m` reads it into `copy`: decoded, its conditions bound to the
// model's rules. What the binding did.
Effects Restart(const ServerTwin& twin, const ModelConfig& m, double now, ServerTwin* copy) {
  Effects out;
  EXPECT_TRUE(DecodeTwin(EncodeTwin(twin), copy).ok());
  copy->BindRules(RuleSet(m), now, out);
  return out;
}

// An open anomaly incident survives a restart with the same model: its condition is bound again
// and holds it.
TEST(TwinCodecTest, AnOpenAnomalyStaysOpenAcrossARestart) {
  ModelConfig m;
  m.anomaly_z = 4;
  m.anomaly_min_samples = 20;
  TwinWorld w(m);
  w.Commission("s1", "r1");
  for (int i = 0; i < 100; ++i) w.Report("s1", {{"fan_rpm", 3000.0 + (i % 2 ? 20 : -20)}});
  w.Report("s1", {{"fan_rpm", 800}});
  ASSERT_EQ(w.server("s1").open_incidents().size(), 1u);
  ServerTwin copy("s1", "dc1", m);
  const Effects out = Restart(w.server("s1"), m, w.now, &copy);
  EXPECT_TRUE(out.events.empty()) << out.events[0].summary;
  EXPECT_EQ(copy.open_incidents().size(), 1u);
}

// A flapping incident waits, open, for its stable stretch after its condition cleared; a restart
// in that stretch keeps it open (it was resolved as "the rule was removed or changed").
TEST(TwinCodecTest, AFlappingIncidentWaitingForItsStableStretchStaysOpenAcrossARestart) {
  ModelConfig m = TwinWorld::DefaultModel();
  m.flap_count = 3;
  m.flap_window_s = 1000;
  m.flap_stable_s = 100;
  TwinWorld w(m);
  w.Commission("s1", "r1");
  for (int cycle = 0; cycle < 3; ++cycle) {
    for (int i = 0; i < 3; ++i) w.Report("s1", {{"temp_c", 95}});
    for (int i = 0; i < 4; ++i) w.Report("s1", {{"temp_c", 60}});
  }
  ASSERT_EQ(w.server("s1").open_incidents().size(), 1u);
  ASSERT_TRUE(w.server("s1").open_incidents()[0].flapping);
  ServerTwin copy("s1", "dc1", m);
  const Effects out = Restart(w.server("s1"), m, w.now, &copy);
  EXPECT_TRUE(out.events.empty()) << out.events[0].summary;
  EXPECT_EQ(copy.open_incidents().size(), 1u);
  // A model without the rule resolves it.
  ModelConfig none = m;
  none.rules.clear();
  ServerTwin gone("s1", "dc1", none);
  const Effects out2 = Restart(w.server("s1"), none, w.now, &gone);
  ASSERT_EQ(out2.events.size(), 1u);
  EXPECT_NE(out2.events[0].summary.find("removed or changed"), std::string::npos) << out2.events[0].summary;
}

// A severity this code does not know (found by fuzz_twin_state: a datacenter twin's rack with
// severity 32 was used as an index) is damaged state, refused as such.
TEST(TwinCodecTest, AnUnknownSeverityIsCorruption) {
  RackStatus status;
  status.rack = "r1";
  status.kinds = {"thermal"};
  status.incidents = {IncidentRef{"thermal", "rack:r1:thermal:1", static_cast<Severity>(32), 1}};
  RackStatus copy;
  EXPECT_EQ(DecodeRackStatus(EncodeRackStatus(status), &copy).code(), Status::Code::kCorruption);
  status.incidents[0].severity = Severity::kCritical;
  status.worst = static_cast<Severity>(2);
  EXPECT_EQ(DecodeRackStatus(EncodeRackStatus(status), &copy).code(), Status::Code::kCorruption);
  status.worst = Severity::kCritical;
  EXPECT_TRUE(DecodeRackStatus(EncodeRackStatus(status), &copy).ok());
}

// A site's rack row keeps its pod and whether its health came from the pod's own topic: after a
// restart the site still takes that pod's racks only from there.
TEST(TwinCodecTest, ARacksPodAndWhereItsHealthCameFromAreKept) {
  RackStatus status;
  status.rack = "r1";
  status.owner = "pod-1";
  status.from_owner_topic = true;
  RackStatus copy;
  ASSERT_TRUE(DecodeRackStatus(EncodeRackStatus(status), &copy).ok());
  EXPECT_EQ(copy.owner, "pod-1");
  EXPECT_TRUE(copy.from_owner_topic);
}

// A server twin's state as format version 1 wrote it, kept as a file: every later version must
// still read it. Regenerate only when starting a new fixture version:
//   DCTWIN_WRITE_FIXTURES=1 build/tests/dctwin_unit_tests --gtest_filter='TwinCodecTest.*'
// The bytes of BusyWorld's server rb1 as stored in tests/storage/data/<name>; with the variable
// `rewrite` set in the environment, written there again by this build first.
std::string Fixture(const char* name, const char* rewrite) {
  const std::string path = std::string(DCTWIN_SOURCE_DIR "/tests/storage/data/") + name;
  if (std::getenv(rewrite) != nullptr) {
    TwinWorld w = BusyWorld();
    std::ofstream(path, std::ios::binary) << EncodeTwin(w.server("rb1"));
  }
  return ReadAll(path);
}

void ExpectBusyServer(const std::string& bytes) {
  ASSERT_FALSE(bytes.empty());
  ServerTwin twin("rb1", "dc1", TwinWorld::DefaultModel());
  Status s = DecodeTwin(bytes, &twin);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(twin.commissioned());
  EXPECT_EQ(twin.rack(), "rb");
  ASSERT_EQ(twin.open_incidents().size(), 1u);
  EXPECT_EQ(twin.open_incidents()[0].kind, "thermal");
  EXPECT_EQ(twin.open_incidents()[0].id, "server:rb1:thermal:1795520090000.1");
  EXPECT_EQ(twin.window().rows(), 4u);
  MetricSummary temp;
  ASSERT_TRUE(twin.window().Summarize("temp_c", &temp));
  EXPECT_DOUBLE_EQ(temp.max, 93.5);
}

TEST(TwinCodecTest, ReadsStateWrittenByVersionOne) {
  ExpectBusyServer(Fixture("server_twin_v1.bin", "DCTWIN_WRITE_FIXTURES"));
}

// Version 2 (written by the code of 2026-11-27) also held what the twin last published as health.
TEST(TwinCodecTest, ReadsStateWrittenByVersionTwo) {
  const std::string bytes = ReadAll(DCTWIN_SOURCE_DIR "/tests/storage/data/server_twin_v2.bin");
  ExpectBusyServer(bytes);
  ServerTwin twin("rb1", "dc1", TwinWorld::DefaultModel());
  ASSERT_TRUE(DecodeTwin(bytes, &twin).ok());
  EXPECT_LT(EncodeTwin(twin).size(), bytes.size()) << "the published health is no longer stored";
}

// Version 3 (written by the code of 2026-12-03) had no anomaly baselines: they start afresh.
TEST(TwinCodecTest, ReadsStateWrittenByVersionThree) {
  const std::string bytes = ReadAll(DCTWIN_SOURCE_DIR "/tests/storage/data/server_twin_v3.bin");
  ExpectBusyServer(bytes);
  ServerTwin twin("rb1", "dc1", TwinWorld::DefaultModel());
  ASSERT_TRUE(DecodeTwin(bytes, &twin).ok());
  EXPECT_GT(EncodeTwin(twin).size(), bytes.size()) << "written back as version 4";
}

// Version 4 (written by the code of 2026-12-05) had no forecast or change watches, and its
// incidents no metric or figures: they read as none.
TEST(TwinCodecTest, ReadsStateWrittenByVersionFour) {
  const std::string bytes = ReadAll(DCTWIN_SOURCE_DIR "/tests/storage/data/server_twin_v4.bin");
  ServerTwin twin("rb1", "dc1", TwinWorld::DefaultModel());
  Status s = DecodeTwin(bytes, &twin);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(twin.rack(), "rb");
  for (const Incident& inc : twin.open_incidents()) EXPECT_TRUE(inc.figures.empty());
  EXPECT_TRUE(twin.Foresight(RuleSet(TwinWorld::DefaultModel())).empty());
  EXPECT_GT(EncodeTwin(twin).size(), bytes.size()) << "written back as version 5";
}

// Version 5 (written by the code of 2026-12-06) kept the window's rows as floats (window format
// 2); they are compressed when read, and the state written back is smaller.
TEST(TwinCodecTest, ReadsStateWrittenByVersionFive) {
  const std::string bytes = ReadAll(DCTWIN_SOURCE_DIR "/tests/storage/data/server_twin_v5.bin");
  ExpectBusyServer(bytes);
  ServerTwin twin("rb1", "dc1", TwinWorld::DefaultModel());
  ASSERT_TRUE(DecodeTwin(bytes, &twin).ok());
  TwinWorld w = BusyWorld();
  EXPECT_EQ(twin.window().Series().size(), 2u);
  for (const MetricSeries& s : twin.window().Series()) {
    for (const MetricSeries& t : w.server("rb1").window().Series()) {
      if (t.metric == s.metric) {
        EXPECT_EQ(s.points, t.points) << s.metric;
      }
    }
  }
  EXPECT_LT(EncodeTwin(twin).size(), bytes.size()) << "written back with window format 3";
}

// The bytes of today's format, written by the code of 2026-12-07 (DCTWIN_WRITE_CURRENT_FIXTURE=1
// writes them again): a change to how a twin is held in memory must not change them.
TEST(TwinCodecTest, TodaysStateIsReadAndWrittenBackByteForByte) {
  const std::string bytes = Fixture("server_twin_current.bin", "DCTWIN_WRITE_CURRENT_FIXTURE");
  ASSERT_FALSE(bytes.empty());
  ServerTwin twin("rb1", "dc1", TwinWorld::DefaultModel());
  Status s = DecodeTwin(bytes, &twin);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(twin.rack(), "rb");
  EXPECT_EQ(EncodeTwin(twin), bytes);
}

}  // namespace
}  // namespace dctwin
