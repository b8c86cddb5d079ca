// The inventory (contract v3, "Topology"), black box: the gateway commissions the servers an
// inventory file lists, and on SIGHUP moves what changed and decommissions what it no longer
// lists, each a provisioning change in the history; provisioning over MQTT keeps working beside it,
// but may not move what the inventory lists; a bad inventory is refused whole, every problem
// logged, and the running topology stays; --check-config says so too.
#include <signal.h>

#include <string>

#include "tests/integration/end_state.h"
#include "tests/integration/gateway_fixture.h"

namespace dctwin::testing {
namespace {

class InventoryTest : public GatewayTest {
 protected:
  std::string Ask(const std::string& what, const std::string& payload = "") {
    return RunCommand("mosquitto_rr -V 5 -h 127.0.0.1 -p " + std::to_string(broker_.port()) + " -t dctwin/" + what +
                      " -e dctwin/reply/inventory -W 10 -m '" + payload + "'");
  }
  std::string RackOf(const std::string& server) {
    const std::string a = Ask("query/server/" + server);
    return a.find("\"found\":true") == std::string::npos ? std::string("unknown") : JsonString(a, "rack");
  }
  std::string inventory_;
};

const char* kRacks = R"("racks": [
  {"name": "r1", "row": 1, "position": 1, "feeds": ["A-12", "B-12"], "cooling": "crah-3", "tor": "sw-r1", "serial": "x"},
  {"name": "r2", "row": "B", "position": 2, "feeds": ["A-12"], "cooling": "crah-3", "tor": "sw-r2"}])";

TEST_F(InventoryTest, TheInventoryCommissionsMovesAndDecommissionsAndABadOneIsRefusedWhole) {
  inventory_ = dir_.Write("inventory.json", std::string("{") + kRacks + R"(, "servers": [
    {"name": "s1", "rack": "r1", "position_u": 1}, {"name": "s2", "rack": "r1", "position_u": 2},
    {"name": "s3", "rack": "r2"}, {"name": "s4", "rack": "r2"}]})");
  const std::string config = std::string("[gateway]\nstats_interval_s = 0.2\ninventory = \"") + inventory_ +
                             "\"\n[model]\nheartbeat_timeout_s = 3600\n";
  StartGateway(config);
  ASSERT_TRUE(WaitUntil([&] { return RackOf("s4") == "r2"; }, 15s)) << gateway_->Log();
  EXPECT_EQ(RackOf("s1"), "r1");
  EXPECT_EQ(RackOf("s2"), "r1");
  // Provisioning over MQTT: a server the inventory does not list, yes; moving one it lists, no.
  Commission("s9", "r1");
  Commission("s1", "r9");
  auto refused = probe_->WaitFor([](const Received& r) {
    return r.topic.rfind("dctwin/deadletter", 0) == 0 && r.payload.find("the inventory wins") != std::string::npos;
  });
  ASSERT_TRUE(refused);
  EXPECT_EQ(JsonString(refused->payload, "reason"), "conflict") << refused->payload;
  ASSERT_TRUE(WaitUntil([&] { return RackOf("s9") == "r1"; }, 10s));
  EXPECT_EQ(RackOf("s1"), "r1");

  // A new inventory: s2 moves to r2, s4 is gone, s5 is new. SIGHUP applies it.
  dir_.Write("inventory.json", std::string("{") + kRacks + R"(, "servers": [
    {"name": "s1", "rack": "r1"}, {"name": "s2", "rack": "r2"}, {"name": "s3", "rack": "r2"}, {"name": "s5", "rack": "r1"}]})");
  kill(gateway_->pid(), SIGHUP);
  ASSERT_TRUE(WaitUntil([&] { return RackOf("s5") == "r1"; }, 15s)) << gateway_->Log();
  ASSERT_TRUE(WaitUntil([&] { return RackOf("s4") == "unknown"; }, 10s)) << gateway_->Log();
  EXPECT_EQ(RackOf("s2"), "r2");
  EXPECT_EQ(RackOf("s9"), "r1") << "what MQTT commissioned stays";
  const std::string history = Ask("query/history", R"({"type": "provisioning"})");
  for (const char* row : {R"("change":"commissioned","server":"s1","rack":"r1")", R"("change":"moved","server":"s2","rack":"r2","from_rack":"r1")",
                          R"("change":"decommissioned","server":"s4","rack":"r2")", R"("change":"commissioned","server":"s5","rack":"r1")"}) {
    EXPECT_NE(history.find(row), std::string::npos) << row << " missing from " << history;
  }

  // A bad inventory: refused whole, with every problem, and nothing changes.
  dir_.Write("inventory.json", std::string("{") + kRacks + R"(, "servers": [
    {"name": "s1", "rack": "r7"}, {"rack": "r1"}, {"name": "s3", "rack": "r2"}, {"name": "s3", "rack": "r1"}]})");
  kill(gateway_->pid(), SIGHUP);
  ASSERT_TRUE(WaitUntil([&] { return gateway_->Log().find("refused (3 problem(s))") != std::string::npos; }, 10s))
      << gateway_->Log();
  const std::string log = gateway_->Log();
  EXPECT_NE(log.find("servers[0] (s1): rack r7 is not listed in \"racks\""), std::string::npos) << log;
  EXPECT_NE(log.find("servers[1]: \"name\" is required"), std::string::npos) << log;
  EXPECT_NE(log.find("servers[3] (s3): server s3 is listed twice"), std::string::npos) << log;
  EXPECT_EQ(RackOf("s1"), "r1");
  EXPECT_EQ(RackOf("s5"), "r1");
  // --check-config says the same, and exits 2.
  int status = 0;
  const std::string check = RunCommand(std::string(DCTWIN_GATEWAY_BINARY) + " --check-config --config " +
                                           dir_.File("dctwin.toml") + " 2>&1", &status);
  EXPECT_NE(status, 0) << check;
  EXPECT_NE(check.find("3 problem(s) in the inventory"), std::string::npos) << check;
  EXPECT_EQ(WaitForAgreement(broker_.port(), 10s), "");
}

}  // namespace
}  // namespace dctwin::testing
