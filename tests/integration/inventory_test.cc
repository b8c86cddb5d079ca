// The inventory (contract v3, "Topology"), black box: the gateway commissions the servers an
// inventory file lists, and on SIGHUP moves what changed and decommissions what it no longer
// lists, each a provisioning change in the history; provisioning over MQTT keeps working beside it,
// but may not move what the inventory lists; a bad inventory is refused whole, every problem
// logged, and the running topology stays; --check-config says so too.
#include <httplib.h>
#include <signal.h>

#include <atomic>
#include <string>
#include <thread>

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


// NetBox's API as the gateway meets it: a small HTTP server on a loopback port serves the saved
// pages of tests/data/netbox (devices in two pages, the second reached through "next") and wants
// the API token. The gateway commissions NetBox's servers into their racks, makes a group of
// each panel, cooling unit and switch; a wrong token is refused whole, and the topology stays.
class NetboxServer {
 public:
  explicit NetboxServer(std::string token) : token_(std::move(token)) {
    const std::string data = std::string(DCTWIN_SOURCE_DIR) + "/tests/data/netbox/";
    auto page = [this, data](const std::string& file) {
      return [this, data, file](const httplib::Request& req, httplib::Response& res) {
        ++requests_;
        if (req.get_header_value("Authorization") != "Token " + token_) {
          res.status = 403;
          res.set_content(R"({"detail": "Invalid token"})", "application/json");
          return;
        }
        std::string body = ReadFile(data + file);
        // The saved pages name netbox.local; this server is where "next" leads.
        for (size_t at; (at = body.find("http://netbox.local")) != std::string::npos;) {
          body.replace(at, 19, "http://127.0.0.1:" + std::to_string(port_));
        }
        res.set_content(body, "application/json");
      };
    };
    server_.Get("/api/dcim/racks/", page("racks.json"));
    server_.Get("/api/dcim/power-feeds/", page("power-feeds.json"));
    server_.Get("/api/dcim/devices/", [page](const httplib::Request& req, httplib::Response& res) {
      page(req.get_param_value("offset") == "4" ? "devices-2.json" : "devices-1.json")(req, res);
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~NetboxServer() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/api/"; }
  int requests() const { return requests_.load(); }

 private:
  const std::string token_;
  httplib::Server server_;
  int port_ = 0;
  std::atomic<int> requests_{0};
  std::thread thread_;
};

TEST_F(InventoryTest, NetboxsApiPagesAreTheInventoryAndAWrongTokenIsRefusedWhole) {
  NetboxServer netbox("0123456789abcdef");
  auto config = [&](const std::string& token) {
    return std::string("[gateway]\nstats_interval_s = 0.2\ninventory = \"") + netbox.url() + "\"\ninventory_token = \"" +
           token + "\"\n[model]\nheartbeat_timeout_s = 3600\n";
  };
  StartGateway(config("0123456789abcdef"));
  ASSERT_TRUE(WaitUntil([&] { return RackOf("s0301") == "r03"; }, 15s)) << gateway_->Log();
  EXPECT_EQ(RackOf("s0101"), "r01");
  EXPECT_EQ(RackOf("s0201"), "r02");
  EXPECT_EQ(RackOf("pdu-r01-a"), "unknown") << "a PDU is not a server";
  EXPECT_EQ(RackOf("spare-1"), "unknown") << "an unracked device is not on the floor";
  EXPECT_GE(netbox.requests(), 4) << "racks, two pages of devices, power feeds";
  const std::string panel = Ask("query/group/feed:A-12");
  EXPECT_NE(panel.find(R"("racks":["r01","r02"])"), std::string::npos) << panel;
  EXPECT_NE(Ask("query/group/tor:leaf-r02").find(R"("found":true)"), std::string::npos);
  EXPECT_NE(Ask("query/group/cooling:crah-1").find(R"("racks":["r01","r02"])"), std::string::npos);

  // --check-config reads the API too.
  int status = 0;
  std::string check = RunCommand(std::string(DCTWIN_GATEWAY_BINARY) + " --check-config --config " +
                                     dir_.File("dctwin.toml") + " 2>&1", &status);
  EXPECT_EQ(status, 0) << check;
  EXPECT_NE(check.find("inventory OK: 3 racks, 4 servers"), std::string::npos) << check;

  // A wrong token: the reload is refused whole, saying why, and nothing changes.
  dir_.Write("dctwin.toml", config("wrong"));
  kill(gateway_->pid(), SIGHUP);
  ASSERT_TRUE(WaitUntil([&] { return gateway_->Log().find("HTTP 403 (is gateway.inventory_token right?)") != std::string::npos; },
                        10s)) << gateway_->Log();
  EXPECT_NE(gateway_->Log().find("the running topology stays"), std::string::npos);
  EXPECT_EQ(RackOf("s0101"), "r01");
  EXPECT_NE(Ask("query/group/feed:A-12").find(R"("found":true)"), std::string::npos);
  check = RunCommand(std::string(DCTWIN_GATEWAY_BINARY) + " --check-config --config " + dir_.File("dctwin.toml") + " 2>&1",
                     &status);
  EXPECT_NE(status, 0) << check;
  EXPECT_EQ(WaitForAgreement(broker_.port(), 10s), "");
}


// A group twin is durable: a feed's incident open when the gateway is killed is the same incident
// after the restart (no second open), its racks' records still name it, and it resolves once.
TEST_F(InventoryTest, AFeedIncidentOutlivesAKillNineAndResolvesOnce) {
  inventory_ = dir_.Write("inventory.json", std::string("{") + kRacks + R"(, "servers": [
    {"name": "a1", "rack": "r1"}, {"name": "a2", "rack": "r1"}, {"name": "a3", "rack": "r1"},
    {"name": "b1", "rack": "r2"}, {"name": "b2", "rack": "r2"}, {"name": "b3", "rack": "r2"}]})");
  const std::string config = std::string("[gateway]\nstats_interval_s = 0.2\ninventory = \"") + inventory_ +
                             "\"\n[model]\nheartbeat_timeout_s = 3600\n";
  StartGateway(config);
  ASSERT_TRUE(WaitUntil([&] { return RackOf("b3") == "r2"; }, 15s)) << gateway_->Log();
  auto sag = [&](double volts) {
    for (int i = 0; i < 3; ++i) {
      for (const char* s : {"a1", "a2", "a3", "b1", "b2", "b3"}) Report(s, R"({"psu_volts": )" + std::to_string(volts) + "}");
    }
  };
  sag(10.0);
  auto open = Alert("group", "feed:A-12", "open", 15s);
  ASSERT_TRUE(open) << gateway_->Log();
  const std::string id = JsonString(open->payload, "id");
  ASSERT_TRUE(WaitUntil([&] { return Ask("query/group/feed:A-12").find(id) != std::string::npos; }, 5s));

  gateway_->Kill();
  probe_->Clear();
  StartGateway(config);
  EXPECT_NE(Ask("query/group/feed:A-12").find(id), std::string::npos) << "the same incident, restored";
  EXPECT_NE(Ask("query/incidents").find(id), std::string::npos);
  EXPECT_EQ(WaitForAgreement(broker_.port(), 10s), "");
  sag(12.1);
  auto resolved = Alert("group", "feed:A-12", "resolved", 15s);
  ASSERT_TRUE(resolved) << gateway_->Log();
  EXPECT_EQ(JsonString(resolved->payload, "id"), id);
  // Opened once: nothing but a redelivery of the same id (the kill may have come before its
  // outbox row was marked sent).
  for (const Received& r : probe_->All([](const Received& x) { return x.topic == "dctwin/alerts/group/feed:A-12"; })) {
    EXPECT_EQ(JsonString(r.payload, "id"), id) << r.payload;
  }
  EXPECT_EQ(WaitForAgreement(broker_.port(), 10s), "");
}

}  // namespace
}  // namespace dctwin::testing
