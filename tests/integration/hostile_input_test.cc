// Hostile input against a live gateway: garbage of every kind mixed with valid reports. Every
// valid report must be applied, every bad message counted, and the gateway must stay up.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/integration/gateway_fixture.h"

namespace dctwin::testing {
namespace {

TEST_F(GatewayTest, TenThousandMalformedMessagesWhileValidReportsFlow) {
  StartGateway();
  constexpr int kServers = 50, kValidPerServer = 10;
  for (int i = 0; i < kServers; ++i) Commission("v" + std::to_string(i), "rv" + std::to_string(i % 5));
  // The junk that names a server names j1, which sends far more than max_messages_per_s: some of
  // it is refused as rate_limited, and the valid servers must not share that budget.
  Commission("j1", "rj");

  const std::string big(70 * 1024, 'x');
  const std::vector<std::pair<std::string, std::string>> junk = {
      {"dctwin/metrics/j1", "{not json"},
      {"dctwin/metrics/j1", R"({"temp_c": "hot"})"},
      {"dctwin/metrics/j1", R"({"temp_c": NaN})"},
      {"dctwin/metrics/j1", R"({"temp_c": 1e999})"},
      {"dctwin/metrics/j1", R"([1, 2, 3])"},
      {"dctwin/metrics/j1", R"({"temp_c": {"nested": [[[[[[[[[[1]]]]]]]]]]}})"},
      {"dctwin/metrics/j1", R"({"ts": "yesterday", "temp_c": 1})"},
      {"dctwin/metrics/j1", R"({"ts": 99999999999, "temp_c": 1})"},
      {"dctwin/metrics/j1", big},
      {"dctwin/metrics/j1", std::string("\0\xff\xfe{\"a\":1}", 10)},
      {"dctwin/metrics/bad id!", R"({"temp_c": 1})"},
      {"dctwin/metrics/" + std::string(80, 'a'), R"({"temp_c": 1})"},
      {"dctwin/metrics/ghost", R"({"temp_c": 1})"},
      {"dctwin/provisioning/v2", R"({"action":"explode"})"},
      {"dctwin/provisioning/v2", R"({"action":"commission","rack":"a/b"})"},
      {"dctwin/provisioning/v2", "[]"},
      {"dctwin/query/unhealthy-racks", ""},  // no Response Topic
      {"dctwin/query/weather", "x"},  // no Response Topic either
      {"collectd/j1/load/load", "1732442400:1"},
      {"collectd/j1/memory/memory-used", "garbage"},
      {"collectd/bad host!/memory/memory-used", "1732442400:1"},
      {"telegraf/j1/cpu", "cpu usage=oops"},
      {"telegraf/j1/cpu", "no fields at all"},
  };
  int sent_junk = 0, sent_valid = 0;
  for (int round = 0; sent_junk < 10000; ++round) {
    for (const auto& [topic, payload] : junk) {
      probe_->PublishPipelined(topic, payload);
      ++sent_junk;
    }
    if (round % 5 == 0 && sent_valid < kServers * kValidPerServer) {
      for (int i = 0; i < kServers && sent_valid < kServers * kValidPerServer; i += 5) {
        probe_->PublishPipelined("dctwin/metrics/v" + std::to_string(i + (round / 5) % 5),
                                 R"({"temp_c": 40, "cpu_util": 0.2})");
        ++sent_valid;
      }
    }
  }
  while (sent_valid < kServers * kValidPerServer) {
    Report("v" + std::to_string(sent_valid % kServers), R"({"temp_c": 40})");
    ++sent_valid;
  }
  probe_->Drain();
  ASSERT_EQ(sent_valid, 500);
  // Every valid report applied, and nothing else. (Topics the gateway does not subscribe to never
  // reach it; every kind of junk above is on a subscribed topic.)
  auto stats = StatsWith("messages_rejected", sent_junk);
  ASSERT_TRUE(stats) << probe_->All([](const Received& r) { return r.topic == "dctwin/gateway/gw-test/stats"; })
                            .back()
                            .payload;
  ASSERT_TRUE(StatsWith("messages_in", sent_valid));
  auto last = probe_->All([](const Received& r) { return r.topic == "dctwin/gateway/gw-test/stats"; }).back();
  EXPECT_EQ(JsonNumber(last.payload, "messages_in"), sent_valid) << last.payload;
  EXPECT_EQ(JsonNumber(last.payload, "messages_rejected"), sent_junk) << last.payload;
  for (const char* reason : {"bad_json", "bad_metric", "bad_timestamp", "too_large", "bad_id", "uncommissioned",
                             "bad_provisioning", "no_response_topic"}) {
    EXPECT_NE(last.payload.find(std::string("\"") + reason + "\":"), std::string::npos) << reason << " " << last.payload;
  }
  // Dead letters are rate-limited: far fewer than the rejections.
  const size_t dead = probe_->All([](const Received& r) { return r.topic.rfind("dctwin/deadletter/", 0) == 0; }).size();
  EXPECT_GT(dead, 0u);
  EXPECT_LT(dead, 1000u);
  // Still up, still answering, no incident for anyone.
  EXPECT_NE(RunCommand("mosquitto_rr -V 5 -h 127.0.0.1 -p " + std::to_string(broker_.port()) +
                       " -t dctwin/query/server/v3 -e reply/h -m '' -W 10")
                .find("\"samples\":10"),
            std::string::npos);
  // j1's reports stamped far in the future make a clock_skew warning, and nothing else does.
  for (const Received& r : probe_->All([](const Received& x) { return x.topic.rfind("dctwin/alerts/", 0) == 0; })) {
    EXPECT_TRUE(r.topic == "dctwin/alerts/server/j1" && JsonString(r.payload, "kind") == "clock_skew") << r.payload;
  }
  EXPECT_EQ(gateway_->Terminate(), 0);
}

TEST_F(GatewayTest, CommissionsBeyondMaxServersAreRefused) {
  StartGateway("[gateway]\nstats_interval_s = 0.2\nmax_servers = 5\n");
  for (int i = 0; i < 8; ++i) Commission("m" + std::to_string(i), "rm");
  auto stats = probe_->WaitFor([](const Received& r) {
    return r.topic == "dctwin/gateway/gw-test/stats" && r.payload.find("\"servers_refused\":3") != std::string::npos;
  });
  ASSERT_TRUE(stats) << gateway_->Log();
  EXPECT_NE(stats->payload.find("\"server\":5,"), std::string::npos) << stats->payload;
  ASSERT_TRUE(probe_->WaitFor([](const Received& r) { return r.topic == "dctwin/deadletter/limit"; }));
}

TEST_F(GatewayTest, AutoCommissionStopsAtMaxServersToo) {
  StartGateway("[gateway]\nstats_interval_s = 0.2\nmax_servers = 5\nauto_commission = true\n");
  for (int i = 0; i < 8; ++i) Report("a" + std::to_string(i), R"({"temp_c": 40})");
  auto stats = probe_->WaitFor([](const Received& r) {
    return r.topic == "dctwin/gateway/gw-test/stats" && r.payload.find("\"servers_refused\":3") != std::string::npos;
  });
  ASSERT_TRUE(stats) << gateway_->Log();
  EXPECT_NE(stats->payload.find("\"server\":5,"), std::string::npos) << stats->payload;
  auto dead = probe_->WaitFor([](const Received& r) { return r.topic == "dctwin/deadletter/limit"; });
  ASSERT_TRUE(dead);
  EXPECT_NE(dead->payload.find("dctwin/metrics/a"), std::string::npos) << dead->payload;
}

}  // namespace
}  // namespace dctwin::testing
