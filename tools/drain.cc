// dctwin-drain: a bare Paho MQTT 5 consumer, the yardstick for the gateway's ingest rate.
// It subscribes, counts what arrives and does nothing else with it, the way the gateway's
// receive path would if decoding and applying a report cost nothing.
//
//   dctwin-drain --broker tcp://127.0.0.1:1883 --topic 'dctwin/metrics/+' --qos 0 --count 500000
//
// With --client-id the session is persistent (clean start off, an hour's session expiry): run it
// once with --subscribe-only, let the broker queue messages for it, then run it again to measure
// how fast it drains them.
//
// Prints "ready" once subscribed, then, when --count messages have arrived or nothing arrived for
// --idle seconds after the first message, one line:
//   received <n> first <epoch s> last <epoch s> rate <n / (last - first)>/s
#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <thread>
#include <string>
#include <vector>

#include <mqtt/async_client.h>

#include "gateway/mqtt/paho_trace.h"

namespace {

double Now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Written by the receive thread (Paho has one per process), read by main every few milliseconds:
// no wake-up per message.
struct Counter {
  std::atomic<long> count{0};
  std::atomic<double> first{0};
  std::atomic<double> last{0};
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"dctwin-drain: counts the messages a bare Paho consumer receives, and how fast"};
  std::string broker = "tcp://127.0.0.1:1883";
  std::string topic = "dctwin/metrics/+";
  int qos = 0;
  long count = 0;
  double idle = 3;
  int connections = 1;
  std::string client_id;
  bool subscribe_only = false;
  app.add_option("--broker", broker);
  app.add_option("--topic", topic, "topic filter");
  app.add_option("--qos", qos);
  app.add_option("--count", count, "stop after this many messages (0: only on --idle)");
  app.add_option("--idle", idle, "stop when nothing arrived for this many seconds after the first message");
  app.add_option("--connections", connections, "several connections share the topic ($share/dctwin-drain/...)");
  app.add_option("--client-id", client_id, "a persistent session under this id (one connection)");
  app.add_flag("--subscribe-only", subscribe_only, "subscribe, disconnect and exit (with --client-id)");
  CLI11_PARSE(app, argc, argv);
  if (!client_id.empty()) connections = 1;

  Counter counter;
  std::vector<std::unique_ptr<mqtt::async_client>> clients;
  const std::string filter = connections > 1 ? "$share/dctwin-drain/" + topic : topic;
  for (int c = 0; c < connections; ++c) {
    const std::string id = client_id.empty() ? "drain-" + std::to_string(getpid()) + "-" + std::to_string(c) : client_id;
    auto cli = std::make_unique<mqtt::async_client>(broker, id, mqtt::create_options(MQTTVERSION_5));
    dctwin::QuietPahoTrace();  // as the gateway does: the yardstick runs the library the same way
    cli->set_message_callback([&counter](mqtt::const_message_ptr) {
      const double t = Now();
      if (counter.count.fetch_add(1, std::memory_order_relaxed) == 0) counter.first.store(t);
      counter.last.store(t, std::memory_order_relaxed);
    });
    mqtt::connect_options opts;
    opts.set_mqtt_version(MQTTVERSION_5);
    if (!client_id.empty()) {
      opts.set_clean_start(false);
      mqtt::properties props;
      props.add(mqtt::property(mqtt::property::SESSION_EXPIRY_INTERVAL, 3600));
      opts.set_properties(props);
    }
    try {
      cli->connect(opts)->wait();
      cli->subscribe(filter, qos)->wait();
    } catch (const mqtt::exception& e) {
      std::fprintf(stderr, "dctwin-drain: %s: %s\n", broker.c_str(), e.what());
      return 1;
    }
    clients.push_back(std::move(cli));
  }
  if (subscribe_only) {
    for (auto& cli : clients) cli->disconnect()->wait();
    return 0;
  }
  std::printf("ready\n");
  std::fflush(stdout);

  for (;;) {
    const long seen = counter.count.load();
    if (count > 0 && seen >= count) break;
    if (seen > 0 && Now() - counter.last.load() >= idle) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const long n = counter.count.load();
  const double first = counter.first.load(), last = counter.last.load();
  for (auto& cli : clients) cli->disconnect()->wait();
  std::printf("received %ld first %.6f last %.6f rate %.0f/s\n", n, first, last,
              last > first ? static_cast<double>(n - 1) / (last - first) : 0.0);
  return 0;
}
