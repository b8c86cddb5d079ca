// Control (contract v3): the twin's desired state, black box. The real gateway over a real
// mosquitto, dctwinctl as the operator, dctwin-agent with real hook scripts as the server side, and
// mosquitto_pub/mosquitto_rr for what an agent could get wrong. Every test ends with the retained
// P/twin, P/control, P/health and P/incidents agreeing with what the twins answer.
#include <signal.h>
#include <simdjson.h>
#include <sys/stat.h>

#include <atomic>
#include <cstdio>
#include <map>
#include <set>
#include <string>
#include <thread>

#include "tests/integration/end_state.h"
#include "tests/integration/gateway_fixture.h"

namespace dctwin::testing {
namespace {

const char* kControlConfig = R"(
[gateway]
stats_interval_s = 0.2
[model]
heartbeat_timeout_s = 3600
max_messages_per_s = 0
[control]
ack_timeout_s = 3
max_drained_per_rack = 0.25
max_drained_per_datacenter = 0.2
max_changes_per_min = 40
[[control.keys]]
name = "power_cap_w"
type = "number"
min = 100
max = 1000
[[control.keys]]
name = "drain"
type = "bool"
[[control.keys]]
name = "fan_profile"
type = "string"
values = ["quiet", "balanced", "max"]
[[rules]]
kind = "disk"
metric = "disk_errors"
op = ">"
threshold = 0
severity = "critical"
[[automation]]
kind = "disk"
severity = "critical"
set = { drain = true }
)";

class ControlTest : public GatewayTest {
 protected:
  void SetUp() override {
    GatewayTest::SetUp();
    hooks_ = dir_.path() + "/hooks";
    mkdir(hooks_.c_str(), 0755);
    // power_cap_w and drain are applied (and written down); fan_profile max is refused, and
    // "quiet" fails while applying.
    Hook("power_cap_w", "echo \"$1\" > " + dir_.path() + "/power_cap_w.out\nexit 0");
    Hook("drain", "echo \"$1\" > " + dir_.path() + "/drain.out\nexit 0");
    Hook("fan_profile", "case \"$1\" in max) echo 'fans cannot do max'; exit 3;; quiet) echo 'fan controller down'; exit 1;; esac\nexit 0");
  }
  void TearDown() override {
    for (auto& a : agents_) a->Stop();
  }
  void Hook(const std::string& key, const std::string& body) {
    const std::string path = hooks_ + "/" + key;
    dir_.Write("hooks/" + key, "#!/bin/sh\n" + body + "\n");
    chmod(path.c_str(), 0755);
  }
  void StartAgent(const std::string& server, std::vector<std::string> extra = {}) {
    std::vector<std::string> argv{DCTWIN_AGENT_BINARY, "--server", server, "--broker", broker_.uri(), "--hooks-dir",
                                  hooks_, "--interval", "1"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    agents_.push_back(std::make_unique<ChildProcess>(std::move(argv), dir_.File("agent-" + server + ".log")));
    agents_.back()->Start();
  }
  std::string Ctl(const std::string& args, int* status = nullptr) {
    return RunCommand(std::string(DCTWIN_CTL_BINARY) + " --broker " + broker_.uri() + " --timeout 5 " + args + " 2>&1",
                      status);
  }
  // Each request has a reply topic of its own: requests from two threads must not take each
  // other's answers.
  std::string Ask(const std::string& what, const std::string& payload) {
    const std::string reply = "dctwin/reply/control-" + std::to_string(asked_.fetch_add(1));
    std::string out = RunCommand("mosquitto_rr -V 5 -h 127.0.0.1 -p " + std::to_string(broker_.port()) + " -t dctwin/" +
                                 what + " -e " + reply + " -W 10 -m '" + payload + "'");
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
  }
  std::string Desired(const std::string& payload) { return Ask("command/desired", payload); }
  std::string Twin(const std::string& server) { return Ask("query/twin/" + server, ""); }
  void Reported(const std::string& server, const std::string& payload) {
    probe_->Publish("dctwin/reported/" + server, payload);
  }
  bool WaitTwin(const std::string& server, const std::string& needle, std::chrono::milliseconds timeout = 10s) {
    return WaitUntil([&] { return Twin(server).find(needle) != std::string::npos; }, timeout);
  }
  std::optional<Received> Incident(const std::string& server, const std::string& kind, const std::string& state,
                                   std::chrono::milliseconds timeout = 10s) {
    return probe_->WaitFor([&](const Received& r) {
      return r.topic == "dctwin/alerts/server/" + server && JsonString(r.payload, "kind") == kind &&
             JsonString(r.payload, "state") == state;
    }, timeout);
  }
  void CommissionRacks() {
    // r1: s1..s4, r2: s5..s8, r3: s9..s10 (10 servers: the site may drain 2).
    for (int i = 1; i <= 10; ++i) Commission("s" + std::to_string(i), i <= 4 ? "r1" : i <= 8 ? "r2" : "r3");
    ASSERT_TRUE(WaitUntil([&] { return Twin("s10").find("\"server\":\"s10\"") != std::string::npos; }, 10s));
  }

  std::string hooks_;
  std::vector<std::unique_ptr<ChildProcess>> agents_;
  std::atomic<int> asked_{0};
};

TEST_F(ControlTest, AChangeIsCommittedAppliedByTheAgentAndShownEverywhere) {
  StartGateway(kControlConfig);
  CommissionRacks();
  StartAgent("s1");
  const std::string answer = Ctl("set s1 power_cap_w=350 drain=true -c 'disk swap' --by alice");
  EXPECT_NE(answer.find("s1      1"), std::string::npos) << answer << gateway_->Log();
  // The agent ran the hooks with the values.
  ASSERT_TRUE(WaitUntil([&] { return ReadFile(dir_.File("power_cap_w.out")) == "350\n"; }, 10s)) << ReadFile(dir_.File("agent-s1.log"));
  EXPECT_EQ(ReadFile(dir_.File("drain.out")), "true\n");
  ASSERT_TRUE(WaitTwin("s1", "\"state\":\"in_sync\"")) << Twin("s1");
  const std::string twin = Twin("s1");
  EXPECT_NE(twin.find("\"desired\":{\"drain\":true,\"power_cap_w\":350}"), std::string::npos) << twin;
  EXPECT_NE(twin.find("\"reported\":{\"drain\":true,\"power_cap_w\":350}"), std::string::npos) << twin;
  EXPECT_NE(twin.find("\"delta\":{}"), std::string::npos) << twin;
  EXPECT_NE(twin.find("\"version\":1,\"reported_version\":1"), std::string::npos) << twin;
  // Retained: the server's desired state with nothing left to do, and its twin.
  auto control = probe_->WaitFor([](const Received& r) {
    return r.topic == "dctwin/control/s1" && r.payload.find("\"delta\":{}") != std::string::npos;
  });
  ASSERT_TRUE(control);
  EXPECT_EQ(control->payload, "{\"version\":1,\"desired\":{\"drain\":true,\"power_cap_w\":350},\"delta\":{}}");
  // dctwinctl twin prints the table.
  const std::string table = Ctl("twin s1");
  EXPECT_NE(table.find("state in_sync"), std::string::npos) << table;
  EXPECT_NE(table.find("power_cap_w  350      350       no"), std::string::npos) << table;
  EXPECT_NE(table.find("by alice: disk swap"), std::string::npos) << table;
  // The history has the change (with by and comment) and the server's report.
  const std::string history = Ask("query/history", R"({"type":"control"})");
  EXPECT_NE(history.find("\"change\":\"desired\""), std::string::npos) << history;
  EXPECT_NE(history.find("\"by\":\"alice\",\"comment\":\"disk swap\""), std::string::npos) << history;
  EXPECT_NE(history.find("\"change\":\"reported\""), std::string::npos) << history;
  // A refused key: the server says 400, a control incident opens and names it; a good value ends it.
  EXPECT_NE(Desired(R"({"server":"s1","set":{"fan_profile":"max"},"by":"alice"})").find("\"ok\":true"), std::string::npos);
  auto opened = Incident("s1", "control", "open");
  ASSERT_TRUE(opened) << Twin("s1");
  EXPECT_NE(opened->payload.find("fans cannot do max"), std::string::npos) << opened->payload;
  EXPECT_NE(Twin("s1").find("\"state\":\"rejected\""), std::string::npos) << Twin("s1");
  EXPECT_NE(Desired(R"({"server":"s1","set":{"fan_profile":"balanced"},"by":"alice"})").find("\"ok\":true"), std::string::npos);
  ASSERT_TRUE(Incident("s1", "control", "resolved")) << Twin("s1");
  EXPECT_NE(Twin("s1").find("\"state\":\"in_sync\""), std::string::npos) << Twin("s1");
  // A failure while applying (500) opens it too.
  EXPECT_NE(Desired(R"({"server":"s1","set":{"fan_profile":"quiet"},"by":"alice"})").find("\"ok\":true"), std::string::npos);
  ASSERT_TRUE(WaitTwin("s1", "\"state\":\"failed\"")) << Twin("s1");
  EXPECT_NE(Twin("s1").find("fan controller down"), std::string::npos) << Twin("s1");
  EXPECT_EQ(WaitForAgreement(broker_.port(), 10s), "");
}

// The agent applies the retained desired state again when it starts (a rebooted or re-imaged
// server), and a hook that hangs counts as failed after --hook-timeout.
TEST_F(ControlTest, TheAgentReappliesAtStartAndAHangingHookFails) {
  StartGateway(kControlConfig);
  CommissionRacks();
  EXPECT_NE(Desired(R"({"server":"s5","set":{"power_cap_w":420}})").find("\"ok\":true"), std::string::npos);
  // Nobody applied it yet; the agent starts and applies the retained state.
  StartAgent("s5");
  ASSERT_TRUE(WaitTwin("s5", "\"state\":\"in_sync\"")) << Twin("s5") << ReadFile(dir_.File("agent-s5.log"));
  EXPECT_EQ(ReadFile(dir_.File("power_cap_w.out")), "420\n");
  // Stopped, the machine loses the setting; started again, the agent sets it again.
  agents_.back()->Stop();
  std::remove(dir_.File("power_cap_w.out").c_str());
  StartAgent("s5");
  ASSERT_TRUE(WaitUntil([&] { return ReadFile(dir_.File("power_cap_w.out")) == "420\n"; }, 10s))
      << ReadFile(dir_.File("agent-s5.log"));
  agents_.back()->Stop();
  // A hook that hangs: failed (500) after the agent's timeout, and the server's twin says why.
  Hook("drain", "sleep 30");
  StartAgent("s5", {"--hook-timeout", "1"});
  EXPECT_NE(Desired(R"({"server":"s5","set":{"drain":true}})").find("\"ok\":true"), std::string::npos);
  ASSERT_TRUE(WaitTwin("s5", "\"state\":\"failed\"", 15s)) << Twin("s5") << ReadFile(dir_.File("agent-s5.log"));
  EXPECT_NE(Twin("s5").find("drain failed: timed out after 1 s"), std::string::npos) << Twin("s5");
  ASSERT_TRUE(Incident("s5", "control", "open"));
  EXPECT_EQ(WaitForAgreement(broker_.port(), 10s), "");
}

TEST_F(ControlTest, KeysValuesVersionsAndInterlocksAreCheckedAndARackChangesWhole) {
  StartGateway(kControlConfig);
  CommissionRacks();
  auto refused = [&](const std::string& payload, const std::string& error) {
    const std::string a = Desired(payload);
    EXPECT_NE(a.find("\"ok\":false"), std::string::npos) << payload << " -> " << a;
    EXPECT_NE(a.find(error), std::string::npos) << payload << " -> " << a;
    return a;
  };
  refused(R"({"server":"s1","set":{"turbo":true}})", "unknown key turbo");
  refused(R"({"server":"s1","set":{"power_cap_w":5000}})", "power_cap_w must be at most 1000");
  refused(R"({"server":"s1","set":{"power_cap_w":"high"}})", "power_cap_w must be a number");
  refused(R"({"server":"s1","set":{"fan_profile":"loud"}})", "fan_profile must be one of quiet, balanced, max");
  refused(R"({"server":"s1","set":{"drain":1}})", "drain must be true or false");
  refused(R"({"server":"nope","set":{"drain":true}})", "unknown server nope");
  refused(R"({"rack":"r9","set":{"drain":true}})", "unknown rack r9");
  refused(R"({"set":{"drain":true}})", "name either");
  refused(R"({"server":"s1"})", "is required: an object of keys");
  refused("not json", "not a JSON object");
  // Optimistic concurrency: version 0 is current, then 1.
  EXPECT_NE(Desired(R"({"server":"s1","set":{"power_cap_w":300},"version":0})").find("\"version\":1"), std::string::npos);
  refused(R"({"server":"s1","set":{"power_cap_w":310},"version":0})", "someone changed it meanwhile");
  EXPECT_NE(Desired(R"({"server":"s1","set":{"power_cap_w":null},"version":1})").find("\"version\":2"), std::string::npos);
  EXPECT_NE(Twin("s1").find("\"desired\":{}"), std::string::npos) << Twin("s1");  // null removed it
  // Drains: one of r1's four (0.25), then the second is refused and named; the site allows 2 of 10.
  EXPECT_NE(Desired(R"({"server":"s1","set":{"drain":true}})").find("\"ok\":true"), std::string::npos);
  const std::string rack = refused(R"({"server":"s2","set":{"drain":true}})", "interlock max_drained_per_rack");
  EXPECT_NE(rack.find("\"interlock\":\"max_drained_per_rack\""), std::string::npos) << rack;
  // A preview says the same without changing anything.
  refused(R"({"server":"s2","set":{"drain":true},"dry_run":true})", "interlock max_drained_per_rack");
  EXPECT_NE(Desired(R"({"server":"s5","set":{"drain":true}})").find("\"ok\":true"), std::string::npos);
  refused(R"({"server":"s9","set":{"drain":true}})", "interlock max_drained_per_datacenter");
  // A rack-wide change that one server's interlock refuses changes none of them.
  refused(R"({"rack":"r2","set":{"drain":true,"power_cap_w":400}})", "interlock max_drained_per_rack");
  for (const char* s : {"s6", "s7", "s8"}) EXPECT_NE(Twin(s).find("\"version\":0"), std::string::npos) << Twin(s);
  // One that passes changes every server of the rack, each with its own version.
  const std::string whole = Desired(R"({"rack":"r2","set":{"power_cap_w":400},"by":"bob"})");
  EXPECT_NE(whole.find("{\"server\":\"s5\",\"version\":2},{\"server\":\"s6\",\"version\":1}"), std::string::npos) << whole;
  // The site's rate: 40 changes a minute, one per server changed: 1 + 1 + 1 + 1 + 4 so far (the
  // refusals and the preview count for nothing), then r3's two servers at a time.
  std::string last;
  int accepted = 0;
  for (int i = 0; i < 20; ++i) {
    last = Desired(R"({"rack":"r3","set":{"power_cap_w":)" + std::to_string(200 + i) + "}}");
    if (last.find("\"ok\":true") == std::string::npos) break;
    ++accepted;
  }
  EXPECT_NE(last.find("interlock max_changes_per_min"), std::string::npos) << last;
  EXPECT_EQ(accepted, (40 - 8) / 2) << last;
  EXPECT_EQ(WaitForAgreement(broker_.port(), 10s), "");
}

TEST_F(ControlTest, TimeoutsDriftAndReportsOutOfOrder) {
  StartGateway(kControlConfig);
  CommissionRacks();
  // Nobody applies s3's change: after ack_timeout_s (3 s) a control incident opens.
  EXPECT_NE(Desired(R"({"server":"s3","set":{"power_cap_w":500}})").find("\"ok\":true"), std::string::npos);
  auto timed_out = Incident("s3", "control", "open", 15s);
  ASSERT_TRUE(timed_out) << Twin("s3");
  EXPECT_NE(timed_out->payload.find("not applied by server s3 in rack r1 within 3 s"), std::string::npos) << timed_out->payload;
  EXPECT_NE(Twin("s3").find("\"state\":\"timeout\""), std::string::npos);
  auto health = probe_->WaitFor([](const Received& r) {
    return r.topic == "dctwin/health/server/s3" && r.payload.find("\"warning\"") != std::string::npos;
  });
  EXPECT_TRUE(health);
  // It applies it late: the incident resolves.
  Reported("s3", R"({"version":1,"reported":{"power_cap_w":500},"ac":200})");
  ASSERT_TRUE(Incident("s3", "control", "resolved"));
  // Then the value leaves the desired one: drift, until it is back.
  Reported("s3", R"({"version":1,"reported":{"power_cap_w":650},"ac":200,"ad":"BMC reset"})");
  auto drift = Incident("s3", "drift", "open");
  ASSERT_TRUE(drift);
  EXPECT_NE(drift->payload.find("power_cap_w is 650, desired 500"), std::string::npos) << drift->payload;
  auto control = probe_->WaitFor([](const Received& r) {
    return r.topic == "dctwin/control/s3" && r.payload.find("\"delta\":{\"power_cap_w\":500}") != std::string::npos;
  });
  EXPECT_TRUE(control) << "the server is told what to set again";
  Reported("s3", R"({"version":1,"reported":{"power_cap_w":500},"ac":200})");
  ASSERT_TRUE(Incident("s3", "drift", "resolved"));
  // Out of order: version 2's 202 and 200, then version 1's late 200, then 2's late 202.
  EXPECT_NE(Desired(R"({"server":"s3","set":{"power_cap_w":600}})").find("\"version\":2"), std::string::npos);
  Reported("s3", R"({"version":2,"reported":{"power_cap_w":500},"ac":202})");
  Reported("s3", R"({"version":2,"reported":{"power_cap_w":600},"ac":200})");
  ASSERT_TRUE(WaitTwin("s3", "\"state\":\"in_sync\""));
  Reported("s3", R"({"version":1,"reported":{"power_cap_w":500},"ac":200})");
  Reported("s3", R"({"version":2,"reported":{"power_cap_w":500},"ac":202})");
  ASSERT_TRUE(probe_->WaitFor([](const Received& r) {
    return r.topic == "dctwin/gateway/gw-test/stats" && r.payload.find("\"control_reports_stale\":2") != std::string::npos;
  })) << gateway_->Log();
  EXPECT_NE(Twin("s3").find("\"reported\":{\"power_cap_w\":600}"), std::string::npos) << Twin("s3");
  // A version the gateway never issued, and bad reports, are dead letters.
  Reported("s3", R"({"version":9,"reported":{},"ac":200})");
  Reported("s3", R"({"version":"x"})");
  Reported("nope", R"({"version":1,"ac":200})");
  auto conflict = probe_->WaitFor([](const Received& r) {
    return r.topic.rfind("dctwin/deadletter", 0) == 0 && r.payload.find("reports version 9") != std::string::npos;
  });
  EXPECT_TRUE(conflict);
  EXPECT_TRUE(probe_->WaitFor([](const Received& r) {
    return r.topic.rfind("dctwin/deadletter", 0) == 0 && r.payload.find("uncommissioned") != std::string::npos;
  }));
  EXPECT_NE(Twin("s3").find("\"state\":\"in_sync\""), std::string::npos) << Twin("s3");
  // A decommissioned server takes its desired state along.
  probe_->Publish("dctwin/provisioning/s3", R"({"action":"decommission"})");
  ASSERT_TRUE(probe_->WaitFor([](const Received& r) { return r.topic == "dctwin/control/s3" && r.payload.empty(); }));
  EXPECT_NE(Twin("s3").find("unknown server s3"), std::string::npos);
  EXPECT_EQ(WaitForAgreement(broker_.port(), 10s), "");
}

TEST_F(ControlTest, AnAutomationDrainsOnADiskIncidentAndAnInterlockedOneSaysSo) {
  StartGateway(kControlConfig);
  CommissionRacks();
  StartAgent("s1");
  Report("s1", R"({"disk_errors": 3})");
  auto disk = Incident("s1", "disk", "open");
  ASSERT_TRUE(disk);
  ASSERT_TRUE(WaitTwin("s1", "\"reported\":{\"drain\":true}")) << Twin("s1") << ReadFile(dir_.File("agent-s1.log"));
  EXPECT_NE(Twin("s1").find("\"by\":\"automation:disk\""), std::string::npos) << Twin("s1");
  EXPECT_NE(Twin("s1").find("incident " + JsonString(disk->payload, "id") + " opened"), std::string::npos) << Twin("s1");
  // s2 in the same rack: the rack interlock refuses its drain; a warning says so, and ends with the disk incident.
  Report("s2", R"({"disk_errors": 1})");
  auto refused = Incident("s2", "automation", "open");
  ASSERT_TRUE(refused) << gateway_->Log();
  EXPECT_NE(refused->payload.find("interlock max_drained_per_rack"), std::string::npos) << refused->payload;
  EXPECT_NE(Twin("s2").find("\"desired\":{}"), std::string::npos) << Twin("s2");
  Report("s2", R"({"disk_errors": 0})");
  Report("s2", R"({"disk_errors": 0})");
  Report("s2", R"({"disk_errors": 0})");
  ASSERT_TRUE(Incident("s2", "disk", "resolved"));
  ASSERT_TRUE(Incident("s2", "automation", "resolved"));
  // Nothing is undone automatically: s1 stays drained after its disk incident ends.
  for (int i = 0; i < 3; ++i) Report("s1", R"({"disk_errors": 0})");
  ASSERT_TRUE(Incident("s1", "disk", "resolved"));
  EXPECT_NE(Twin("s1").find("\"desired\":{\"drain\":true}"), std::string::npos) << Twin("s1");
  EXPECT_EQ(WaitForAgreement(broker_.port(), 10s), "");
}

// kill -9 while changes are being made: every change that was answered is there after the
// restart, versions are never handed out twice, and the server is told the newest.
TEST_F(ControlTest, AKillDuringChangesLosesNoAnsweredChangeAndReusesNoVersion) {
  std::string config = kControlConfig;
  config.replace(config.find("max_changes_per_min = 40"), 24, "max_changes_per_min = 100000");
  StartGateway(config);
  CommissionRacks();
  std::vector<std::pair<int, int64_t>> answered;  // (power cap asked, version answered)
  std::thread changer([&] {
    for (int i = 0; i < 300; ++i) {
      const int cap = 100 + i;
      const std::string a = Desired(R"({"server":"s4","set":{"power_cap_w":)" + std::to_string(cap) + "}}");
      if (a.find("\"ok\":true") == std::string::npos) continue;
      const size_t at = a.find("\"version\":");
      if (at != std::string::npos) answered.emplace_back(cap, std::stoll(a.substr(at + 10)));
    }
  });
  const bool reached = WaitUntil([&] { return JsonNumber(Twin("s4"), "version") >= 5; }, 30s);
  if (reached) {
    gateway_->Kill();
    gateway_->Start();
    WaitOnline();
  }
  changer.join();
  ASSERT_TRUE(reached) << Twin("s4") << gateway_->Log();
  ASSERT_GE(answered.size(), 5u);
  // The answered versions are distinct and increasing, and the history holds each with its value.
  std::set<int64_t> versions;
  for (const auto& [cap, v] : answered) EXPECT_TRUE(versions.insert(v).second) << "version " << v << " answered twice";
  const std::string history = Ask("query/history", R"({"type":"control","subject":"s4","limit":1000})");
  for (const auto& [cap, v] : answered) {
    const std::string row = "\"version\":" + std::to_string(v) + ",\"set\":{\"power_cap_w\":" + std::to_string(cap) + "}";
    EXPECT_NE(history.find(row), std::string::npos) << row << " missing from " << history;
  }
  const std::string twin = Twin("s4");
  const int64_t newest = *versions.rbegin();
  EXPECT_GE(static_cast<int64_t>(JsonNumber(twin, "version")), newest) << twin;
  EXPECT_EQ(WaitForAgreement(broker_.port(), 10s), "");
}

}  // namespace
}  // namespace dctwin::testing
