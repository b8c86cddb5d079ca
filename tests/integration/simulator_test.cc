// dctwin-sim against the real gateway: its scenarios must show up as the incidents they stand
// for, in both of its output formats.
#include <gtest/gtest.h>

#include <string>

#include "tests/integration/gateway_fixture.h"

namespace dctwin::testing {
namespace {

class SimulatorTest : public GatewayTest {
 protected:
  // The shipped configuration (its collectd rules included), quick stats, no metrics port.
  static std::string ShippedConfig(const std::string& heartbeat_s) {
    std::string c = ReadFile(std::string(DCTWIN_SOURCE_DIR) + "/config/dctwin.toml");
    Set(c, "stats_interval_s", "0.2");
    Set(c, "listen", "\"\"");
    Set(c, "heartbeat_timeout_s", heartbeat_s);
    return c;
  }
  // Replaces the value of the first line "<key> = ..." (std::regex trips GCC 12's
  // maybe-uninitialized warning under the sanitizers).
  static void Set(std::string& config, const std::string& key, const std::string& value) {
    const size_t at = config.find("\n" + key + " = ");
    ASSERT_NE(at, std::string::npos) << key;
    const size_t from = at + key.size() + 4;
    config.replace(from, config.find('\n', from) - from, value);
  }
  void RunSim(const std::string& format, const std::string& racks, const std::string& scenario) {
    sim_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{DCTWIN_SIM_BINARY, "--broker", broker_.uri(), "--format", format, "--racks", racks,
                                 "--servers-per-rack", "3", "--interval", "0.3", "--scenario", scenario},
        dir_.File("sim.log"));
    sim_->Start();
  }
  std::string Kind(const std::string& level, const std::string& subject) {
    auto e = Alert(level, subject, "open", 20s);
    return e ? JsonString(e->payload, "kind") : "(no open event; sim: " + ReadFile(dir_.File("sim.log")) + ")";
  }
  void TearDown() override {
    if (sim_) sim_->Stop();
  }
  std::unique_ptr<ChildProcess> sim_;
};

TEST_F(SimulatorTest, CollectdFormatScenariosOpenThermalDiskAndARackNetworkIncident) {
  StartGateway(ShippedConfig("60"));
  RunSim("collectd", "2", "0 overheat r01-s02; 0 disk-fail r01-s01; 0 tor-degrade r02");
  EXPECT_EQ(Kind("server", "r01-s02"), "thermal");
  EXPECT_EQ(Kind("server", "r01-s01"), "disk");
  EXPECT_EQ(Kind("rack", "r02"), "network");  // every server of r02 drops packets: likely its ToR switch
  auto thermal = Alert("server", "r01-s02", "open");
  ASSERT_TRUE(thermal);
  EXPECT_NE(JsonString(thermal->payload, "summary").find("ipmi/temperature-CPU"), std::string::npos) << thermal->payload;
  // Nothing opened for healthy servers.
  EXPECT_TRUE(probe_->All([](const Received& r) { return r.topic == "dctwin/alerts/server/r01-s03"; }).empty());
}

TEST_F(SimulatorTest, NativeFormatPowerSagAcrossRacksAndADeadTorSwitch) {
  StartGateway(ShippedConfig("2"));
  RunSim("native", "3", "0 power-sag 2; 1 tor-die r03");
  EXPECT_EQ(Kind("rack", "r01"), "power");
  EXPECT_EQ(Kind("rack", "r02"), "power");
  EXPECT_EQ(Kind("datacenter", "dc1"), "power");  // two racks with the same kind
  EXPECT_EQ(Kind("rack", "r03"), "silent");      // the rack went quiet: its switch
}


// The inventory's groups (contract v3, "Topology"): dctwin-sim reads the gateway's inventory and
// trips a feed, fails a cooling unit (its two racks heat up) and fails the switch of one rack;
// each is one group incident of its kind, and recovering each resolves it.
TEST_F(SimulatorTest, InventoryScenariosTripAFeedFailACoolingUnitAndASwitch) {
  const std::string inventory = dir_.Write("inventory.json", R"({"racks": [
    {"name": "r1", "row": 1, "position": 1, "feeds": ["A-12"], "tor": "sw-1"},
    {"name": "r2", "row": 1, "position": 2, "feeds": ["A-12"], "tor": "sw-2"},
    {"name": "r3", "row": 2, "position": 1, "feeds": ["B-7"], "cooling": "crah-1", "tor": "sw-3"},
    {"name": "r4", "row": 2, "position": 2, "feeds": ["B-7"], "cooling": "crah-1", "tor": "sw-4"},
    {"name": "r5", "row": 3, "position": 1, "feeds": ["B-7"], "cooling": "crah-2", "tor": "sw-5"},
    {"name": "r6", "row": 3, "position": 2, "feeds": ["B-7"], "cooling": "crah-2", "tor": "sw-6"}],
    "servers": []})");
  std::string config = ShippedConfig("2");
  const std::string commented = "\n# inventory = \"/etc/dctwin/inventory.json\"";
  ASSERT_NE(config.find(commented), std::string::npos);
  config.replace(config.find(commented), commented.size(), "\ninventory = \"" + inventory + "\"");
  // Each rack has three servers: three of a group's are enough.
  const size_t group = config.find("\n[group]\n");
  ASSERT_NE(group, std::string::npos);
  config.replace(config.find("min_servers = 5", group), 15, "min_servers = 3");
  StartGateway(config);
  sim_ = std::make_unique<ChildProcess>(
      std::vector<std::string>{DCTWIN_SIM_BINARY, "--broker", broker_.uri(), "--inventory", inventory,
                               "--servers-per-rack", "3", "--interval", "0.3", "--heat-rate", "900", "--scenario",
                               "1 feed-trip A-12; 1 cooling-fail crah-1; 1 switch-fail sw-5; 12 recover feed:A-12; "
                               "12 recover cooling:crah-1; 12 recover tor:sw-5"},
      dir_.File("sim.log"));
  sim_->Start();
  EXPECT_EQ(Kind("group", "feed:A-12"), "power");
  EXPECT_EQ(Kind("group", "cooling:crah-1"), "thermal");
  EXPECT_EQ(Kind("group", "tor:sw-5"), "silent");
  // Feed B-7 feeds r5 too, but its other racks report: the switch, not the feed.
  EXPECT_TRUE(probe_->All([](const Received& r) { return r.topic == "dctwin/alerts/group/feed:B-7"; }).empty());
  for (const char* g : {"feed:A-12", "cooling:crah-1", "tor:sw-5"}) {
    EXPECT_TRUE(Alert("group", g, "resolved", 30s)) << g << "\n" << ReadFile(dir_.File("sim.log"));
  }
}

}  // namespace
}  // namespace dctwin::testing
