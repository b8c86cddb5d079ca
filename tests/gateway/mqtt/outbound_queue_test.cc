// OutboundQueue over a real MqttLink and mosquitto.
#include "gateway/mqtt/outbound_queue.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <memory>
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

  // A queue (started) over a link (not yet started) that tells it of every reconnect, as the
  // gateway's output link does. Both stop at the end of the test.
  OutboundQueue& ReconnectingQueue() {
    MqttLink::Options o = LinkOptions();
    o.on_ready = [this] { queue_->Reconnected(); };
    link_ = std::make_unique<MqttLink>(o, [](const mqtt::const_message_ptr&) {});
    queue_ = std::make_unique<OutboundQueue>(*link_, 100, 4);
    queue_->Start();
    return *queue_;
  }
  void TearDown() override {
    if (queue_) queue_->Stop();
    if (link_) link_->Close();  // before the queue goes: Paho may still call its listener
  }

  TempDir dir_;
  Mosquitto broker_{dir_};
  std::unique_ptr<MqttLink> link_;
  std::unique_ptr<OutboundQueue> queue_;
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

// A publish the broker never acknowledged is still Paho's when the link goes. Closing the link
// destroys the client, and Paho fails each such publish back to the queue's listener then, not
// later: which is why the gateway closes its links before its queue is destroyed (a queue
// destroyed first took those calls on freed memory, a crash on SIGTERM while the broker was away).
TEST_F(OutboundQueueTest, ClosingTheLinkHandsWhatIsInFlightBackToTheQueueAtOnce) {
  MqttLink link(LinkOptions(), [](const mqtt::const_message_ptr&) {});
  OutboundQueue queue(link, 1000, /*window=*/8);
  queue.Start();
  link.Start();
  ASSERT_TRUE(link.WaitReady(10s));
  broker_.Signal(SIGSTOP);  // connected, and acknowledging nothing
  for (int i = 1; i <= 3; ++i) {
    ASSERT_TRUE(queue.Publish(OutMessage{"out/frozen", std::to_string(i), 1, false, {}, i}));
  }
  const bool sent = WaitUntil([&] { return queue.Stats().in_flight == 3; }, 10s);
  queue.Stop();
  link.Close();
  broker_.Signal(SIGCONT);
  ASSERT_TRUE(sent) << queue.Stats().in_flight << " in flight";
  const OutboundStats st = queue.Stats();
  EXPECT_EQ(st.in_flight, 0u);
  EXPECT_EQ(st.retried, 3u);
  EXPECT_EQ(st.queued, 3u) << "back in the queue, for the next start's outbox";
  EXPECT_EQ(st.sent, 0u);
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

TEST_F(OutboundQueueTest, AnAlertCausedByAReportIsTimedOnceFromItsReceipt) {
  MqttLink link(LinkOptions(), [](const mqtt::const_message_ptr&) {});
  OutboundQueue queue(link, 100, 4);
  queue.Start();
  const double now =
      std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  // The report came 30 ms ago, before the link is up: the wait for the connection counts too.
  OutMessage alert{"out/alert", "a", 1, false, {}, 7};
  alert.received = now - 0.030;
  ASSERT_TRUE(queue.Publish(alert));
  ASSERT_TRUE(queue.Publish(OutMessage{"out/health", "h", 1, true, {}, 0}));  // not an alert: not timed
  link.Start();
  ASSERT_TRUE(queue.Flush(20s));
  const OutboundStats s = queue.Stats();
  uint64_t timed = 0;
  for (uint64_t n : s.alert_latency) timed += n;
  EXPECT_EQ(timed, 1u);
  // 30 ms at least, and its bucket is the one that holds it: above 0.02, not above its bound.
  EXPECT_GE(s.alert_latency_sum_s, 0.030);
  size_t bucket = 0;
  while (s.alert_latency[bucket] == 0) ++bucket;
  ASSERT_LT(bucket, kAlertLatencyBucketCount - 1) << "took more than 10 s";
  EXPECT_GT(kAlertLatencyBuckets[bucket], 0.020);
  EXPECT_GE(kAlertLatencyBuckets[bucket], s.alert_latency_sum_s);
  queue.Stop();
  link.Stop();
}

TEST_F(OutboundQueueTest, OutboxEventsGoAheadOfWaitingHealthAndEachLaneKeepsItsOrder) {
  Probe probe(broker_.uri(), "queue-probe");
  probe.Subscribe("out/#");
  MqttLink link(LinkOptions(), [](const mqtt::const_message_ptr&) {});
  OutboundQueue queue(link, 1000, /*window=*/4);
  queue.Start();
  // A burst of health (retained, one topic each), then events from the outbox.
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(queue.Publish(OutMessage{"out/health/" + std::to_string(i), "h", 1, true, {}, 0}));
  }
  for (int i = 1; i <= 10; ++i) ASSERT_TRUE(queue.Publish(OutMessage{"out/alerts", std::to_string(i), 1, false, {}, i}));
  link.Start();
  ASSERT_TRUE(queue.Flush(20s));
  ASSERT_TRUE(WaitUntil([&] { return probe.All([](const Received& r) { return r.qos == 1; }).size() == 110; }, 10s));
  const std::vector<Received> got = probe.All([](const Received&) { return true; });
  int events = 0, health = 0;
  for (const Received& r : got) {
    if (r.topic == "out/alerts") {
      EXPECT_EQ(health, 0) << "an event went out after health";
      EXPECT_EQ(r.payload, std::to_string(++events));
    } else {
      EXPECT_EQ(r.topic, "out/health/" + std::to_string(health++));
    }
  }
  EXPECT_EQ(events, 10);
  EXPECT_EQ(health, 100);
  queue.Stop();
  link.Stop();
}

TEST_F(OutboundQueueTest, ANewerRetainedValueTakesTheWaitingOnesPlaceAndNoRoom) {
  Probe probe(broker_.uri(), "queue-probe");
  probe.Subscribe("out/#");
  MqttLink link(LinkOptions(), [](const mqtt::const_message_ptr&) {});
  OutboundQueue queue(link, /*capacity=*/3, /*window=*/4);
  queue.Start();
  // While the broker is away, one server's health changes 100 times: the queue keeps the latest.
  ASSERT_TRUE(queue.Publish(OutMessage{"out/health/a", "a1", 1, true, {}, 0}));
  ASSERT_TRUE(queue.Publish(OutMessage{"out/health/b", "b1", 1, true, {}, 0}));
  for (int i = 2; i <= 100; ++i) {
    ASSERT_TRUE(queue.Publish(OutMessage{"out/health/a", "a" + std::to_string(i), 1, true, {}, 0}));
  }
  // Answers are what the capacity bounds: retained topics take none of it.
  for (int i = 1; i <= 3; ++i) ASSERT_TRUE(queue.Publish(OutMessage{"out/reply", "r" + std::to_string(i), 1, false, {}, 0}));
  EXPECT_FALSE(queue.Publish(OutMessage{"out/reply", "r4", 1, false, {}, 0}));  // full: 3 answers waiting
  EXPECT_EQ(queue.Stats().queued, 5u);
  EXPECT_EQ(queue.Stats().superseded, 99u);
  EXPECT_EQ(queue.Stats().refused, 1u);
  EXPECT_EQ(queue.Stats().retained_topics, 2u);
  link.Start();
  ASSERT_TRUE(queue.Flush(20s));
  ASSERT_TRUE(WaitUntil([&] { return probe.All([](const Received& r) { return r.qos == 1; }).size() == 5; }, 10s));
  const std::vector<Received> got = probe.All([](const Received&) { return true; });
  ASSERT_EQ(got.size(), 5u);
  EXPECT_EQ(got[0].topic + "=" + got[0].payload, "out/health/a=a100");  // at a1's place
  EXPECT_EQ(got[1].topic + "=" + got[1].payload, "out/health/b=b1");
  EXPECT_EQ(got[2].topic + "=" + got[2].payload, "out/reply=r1");
  // Once a value went out, the next one for the topic queues anew.
  ASSERT_TRUE(queue.Publish(OutMessage{"out/health/a", "a101", 1, true, {}, 0}));
  ASSERT_TRUE(WaitUntil([&] { return probe.All([](const Received& r) { return r.payload == "a101"; }).size() == 1; }, 10s));
  queue.Stop();
  link.Stop();
}

TEST_F(OutboundQueueTest, AFullQueueNeverRefusesANewRetainedTopicOrACommittedOutboxRow) {
  Probe probe(broker_.uri(), "queue-probe");
  probe.Subscribe("out/#");
  MqttLink link(LinkOptions(), [](const mqtt::const_message_ptr&) {});
  OutboundQueue queue(link, /*capacity=*/1, /*window=*/4);
  queue.Start();
  ASSERT_TRUE(queue.Publish(OutMessage{"out/reply", "r1", 1, false, {}, 0}));  // the one answer it has room for
  for (int i = 0; i < 50; ++i) {
    EXPECT_TRUE(queue.Publish(OutMessage{"out/health/" + std::to_string(i), "h", 1, true, {}, 0}));
    EXPECT_TRUE(queue.Publish(OutMessage{"out/alerts", std::to_string(i), 1, false, {}, i + 1}));
  }
  EXPECT_EQ(queue.Stats().refused, 0u);
  link.Start();
  ASSERT_TRUE(queue.Flush(20s));
  ASSERT_TRUE(WaitUntil([&] { return probe.All([](const Received& r) { return r.qos == 1; }).size() == 101; }, 10s));
  queue.Stop();
  link.Stop();
}

// The broker restarts without persistence: it forgets every retained message. After the
// reconnect the queue sends its whole retained table again, including a cleared topic's clear.
TEST_F(OutboundQueueTest, RetainedStateIsSentAgainAfterAReconnect) {
  OutboundQueue& queue = ReconnectingQueue();
  link_->Start();
  ASSERT_TRUE(queue.Publish(OutMessage{"out/health/a", "a1", 1, true, {}, 0}));
  ASSERT_TRUE(queue.Publish(OutMessage{"out/health/b", "b1", 1, true, {}, 0}));
  ASSERT_TRUE(queue.Publish(OutMessage{"out/health/b", "", 1, true, {}, 0}));  // cleared
  ASSERT_TRUE(queue.Flush(20s));
  auto retained = [&] {
    return RunCommand("mosquitto_sub -h 127.0.0.1 -p " + std::to_string(broker_.port()) +
                      " -t 'out/#' --retained-only -v -W 1 2>/dev/null");
  };
  ASSERT_TRUE(WaitUntil([&] { return retained() == "out/health/a a1\n"; }, 10s)) << retained();
  EXPECT_EQ(queue.Stats().retained_topics, 1u) << "a cleared topic leaves the table once the broker has it";
  broker_.Restart();
  ASSERT_TRUE(WaitUntil([&] { return retained() == "out/health/a a1\n"; }, 20s)) << retained();
  EXPECT_GE(queue.Stats().resent, 1u);
}

// The gateway's status goes out before anything queued, and first again after every reconnect:
// here another client takes the link's client id (the broker closes the link's connection) while
// alerts and health wait.
TEST_F(OutboundQueueTest, TheAnnouncementGoesOutFirstAtTheStartAndAfterEveryReconnect) {
  Probe probe(broker_.uri(), "queue-probe");
  probe.Subscribe("out/#");
  OutboundQueue& queue = ReconnectingQueue();
  MqttLink& link = *link_;
  for (int i = 1; i <= 5; ++i) {
    ASSERT_TRUE(queue.Publish(OutMessage{"out/alerts", std::to_string(i), 1, false, {}, i}));
    ASSERT_TRUE(queue.Publish(OutMessage{"out/health/" + std::to_string(i), "h1", 1, true, {}, 0}));
  }
  queue.Announce("out/status", "online");
  link.Start();
  ASSERT_TRUE(queue.Flush(20s));
  ASSERT_TRUE(WaitUntil([&] { return probe.All([](const Received&) { return true; }).size() == 11; }, 10s));
  EXPECT_EQ(probe.All([](const Received&) { return true; }).front().topic, "out/status");

  probe.Clear();
  const std::string intruder = "mosquitto_pub -h 127.0.0.1 -p " + std::to_string(broker_.port()) +
                               " -i queue-test -t elsewhere -m x";
  ASSERT_TRUE(WaitUntil([&] {
    RunCommand(intruder);
    return !link.connected();
  }, 10s));
  for (int i = 6; i <= 9; ++i) {
    ASSERT_TRUE(queue.Publish(OutMessage{"out/alerts", std::to_string(i), 1, false, {}, i}));
  }
  ASSERT_TRUE(queue.Publish(OutMessage{"out/health/1", "h2", 1, true, {}, 0}));
  ASSERT_TRUE(WaitUntil([&] { return link.connected(); }, 20s));
  ASSERT_TRUE(queue.Flush(20s));
  // The status, the 4 alerts, then the whole table again (5 health topics).
  ASSERT_TRUE(WaitUntil([&] { return probe.All([](const Received&) { return true; }).size() >= 10; }, 10s));
  const std::vector<Received> got = probe.All([](const Received&) { return true; });
  EXPECT_EQ(got.front().topic + "=" + got.front().payload, "out/status=online");
  EXPECT_EQ(probe.All([](const Received& r) { return r.topic == "out/status"; }).size(), 1u);
  EXPECT_EQ(probe.All([](const Received& r) { return r.topic == "out/health/1"; }).back().payload, "h2");
  EXPECT_GE(queue.Stats().resent, 5u);
}

}  // namespace
}  // namespace dctwin::testing
