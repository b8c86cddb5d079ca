// MqttLink against a real mosquitto on a free loopback port.
#include "gateway/mqtt/mqtt_link.h"

#include <MQTTAsync.h>
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>

#include "tests/integration/harness.h"

namespace dctwin::testing {
namespace {

using namespace std::chrono_literals;

// Trace lines below Paho's error level (an error line, a socket closing under a loaded machine,
// is what the link asks for and may come).
std::atomic<int> g_trace_lines{0};
void CountTraceLine(enum MQTTASYNC_TRACE_LEVELS level, char*) {
  if (level < MQTTASYNC_TRACE_ERROR) g_trace_lines.fetch_add(1);
}

class MqttLinkTest : public ::testing::Test {
 protected:
  MqttLink::Options Options() {
    MqttLink::Options o;
    o.uri = broker_.uri();
    o.client_id = "link-test";
    o.subscriptions = {"t/#"};
    o.reconnect_min_s = 1;
    o.reconnect_max_s = 1;
    o.on_ready = [this] { ++ready_calls_; };
    return o;
  }
  MqttLink::MessageHandler Recorder() {
    return [this](const mqtt::const_message_ptr& m) {
      std::lock_guard<std::mutex> lock(mu_);
      topics_.insert(m->get_topic());
    };
  }
  bool Got(const std::string& topic) {
    std::lock_guard<std::mutex> lock(mu_);
    return topics_.count(topic) > 0;
  }

  TempDir dir_;
  Mosquitto broker_{dir_};
  std::atomic<int> ready_calls_{0};
  std::mutex mu_;
  std::set<std::string> topics_;
};

TEST_F(MqttLinkTest, SubscribesAgainAfterTheBrokerRestartsAndSaysReadyEachTime) {
  broker_.Start();
  MqttLink link(Options(), Recorder());
  link.Start();
  ASSERT_TRUE(link.WaitReady(10s));
  // on_ready runs on Paho's thread just after the link turned ready: WaitReady may return first.
  ASSERT_TRUE(WaitUntil([&] { return ready_calls_.load() >= 1; }, 10s));
  EXPECT_EQ(ready_calls_.load(), 1);
  Probe probe(broker_.uri(), "link-test-probe");
  probe.Publish("t/before", "1");
  ASSERT_TRUE(WaitUntil([&] { return Got("t/before"); }, 10s));

  broker_.Restart();  // a clean session is gone with it: the link must subscribe again
  ASSERT_TRUE(WaitUntil([&] { return ready_calls_.load() >= 2 && link.ready(); }, 20s));
  Probe again(broker_.uri(), "link-test-probe-2");
  again.Publish("t/after", "2");
  ASSERT_TRUE(WaitUntil([&] { return Got("t/after"); }, 10s));
  EXPECT_EQ(link.messages_received(), 2u);
  link.Stop();
  EXPECT_FALSE(link.connected());
}

TEST_F(MqttLinkTest, WithoutABrokerItIsNeverReadyAndStopsPromptly) {
  MqttLink link(Options(), Recorder());  // the broker was never started: nothing listens
  link.Start();
  EXPECT_FALSE(link.WaitReady(1500ms));
  EXPECT_FALSE(link.connected());
  const auto t0 = std::chrono::steady_clock::now();
  link.Stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  EXPECT_EQ(ready_calls_.load(), 0);
}

// Paho C's trace at its default level formats a line per packet into memory, under a lock, which
// nobody reads (about a fifth of the gateway's CPU per report in a flood): a link turns it down to
// errors, so connecting, subscribing and receiving trace nothing. (With MQTT_C_CLIENT_TRACE set,
// Paho's trace is left as asked, and this test fails.)
TEST_F(MqttLinkTest, PahoTracesNothingBelowErrorsOnceALinkExists) {
  broker_.Start();
  MqttLink link(Options(), Recorder());
  MQTTAsync_setTraceCallback(&CountTraceLine);
  link.Start();
  ASSERT_TRUE(link.WaitReady(10s));
  Probe probe(broker_.uri(), "link-test-probe");
  probe.Publish("t/traced", "1");
  ASSERT_TRUE(WaitUntil([&] { return Got("t/traced"); }, 10s));
  link.Stop();
  MQTTAsync_setTraceCallback(nullptr);
  EXPECT_EQ(g_trace_lines.load(), 0);
}

}  // namespace
}  // namespace dctwin::testing
