// OutboundQueue over a real MqttLink and mosquitto.
#include "gateway/mqtt/outbound_queue.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <mutex>
#include <vector>

#include "tests/integration/harness.h"

namespace dctwin::testing {
namespace {

using namespace std::chrono_literals;

class OutboundQueueTest : public ::testing::Test {
 protected:
  void SetUp() override { broker_.Start(); }
  MqttLink::Options LinkOptions() {
    MqttLink::Options o;
    o.uri = broker_.uri();
    o.client_id = "queue-test";
    o.reconnect_min_s = 1;
    o.reconnect_max_s = 1;
    return o;
  }

  TempDir dir_;
  Mosquitto broker_{dir_};
};

TEST_F(OutboundQueueTest, WhatWaitedForTheConnectionGoesOutInOrderAndEveryAckIsReportedOnce) {
  Probe probe(broker_.uri(), "queue-probe");
  probe.Subscribe("out/#");
  MqttLink link(LinkOptions(), [](const mqtt::const_message_ptr&) {});
  OutboundQueue queue(link, 1000, /*window=*/4);  // a small window: most wait their turn
  std::mutex mu;
  std::vector<int64_t> acked;
  queue.SetAckHandler([&](int64_t seq) {
    std::lock_guard<std::mutex> lock(mu);
    acked.push_back(seq);
  });
  queue.Start();
  // Queued before the link connects.
  for (int i = 1; i <= 50; ++i) {
    ASSERT_TRUE(queue.Publish(OutMessage{"out/" + std::to_string(i % 3), std::to_string(i), 1, false, {}, i}));
  }
  ASSERT_TRUE(queue.Publish(OutMessage{"out/best-effort", "x", 0, false, {}, 0}));
  link.Start();
  ASSERT_TRUE(queue.Flush(20s));
  ASSERT_TRUE(WaitUntil([&] { return probe.All([](const Received& r) { return r.qos == 1; }).size() == 50; }, 10s));
  const std::vector<Received> got = probe.All([](const Received& r) { return r.topic != "out/best-effort"; });
  ASSERT_EQ(got.size(), 50u);
  for (size_t i = 0; i < got.size(); ++i) EXPECT_EQ(got[i].payload, std::to_string(i + 1)) << "out of order at " << i;
  EXPECT_EQ(queue.Stats().sent, 51u);
  queue.Stop();
  link.Stop();  // before reading `acked`: the handler runs on Paho's thread, under Paho's lock
  std::vector<int64_t> sorted;
  {
    std::lock_guard<std::mutex> lock(mu);
    sorted = acked;
  }
  ASSERT_EQ(sorted.size(), 50u);
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(std::unique(sorted.begin(), sorted.end()), sorted.end()) << "an ack reported twice";
}

TEST_F(OutboundQueueTest, AFullQueueRefusesAndCounts) {
  MqttLink link(LinkOptions(), [](const mqtt::const_message_ptr&) {});  // never started: nothing drains
  OutboundQueue queue(link, 3, 4);
  queue.Start();
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(queue.Publish(OutMessage{"out/x", "m", 1, false, {}, 0}));
  EXPECT_FALSE(queue.Publish(OutMessage{"out/x", "over", 1, false, {}, 0}));
  EXPECT_EQ(queue.Stats().refused, 1u);
  EXPECT_EQ(queue.Stats().queued, 3u);
  queue.Stop();
}

}  // namespace
}  // namespace dctwin::testing
