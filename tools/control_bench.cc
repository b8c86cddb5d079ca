// dctwin-controlbench: what desired state costs (scripts/bench-control.sh runs it against a
// gateway and a broker it started).
//
//  1. Latency: a rack-wide change of --rack-size servers, asked and answered over MQTT 5, against a
//     bare echo client through the same broker (the floor: what any request/response costs here).
//  2. CPU: --servers servers report metrics every --period seconds for --seconds; then the same
//     again with each server also reporting its state (what dctwin-agent repeats). The gateway's
//     CPU (utime + stime of --gateway-pid) in each phase tells what the state reports add.
//
// Prints one "result" line of key=value pairs.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <ctime>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include <mqtt/async_client.h>

#include "gateway/mqtt/tcp_nodelay.h"
#include "tools/proc_stats.h"

namespace {

using Clock = std::chrono::steady_clock;

using dctwin::tools::CpuSeconds;

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

// One client that asks and waits for the answer with the matching correlation data.
class Asker {
 public:
  Asker(const std::string& uri, const std::string& id) : client_(uri, id, mqtt::create_options(MQTTVERSION_5)) {
    client_.set_message_callback([this](mqtt::const_message_ptr m) {
      std::lock_guard<std::mutex> lock(mu_);
      const mqtt::properties& p = m->get_properties();
      if (p.contains(mqtt::property::CORRELATION_DATA)) {
        answers_[mqtt::get<std::string>(p, mqtt::property::CORRELATION_DATA)] = m->get_payload_str();
      }
      cv_.notify_all();
    });
    client_.connect(mqtt::connect_options_builder().mqtt_version(MQTTVERSION_5).clean_start(true).finalize())->wait();
    reply_ = "dctwin/reply/controlbench-" + id;
    client_.subscribe(reply_, 1)->wait();
  }
  ~Asker() {
    try {
      client_.disconnect()->wait();
    } catch (const mqtt::exception&) {
    }
  }
  // Milliseconds to the answer (-1: none within 10 s); the answer in *out.
  double Ask(const std::string& topic, const std::string& payload, std::string* out) {
    const std::string tag = std::to_string(++seq_);
    auto msg = mqtt::make_message(topic, payload, 1, false);
    mqtt::properties props;
    props.add(mqtt::property(mqtt::property::RESPONSE_TOPIC, reply_));
    props.add(mqtt::property(mqtt::property::CORRELATION_DATA, tag));
    msg->set_properties(props);
    const auto t0 = Clock::now();
    client_.publish(msg);
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_for(lock, std::chrono::seconds(10), [&] { return answers_.count(tag) != 0; })) return -1;
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    if (out) *out = answers_[tag];
    answers_.erase(tag);
    return ms;
  }

 private:
  mqtt::async_client client_;
  std::string reply_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::string> answers_;
  uint64_t seq_ = 0;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"dctwin-controlbench: the latency of a rack-wide desired-state change and the CPU of state reports"};
  std::string uri = "tcp://127.0.0.1:1883";
  int servers = 1000, rack_size = 40, changes = 50, pid = 0;
  double period = 1, seconds = 20;
  std::string format = "native";
  int collectd_values = 20;
  app.add_option("--broker", uri);
  app.add_option("--servers", servers);
  app.add_option("--rack-size", rack_size);
  app.add_option("--changes", changes, "rack-wide changes timed");
  app.add_option("--period", period, "seconds between one server's reports");
  app.add_option("--seconds", seconds, "length of each CPU phase");
  app.add_option("--gateway-pid", pid)->required();
  app.add_option("--format", format, "metric reports: native (one JSON message of 6 metrics) or collectd (one message per value)")
      ->check(CLI::IsMember({"native", "collectd"}));
  app.add_option("--collectd-values", collectd_values, "collectd: values (messages) per report");
  CLI11_PARSE(app, argc, argv);

  // The echo floor: a bare client that answers every request at once.
  mqtt::async_client echo(uri, "controlbench-echo", mqtt::create_options(MQTTVERSION_5));
  echo.set_message_callback([&](mqtt::const_message_ptr m) {
    const mqtt::properties& p = m->get_properties();
    if (!p.contains(mqtt::property::RESPONSE_TOPIC)) return;
    auto reply = mqtt::make_message(mqtt::get<std::string>(p, mqtt::property::RESPONSE_TOPIC), "{\"ok\":true}", 1, false);
    mqtt::properties rp;
    rp.add(mqtt::property(mqtt::property::CORRELATION_DATA, mqtt::get<std::string>(p, mqtt::property::CORRELATION_DATA)));
    reply->set_properties(rp);
    echo.publish(reply);
  });
  echo.connect(mqtt::connect_options_builder().mqtt_version(MQTTVERSION_5).clean_start(true).finalize())->wait();
  echo.subscribe("bench/echo", 1)->wait();

  mqtt::async_client pub(uri, "controlbench-pub", mqtt::create_options(MQTTVERSION_5, 10000000));
  pub.connect(mqtt::connect_options_builder().mqtt_version(MQTTVERSION_5).clean_start(true).max_inflight(1000).finalize())->wait();
  auto name = [](int i) { return "cb" + std::to_string(i); };
  auto rack = [&](int i) { return "cbr" + std::to_string(i / rack_size); };
  for (int i = 0; i < servers; ++i) {
    pub.publish(mqtt::make_message("dctwin/provisioning/" + name(i),
                                   "{\"action\":\"commission\",\"rack\":\"" + rack(i) + "\"}", 1, true));
  }
  Asker asker(uri, std::to_string(getpid()));
  // Nagle off on every connection of this process, as the gateway has it: the floor and the
  // change are then both measured without the 40 ms of a delayed ACK.
  dctwin::SetTcpNoDelayToBroker(uri);
  std::string answer;
  // Until the last server is commissioned.
  for (int i = 0; i < 200 && answer.find("\"server\":\"" + name(servers - 1) + "\"") == std::string::npos; ++i) {
    asker.Ask("dctwin/query/twin/" + name(servers - 1), "", &answer);
    if (answer.find("\"server\"") == std::string::npos) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }

  // 1. Latency.
  std::vector<double> floor_ms, change_ms;
  for (int i = 0; i < changes; ++i) {
    floor_ms.push_back(asker.Ask("bench/echo", "{}", nullptr));
    const std::string body = "{\"rack\":\"cbr0\",\"set\":{\"power_cap_w\":" + std::to_string(200 + i % 500) + "},\"by\":\"bench\"}";
    change_ms.push_back(asker.Ask("dctwin/command/desired", body, &answer));
    if (answer.find("\"ok\":true") == std::string::npos) {
      std::fprintf(stderr, "change refused: %s\n", answer.c_str());
      return 1;
    }
  }
  const int answered_servers = static_cast<int>(std::count(answer.begin(), answer.end(), '{')) - 1;

  // 2. CPU: metrics alone, then metrics and state reports, each for `seconds`.
  enum class Load { kIdle, kMetrics, kState };
  auto phase = [&](Load load) {
    const bool metrics_on = load == Load::kMetrics, state = load == Load::kState;
    const double cpu0 = CpuSeconds(pid);
    const auto t0 = Clock::now();
    const int rounds = static_cast<int>(seconds / period);
    int64_t sent = 0;
    for (int round = 0; round < rounds; ++round) {
      const auto start = t0 + std::chrono::milliseconds(static_cast<long long>(round * period * 1000));
      std::this_thread::sleep_until(start);
      for (int i = 0; i < servers && load != Load::kIdle; ++i) {
        if (!metrics_on) {
        } else if (format == "native") {
          const std::string metrics = "{\"temp_c\":" + std::to_string(40 + (i + round) % 7) +
                                      ",\"cpu_util\":" + std::to_string((i * 7 + round) % 60) +
                                      ",\"power_w\":" + std::to_string(300 + (i + round) % 50) +
                                      ",\"fan_rpm\":6000,\"mem_util\":50,\"disk_util\":40}";
          pub.publish(mqtt::make_message("dctwin/metrics/" + name(i), metrics, 0, false));
        } else {
          // As collectd's write_mqtt sends them: one value list per message, all of one report
          // stamped alike (the gateway assembles them).
          const std::string ts = std::to_string(static_cast<long long>(std::time(nullptr)));
          for (int v = 0; v < collectd_values; ++v) {
            pub.publish(mqtt::make_message("collectd/" + name(i) + "/cpu-" + std::to_string(v) + "/percent-active",
                                           ts + ":" + std::to_string((i + v + round) % 90), 0, false));
          }
        }
        if (state) {
          // What dctwin-agent repeats: the state it holds, unchanged.
          pub.publish(mqtt::make_message("dctwin/reported/" + name(i),
                                         "{\"version\":0,\"reported\":{\"power_cap_w\":350,\"drain\":false,"
                                         "\"fan_profile\":\"balanced\"},\"ac\":200,\"ad\":\"\"}",
                                         0, false));
        }
        ++sent;
      }
    }
    // Until the gateway has worked it off: a query answered after it.
    asker.Ask("dctwin/query/twin/" + name(0), "", nullptr);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    return std::make_pair(CpuSeconds(pid) - cpu0, sent);
  };
  // The first report of each server changes its twin (a write); the steady state is what repeats.
  for (int i = 0; i < servers; ++i) {
    pub.publish(mqtt::make_message("dctwin/reported/" + name(i),
                                   "{\"version\":0,\"reported\":{\"power_cap_w\":350,\"drain\":false,"
                                   "\"fan_profile\":\"balanced\"},\"ac\":200,\"ad\":\"\"}",
                                   1, false));
  }
  // Idle, metrics alone and state reports alone, alternated three times (this machine is shared:
  // a burst elsewhere lands in one phase); the medians. Each load's cost is its phase's CPU less
  // the idle phase's (the gateway's timers, stats and commits of nothing).
  std::vector<double> idle, alone, both;
  int64_t n1 = 0, n2 = 0;
  for (int k = 0; k < 3; ++k) {
    idle.push_back(phase(Load::kIdle).first);
    auto a = phase(Load::kMetrics);
    auto b = phase(Load::kState);
    alone.push_back(a.first);
    both.push_back(b.first);
    n1 = a.second;
    n2 += a.second + b.second;
  }
  const double idle_cpu = Percentile(idle, 0.5);
  const double metrics_cpu = Percentile(alone, 0.5) - idle_cpu, state_cpu = Percentile(both, 0.5) - idle_cpu;
  const double added = state_cpu;
  const double both_cpu = metrics_cpu + state_cpu;
  const double per_report = static_cast<double>(n1) / 1e6;  // reports per phase, in millions
  std::printf("result format=%s metric_us_per_report=%.1f state_us_per_report=%.1f change_p50_ms=%.2f change_p99_ms=%.2f change_servers=%d echo_p50_ms=%.2f echo_p99_ms=%.2f "
              "idle_cpu_s=%.2f metrics_cpu_s=%.2f metrics_and_state_cpu_s=%.2f state_cpu_share=%.3f reports=%lld\n",
              format.c_str(), metrics_cpu / per_report, added / per_report,
              Percentile(change_ms, 0.5), Percentile(change_ms, 0.99), answered_servers, Percentile(floor_ms, 0.5),
              Percentile(floor_ms, 0.99), idle_cpu, metrics_cpu, both_cpu, metrics_cpu > 0 ? added / metrics_cpu : -1,
              static_cast<long long>(n2));
  pub.disconnect()->wait();
  echo.disconnect()->wait();
  return 0;
}
