// dctwin-loadgen: measures how many metric reports per second a running gateway applies.
//
//   dctwin-loadgen --broker tcp://127.0.0.1:1883 --servers 10000 --duration 10 --qos 0
//
// 1. commissions --servers servers over --racks racks (QoS 1) and waits until the gateway's stats
//    count them all;
// 2. publishes native JSON reports round-robin over the servers for --duration seconds, as fast
//    as it can (or at --rate per second), from --connections MQTT connections;
// 3. waits until the gateway's messages_in stops moving, and prints what was published, what was
//    applied, and the rates;
//    With --incident every native report carries "disk_errors":1: each server gets an open
//    disk incident (the default model), for a gateway with many open incidents.
//    With --format collectd each report is six messages as collectd's mqtt write plugin sends
//    them (collectd/<server>/<plugin>/<type>, "<epoch>:<values>"); rates count reports.
// 4. with --probes K, measures publish-to-alert latency meanwhile: K probe servers, each in a rack of
//    its own, take turns publishing {"disk_errors":1} (the default model opens a disk incident on
//    one such report) and the time until the open event arrives is one sample; clear reports then
//    resolve the incident before the next turn.
//    With --probe-only the process publishes nothing else: the load comes from another
//    dctwin-loadgen. Paho C sends for every connection of a process on one thread, so a probe
//    published beside a flood waits behind the flood's messages in this process, and that wait
//    would be counted as the gateway's. The probe servers must have been commissioned before (a
//    run with --probes).
// 5. with --echo, stands in for the gateway on the probes' topics: it answers each probe report
//    with the open or resolved event the gateway would publish, for --duration seconds. A
//    --probe-only run against it (both with a --prefix the gateway does not serve) measures what
//    the same two trips through the broker cost without the gateway: the floor under its latency.
// The last line, "result ...", is for scripts: key=value pairs.
#include <simdjson.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <memory>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <mqtt/async_client.h>

#include "gateway/mqtt/paho_trace.h"
#include "gateway/mqtt/tcp_nodelay.h"
#include "tools/windowed_publisher.h"
#include "twins/messages.h"

namespace {

using Clock = std::chrono::steady_clock;

using dctwin::tools::WindowedPublisher;

struct Stats {
  std::mutex mu;
  double messages_in = -1;
  double servers = -1;
  Clock::time_point at;
};

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// Open and resolved events of the probe servers, as they arrive.
struct ProbeEvents {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<Clock::time_point> opened;    // per probe: when its latest open arrived
  std::vector<Clock::time_point> resolved;  // per probe: when its latest resolve arrived
};

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size() - 1) + 0.5));
  return v[i];
}

// --echo: answers probe-<n> reports under <prefix>/metrics with the disk event a gateway would
// publish, until `duration` seconds have passed.
int Echo(const std::string& broker, const std::string& prefix, int probes, double duration) {
  if (probes <= 0) {
    std::fprintf(stderr, "--echo needs --probes 1 or more\n");
    return 2;
  }
  mqtt::async_client client(broker, "loadgen-echo-" + std::to_string(getpid()), mqtt::create_options(MQTTVERSION_5));
  dctwin::QuietPahoTrace();
  std::atomic<long> answered{0};
  const std::string metrics = prefix + "/metrics/probe-";
  client.set_message_callback([&](mqtt::const_message_ptr m) {
    const std::string& topic = m->get_topic();
    if (topic.compare(0, metrics.size(), metrics) != 0) return;
    const std::string n = topic.substr(metrics.size());
    const std::string& payload = m->get_payload_str();
    const char* state = payload.find(R"("disk_errors":1)") != std::string::npos ? "open" : "resolved";
    const std::string event = std::string(R"({"kind":"disk","state":")") + state + R"(","server":"probe-)" + n + "\"}";
    try {
      client.publish(prefix + "/alerts/server/probe-" + n, event.data(), event.size(), 1, false);
      ++answered;
    } catch (const mqtt::exception&) {
    }
  });
  mqtt::connect_options opts;
  opts.set_mqtt_version(MQTTVERSION_5);
  client.connect(opts)->wait();
  dctwin::SetTcpNoDelayToBroker(broker);
  // Every probe-<n> (with --hot-shard the probes' numbers are not 0 to probes-1).
  client.subscribe(prefix + "/metrics/+", 1)->wait();
  std::printf("echo ready\n");  // subscribed: a script may start the probes now
  std::fflush(stdout);
  std::this_thread::sleep_for(std::chrono::duration<double>(duration));
  client.disconnect()->wait();
  std::printf("result answered=%ld\n", answered.load());
  return 0;
}

// --ask: sends `rate` P/query/incidents requests per second (MQTT 5 request/response, a page of
// `limit` incidents each) for `duration` seconds, then waits up to 5 s for the last answers;
// prints how many were answered and the answers' latency.
int Ask(const std::string& broker, const std::string& prefix, double rate, int limit, double duration) {
  mqtt::async_client client(broker, "loadgen-ask-" + std::to_string(getpid()), mqtt::create_options(MQTTVERSION_5));
  dctwin::QuietPahoTrace();
  const std::string answers = "loadgen/answers/" + std::to_string(getpid());
  std::mutex mu;
  std::vector<Clock::time_point> sent;
  std::vector<double> latencies_ms;
  std::atomic<long> answered{0}, refused{0};
  client.set_message_callback([&](mqtt::const_message_ptr m) {
    const mqtt::properties& props = m->get_properties();
    const std::string corr = props.contains(mqtt::property::CORRELATION_DATA)
                                 ? mqtt::get<mqtt::binary>(props, mqtt::property::CORRELATION_DATA)
                                 : std::string();
    const auto now = Clock::now();
    if (m->get_payload_str().find(R"("ok":false)") != std::string::npos) ++refused;
    ++answered;
    std::lock_guard<std::mutex> lock(mu);
    const size_t i = static_cast<size_t>(std::strtoul(corr.c_str(), nullptr, 10));
    if (i < sent.size()) latencies_ms.push_back(std::chrono::duration<double, std::milli>(now - sent[i]).count());
  });
  mqtt::connect_options opts;
  opts.set_mqtt_version(MQTTVERSION_5);
  client.connect(opts)->wait();
  client.subscribe(answers, 0)->wait();
  const std::string body = "{\"limit\": " + std::to_string(limit) + "}";
  const auto t0 = Clock::now();
  long asked = 0;
  while (Seconds(Clock::now() - t0) < duration) {
    const auto due = t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(asked / rate));
    if (Clock::now() < due) {
      std::this_thread::sleep_until(due);
      continue;
    }
    mqtt::properties props{{mqtt::property::RESPONSE_TOPIC, answers},
                           {mqtt::property::CORRELATION_DATA, mqtt::binary(std::to_string(asked))}};
    {
      std::lock_guard<std::mutex> lock(mu);
      sent.push_back(Clock::now());
    }
    auto msg = mqtt::message_ptr_builder().topic(prefix + "/query/incidents").payload(body).qos(0).properties(props).finalize();
    try {
      client.publish(msg);
    } catch (const mqtt::exception&) {
    }
    ++asked;
  }
  for (int i = 0; i < 500 && answered.load() < asked; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  client.disconnect()->wait();
  std::lock_guard<std::mutex> lock(mu);
  std::printf("result asked=%ld answered=%ld refused=%ld asked_per_s=%.0f answer_p50_ms=%.3f answer_p99_ms=%.3f\n", asked,
              answered.load(), refused.load(), asked / duration, Percentile(latencies_ms, 0.5), Percentile(latencies_ms, 0.99));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"dctwin-loadgen: floods a dctwin gateway with reports and reads back its applied rate"};
  std::string broker = "tcp://127.0.0.1:1883";
  std::string prefix = "dctwin";
  std::string gateway_id = "dctwin-1";
  int servers = 10000;
  int racks = 250;
  double duration = 10;
  double rate = 0;
  int qos = 0;
  int connections = 1;
  int window = 20;
  bool commission = true;
  int probes = 0;
  double probe_interval = 0.05;
  app.add_option("--broker", broker);
  app.add_option("--prefix", prefix);
  app.add_option("--gateway-id", gateway_id, "whose stats to read");
  app.add_option("--servers", servers);
  app.add_option("--racks", racks);
  app.add_option("--duration", duration, "seconds of publishing");
  app.add_option("--rate", rate, "reports per second in all; 0 = as fast as possible");
  app.add_option("--qos", qos);
  app.add_option("--connections", connections);
  app.add_option("--window", window, "QoS 1 messages in flight per connection (the broker's Receive Maximum)");
  app.add_option("--commission", commission, "commission the servers first (true/false)");
  bool no_gateway = false;
  app.add_flag("--no-gateway", no_gateway,
               "only publish (for measuring another consumer): no commissions, no stats, no probes");
  app.add_option("--probes", probes, "probe servers that measure publish-to-alert latency (0: none)");
  app.add_option("--probe-interval", probe_interval, "seconds between two latency samples");
  bool probe_only = false;
  double ask = 0;
  int ask_limit = 100;
  int hot_shard = -1;
  int shards = 2;
  app.add_flag("--probe-only", probe_only, "publish only the probes' reports; needs --probes");
  app.add_option("--ask", ask, "send this many P/query/incidents requests per second for --duration seconds, nothing else");
  app.add_option("--ask-limit", ask_limit, "incidents per answer page of --ask");
  app.add_option("--hot-shard", hot_shard,
                 "name the servers so that all of them live on this shard of the gateway's --shards, and the "
                 "probes on the others");
  app.add_option("--shards", shards, "the gateway's shard count, for --hot-shard");
  bool echo = false;
  app.add_flag("--echo", echo, "answer the probes' reports with their events for --duration seconds, as a gateway would");
  bool incident = false;
  app.add_flag("--incident", incident, "native reports carry disk_errors: 1, which opens a disk incident on each server");
  std::string format = "native";
  app.add_option("--format", format, "native (one JSON message per report) or collectd (six messages per report)")
      ->check(CLI::IsMember({"native", "collectd"}));
  int metrics = 4;
  app.add_option("--metrics", metrics,
                 "metrics per native report (4: the usual; more: m0, m1, ... added, each report costing its shard more)")
      ->check(CLI::Range(4, 1000));
  CLI11_PARSE(app, argc, argv);
  const bool collectd = format == "collectd";
  if (echo) return Echo(broker, prefix, probes, duration);
  if (ask > 0) return Ask(broker, prefix, ask, ask_limit, duration);
  // The servers' and the probes' names: srv-<n> and probe-<n>, or with --hot-shard the first
  // names that the gateway's shards put where they are wanted (its TwinAddress hash).
  auto names = [&](const char* stem, int count, bool hot) {
    std::vector<std::string> out;
    for (long k = 0; static_cast<int>(out.size()) < count; ++k) {
      std::string id = stem + std::to_string(k);
      const bool on_hot = static_cast<int>(dctwin::TwinAddress{dctwin::Level::kServer, id}.Hash() %
                                           static_cast<size_t>(std::max(1, shards))) == hot_shard;
      if (hot_shard < 0 || on_hot == hot) out.push_back(std::move(id));
    }
    return out;
  };
  const std::vector<std::string> server_names = names("srv-", servers, true);
  const std::vector<std::string> probe_names = names("probe-", probes, false);
  std::map<std::string, size_t> probe_index;
  for (size_t p = 0; p < probe_names.size(); ++p) probe_index[probe_names[p]] = p;

  Stats stats;
  mqtt::async_client watcher(broker, "loadgen-watch-" + std::to_string(getpid()), mqtt::create_options(MQTTVERSION_5));
  // The publisher shares the cores with what it measures: no Paho trace formatting (see
  // gateway/mqtt/paho_trace.h).
  dctwin::QuietPahoTrace();
  watcher.set_message_callback([&](mqtt::const_message_ptr m) {
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    if (parser.parse(m->get_payload_str()).get(doc)) return;
    double in = 0, srv = 0;
    if (doc["messages_in"].get(in) || doc["twins"]["server"].get(srv)) return;
    std::lock_guard<std::mutex> lock(stats.mu);
    stats.messages_in = in;
    stats.servers = srv;
    stats.at = Clock::now();
  });
  mqtt::connect_options wopts;
  wopts.set_mqtt_version(MQTTVERSION_5);
  watcher.connect(wopts)->wait();
  watcher.subscribe(prefix + "/gateway/" + gateway_id + "/stats", 0)->wait();

  auto read = [&] {
    std::lock_guard<std::mutex> lock(stats.mu);
    return std::make_pair(stats.messages_in, stats.servers);
  };
  auto wait_stats = [&](auto pred, double timeout_s) {
    const auto deadline = Clock::now() + std::chrono::duration<double>(timeout_s);
    while (Clock::now() < deadline) {
      auto [in, srv] = read();
      if (pred(in, srv)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  };
  if (no_gateway) {
    commission = false;
    probes = 0;
  }
  if (probe_only) {
    if (probes <= 0) {
      std::fprintf(stderr, "--probe-only needs --probes 1 or more\n");
      return 2;
    }
    connections = 0;
    commission = false;
  }
  if (!no_gateway && !probe_only && !wait_stats([](double in, double) { return in >= 0; }, 30)) {
    std::fprintf(stderr, "no stats from gateway %s on %s\n", gateway_id.c_str(), broker.c_str());
    return 1;
  }

  ProbeEvents probe_events;
  probe_events.opened.resize(static_cast<size_t>(probes));
  probe_events.resolved.resize(static_cast<size_t>(probes));
  std::unique_ptr<mqtt::async_client> prober;
  if (probes > 0) {
    prober = std::make_unique<mqtt::async_client>(broker, "loadgen-probe-" + std::to_string(getpid()),
                                                  mqtt::create_options(MQTTVERSION_5));
    const std::string alert_prefix = prefix + "/alerts/server/";
    prober->set_message_callback([&, alert_prefix](mqtt::const_message_ptr m) {
      const auto at = Clock::now();
      const std::string& topic = m->get_topic();
      if (topic.compare(0, alert_prefix.size(), alert_prefix) != 0) return;
      const std::string& payload = m->get_payload_str();
      if (payload.find(R"("kind":"disk")") == std::string::npos) return;
      const auto found = probe_index.find(topic.substr(alert_prefix.size()));
      if (found == probe_index.end()) return;
      const size_t p = found->second;
      std::lock_guard<std::mutex> lock(probe_events.mu);
      if (payload.find(R"("state":"open")") != std::string::npos) probe_events.opened[p] = at;
      if (payload.find(R"("state":"resolved")") != std::string::npos) probe_events.resolved[p] = at;
      probe_events.cv.notify_all();
    });
    mqtt::connect_options popts;
    popts.set_mqtt_version(MQTTVERSION_5);
    prober->connect(popts)->wait();
    prober->subscribe(prefix + "/alerts/server/+", 1)->wait();
    // Without it a probe written right after the PUBACK of an alert waits for the broker's
    // delayed ACK (40 ms), and that would be measured as the gateway's latency. Set before the
    // publishing connections exist: those keep Nagle, which batches a flood into fewer segments.
    dctwin::SetTcpNoDelayToBroker(broker);
  }

  std::vector<std::unique_ptr<mqtt::async_client>> clients;
  for (int c = 0; c < connections; ++c) {
    mqtt::create_options copts(MQTTVERSION_5);
    copts.set_max_buffered_messages(1 << 20);
    auto cli = std::make_unique<mqtt::async_client>(broker, "loadgen-" + std::to_string(getpid()) + "-" + std::to_string(c),
                                                    copts);
    mqtt::connect_options opts;
    opts.set_mqtt_version(MQTTVERSION_5);
    cli->connect(opts)->wait();
    clients.push_back(std::move(cli));
  }

  if (commission) {
    const auto t0 = Clock::now();
    WindowedPublisher pub(*clients[0], static_cast<size_t>(window));
    for (int s = 0; s < servers; ++s) {
      const std::string payload = R"({"action":"commission","rack":"rack-)" + std::to_string(s % racks) + "\"}";
      pub.Publish(prefix + "/provisioning/" + server_names[static_cast<size_t>(s)], payload.data(), payload.size(), 1);
    }
    for (int p = 0; p < probes; ++p) {
      const std::string payload = R"({"action":"commission","rack":"probe-rack-)" + std::to_string(p) + "\"}";
      pub.Publish(prefix + "/provisioning/" + probe_names[static_cast<size_t>(p)], payload.data(), payload.size(), 1);
    }
    pub.Drain();
    if (!wait_stats([&](double, double srv) { return srv >= servers + probes; }, 300)) {
      std::fprintf(stderr, "gateway did not report %d commissioned servers\n", servers + probes);
      return 1;
    }
    std::printf("commissioned %d servers in %d racks in %.2f s\n", servers, racks, Seconds(Clock::now() - t0));
  }

  const double before = read().first;
  std::atomic<long> published{0};
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration<double>(duration);
  std::vector<std::thread> threads;
  std::vector<double> latencies_ms;
  int probe_timeouts = 0;
  std::thread probe_thread;
  if (probes > 0) {
    probe_thread = std::thread([&] {
      long sent = 0;
      // Waits until the probe's open (or resolve) event is newer than `since`.
      auto wait_event = [&](std::vector<Clock::time_point>& events, size_t p, Clock::time_point since) {
        std::unique_lock<std::mutex> lock(probe_events.mu);
        return probe_events.cv.wait_for(lock, std::chrono::seconds(3), [&] { return events[p] > since; });
      };
      auto publish = [&](size_t p, const char* json) {
        prober->publish(prefix + "/metrics/" + probe_names[p], json, std::strlen(json), qos, false);
        ++sent;
      };
      auto next = Clock::now();
      for (size_t turn = 0; Clock::now() < end; ++turn) {
        const size_t p = turn % static_cast<size_t>(probes);
        const auto t0 = Clock::now();
        publish(p, R"({"disk_errors":1})");
        if (wait_event(probe_events.opened, p, t0)) {
          std::lock_guard<std::mutex> lock(probe_events.mu);
          latencies_ms.push_back(std::chrono::duration<double, std::milli>(probe_events.opened[p] - t0).count());
        } else {
          ++probe_timeouts;
        }
        // Clear reports until it resolves (reports that raced over shared connections may be late).
        const auto t1 = Clock::now();
        for (int attempt = 0; attempt < 3; ++attempt) {
          for (int i = 0; i < 3; ++i) publish(p, R"({"disk_errors":0})");
          if (wait_event(probe_events.resolved, p, t1)) break;
        }
        next += std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(probe_interval));
        std::this_thread::sleep_until(std::max(next, Clock::now()));
      }
      published += sent;
    });
  }
  for (int c = 0; c < connections; ++c) {
    threads.emplace_back([&, c] {
      WindowedPublisher pub(*clients[static_cast<size_t>(c)], static_cast<size_t>(window));
      char payload[128];
      std::string wide;  // a report of more than the usual four metrics
      long n = 0;
      const double per_thread = rate > 0 ? rate / connections : 0;
      for (int s = c;; s += connections) {
        if (s >= servers) s = c;
        // Flat out, the clock is read every 256 messages; at a fixed rate every 16, so that the
        // messages go out evenly rather than in bursts of 256.
        if ((n & (per_thread > 0 ? 15 : 255)) == 0) {
          const auto now = Clock::now();
          if (now >= end) break;
          if (per_thread > 0) {
            const auto due = start + std::chrono::duration<double>(static_cast<double>(n) / per_thread);
            if (due > now) std::this_thread::sleep_until(due);
          }
        }
        try {
          if (collectd) {
            // The parts of one report share its timestamp; the gateway assembles them.
            const double ts = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
            const std::string base = "collectd/" + server_names[static_cast<size_t>(s)] + "/";
            auto part = [&](const char* what, const char* fmt, double value) {
              const int len = std::snprintf(payload, sizeof payload, fmt, ts, value);
              pub.Publish(base + what, payload, static_cast<size_t>(len), qos);
            };
            part("ipmi/temperature-CPU", "%.3f:%.1f", 40 + static_cast<double>(n % 20));
            part("ipmi/voltage-PSU12V", "%.3f:%.2f", 12.1);
            part("cpu/percent-active", "%.3f:%.1f", 41);
            part("interface-eth0/if_dropped", "%.3f:%.2f:0", 0);
            part("smart-sda/smart_badsectors", "%.3f:%.0f", 0);
            part("load/load", "%.3f:%.2f:1:1", 1);
          } else {
            const int len = std::snprintf(
                payload, sizeof payload, R"({"temp_c":%d.5,"cpu_util":0.41,"net_drop_rate":0.0,"psu_volts":12.1%s})",
                40 + static_cast<int>(n % 20), incident ? R"(,"disk_errors":1)" : "");
            const std::string topic = prefix + "/metrics/" + server_names[static_cast<size_t>(s)];
            if (metrics <= 4) {
              pub.Publish(topic, payload, static_cast<size_t>(len), qos);
            } else {
              wide.assign(payload, static_cast<size_t>(len) - 1);  // without its closing brace
              for (int m = 4; m < metrics; ++m) {
                wide += ",\"m" + std::to_string(m) + "\":" + std::to_string(m + n % 7);
              }
              wide += '}';
              pub.Publish(topic, wide.data(), wide.size(), qos);
            }
          }
          ++n;
        } catch (const mqtt::exception&) {
          std::this_thread::sleep_for(std::chrono::milliseconds(1));  // client buffer full: let it drain
        }
      }
      pub.Drain();
      published += n;
    });
  }
  for (auto& t : threads) t.join();
  const double publish_s = Seconds(Clock::now() - start);
  if (probe_thread.joinable()) probe_thread.join();

  if (no_gateway) {
    std::printf("published %ld reports (QoS %d, %d connection(s)) in %.2f s: %.0f/s\n", published.load(), qos,
                connections, publish_s, static_cast<double>(published) / publish_s);
    std::printf("result published=%ld publish_s=%.3f\n", published.load(), publish_s);
    for (auto& cli : clients) cli->disconnect()->wait();
    watcher.disconnect()->wait();
    return 0;
  }
  auto print_latency = [&] {
    std::printf("latency   %zu samples publish-to-alert: p50 %.2f ms, p99 %.2f ms, max %.2f ms; %d timeouts\n",
                latencies_ms.size(), Percentile(latencies_ms, 0.5), Percentile(latencies_ms, 0.99),
                Percentile(latencies_ms, 1.0), probe_timeouts);
  };
  if (probe_only) {
    print_latency();
    std::printf("result latency_samples=%zu p50_ms=%.3f p99_ms=%.3f timeouts=%d\n", latencies_ms.size(),
                Percentile(latencies_ms, 0.5), Percentile(latencies_ms, 0.99), probe_timeouts);
    prober->disconnect()->wait();
    watcher.disconnect()->wait();
    return 0;
  }
  // Applied: wait until messages_in reaches what was sent or stops moving for 2 s.
  double last = read().first;
  auto last_change = Clock::now();
  while (Seconds(Clock::now() - last_change) < 2.0 && last - before < static_cast<double>(published)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    const double now_in = read().first;
    if (now_in != last) {
      last = now_in;
      last_change = Clock::now();
    }
  }
  double applied_at_s;
  {
    std::lock_guard<std::mutex> lock(stats.mu);
    applied_at_s = Seconds(stats.at - start);
  }
  const double applied = last - before;
  std::printf("published %ld reports (QoS %d, %d connection(s)) in %.2f s: %.0f/s\n", published.load(), qos,
              connections, publish_s, static_cast<double>(published) / publish_s);
  std::printf("applied   %.0f reports (%.2f%%) by %.2f s: %.0f/s\n", applied,
              100.0 * applied / static_cast<double>(std::max<long>(published, 1)), applied_at_s,
              applied / std::max(applied_at_s, publish_s));
  // Kept up: everything applied, and no later than a tenth of the run (at least a second) after
  // publishing stopped, so the gateway was not working off a backlog the broker held.
  const bool kept_up = applied >= static_cast<double>(published) &&
                       applied_at_s <= std::max(publish_s + 1.0, publish_s * 1.1);
  if (probes > 0) print_latency();
  std::printf("result published=%ld publish_s=%.3f applied=%.0f applied_s=%.3f kept_up=%d latency_samples=%zu "
              "p50_ms=%.3f p99_ms=%.3f\n",
              published.load(), publish_s, applied, std::max(applied_at_s, publish_s), kept_up ? 1 : 0,
              latencies_ms.size(), Percentile(latencies_ms, 0.5), Percentile(latencies_ms, 0.99));
  for (auto& cli : clients) cli->disconnect()->wait();
  if (prober) prober->disconnect()->wait();
  watcher.disconnect()->wait();
  return 0;
}
