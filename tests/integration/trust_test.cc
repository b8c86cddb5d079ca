// The gateway keeps its word in a site's first week (contract v2: status and liveness): the
// online status after an unclean disconnect, servers with skewed clocks, metrics that vanish.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <ctime>
#include <string>
#include <thread>

#include "tests/integration/gateway_fixture.h"

namespace dctwin::testing {
namespace {

TEST_F(GatewayTest, OnlineStatusIsPublishedAgainAfterAnUncleanDisconnect) {
  StartGateway("[gateway]\nstats_interval_s = 0.2\n[broker]\nkeepalive_s = 1\n");
  const std::string topic = "dctwin/gateway/gw-test/status";
  probe_->Clear();
  kill(gateway_->pid(), SIGSTOP);  // silent on the wire: the broker gives up after 1.5 keepalives
  auto will = probe_->WaitFor([&](const Received& r) {
    return r.topic == topic && r.payload.find("\"online\":false") != std::string::npos;
  });
  kill(gateway_->pid(), SIGCONT);
  ASSERT_TRUE(will) << "the broker should publish the will";
  auto back = probe_->WaitFor([&](const Received& r) {
    return r.topic == topic && r.payload.find("\"online\":true") != std::string::npos;
  }, 20s);
  ASSERT_TRUE(back) << gateway_->Log();
  // And that is what a watcher arriving now sees.
  const std::string retained = RunCommand("mosquitto_sub -h 127.0.0.1 -p " + std::to_string(broker_.port()) + " -t " +
                                          topic + " -C 1 -W 5");
  EXPECT_NE(retained.find("\"online\":true"), std::string::npos) << retained;
}

TEST_F(GatewayTest, AServerWithASkewedClockIsAClockSkewWarningAndNeverSilent) {
  StartGateway("[gateway]\nstats_interval_s = 0.2\n[model]\nheartbeat_timeout_s = 2\nstorm_fraction = 0\n"
               "[state]\nrestart_grace_s = 0\n");
  Commission("ahead", "r1");
  Commission("quiet", "r1");
  // An hour ahead, every half second, for longer than the heartbeat timeout.
  for (int i = 0; i < 10; ++i) {
    const double ts = static_cast<double>(time(nullptr)) + 3600;
    Report("ahead", "{\"ts\": " + std::to_string(ts) + ", \"temp_c\": 50}");
    std::this_thread::sleep_for(500ms);  // the pace of a real publisher, not a wait for a result
  }
  auto skew = Alert("server", "ahead", "open");
  ASSERT_TRUE(skew) << gateway_->Log();
  EXPECT_EQ(JsonString(skew->payload, "kind"), "clock_skew");
  EXPECT_EQ(JsonString(skew->payload, "severity"), "warning");
  // The quiet server proves the heartbeat ran out meanwhile; the skewed one stayed alive.
  ASSERT_TRUE(probe_->WaitFor([](const Received& r) {
    return r.topic == "dctwin/alerts/server/quiet" && JsonString(r.payload, "kind") == "silent";
  }));
  EXPECT_TRUE(probe_->All([](const Received& r) {
                      return r.topic == "dctwin/alerts/server/ahead" && JsonString(r.payload, "kind") == "silent";
                    }).empty());
  // Good timestamps again: it resolves.
  Report("ahead", R"({"temp_c": 50})");
  auto resolved = Alert("server", "ahead", "resolved");
  ASSERT_TRUE(resolved);
  EXPECT_EQ(JsonString(resolved->payload, "kind"), "clock_skew");
}

TEST_F(GatewayTest, AnIncidentWhoseMetricStopsBeingReportedResolvesSayingSo) {
  StartGateway("[gateway]\nstats_interval_s = 0.2\n[model]\nheartbeat_timeout_s = 3600\nmetric_stale_s = 2\n");
  Commission("s1", "r1");
  for (int i = 0; i < 3; ++i) Report("s1", R"({"temp_c": 95, "cpu_util": 0.2})");
  ASSERT_TRUE(Alert("server", "s1", "open"));
  // The temperature sensor goes away; the server keeps reporting its CPU.
  std::optional<Received> resolved;
  for (int i = 0; i < 40 && !resolved; ++i) {
    Report("s1", R"({"cpu_util": 0.2})");
    resolved = Alert("server", "s1", "resolved", 250ms);
  }
  ASSERT_TRUE(resolved) << gateway_->Log();
  EXPECT_NE(JsonString(resolved->payload, "summary").find("temp_c stopped being reported"), std::string::npos)
      << resolved->payload;
  const std::string answer = RunCommand("mosquitto_rr -V 5 -h 127.0.0.1 -p " + std::to_string(broker_.port()) +
                                        " -t dctwin/query/server/s1 -e reply/t -m '' -W 10");
  EXPECT_EQ(answer.find("temp_c"), std::string::npos) << "a stale metric leaves the window: " << answer;
  EXPECT_NE(answer.find("cpu_util"), std::string::npos) << answer;
}

TEST_F(GatewayTest, AConstantCounterAbove2To24IsNotRising) {
  StartGateway(R"([gateway]
stats_interval_s = 0.2
[model]
heartbeat_timeout_s = 3600
[[rules]]
kind = "network"
metric = "if_octets"
op = ">"
threshold = 0
rate = true
[[rules]]
kind = "thermal"
metric = "temp_c"
op = ">"
threshold = 85
for_reports = 3
)");
  Commission("s1", "r1");
  const double t0 = static_cast<double>(time(nullptr)) - 100;
  for (int i = 0; i < 5; ++i) {
    Report("s1", "{\"ts\": " + std::to_string(t0 + 10 * i) + ", \"if_octets\": 16777217}");
  }
  // A barrier: the same server's thermal incident opens after those reports were judged.
  for (int i = 5; i < 8; ++i) {
    Report("s1", "{\"ts\": " + std::to_string(t0 + 10 * i) + ", \"if_octets\": 16777217, \"temp_c\": 99}");
  }
  auto open = Alert("server", "s1", "open");
  ASSERT_TRUE(open) << gateway_->Log();
  EXPECT_EQ(JsonString(open->payload, "kind"), "thermal") << "a constant counter read as moving: " << open->payload;
}

TEST_F(GatewayTest, ABigCollectdHostIsNeitherRateLimitedNorTruncated) {
  StartGateway();
  Commission("big", "r1");
  const double t0 = static_cast<double>(time(nullptr)) - 30;
  // 300 value lists per interval, as collectd's mqtt plugin sends them: one message each.
  for (int interval = 0; interval < 2; ++interval) {
    for (int i = 0; i < 300; ++i) {
      probe_->PublishPipelined("collectd/big/cpu-" + std::to_string(i) + "/percent-user",
                               std::to_string(t0 + 10 * interval) + ":" + std::to_string(i % 7));
    }
  }
  probe_->Drain();
  std::string answer;
  ASSERT_TRUE(WaitUntil([&] {
    answer = RunCommand("mosquitto_rr -V 5 -h 127.0.0.1 -p " + std::to_string(broker_.port()) +
                        " -t dctwin/query/server/big -e reply/big -m '' -W 10");
    return answer.find("\"cpu-299/percent-user\":{") != std::string::npos &&
           answer.find("\"samples\":2") != std::string::npos;
  }, 15s)) << answer;
  size_t metrics = 0;
  for (size_t at = answer.find("/percent-user\":{"); at != std::string::npos; at = answer.find("/percent-user\":{", at + 1)) {
    ++metrics;
  }
  EXPECT_EQ(metrics, 300u);
  auto stats = StatsWith("messages_in", 2);
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->payload.find("rate_limited\":1"), std::string::npos) << stats->payload;
  EXPECT_NE(stats->payload.find("\"rate_limited\":0"), std::string::npos) << stats->payload;
  EXPECT_NE(stats->payload.find("\"metrics_ignored\":0"), std::string::npos) << stats->payload;
}

TEST_F(GatewayTest, RulesEditedAcrossARestartOrAReloadStrandNothing) {
  const std::string thermal = "[[rules]]\nkind = \"thermal\"\nmetric = \"temp_c\"\nop = \">\"\nthreshold = 85\nfor_reports = 3\n";
  const std::string power = "[[rules]]\nkind = \"power\"\nmetric = \"psu_volts\"\nop = \"<\"\nthreshold = 11.4\n";
  const std::string base = "[gateway]\nstats_interval_s = 0.2\n[model]\nheartbeat_timeout_s = 3600\n";
  StartGateway(base + thermal);
  Commission("s1", "r1");
  for (int i = 0; i < 3; ++i) Report("s1", R"({"temp_c": 95})");
  ASSERT_TRUE(Alert("server", "s1", "open"));
  ASSERT_EQ(gateway_->Terminate(), 0);
  // Restarted with a rule put in front and the thermal rule gone: its incident resolves, saying why.
  StartGateway(base + power);
  auto resolved = Alert("server", "s1", "resolved");
  ASSERT_TRUE(resolved) << gateway_->Log();
  EXPECT_NE(JsonString(resolved->payload, "summary").find("removed or changed"), std::string::npos) << resolved->payload;

  // A reload that lowers rack.min_servers correlates at once, without waiting for a report.
  StartGateway(base + thermal);
  for (const char* s : {"h1", "h2"}) {
    Commission(s, "r9");
    for (int i = 0; i < 3; ++i) Report(s, R"({"temp_c": 95})");
  }
  ASSERT_TRUE(Alert("server", "h2", "open"));
  dir_.Write("dctwin.toml", base + "[rack]\nmin_servers = 2\n" + thermal);
  kill(gateway_->pid(), SIGHUP);
  auto rack = Alert("rack", "r9", "open");
  ASSERT_TRUE(rack) << gateway_->Log();
}

TEST_F(GatewayTest, SigtermWhileCommissionsFlowLosesNone) {
  StartGateway();
  constexpr int kServers = 300;
  std::thread stopper;
  for (int i = 0; i < kServers; ++i) {
    if (i == 100) stopper = std::thread([&] { EXPECT_EQ(gateway_->Terminate(), 0); });
    probe_->PublishPipelined("dctwin/provisioning/t" + std::to_string(i), R"({"action":"commission","rack":"rt"})");
  }
  probe_->Drain();
  stopper.join();
  // What the stopping gateway did not take stayed queued at the broker for the next start.
  gateway_->Start();
  WaitOnline();
  auto stats = StatsWith("messages_rejected", 0);
  ASSERT_TRUE(probe_->WaitFor([](const Received& r) {
    return r.topic == "dctwin/gateway/gw-test/stats" && r.payload.find("\"server\":300,") != std::string::npos;
  }, 20s)) << probe_->All([](const Received& r) { return r.topic == "dctwin/gateway/gw-test/stats"; }).back().payload
           << gateway_->Log();
  EXPECT_TRUE(probe_->All([](const Received& r) { return r.topic == "dctwin/deadletter/shutting_down"; }).empty());
}

// Paho C acknowledges a QoS 1 message as it arrives, before the gateway has committed what it
// says; nothing lets an application acknowledge later. So provisioning survives a kill -9 by
// redelivery: published retained (as dctwin-sim does), it comes again at every subscribe, and a
// commission the gateway already holds is a no-op.
TEST_F(GatewayTest, RetainedProvisioningSurvivesKill9) {
  StartGateway();
  constexpr int kServers = 300;
  std::thread killer;
  for (int i = 0; i < kServers; ++i) {
    if (i == 150) killer = std::thread([&] { gateway_->Kill(); });
    probe_->PublishPipelined("dctwin/provisioning/k" + std::to_string(i), R"({"action":"commission","rack":"rk"})",
                             /*retained=*/true);
  }
  probe_->Drain();
  killer.join();
  gateway_->Start();
  WaitOnline();
  ASSERT_TRUE(probe_->WaitFor([](const Received& r) {
    return r.topic == "dctwin/gateway/gw-test/stats" && r.payload.find("\"server\":300,") != std::string::npos;
  }, 20s)) << probe_->All([](const Received& r) { return r.topic == "dctwin/gateway/gw-test/stats"; }).back().payload
           << gateway_->Log();
}

TEST_F(GatewayTest, AWallClockStepMakesNoServerSilent) {
  const std::string shift = dir_.Write("faketime", "+0\n");
  const std::string config = dir_.Write(
      "dctwin.toml", "[gateway]\nstats_interval_s = 0.2\n[model]\nheartbeat_timeout_s = 30\nstorm_fraction = 0\n");
  if (!StartGatewayOnFakeTime(config, shift)) GTEST_SKIP() << "libfaketime cannot be preloaded here";
  for (const char* s : {"c1", "c2", "c3"}) {
    Commission(s, "r1");
    Report(s, R"({"temp_c": 40})");
  }
  ASSERT_TRUE(StatsWith("messages_in", 3));
  dir_.Write("faketime", "+1h\n");
  // The gateway has seen the step (its stats are stamped an hour ahead), and its shards have
  // ticked several times since (a tick every 200 ms, stats every 200 ms).
  const double stepped = static_cast<double>(time(nullptr)) + 3000;
  ASSERT_TRUE(probe_->WaitFor([&](const Received& r) {
    return r.topic == "dctwin/gateway/gw-test/stats" && JsonNumber(r.payload, "at") > stepped;
  })) << gateway_->Log();
  probe_->Clear();
  ASSERT_TRUE(WaitUntil([&] {
    return probe_->All([](const Received& r) { return r.topic == "dctwin/gateway/gw-test/stats"; }).size() >= 5;
  }, 10s));
  EXPECT_TRUE(probe_->All([](const Received& r) { return r.topic.rfind("dctwin/alerts/", 0) == 0; }).empty())
      << probe_->All([](const Received& r) { return r.topic.rfind("dctwin/alerts/", 0) == 0; }).front().payload;
}

TEST_F(GatewayTest, Utf8NamesArriveAsUtf8) {
  StartGateway();
  Commission("s1", "r1");
  Report("s1", R"({"température_°C": 21.5, "温度": 22})");
  const std::string answer = RunCommand("mosquitto_rr -V 5 -h 127.0.0.1 -p " + std::to_string(broker_.port()) +
                                        " -t dctwin/query/server/s1 -e reply/u -m '' -W 10");
  EXPECT_NE(answer.find("\"température_°C\":{"), std::string::npos) << answer;
  EXPECT_NE(answer.find("\"温度\":{"), std::string::npos) << answer;
  EXPECT_EQ(answer.find("\\u00"), std::string::npos) << "no byte-wise escapes: " << answer;
}

}  // namespace
}  // namespace dctwin::testing
