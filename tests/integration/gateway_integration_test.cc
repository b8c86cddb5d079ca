// Black-box tests: the real gateway binary against a real mosquitto, driven by a real client.
#include <gtest/gtest.h>
#include <httplib.h>
#include <simdjson.h>

#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iterator>
#include <string>

#include "storage/rollup_codec.h"
#include "tests/integration/gateway_fixture.h"

namespace dctwin::testing {
namespace {

TEST_F(GatewayTest, StatusIsRetainedOnlineAndOfflineAfterSigterm) {
  StartGateway();
  // A client that connects later gets the status as a retained message.
  Probe late(broker_.uri(), "late-probe");
  late.Subscribe("dctwin/gateway/gw-test/status");
  auto status = late.WaitFor([](const Received& r) { return r.topic == "dctwin/gateway/gw-test/status"; });
  ASSERT_TRUE(status);
  EXPECT_TRUE(status->retained);
  EXPECT_NE(status->payload.find("\"online\":true"), std::string::npos) << status->payload;

  EXPECT_EQ(gateway_->Terminate(), 0);
  auto offline = probe_->WaitFor([](const Received& r) {
    return r.topic == "dctwin/gateway/gw-test/status" && r.payload.find("\"online\":false") != std::string::npos;
  });
  ASSERT_TRUE(offline);
}

TEST_F(GatewayTest, WillMarksTheGatewayOfflineWhenItDies) {
  StartGateway();
  gateway_->Kill();
  auto offline = probe_->WaitFor([](const Received& r) {
    return r.topic == "dctwin/gateway/gw-test/status" && r.payload.find("\"online\":false") != std::string::npos;
  });
  ASSERT_TRUE(offline);
}

TEST_F(GatewayTest, ThermalIncidentOpensAndResolvesOverTheBroker) {
  StartGateway();
  Commission("s1", "r1");
  for (int i = 0; i < 3; ++i) Report("s1", R"({"temp_c": 92.5, "cpu_util": 0.3})");
  auto open = Alert("server", "s1", "open");
  ASSERT_TRUE(open) << gateway_->Log();
  EXPECT_EQ(open->qos, 1);
  EXPECT_FALSE(open->retained);
  const std::string id = JsonString(open->payload, "id");
  EXPECT_FALSE(id.empty());
  EXPECT_EQ(JsonString(open->payload, "level"), "server");
  EXPECT_EQ(JsonString(open->payload, "subject"), "s1");
  EXPECT_EQ(JsonString(open->payload, "rack"), "r1");
  EXPECT_EQ(JsonString(open->payload, "datacenter"), "dc1");
  EXPECT_EQ(JsonString(open->payload, "kind"), "thermal");
  EXPECT_EQ(JsonString(open->payload, "severity"), "critical");
  EXPECT_GT(JsonNumber(open->payload, "opened_at"), 1e9);
  EXPECT_GT(JsonNumber(open->payload, "at"), 1e9);
  EXPECT_FALSE(JsonString(open->payload, "summary").empty());

  auto health = probe_->WaitFor([](const Received& r) {
    return r.topic == "dctwin/health/server/s1" && JsonString(r.payload, "status") == "critical";
  });
  ASSERT_TRUE(health);
  EXPECT_NE(health->payload.find(id), std::string::npos);

  for (int i = 0; i < 3; ++i) Report("s1", R"({"temp_c": 60})");
  auto resolved = Alert("server", "s1", "resolved");
  ASSERT_TRUE(resolved);
  EXPECT_EQ(JsonString(resolved->payload, "id"), id);
  EXPECT_EQ(probe_->All([](const Received& r) { return r.topic == "dctwin/alerts/server/s1"; }).size(), 2u);

  // A client that connects now sees the current (retained) health: ok again.
  Probe late(broker_.uri(), "late-probe");
  late.Subscribe("dctwin/health/server/s1");
  auto now = late.WaitFor([](const Received& r) { return r.retained; });
  ASSERT_TRUE(now);
  EXPECT_EQ(JsonString(now->payload, "status"), "ok");
}

TEST_F(GatewayTest, RackAndDatacenterCorrelation) {
  StartGateway();
  for (const char* rack : {"ra", "rb"}) {
    for (int i = 1; i <= 3; ++i) Commission(std::string(rack) + "-s" + std::to_string(i), rack);
  }
  for (const char* rack : {"ra", "rb"}) {
    for (int i = 1; i <= 3; ++i) {
      for (int k = 0; k < 3; ++k) Report(std::string(rack) + "-s" + std::to_string(i), R"({"net_drop_rate": 0.2})");
    }
    auto rack_open = Alert("rack", rack, "open");
    ASSERT_TRUE(rack_open) << gateway_->Log();
    EXPECT_EQ(JsonString(rack_open->payload, "kind"), "network");
    EXPECT_EQ(JsonString(rack_open->payload, "level"), "rack");
  }
  auto dc_open = Alert("datacenter", "dc1", "open");
  ASSERT_TRUE(dc_open) << gateway_->Log();
  EXPECT_EQ(JsonString(dc_open->payload, "kind"), "network");
  const std::string dc_id = JsonString(dc_open->payload, "id");
  auto dc_health = probe_->WaitFor([](const Received& r) {
    return r.topic == "dctwin/health/datacenter/dc1" && r.payload.find("\"healthy\":false") != std::string::npos &&
           r.payload.find("\"ra\"") != std::string::npos && r.payload.find("\"rb\"") != std::string::npos;
  });
  ASSERT_TRUE(dc_health);
  {
    // Live subscribers get retain=false (MQTT 5, 3.3.1.3); a late one receives the stored copy.
    Probe late(broker_.uri(), "late-probe");
    late.Subscribe("dctwin/health/datacenter/dc1");
    auto stored = late.WaitFor([](const Received& r) { return r.retained; });
    ASSERT_TRUE(stored);
    EXPECT_EQ(JsonString(stored->payload, "status"), "warning");  // network incidents are warnings
    EXPECT_NE(stored->payload.find("\"healthy\":false"), std::string::npos);
  }

  // Clear every server: every member resolves with caused_by naming its rack incident, the
  // racks resolve with caused_by naming the datacenter incident, the datacenter resolves.
  for (const char* rack : {"ra", "rb"}) {
    const std::string rack_id = JsonString(Alert("rack", rack, "open")->payload, "id");
    for (int i = 1; i <= 3; ++i) {
      for (int k = 0; k < 3; ++k) Report(std::string(rack) + "-s" + std::to_string(i), R"({"net_drop_rate": 0})");
    }
    for (int i = 1; i <= 3; ++i) {
      auto resolved = Alert("server", std::string(rack) + "-s" + std::to_string(i), "resolved");
      ASSERT_TRUE(resolved);
      EXPECT_EQ(JsonString(resolved->payload, "caused_by"), rack_id) << resolved->payload;
    }
    auto rack_resolved = Alert("rack", rack, "resolved");
    ASSERT_TRUE(rack_resolved);
    EXPECT_EQ(JsonString(rack_resolved->payload, "id"), rack_id);
    EXPECT_EQ(JsonString(rack_resolved->payload, "caused_by"), dc_id) << rack_resolved->payload;
  }
  auto dc_resolved = Alert("datacenter", "dc1", "resolved");
  ASSERT_TRUE(dc_resolved);
  EXPECT_EQ(JsonString(dc_resolved->payload, "id"), dc_id);
  ASSERT_TRUE(probe_->WaitFor([](const Received& r) {
    return r.topic == "dctwin/health/datacenter/dc1" && r.payload.find("\"healthy\":true") != std::string::npos;
  }));
}

TEST_F(GatewayTest, StatsCountAppliedReportsAndRejections) {
  StartGateway();
  Commission("s1", "r1");
  for (int i = 0; i < 50; ++i) Report("s1", R"({"temp_c": 40})");
  Report("ghost", R"({"temp_c": 40})");
  Report("s1", R"({"temp_c": "warm"})");
  Report("s1", "not json");
  auto stats = StatsWith("messages_in", 50);
  ASSERT_TRUE(stats) << gateway_->Log();
  EXPECT_EQ(JsonNumber(stats->payload, "messages_in"), 50);
  EXPECT_EQ(stats->qos, 0);
  EXPECT_FALSE(stats->retained);
  auto rejected = StatsWith("messages_rejected", 3);
  ASSERT_TRUE(rejected);
  EXPECT_NE(rejected->payload.find("\"server\":1"), std::string::npos) << rejected->payload;
  EXPECT_NE(rejected->payload.find("\"rack\":1"), std::string::npos);
  EXPECT_NE(rejected->payload.find("\"datacenter\":1"), std::string::npos);

  auto dead = probe_->WaitFor([](const Received& r) { return r.topic == "dctwin/deadletter/uncommissioned"; });
  ASSERT_TRUE(dead);
  EXPECT_EQ(JsonString(dead->payload, "reason"), "uncommissioned");
  EXPECT_EQ(JsonString(dead->payload, "topic"), "dctwin/metrics/ghost");
  ASSERT_TRUE(probe_->WaitFor([](const Received& r) { return r.topic == "dctwin/deadletter/bad_metric"; }));
  ASSERT_TRUE(probe_->WaitFor([](const Received& r) { return r.topic == "dctwin/deadletter/bad_json"; }));
  // Nothing was opened for the uncommissioned server.
  EXPECT_TRUE(probe_->All([](const Received& r) {
                      return r.topic == "dctwin/alerts/server/ghost" || r.topic == "dctwin/health/server/ghost";
                    }).empty());
}

TEST_F(GatewayTest, DecommissionResolvesAndClearsRetainedHealth) {
  StartGateway();
  Commission("s1", "r1");
  Report("s1", R"({"disk_errors": 4})");
  ASSERT_TRUE(Alert("server", "s1", "open"));
  probe_->Publish("dctwin/provisioning/s1", R"({"action":"decommission"})");
  ASSERT_TRUE(Alert("server", "s1", "resolved"));
  auto cleared = probe_->WaitFor([](const Received& r) { return r.topic == "dctwin/health/server/s1" && r.payload.empty(); });
  ASSERT_TRUE(cleared);
  ASSERT_TRUE(probe_->WaitFor([](const Received& r) { return r.topic == "dctwin/health/rack/r1" && r.payload.empty(); }));
  // After that, metrics from s1 are from an uncommissioned server again.
  Report("s1", R"({"disk_errors": 4})");
  ASSERT_TRUE(probe_->WaitFor([](const Received& r) { return r.topic == "dctwin/deadletter/uncommissioned"; }));
}

TEST_F(GatewayTest, SilentServerAfterHeartbeatTimeout) {
  StartGateway("[gateway]\nstats_interval_s = 0.2\n[model]\nheartbeat_timeout_s = 1\n");
  Commission("quiet", "r1");
  auto silent = Alert("server", "quiet", "open");
  ASSERT_TRUE(silent);
  EXPECT_EQ(JsonString(silent->payload, "kind"), "silent");
  Report("quiet", R"({"temp_c": 40})");
  auto back = Alert("server", "quiet", "resolved");
  ASSERT_TRUE(back);
  EXPECT_EQ(JsonString(back->payload, "id"), JsonString(silent->payload, "id"));
}

// The contract's own example: mosquitto_rr -V 5 -t P/query/... -e <reply-topic> -m ''
std::string Ask(const Mosquitto& broker, const std::string& what) {
  int status = 0;
  const std::string out = RunCommand("mosquitto_rr -V 5 -h 127.0.0.1 -p " + std::to_string(broker.port()) +
                                         " -t dctwin/query/" + what + " -e reply/test-" + std::to_string(getpid()) +
                                         " -m '' -W 10 2>&1",
                                     &status);
  EXPECT_EQ(status, 0) << out;
  return out;
}

TEST_F(GatewayTest, QueriesAnswerOverMqtt5RequestResponse) {
  StartGateway();
  for (int i = 1; i <= 3; ++i) Commission("q" + std::to_string(i), "rq");
  Commission("ok1", "rok");
  for (int i = 1; i <= 3; ++i) {
    for (int k = 0; k < 3; ++k) Report("q" + std::to_string(i), R"({"psu_volts": 10.9, "temp_c": 50})");
  }
  Report("ok1", R"({"psu_volts": 12.1})");
  ASSERT_TRUE(Alert("rack", "rq", "open"));

  const std::string racks = Ask(broker_, "unhealthy-racks");
  EXPECT_EQ(JsonString(racks, "datacenter"), "dc1") << racks;
  EXPECT_NE(racks.find("\"rack\":\"rq\""), std::string::npos) << racks;
  EXPECT_NE(racks.find("\"kinds\":[\"power\"]"), std::string::npos) << racks;
  EXPECT_NE(racks.find("\"since\":"), std::string::npos) << racks;
  EXPECT_EQ(racks.find("rok"), std::string::npos) << racks;

  const std::string dc = Ask(broker_, "datacenter");
  EXPECT_EQ(JsonString(dc, "status"), "critical") << dc;
  EXPECT_NE(dc.find("\"healthy\":false"), std::string::npos);

  const std::string rack = Ask(broker_, "rack/rq");
  EXPECT_EQ(JsonString(rack, "rack"), "rq") << rack;
  EXPECT_EQ(JsonNumber(rack, "servers"), 3);
  EXPECT_NE(rack.find("\"kind\":\"power\""), std::string::npos) << rack;

  const std::string server = Ask(broker_, "server/q1");
  EXPECT_EQ(JsonString(server, "server"), "q1") << server;
  EXPECT_EQ(JsonString(server, "status"), "critical");
  EXPECT_NE(server.find("\"psu_volts\":{\"last\":10.9"), std::string::npos) << server;
  EXPECT_NE(server.find("\"samples\":3"), std::string::npos) << server;

  const std::string unknown = Ask(broker_, "server/nobody");
  EXPECT_NE(unknown.find("\"found\":false"), std::string::npos) << unknown;
  const std::string bad = Ask(broker_, "weather");
  EXPECT_NE(bad.find("unknown query"), std::string::npos) << bad;

  // Replies are never retained: a new subscriber gets nothing before a message published after
  // its subscription (the broker sends retained messages first).
  Probe late(broker_.uri(), "late-probe");
  late.Subscribe("reply/#");
  probe_->Publish("reply/barrier", "after");
  ASSERT_TRUE(late.WaitFor([](const Received& r) { return r.topic == "reply/barrier"; }));
  EXPECT_EQ(late.All([](const Received&) { return true; }).size(), 1u);
}

TEST_F(GatewayTest, RequestWithoutResponseTopicIsDeadLettered) {
  StartGateway();
  probe_->Publish("dctwin/query/unhealthy-racks", "");
  auto dead = probe_->WaitFor([](const Received& r) { return r.topic == "dctwin/deadletter/no_response_topic"; });
  ASSERT_TRUE(dead);
  // Still alive and answering.
  EXPECT_EQ(JsonString(Ask(broker_, "datacenter"), "datacenter"), "dc1");
}

TEST_F(GatewayTest, MassSilenceIsOneStormIncidentNotOnePerServer) {
  // The storm window is wide: a slow run commissions the twelve over more than a second.
  StartGateway(
      "[gateway]\nstats_interval_s = 0.2\n[model]\nheartbeat_timeout_s = 1\nstorm_min_servers = 10\nstorm_window_s = 30\n");
  for (int i = 0; i < 12; ++i) Commission("m" + std::to_string(i), "rm" + std::to_string(i % 4));
  // Nobody reports: every server goes overdue within the same second.
  auto storm = Alert("datacenter", "dc1", "open", 15s);
  ASSERT_TRUE(storm) << gateway_->Log();
  EXPECT_EQ(JsonString(storm->payload, "kind"), "silent_storm");
  EXPECT_NE(JsonString(storm->payload, "summary").find(" of 12 servers went silent at once"), std::string::npos) << storm->payload;
  for (int i = 0; i < 12; ++i) Report("m" + std::to_string(i), R"({"temp_c": 40})");
  auto over = Alert("datacenter", "dc1", "resolved", 15s);
  ASSERT_TRUE(over);
  EXPECT_EQ(JsonString(over->payload, "id"), JsonString(storm->payload, "id"));
  // Not one per-server or per-rack silent incident was published.
  EXPECT_TRUE(probe_->All([](const Received& r) {
                      return (r.topic.rfind("dctwin/alerts/server/", 0) == 0 ||
                              r.topic.rfind("dctwin/alerts/rack/", 0) == 0);
                    }).empty());
}

TEST_F(GatewayTest, RealCollectdRaisesAnIncidentFromACollectdMetric) {
  // A rule on a metric every collectd sends, so that it fires on any machine.
  StartGateway(R"([gateway]
stats_interval_s = 0.2
[model]
heartbeat_timeout_s = 3600
[[rules]]
kind = "memory"
metric = "memory/memory-*"
op = ">"
threshold = 0
for_reports = 2
severity = "warning"
)");
  Commission("cd-host", "rcd");
  const std::string conf = dir_.Write("collectd.conf", "Hostname \"cd-host\"\nFQDNLookup false\nInterval 1\nBaseDir \"" +
                                                           dir_.path() + "\"\nPIDFile \"" + dir_.File("collectd.pid") +
                                                           "\"\nTypesDB \"/usr/share/collectd/types.db\"\n"
                                                           "LoadPlugin memory\nLoadPlugin load\nLoadPlugin mqtt\n"
                                                           "<Plugin mqtt>\n  <Publish \"dctwin\">\n    Host \"127.0.0.1\"\n"
                                                           "    Port " + std::to_string(broker_.port()) +
                                                           "\n    ClientId \"collectd-test\"\n    Prefix \"collectd\"\n"
                                                           "  </Publish>\n</Plugin>\n");
  ChildProcess collectd({"collectd", "-f", "-C", conf}, dir_.File("collectd.log"));
  collectd.Start();
  auto open = Alert("server", "cd-host", "open", 30s);
  ASSERT_TRUE(open) << ReadFile(dir_.File("collectd.log")) << gateway_->Log();
  EXPECT_EQ(JsonString(open->payload, "kind"), "memory");
  EXPECT_NE(JsonString(open->payload, "summary").find("memory/memory-"), std::string::npos) << open->payload;
  // The assembled reports carry every plugin's metrics: load came in other messages.
  const std::string answer = RunCommand("mosquitto_rr -V 5 -h 127.0.0.1 -p " + std::to_string(broker_.port()) +
                                        " -t dctwin/query/server/cd-host -e reply/cd -m '' -W 10");
  EXPECT_NE(answer.find("\"load/load.shortterm\""), std::string::npos) << answer;
  EXPECT_NE(answer.find("\"memory/memory-used\""), std::string::npos) << answer;
  collectd.Stop();
}

TEST_F(GatewayTest, TelegrafLineProtocolIsApplied) {
  StartGateway();
  Commission("tg-1", "rt");
  for (int i = 0; i < 3; ++i) {
    probe_->Publish("telegraf/tg-1/sensors", "env,host=tg-1 temp_c=20.5 " + std::to_string(1732442400 + i * 10) + "000000000\n");
  }
  ASSERT_TRUE(StatsWith("messages_in", 3)) << gateway_->Log();
  const std::string answer = RunCommand("mosquitto_rr -V 5 -h 127.0.0.1 -p " + std::to_string(broker_.port()) +
                                        " -t dctwin/query/server/tg-1 -e reply/tg -m '' -W 10");
  EXPECT_NE(answer.find("\"env.temp_c\":{\"last\":20.5"), std::string::npos) << answer;
  EXPECT_NE(answer.find("\"samples\":3"), std::string::npos) << answer;
  probe_->Publish("telegraf/tg-1/sensors", "env temp_c=oops");
  ASSERT_TRUE(probe_->WaitFor([](const Received& r) { return r.topic == "dctwin/deadletter/bad_metric"; }));
}

TEST_F(GatewayTest, SighupReloadsRulesAndKeepsTheOldConfigWhenTheNewOneIsBad) {
  StartGateway();
  Commission("h1", "rh");
  for (int i = 0; i < 3; ++i) Report("h1", R"({"temp_c": 80})");
  ASSERT_TRUE(StatsWith("messages_in", 3));
  // A barrier: the answer about h1 is published after anything its reports caused, and the probe
  // receives both in that order.
  RunCommand("mosquitto_rr -V 5 -h 127.0.0.1 -p " + std::to_string(broker_.port()) +
             " -t dctwin/query/server/h1 -e dctwin/reply/barrier -W 10 -m ''");
  ASSERT_TRUE(probe_->WaitFor([](const Received& r) { return r.topic == "dctwin/reply/barrier"; }));
  EXPECT_TRUE(probe_->All([](const Received& r) { return r.topic == "dctwin/alerts/server/h1"; }).empty())
      << "80 is below the default 85";

  // A broken file is refused and the running configuration stays.
  dir_.Write("dctwin.toml", std::string(kFastConfig) + "[rack]\nmin_servers = \"three\"\n");
  kill(gateway_->pid(), SIGHUP);
  ASSERT_TRUE(WaitUntil([&] { return gateway_->Log().find("keeping the running configuration") != std::string::npos; },
                        10s));
  EXPECT_NE(gateway_->Log().find("rack.min_servers must be an integer"), std::string::npos);

  dir_.Write("dctwin.toml", std::string(kFastConfig) +
                                "[[rules]]\nkind = \"thermal\"\nmetric = \"temp_c\"\nop = \">\"\nthreshold = 75.0\n"
                                "for_reports = 3\nseverity = \"critical\"\n");
  kill(gateway_->pid(), SIGHUP);
  ASSERT_TRUE(WaitUntil([&] { return gateway_->Log().find("reloaded ") != std::string::npos; }, 10s));
  for (int i = 0; i < 3; ++i) Report("h1", R"({"temp_c": 80})");
  auto open = Alert("server", "h1", "open");
  ASSERT_TRUE(open) << gateway_->Log();
  EXPECT_NE(JsonString(open->payload, "summary").find("> 75"), std::string::npos) << open->payload;
}

// model.max_memory_mb: past it a new server is refused (dead letter limit, stats
// limits.memory_refused) and what the twins hold stays near the budget; a reload that raises the
// budget lets new servers in again.
TEST_F(GatewayTest, PastTheMemoryBudgetNewServersAreRefusedUntilAReloadRaisesIt) {
  StartGateway(std::string(kFastConfig) + "max_memory_mb = 1\n");
  // Of the latest stats, once `pred` holds for them: limits.memory_refused, limits.twin_bytes and
  // twins.server.
  struct Limits {
    double refused = 0, bytes = 0, servers = 0;
  };
  auto limits = [&](auto pred) -> std::optional<Limits> {
    Limits got;
    auto stats = probe_->WaitFor(
        [&](const Received& r) {
          if (r.topic != "dctwin/gateway/gw-test/stats") return false;
          simdjson::dom::parser parser;
          simdjson::dom::element doc;
          if (parser.parse(r.payload).get(doc) != simdjson::SUCCESS) return false;
          int64_t refused = 0, bytes = 0, servers = 0;
          if (doc["limits"]["memory_refused"].get(refused) != simdjson::SUCCESS ||
              doc["limits"]["twin_bytes"].get(bytes) != simdjson::SUCCESS ||
              doc["twins"]["server"].get(servers) != simdjson::SUCCESS) {
            return false;
          }
          got = Limits{static_cast<double>(refused), static_cast<double>(bytes), static_cast<double>(servers)};
          return pred(got);
        },
        30s);
    if (!stats) return std::nullopt;
    return got;
  };
  // A commissioned server twin holds some 450 bytes: 4,000 of them do not fit in 1 MiB.
  for (int i = 0; i < 4000; ++i) Commission("m" + std::to_string(i), "rm" + std::to_string(i / 40));
  auto settled = limits([](const Limits& l) { return l.refused + l.servers >= 4000; });
  ASSERT_TRUE(settled) << gateway_->Log();
  EXPECT_GT(settled->refused, 0);
  EXPECT_GT(settled->servers, 1000);
  // What is held stays within a few twins of the budget (two shards may both create the last).
  EXPECT_LT(settled->bytes, (1 << 20) + 10 * 1000) << "twin_bytes";
  auto dead = probe_->WaitFor([](const Received& r) {
    return r.topic.rfind("dctwin/deadletter/limit", 0) == 0 && r.payload.find("max_memory_mb") != std::string::npos;
  });
  ASSERT_TRUE(dead);
  EXPECT_NE(dead->payload.find("not created"), std::string::npos) << dead->payload;

  dir_.Write("dctwin.toml", std::string(kFastConfig) + "max_memory_mb = 64\n");
  kill(gateway_->pid(), SIGHUP);
  ASSERT_TRUE(WaitUntil([&] { return gateway_->Log().find("server twins may hold 64 MiB") != std::string::npos; }, 10s))
      << gateway_->Log();
  const double refused_before = settled->refused;
  Commission("late-1", "rm-late");
  Report("late-1", R"({"disk_errors": 3})");
  ASSERT_TRUE(Alert("server", "late-1", "open")) << "a server commissioned after the reload is a twin";
  const double held_before = settled->servers;
  auto after = limits([&](const Limits& l) { return l.servers > held_before; });
  ASSERT_TRUE(after);
  EXPECT_EQ(after->refused, refused_before) << "nothing refused after the reload";
}

// A host that names new metrics in every report (1,024 a report, the most a report carries) fills
// the rollups' metric dictionary to its bound and no further; the gateway goes on.
TEST_F(GatewayTest, NewMetricNamesPastTheDictionarysBoundAreCountedAndNothingElseStops) {
  StartGateway();
  Commission("namer", "rn");
  Commission("plain", "rn");
  const size_t reports = MetricDictionary::kMaxNames / 1024 + 2;
  const auto first_ts = static_cast<long long>(std::time(nullptr)) - static_cast<long long>(reports);
  for (size_t i = 0; i < reports; ++i) {
    std::string json = "{\"ts\": " + std::to_string(first_ts + static_cast<long long>(i));
    for (int k = 0; k < 1024; ++k) json += ",\"n" + std::to_string(i) + "_" + std::to_string(k) + "\": 1";
    Report("namer", json + "}");
  }
  auto refused = probe_->WaitFor(
      [](const Received& r) {
        if (r.topic != "dctwin/gateway/gw-test/stats") return false;
        simdjson::dom::parser parser;
        simdjson::dom::element doc;
        int64_t n = 0;
        return parser.parse(r.payload).get(doc) == simdjson::SUCCESS &&
               doc["store"]["rollup_names_refused"].get(n) == simdjson::SUCCESS && n >= 1024;
      },
      60s);
  ASSERT_TRUE(refused) << gateway_->Log();
  const std::string full = "the metric dictionary is full (" + std::to_string(MetricDictionary::kMaxNames) + " names)";
  EXPECT_NE(gateway_->Log().find(full), std::string::npos) << gateway_->Log();
  Report("plain", R"({"disk_errors": 3})");
  EXPECT_TRUE(Alert("server", "plain", "open")) << "the gateway goes on";
}

TEST_F(GatewayTest, PrometheusEndpointIsScrapable) {
  const int port = FreeLoopbackPort();
  StartGateway(std::string(kFastConfig) + "[metrics]\nlisten = \"127.0.0.1:" + std::to_string(port) + "\"\n");
  Commission("p1", "rp");
  Report("p1", R"({"disk_errors": 3})");
  Report("ghost", R"({"temp_c": 1})");
  ASSERT_TRUE(Alert("server", "p1", "open"));
  httplib::Client http("127.0.0.1", port);
  std::string body;
  ASSERT_TRUE(WaitUntil(
      [&] {
        auto res = http.Get("/metrics");
        if (!res || res->status != 200) return false;
        body = res->body;
        return body.find("dctwin_open_incidents{level=\"server\",kind=\"disk\"} 1") != std::string::npos &&
               body.find("dctwin_rejected_total{reason=\"uncommissioned\"} 1") != std::string::npos &&
               body.find("dctwin_alert_latency_seconds_count 1") != std::string::npos;
      },
      10s))
      << body;
  for (const char* needle : {"dctwin_messages_decoded_total{source=\"native\"} 2", "dctwin_reports_applied_total 1",
                             "dctwin_twins{kind=\"server\"} 1", "dctwin_handling_seconds_bucket{le=\"+Inf\"}",
                             "dctwin_shard_queue_depth{shard=\"0\"}", "dctwin_broker_connected 1",
                             "dctwin_outbox_events", "dctwin_store_failures_total 0", "# TYPE dctwin_handling_seconds histogram",
                             // the one alert, timed from its report; 10 s bounds its bucket below +Inf
                             "# TYPE dctwin_alert_latency_seconds histogram",
                             "dctwin_alert_latency_seconds_bucket{le=\"10\"} 1"}) {
    EXPECT_NE(body.find(needle), std::string::npos) << needle << "\n" << body;
  }
  // Prometheus' own linter on the live scrape (Debian's prometheus package).
  const std::string scrape = dir_.Write("scrape.txt", body);
  const std::string lint = dir_.File("promtool.txt");
  const int rc = std::system(("promtool check metrics < " + scrape + " > " + lint + " 2>&1").c_str());
  std::ifstream in(lint);
  const std::string problems((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(rc, 0) << problems;
  EXPECT_EQ(problems, "") << body;
}

TEST_F(GatewayTest, MetricSeriesThatFallToZeroStay) {
  const int port = FreeLoopbackPort();
  StartGateway(std::string(kFastConfig) + "[metrics]\nlisten = \"127.0.0.1:" + std::to_string(port) + "\"\n");
  Commission("z1", "rz");
  Report("z1", R"({"disk_errors": 3})");
  ASSERT_TRUE(Alert("server", "z1", "open"));
  for (int i = 0; i < 3; ++i) Report("z1", R"({"disk_errors": 0})");
  ASSERT_TRUE(Alert("server", "z1", "resolved"));
  httplib::Client http("127.0.0.1", port);
  std::string body;
  // The series is still there, at 0: a dashboard sees the fall, not a gap.
  EXPECT_TRUE(WaitUntil(
      [&] {
        auto res = http.Get("/metrics");
        body = res ? res->body : "";
        return body.find("dctwin_open_incidents{level=\"server\",kind=\"disk\"} 0") != std::string::npos;
      },
      10s))
      << body;
}

TEST_F(GatewayTest, PrefixAndDatacenterFromTheCommandLine) {
  probe_->Subscribe("site/x/#");
  const std::string path = dir_.Write("dctwin.toml", kFastConfig);
  GatewayProcess gw(dir_, {"--config", path, "--broker", broker_.uri(), "--state", dir_.File("state.db"),
                           "--gateway-id", "gw-p", "--prefix", "site/x", "--datacenter", "fra1"});
  gw.Start();
  ASSERT_TRUE(probe_->WaitFor([](const Received& r) { return r.topic == "site/x/gateway/gw-p/status"; })) << gw.Log();
  ASSERT_TRUE(probe_->WaitFor([](const Received& r) { return r.topic == "site/x/health/datacenter/fra1"; }));
  probe_->Publish("site/x/provisioning/s1", R"({"action":"commission","rack":"r1"})");
  probe_->Publish("site/x/metrics/s1", R"({"disk_errors": 1})");
  auto open = probe_->WaitFor([](const Received& r) { return r.topic == "site/x/alerts/server/s1"; });
  ASSERT_TRUE(open);
  EXPECT_EQ(JsonString(open->payload, "datacenter"), "fra1");
  EXPECT_EQ(gw.Terminate(), 0);
}

TEST_F(GatewayTest, SharedIngestConnectionsApplyEveryReportOnce) {
  StartGateway(std::string(kFastConfig) + "[broker]\ningest_connections = 3\n");
  const int servers = 20, reports = 30;
  for (int s = 0; s < servers; ++s) Commission("s" + std::to_string(s), "r" + std::to_string(s % 4));
  ASSERT_TRUE(probe_->WaitFor([&](const Received& r) {
    return r.topic == "dctwin/gateway/gw-test/stats" && r.payload.find("\"server\":20") != std::string::npos;
  })) << gateway_->Log();
  for (int i = 0; i < reports; ++i) {
    for (int s = 0; s < servers; ++s) {
      probe_->PublishPipelined("dctwin/metrics/s" + std::to_string(s), R"({"temp_c": 40})");
    }
  }
  probe_->Drain();
  auto stats = StatsWith("messages_in", servers * reports);
  ASSERT_TRUE(stats) << gateway_->Log();
  EXPECT_EQ(JsonNumber(stats->payload, "messages_in"), servers * reports);  // each exactly once
  // The main connection plus three that share the metric topics, each of which got some.
  const std::string& p = stats->payload;
  for (int k = 1; k <= 3; ++k) {
    const std::string id = "\"client_id\":\"gw-test-ingest-" + std::to_string(k) + "\",\"connected\":true,\"received\":";
    const size_t at = p.find(id);
    ASSERT_NE(at, std::string::npos) << p;
    EXPECT_GT(std::stoi(p.substr(at + id.size())), 0) << p;
  }

  // Incidents work across the shared connections, and decommissioning (main connection) stops them.
  // (A jump from a flat 40 to 95 is also an anomaly: the thermal incident is the one looked for.)
  for (int i = 0; i < 3; ++i) Report("s1", R"({"temp_c": 95})");
  ASSERT_TRUE(probe_->WaitFor([](const Received& r) {
    return r.topic == "dctwin/alerts/server/s1" && JsonString(r.payload, "kind") == "thermal" &&
           JsonString(r.payload, "state") == "open";
  })) << gateway_->Log();
  probe_->Publish("dctwin/provisioning/s1", R"({"action":"decommission"})");
  ASSERT_TRUE(Alert("server", "s1", "resolved"));
}

}  // namespace
}  // namespace dctwin::testing
