// Believable under stress (issue 22): after an outage, an overload, a clock step or a crafted
// request, every retained topic agrees with what the twins answer (tests/integration/end_state.h).
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <ctime>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "tests/integration/end_state.h"
#include "tests/integration/gateway_fixture.h"

namespace dctwin::testing {
namespace {

class StressTest : public GatewayTest {
 protected:
  // A persistent broker, as production runs it: it keeps sessions and retained messages.
  StressTest() { persistent_broker_ = true; }

  // `gateway`: more [gateway] keys; `extra`: further tables.
  std::string Config(const std::string& gateway, const std::string& extra = "") {
    metrics_port_ = FreeLoopbackPort();
    return "[gateway]\nstats_interval_s = 0.2\n" + gateway + "[broker]\nreconnect_max_s = 1\n[metrics]\nlisten = \"127.0.0.1:" +
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
  ASSERT_TRUE(WaitUntil([&] { return Metric("dctwin_outbox_events") == 0; }, 30s)) << gateway_->Log();
  EXPECT_EQ(WaitForAgreement(broker_.port(), 30s), "") << gateway_->Log();
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

}  // namespace
}  // namespace dctwin::testing
