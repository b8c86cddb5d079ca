// Believable under stress (issue 22): after an outage, an overload, a clock step or a crafted
// request, every retained topic agrees with what the twins answer (tests/integration/end_state.h).
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <ctime>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "tests/integration/end_state.h"
#include "tests/integration/gateway_fixture.h"
#include "tests/integration/tcp_cut.h"

namespace dctwin::testing {
namespace {

class StressTest : public GatewayTest {
 protected:
  // A persistent broker, as production runs it: it keeps sessions and retained messages.
  StressTest() { persistent_broker_ = true; }

  // `gateway`: more [gateway] keys; `extra`: further tables.
  std::string Config(const std::string& gateway, const std::string& extra = "") {
    do {
      metrics_port_ = FreeLoopbackPort();
    } while (metrics_port_ == broker_.port());
    return "[gateway]\nstats_interval_s = 0.2\n" + gateway + "[broker]\nreconnect_max_s = 1\ndrop_quiet_s = 3\n[metrics]\nlisten = \"127.0.0.1:" +
           std::to_string(metrics_port_) + "\"\n" + extra;
  }

  // The sum of a Prometheus family's samples on the gateway's /metrics (-1: no answer).
  double Metric(const std::string& family) {
    const std::string text =
        RunCommand("curl -s -m 2 http://127.0.0.1:" + std::to_string(metrics_port_) + "/metrics 2>/dev/null");
    if (text.empty()) return -1;
    double sum = 0;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);) {
      if (line.rfind(family, 0) != 0) continue;
      const char next = line.size() > family.size() ? line[family.size()] : '\0';
      if (next != ' ' && next != '{') continue;
      sum += std::stod(line.substr(line.rfind(' ') + 1));
    }
    return sum;
  }

  std::string RetainedHealth(const std::string& server) {
    return RunCommand("mosquitto_sub -h 127.0.0.1 -p " + std::to_string(broker_.port()) + " -t dctwin/health/server/" +
                      server + " --retained-only -C 1 -W 2 2>/dev/null");
  }

  static constexpr int kServers = 60;
  static std::string kLast(const char* prefix) { return prefix + std::to_string(kServers - 1); }
  int metrics_port_ = 0;
};

// Item 1: while the broker is away, sixty servers go silent; their events, records and health do
// not fit the outbound buffer of a hundred. Once the broker is back, each one's retained health says silent.
TEST_F(StressTest, HealthThatDidNotFitTheBufferReachesTheBrokerOnceItIsBack) {
  StartGateway(Config("publish_buffer = 100\n", "[model]\nheartbeat_timeout_s = 2\nstorm_fraction = 0\n"
                      "[state]\nrestart_grace_s = 0\n"));
  for (int i = 0; i < kServers; ++i) {
    Commission("q" + std::to_string(i), "rq");
    Report("q" + std::to_string(i), R"({"temp_c": 40})");
  }
  ASSERT_TRUE(WaitUntil([&] { return RetainedHealth(kLast("q")).find("\"ok\"") != std::string::npos; }, 10s));
  broker_.Stop();
  // The silent incidents open while nobody can hear them.
  ASSERT_TRUE(WaitUntil([&] { return Metric("dctwin_open_incidents") >= kServers; }, 20s)) << gateway_->Log();
  broker_.StartAgain();
  EXPECT_EQ(WaitForAgreement(broker_.port(), 30s), "") << gateway_->Log();
  for (int i = 0; i < kServers; ++i) {
    EXPECT_NE(RetainedHealth("q" + std::to_string(i)).find("\"silent\""), std::string::npos) << "q" << i;
  }
}

// Item 2: the outbox left by a stop during an outage (120 rows) is larger than the outbound
// buffer (100). Every
// row goes out in this run, in commit order; a later restart replays nothing stale.
TEST_F(StressTest, ARestoredOutboxLargerThanTheBufferGoesOutWholeAndInOrder) {
  const std::string config = Config("publish_buffer = 100\n", "[model]\nheartbeat_timeout_s = 2\nstorm_fraction = 0\n"
                                    "[state]\nrestart_grace_s = 0\n");
  StartGateway(config);
  for (int i = 0; i < kServers; ++i) {
    Commission("o" + std::to_string(i), "ro");
    Report("o" + std::to_string(i), R"({"temp_c": 40})");
  }
  ASSERT_TRUE(WaitUntil([&] { return RetainedHealth(kLast("o")).find("\"ok\"") != std::string::npos; }, 10s));
  broker_.Stop();
  // Each open is an event and a record: 120 rows wait in the outbox.
  ASSERT_TRUE(WaitUntil([&] { return Metric("dctwin_outbox_events") >= 2 * kServers; }, 20s)) << gateway_->Log();
  EXPECT_EQ(gateway_->Terminate(), 0);
  gateway_->Start();  // the broker is still down: the restored outbox waits in the queue
  ASSERT_TRUE(WaitUntil([&] { return Metric("dctwin_outbox_events") >= 2 * kServers; }, 20s)) << gateway_->Log();
  probe_.reset();
  broker_.StartAgain();
  probe_ = std::make_unique<Probe>(broker_.uri(), "probe-stress-" + std::to_string(getpid()));
  probe_->Subscribe("dctwin/#");
  // Generous deadlines: a reconnect attempt that lands while the broker starts waits out its
  // connect timeout (10 s) on a busy machine.
  ASSERT_TRUE(WaitUntil([&] { return Metric("dctwin_outbox_events") == 0; }, 60s)) << gateway_->Log();
  EXPECT_EQ(WaitForAgreement(broker_.port(), 60s), "") << gateway_->Log();
  // Reports resolve every incident; a restart afterwards brings none of them back (the servers
  // may go silent anew after it: those are new incidents, with new ids).
  for (int i = 0; i < kServers; ++i) Report("o" + std::to_string(i), R"({"temp_c": 40})");
  std::set<std::string> resolved;
  for (int i = 0; i < kServers; ++i) {
    auto r = Alert("server", "o" + std::to_string(i), "resolved");
    ASSERT_TRUE(r) << i;
    resolved.insert(JsonString(r->payload, "id"));
  }
  ASSERT_EQ(gateway_->Terminate(), 0);
  probe_->Clear();
  gateway_->Start();
  WaitOnline();
  EXPECT_EQ(WaitForAgreement(broker_.port(), 30s), "") << gateway_->Log();
  for (const Received& r : probe_->All([](const Received& r) { return r.topic.rfind("dctwin/", 0) == 0; })) {
    if (r.payload.empty() || r.payload[0] != '{') continue;
    EXPECT_EQ(resolved.count(JsonString(r.payload, "id")), 0u) << "a resolved incident came back: " << r.topic << " "
                                                               << r.payload;
  }
}

// Item 3: NTP steps the gateway's wall clock back 5 minutes while servers report (without `ts`,
// so the gateway stamps them). No report is refused as rate-limited or too old, no clock_skew
// or silent incident opens, and the step is counted once.
TEST_F(StressTest, AWallClockStepBackBlindsNothing) {
  const std::string shift = dir_.Write("faketime", "+0\n");
  const std::string config = dir_.Write(
      "dctwin.toml", Config("", "[model]\nheartbeat_timeout_s = 5\nstorm_fraction = 0\nmax_messages_per_s = 10\n"));
  if (!StartGatewayOnFakeTime(config, shift)) GTEST_SKIP() << "libfaketime cannot be preloaded here";
  const std::vector<std::string> servers{"k1", "k2", "k3"};
  for (const std::string& s : servers) {
    Commission(s, "rk");
    Report(s, R"({"temp_c": 40})");
  }
  ASSERT_TRUE(StatsWith("messages_in", 3));
  dir_.Write("faketime", "-5m\n");
  ASSERT_TRUE(probe_->WaitFor([](const Received& r) {
    return r.topic == "dctwin/gateway/gw-test/stats" && JsonNumber(r.payload, "clock_steps") >= 1;
  })) << gateway_->Log();
  // Every server reports twice a second for longer than the heartbeat timeout.
  for (int i = 0; i < 16; ++i) {
    for (const std::string& s : servers) Report(s, R"({"temp_c": 40})");
    std::this_thread::sleep_for(500ms);  // the pace of a real publisher, not a wait for a result
  }
  auto stats = StatsWith("messages_in", 3 + 16 * 3);
  ASSERT_TRUE(stats) << probe_->All([](const Received& r) { return r.topic == "dctwin/gateway/gw-test/stats"; })
                            .back()
                            .payload;
  EXPECT_EQ(JsonNumber(stats->payload, "messages_rejected"), 0) << stats->payload;
  EXPECT_EQ(JsonNumber(stats->payload, "clock_steps"), 1) << stats->payload;
  EXPECT_TRUE(probe_->All([](const Received& r) { return r.topic.rfind("dctwin/alerts/", 0) == 0; }).empty())
      << probe_->All([](const Received& r) { return r.topic.rfind("dctwin/alerts/", 0) == 0; }).front().payload;
  EXPECT_NE(gateway_->Log().find("stepped back"), std::string::npos) << gateway_->Log();
  EXPECT_EQ(WaitForAgreement(broker_.port(), 20s), "");
}

// Item 4: a client that may ask queries names the gateway's own topics as Response Topics. No
// answer lands there (the site would take one on P/health/rack/<r> as that rack's health), the
// request is dead-lettered and counted, and a command so sent is not carried out.
TEST_F(StressTest, AnswersNeverGoOntoTheGatewaysOwnTopicsOrOutsideReplyTopics) {
  StartGateway(Config("reply_topics = [\"dctwin/reply/#\"]\n", "[model]\nheartbeat_timeout_s = 3600\n"));
  Commission("s1", "r01");
  Report("s1", R"({"temp_c": 40})");
  ASSERT_TRUE(WaitUntil([&] { return RetainedHealth("s1").find("\"ok\"") != std::string::npos; }, 10s));
  const std::string rr = "mosquitto_rr -V 5 -h 127.0.0.1 -p " + std::to_string(broker_.port()) + " -W 2 ";
  probe_->Clear();
  for (const char* target : {"dctwin/health/rack/r01", "dctwin/incidents/rack/r01/power", "dctwin/alerts/rack/r01",
                             "dctwin/gateway/gw-test/status", "dctwin/metrics/s1", "collectd/s1/cpu/x", "$SYS/x",
                             "elsewhere/x"}) {
    // What mosquitto_rr prints would include what is retained there already: the probe judges.
    RunCommand(rr + "-t dctwin/query/datacenter -e '" + target + "' -m '' 2>/dev/null");
  }
  RunCommand(rr + "-t dctwin/command/silence -e dctwin/silences/forged -m '{\"matchers\": {\"rack\": \"r01\"}, "
                  "\"duration_s\": 600, \"created_by\": \"mallory\"}' 2>/dev/null");
  // The same question with an allowed Response Topic is answered: everything before it was seen.
  const std::string answer = RunCommand(rr + "-t dctwin/query/datacenter -e dctwin/reply/ok -m '' 2>/dev/null");
  EXPECT_NE(answer.find("\"found\":true"), std::string::npos) << answer;
  EXPECT_EQ(RunCommand(rr + "-t dctwin/query/silences -e dctwin/reply/ok -m '' 2>/dev/null"), "{\"silences\":[]}\n")
      << "a silence asked with a forbidden Response Topic was created";
  for (const Received& r : probe_->All([](const Received& r) {
         return r.topic.rfind("dctwin/deadletter/", 0) != 0 && r.topic.rfind("dctwin/reply/", 0) != 0;
       })) {
    EXPECT_EQ(r.payload.find("\"found\""), std::string::npos) << "an answer landed on " << r.topic;
    EXPECT_NE(r.topic, "dctwin/silences/forged");
  }
  auto stats = probe_->WaitFor([](const Received& r) {
    return r.topic == "dctwin/gateway/gw-test/stats" && r.payload.find("\"bad_response_topic\":9") != std::string::npos;
  });
  ASSERT_TRUE(stats) << probe_->All([](const Received& r) { return r.topic == "dctwin/gateway/gw-test/stats"; }).back().payload;
  EXPECT_TRUE(probe_->WaitFor([](const Received& r) { return r.topic == "dctwin/deadletter/bad_response_topic"; }));
  EXPECT_NE(RetainedHealth("s1").find("\"ok\""), std::string::npos);
  EXPECT_EQ(WaitForAgreement(broker_.port(), 10s), "");
}

// Item 8: the state database's file system fills up (a real tmpfs of 4 MB). Commits fail: a
// critical gateway incident store_failing says so, with the error, in the records, the gateway's
// health and its status. Once there is room again it resolves, and what happened meanwhile (an
// incident on a server) is committed and published; every retained topic agrees.
TEST_F(StressTest, AFullDiskIsAStoreFailingIncidentAndNothingIsLost) {
  const std::string fs = dir_.File("fs");
  RunCommand("mkdir -p " + fs);
  int status = -1;
  RunCommand("mount -t tmpfs -o size=4m tmpfs " + fs + " 2>&1", &status);
  if (status != 0) GTEST_SKIP() << "cannot mount a tmpfs here (not root?)";
  struct Unmount {
    std::string path;
    ~Unmount() { RunCommand("umount -l " + path + " 2>/dev/null"); }
  } unmount{fs};
  const std::string config = dir_.Write("dctwin.toml", Config("", "[model]\nheartbeat_timeout_s = 3600\n"));
  gateway_ = std::make_unique<GatewayProcess>(
      dir_, std::vector<std::string>{"--config", config, "--broker", broker_.uri(), "--state", fs + "/state.db",
                                     "--gateway-id", "gw-test"});
  gateway_->Start();
  WaitOnline();
  Commission("f1", "rf");
  Report("f1", R"({"temp_c": 40})");
  ASSERT_TRUE(WaitUntil([&] { return RetainedHealth("f1").find("\"ok\"") != std::string::npos; }, 10s));
  // Fill the file system to the last byte.
  RunCommand("dd if=/dev/zero of=" + fs + "/filler bs=64k 2>/dev/null; sync");
  for (int i = 0; i < 40; ++i) {
    Commission("g" + std::to_string(i), "rg");
    Report("g" + std::to_string(i), R"({"temp_c": 40, "cpu_util": 0.3, "disk_errors": 0})");
  }
  for (int i = 0; i < 3; ++i) Report("f1", R"({"temp_c": 99})");
  auto open = probe_->WaitFor([](const Received& r) {
    return r.topic == "dctwin/alerts/gateway/gw-test" && JsonString(r.payload, "kind") == "store_failing";
  }, 20s);
  ASSERT_TRUE(open) << gateway_->Log();
  EXPECT_EQ(JsonString(open->payload, "severity"), "critical");
  EXPECT_EQ(JsonString(open->payload, "level"), "gateway");
  EXPECT_NE(JsonString(open->payload, "summary").find("full"), std::string::npos) << open->payload;
  auto retained = [&](const std::string& topic) {
    return RunCommand("mosquitto_sub -h 127.0.0.1 -p " + std::to_string(broker_.port()) + " -t " + topic +
                      " --retained-only -C 1 -W 2 2>/dev/null");
  };
  EXPECT_EQ(JsonString(retained("dctwin/incidents/gateway/gw-test/store_failing"), "kind"), "store_failing");
  EXPECT_EQ(JsonString(retained("dctwin/health/gateway/gw-test"), "status"), "critical");
  EXPECT_EQ(JsonString(retained("dctwin/gateway/gw-test/status"), "store"), "failing");
  // Nothing about f1's thermal incident got out before its commit.
  EXPECT_TRUE(probe_->All([](const Received& r) { return r.topic == "dctwin/alerts/server/f1"; }).empty());
  RunCommand("rm -f " + fs + "/filler");
  auto resolved = probe_->WaitFor([](const Received& r) {
    return r.topic == "dctwin/alerts/gateway/gw-test" && JsonString(r.payload, "state") == "resolved";
  }, 30s);
  ASSERT_TRUE(resolved) << gateway_->Log();
  ASSERT_TRUE(Alert("server", "f1", "open", 20s)) << gateway_->Log();
  EXPECT_TRUE(WaitUntil([&] { return retained("dctwin/incidents/gateway/gw-test/store_failing").empty(); }, 10s));
  EXPECT_TRUE(WaitUntil([&] { return JsonString(retained("dctwin/gateway/gw-test/status"), "store") == "ok"; }, 10s));
  EXPECT_EQ(WaitForAgreement(broker_.port(), 20s), "") << gateway_->Log();
  // The history was written with the changes themselves, once the disk had room: every commission
  // and f1's open are in it, once each.
  const std::string history =
      RunCommand("mosquitto_rr -V 5 -h 127.0.0.1 -p " + std::to_string(broker_.port()) +
                 " -t dctwin/query/history -e reply/full -W 10 -m '{\"limit\": 1000, \"level\": \"server\"}'");
  auto count = [&](const std::string& needle) {
    size_t n = 0;
    for (size_t at = history.find(needle); at != std::string::npos; at = history.find(needle, at + 1)) ++n;
    return n;
  };
  EXPECT_EQ(count("\"change\":\"commissioned\""), 41u) << history;
  EXPECT_EQ(count("\"subject\":\"f1\""), 1u) << history;
  // So is the gateway's own incident: its open (written once a commit succeeded again) and its
  // resolve.
  const std::string own =
      RunCommand("mosquitto_rr -V 5 -h 127.0.0.1 -p " + std::to_string(broker_.port()) +
                 " -t dctwin/query/history -e reply/full -W 10 -m '{\"level\": \"gateway\", \"kind\": \"store_failing\"}'");
  EXPECT_NE(own.find("\"state\":\"open\""), std::string::npos) << own;
  EXPECT_NE(own.find("\"state\":\"resolved\""), std::string::npos) << own;
  EXPECT_LT(own.find("\"state\":\"open\""), own.find("\"state\":\"resolved\"")) << own;
  ASSERT_EQ(gateway_->Terminate(), 0);
}

// Item 4, at a site: a rack's health is taken only with the pod that publishes it named, and the
// status it states counts.
TEST_F(StressTest, ASiteTakesRackHealthOnlyFromItsPodAndCountsItsStatus) {
  StartGateway(Config("role = \"site\"\n", "[model]\nheartbeat_timeout_s = 3600\n"));
  probe_->Publish("dctwin/health/rack/anon", R"({"status":"critical","open":[],"updated_at":1,"by_kind":{"power":3}})",
                  1, true);
  probe_->Publish("dctwin/health/rack/r1",
                  R"({"status":"critical","open":[],"updated_at":1,"gateway":"pod1","rack":"r1","by_kind":{}})", 1, true);
  ASSERT_TRUE(probe_->WaitFor([](const Received& r) { return r.topic == "dctwin/deadletter/conflict"; }));
  std::string answer;
  ASSERT_TRUE(WaitUntil([&] {
    answer = RunCommand("mosquitto_rr -V 5 -h 127.0.0.1 -p " + std::to_string(broker_.port()) +
                        " -t dctwin/query/unhealthy-racks -e dctwin/reply/u -W 5 -m '' 2>/dev/null");
    return answer.find("\"r1\"") != std::string::npos;
  }, 10s)) << answer << gateway_->Log();
  EXPECT_EQ(answer.find("\"anon\""), std::string::npos) << "a rack health naming no pod was taken: " << answer;
}

// Item 4, at a site restart: while the site gateway is down, another pod's document for r1 is
// retained in place of r1's owner's, and a document naming r2's pod on the plain topic (not its
// own) in place of r2's. The restarted site still knows that pod1 owns r1 and that pod3 publishes
// its own copies: neither document is taken, and both racks stay unhealthy as their pods said.
TEST_F(StressTest, ASiteRemembersWhichPodOwnsARackAcrossARestart) {
  StartGateway(Config("role = \"site\"\n", "[model]\nheartbeat_timeout_s = 3600\n"));
  const std::string critical =
      R"({"status":"critical","open":[],"updated_at":1,"gateway":"pod1","rack":"r1","since":1,"severity":"critical","incidents":[],"by_kind":{"power":3}})";
  probe_->Publish("dctwin/health/rack/r1", critical, 1, true);
  // r2's pod publishes its own copy too (P/gateway/<pod>/health/rack/<rack>), then the plain one.
  std::string r2 = critical;
  r2.replace(r2.find("\"r1\""), 4, "\"r2\"");
  r2.replace(r2.find("pod1"), 4, "pod3");
  probe_->Publish("dctwin/gateway/pod3/health/rack/r2", r2, 1, true);
  probe_->Publish("dctwin/health/rack/r2", r2, 1, true);
  auto unhealthy = [&] {
    return RunCommand("mosquitto_rr -V 5 -h 127.0.0.1 -p " + std::to_string(broker_.port()) +
                      " -t dctwin/query/unhealthy-racks -e dctwin/reply/u -W 5 -m '' 2>/dev/null");
  };
  ASSERT_TRUE(WaitUntil([&] {
    const std::string u = unhealthy();
    return u.find("\"r1\"") != std::string::npos && u.find("\"r2\"") != std::string::npos;
  }, 10s)) << gateway_->Log();
  ASSERT_EQ(gateway_->Terminate(), 0);
  probe_->Publish("dctwin/health/rack/r1",
                  R"({"status":"ok","open":[],"updated_at":2,"gateway":"pod2","rack":"r1","incidents":[],"by_kind":{}})",
                  1, true);
  // A plain copy naming pod3 that did not come with pod3's own copy.
  probe_->Publish("dctwin/health/rack/r2",
                  R"({"status":"ok","open":[],"updated_at":2,"gateway":"pod3","rack":"r2","incidents":[],"by_kind":{}})",
                  1, true);
  probe_->Clear();
  gateway_->Start();
  WaitOnline();
  ASSERT_TRUE(probe_->WaitFor([](const Received& r) { return r.topic == "dctwin/deadletter/conflict"; }))
      << gateway_->Log();
  const std::string answer = unhealthy();
  EXPECT_NE(answer.find("\"r1\""), std::string::npos) << "another pod's document replaced r1's health: " << answer;
  EXPECT_NE(answer.find("\"r2\""), std::string::npos) << "a copy not from pod3's own topic was taken: " << answer;
}

// Item 10: what a record says follows its incident. Three servers' thermal incidents become a
// rack incident after they opened: each member's retained record carries the rack incident as
// caused_by. A server moved to another rack: its record names the new rack, and a silence of
// the new rack mutes it.
TEST_F(StressTest, RecordsFollowTheirIncidentsCauseAndRack) {
  StartGateway(Config("", "[model]\nheartbeat_timeout_s = 3600\n"));
  for (const char* s : {"c1", "c2", "c3"}) {
    Commission(s, "rc");
    for (int i = 0; i < 3; ++i) Report(s, R"({"temp_c": 95})");
  }
  auto rack = Alert("rack", "rc", "open");
  ASSERT_TRUE(rack) << gateway_->Log();
  const std::string rack_id = JsonString(rack->payload, "id");
  auto record = [&](const std::string& topic) {
    return RunCommand("mosquitto_sub -h 127.0.0.1 -p " + std::to_string(broker_.port()) + " -t " + topic +
                      " --retained-only -C 1 -W 2 2>/dev/null");
  };
  for (const char* s : {"c1", "c2", "c3"}) {
    const std::string topic = std::string("dctwin/incidents/server/") + s + "/thermal";
    EXPECT_TRUE(WaitUntil([&] { return JsonString(record(topic), "caused_by") == rack_id; }, 10s)) << record(topic);
  }
  Commission("m1", "old");
  Report("m1", R"({"disk_errors": 1})");
  ASSERT_TRUE(Alert("server", "m1", "open"));
  Commission("m1", "new");
  EXPECT_TRUE(WaitUntil([&] { return JsonString(record("dctwin/incidents/server/m1/disk"), "rack") == "new"; }, 10s))
      << record("dctwin/incidents/server/m1/disk");
  const std::string answer = RunCommand("mosquitto_rr -V 5 -h 127.0.0.1 -p " + std::to_string(broker_.port()) +
                                        " -t dctwin/command/silence -e dctwin/reply/s -W 5 -m '{\"matchers\": "
                                        "{\"rack\": \"new\"}, \"duration_s\": 600, \"created_by\": \"t\"}'");
  EXPECT_NE(answer.find("server:m1:disk"), std::string::npos) << "the silence of the new rack mutes it: " << answer;
  EXPECT_EQ(WaitForAgreement(broker_.port(), 10s), "");
}

// Item 6: a broker that forgets the gateway's session at every reconnect (its CONNACK says no
// session is present) while the resolve never reaches it. At each reconnect Paho fails the
// publishes that were in flight; ten such failures once made the gateway give the committed rows
// up and delete them, and the retained record said "open" for ever. A committed row is sent again
// until the broker takes it.
TEST_F(StressTest, ACommittedRowIsNeverGivenUpForFailedAttempts) {
  std::atomic<bool> hold{false};
  std::atomic<int> held{0};
  TcpCut link(broker_.port(), [&](bool to_broker, std::string& packet) {
    const int type = static_cast<unsigned char>(packet[0]) >> 4;
    size_t body = 1;  // after the fixed header's remaining length
    while (body < packet.size() && (static_cast<unsigned char>(packet[body]) & 0x80) != 0) ++body;
    ++body;
    if (!to_broker && type == 2 && body < packet.size()) packet[body] = 0;  // CONNACK: session present 0
    if (to_broker && type == 3 && hold && body + 2 <= packet.size()) {      // PUBLISH
      const size_t length = static_cast<size_t>(static_cast<unsigned char>(packet[body]) << 8 |
                                                static_cast<unsigned char>(packet[body + 1]));
      const std::string topic = packet.substr(body + 2, length);
      if (topic.rfind("dctwin/incidents/", 0) == 0 || topic.rfind("dctwin/alerts/", 0) == 0) {
        ++held;
        return false;
      }
    }
    return true;
  });
  const std::string config = dir_.Write("dctwin.toml", Config(""));
  gateway_ = std::make_unique<GatewayProcess>(
      dir_, std::vector<std::string>{"--config", config, "--broker", "tcp://127.0.0.1:" + std::to_string(link.port()),
                                     "--state", dir_.File("state.db"), "--gateway-id", "gw-test"});
  gateway_->Start();
  WaitOnline();
  Commission("g1", "rg");
  for (int i = 0; i < 3; ++i) Report("g1", R"({"temp_c": 95})");
  // Generous deadlines: sanitizer builds on a busy machine.
  ASSERT_TRUE(Alert("server", "g1", "open", 30s)) << gateway_->Log();
  ASSERT_EQ(WaitForAgreement(broker_.port(), 30s), "");
  hold = true;
  for (int i = 0; i < 3; ++i) Report("g1", R"({"temp_c": 40})");
  ASSERT_TRUE(WaitUntil([&] { return held >= 2; }, 30s)) << gateway_->Log();  // the event and the record
  int resent = 0;  // reconnects after which both rows were sent again (the old gateway: 9)
  for (; resent < 11; ++resent) {
    const int before = held;
    link.Cut();
    link.Mend();
    if (!WaitUntil([&] { return held >= before + 2; }, 30s)) break;
  }
  hold = false;
  link.Cut();
  link.Mend();
  EXPECT_TRUE(Alert("server", "g1", "resolved", 30s)) << gateway_->Log();
  EXPECT_EQ(WaitForAgreement(broker_.port(), 30s), "") << gateway_->Log();
  EXPECT_EQ(resent, 11) << "the rows were not sent again after reconnect " << resent << "\n" << gateway_->Log();
}

// Item 11: a start on a busy machine (four busy loops on two cores) opens each connection
// exactly once: the broker sees no client id connect twice.
TEST_F(StressTest, AStartUnderLoadOpensEachConnectionOnce) {
  std::vector<std::unique_ptr<ChildProcess>> load;
  for (int i = 0; i < 4; ++i) {
    load.push_back(std::make_unique<ChildProcess>(std::vector<std::string>{"sh", "-c", "while :; do :; done"},
                                                  dir_.File("load.log")));
    load.back()->Start();
  }
  StartGateway(Config(""));
  Commission("u1", "ru");
  ASSERT_TRUE(StatsWith("messages_rejected", 0));
  load.clear();
  const std::string log = ReadFile(dir_.File("mosquitto.log"));
  auto count = [&](const std::string& needle) {
    size_t n = 0;
    for (size_t at = log.find(needle); at != std::string::npos; at = log.find(needle, at + 1)) ++n;
    return n;
  };
  EXPECT_EQ(count(" as gw-test "), 1u) << log;
  EXPECT_EQ(count(" as gw-test-in "), 1u) << log;
  EXPECT_EQ(count("already connected"), 0u) << log;
  EXPECT_EQ(gateway_->Log().find("lost"), std::string::npos) << gateway_->Log();
}

// Item 13: the broker drops messages for a client whose queue is full (before any gateway can see
// them). The gateway watches the broker's own count and says so: a warning broker_dropping with
// the count, resolved after broker.drop_quiet_s without drops.
class BrokerDropTest : public StressTest {
 protected:
  BrokerDropTest() { broker_extra_ = "max_queued_messages 10\nsys_interval 1\n"; }
};

TEST_F(BrokerDropTest, DropsAtTheBrokerAreABrokerDroppingIncidentUntilTheyStop) {
  StartGateway(Config("", "[model]\nheartbeat_timeout_s = 3600\n"));
  const std::string at = " -h 127.0.0.1 -p " + std::to_string(broker_.port());
  // A subscriber with a persistent session goes away; 50 messages for it overflow its queue of 10.
  RunCommand("mosquitto_sub" + at + " -c -i victim -q 1 -t 'flood/#' -W 1 2>/dev/null");
  RunCommand("seq 50 | mosquitto_pub" + at + " -q 1 -t flood/x -l 2>/dev/null");
  auto open = probe_->WaitFor([](const Received& r) {
    return r.topic == "dctwin/alerts/gateway/gw-test" && JsonString(r.payload, "kind") == "broker_dropping" &&
           JsonString(r.payload, "state") == "open";
  }, 20s);
  ASSERT_TRUE(open) << gateway_->Log();
  EXPECT_EQ(JsonString(open->payload, "severity"), "warning");
  EXPECT_NE(JsonString(open->payload, "summary").find("dropped 40 message"), std::string::npos) << open->payload;
  EXPECT_EQ(WaitForAgreement(broker_.port(), 10s), "");
  auto resolved = probe_->WaitFor([](const Received& r) {
    return r.topic == "dctwin/alerts/gateway/gw-test" && JsonString(r.payload, "kind") == "broker_dropping" &&
           JsonString(r.payload, "state") == "resolved";
  }, 20s);
  ASSERT_TRUE(resolved) << gateway_->Log();
  EXPECT_EQ(WaitForAgreement(broker_.port(), 10s), "");
}

}  // namespace
}  // namespace dctwin::testing
