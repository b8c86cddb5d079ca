// dctwin-sitestorm: what one rack-health message costs a site gateway, in a storm where every
// rack changes. Stands in for the pods: publishes each rack's health as a pod's gateway does
// (`<prefix>/health/rack/<rack>`, retained, QoS 1, with the pod's "gateway" field), as the
// bridges carry it to the site's broker.
//
//   dctwin-sitestorm --broker tcp://127.0.0.1:1883 --racks 2500 --gateway-pid 1234
//
// 1. every rack says "ok" once; waits until the site's datacenter counts them all (its
//    `<prefix>/query/datacenter` answer says "racks": N);
// 2. the storm: every rack turns critical with a `power` rack incident, then every rack is ok
//    again (2 x racks messages), as fast as the broker takes them;
// 3. asks `<prefix>/query/datacenter` once more: the datacenter shard answers it after every
//    storm message before it, and the answer goes out after their commit, so its arrival is the
//    end of the storm's work.
// It reads the site gateway's CPU time (/proc/<pid>/stat) at the storm's start and end, and its
// peak resident memory, and prints them. The last line, "result ...", is for scripts.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>

#include <mqtt/async_client.h>

#include "gateway/mqtt/paho_trace.h"
#include "tools/proc_stats.h"
#include "tools/windowed_publisher.h"

namespace {

using Clock = std::chrono::steady_clock;
using dctwin::tools::CpuSeconds;
using dctwin::tools::StatusMiB;

struct Answers {
  std::mutex mu;
  std::condition_variable cv;
  int count = 0;
  std::string last;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"dctwin-sitestorm: a storm of rack health at a site gateway, and what each message costs it"};
  std::string broker = "tcp://127.0.0.1:1883";
  std::string prefix = "dctwin";
  int racks = 2500;
  int pods = 10;
  int pid = 0;
  int window = 64;
  double timeout = 600;
  app.add_option("--broker", broker);
  app.add_option("--prefix", prefix);
  app.add_option("--racks", racks);
  app.add_option("--pods", pods, "racks are spread over this many pod gateways");
  app.add_option("--gateway-pid", pid, "the site gateway's process, for its CPU time and memory")->required();
  app.add_option("--window", window, "QoS 1 messages in flight");
  app.add_option("--timeout", timeout, "seconds to wait for the site's answers");
  CLI11_PARSE(app, argc, argv);

  mqtt::async_client client(broker, "sitestorm-" + std::to_string(getpid()), mqtt::create_options(MQTTVERSION_5));
  dctwin::QuietPahoTrace();
  Answers answers;
  const std::string reply_topic = prefix + "/reply/sitestorm-" + std::to_string(getpid());
  client.set_message_callback([&](mqtt::const_message_ptr m) {
    std::lock_guard<std::mutex> lock(answers.mu);
    ++answers.count;
    answers.last = m->get_payload_str();
    answers.cv.notify_all();
  });
  mqtt::connect_options opts;
  opts.set_mqtt_version(MQTTVERSION_5);
  opts.set_clean_start(true);
  client.connect(opts)->wait();
  client.subscribe(reply_topic, 1)->wait();
  dctwin::tools::WindowedPublisher out(client, static_cast<size_t>(window));

  auto rack_name = [](int r) {
    char name[16];
    std::snprintf(name, sizeof name, "r%05d", r);
    return std::string(name);
  };
  const double t0 = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  auto publish_all = [&](bool critical, int round) {
    for (int r = 0; r < racks; ++r) {
      const std::string rack = rack_name(r);
      const std::string pod = "pod-" + std::to_string(r % pods);
      const double at = t0 + round;
      std::string doc;
      if (critical) {
        const std::string id = "rack:" + rack + ":power:" + std::to_string(round);
        doc = R"({"status":"critical","open":[")" + id + R"("],"updated_at":)" + std::to_string(at) +
              R"(,"gateway":")" + pod + R"(","severity":"critical","since":)" + std::to_string(at) +
              R"(,"by_kind":{"power":3},"incidents":[{"kind":"power","id":")" + id +
              R"(","severity":"critical","opened_at":)" + std::to_string(at) + "}]}";
      } else {
        doc = R"({"status":"ok","open":[],"updated_at":)" + std::to_string(at) + R"(,"gateway":")" + pod +
              R"(","by_kind":{},"incidents":[]})";
      }
      out.Publish(prefix + "/health/rack/" + rack, doc, true);
    }
  };
  // Asks the datacenter query and waits for its answer; false on timeout.
  auto ask = [&]() {
    int before;
    {
      std::lock_guard<std::mutex> lock(answers.mu);
      before = answers.count;
    }
    auto props = mqtt::properties();
    props.add(mqtt::property(mqtt::property::RESPONSE_TOPIC, reply_topic));
    auto msg = mqtt::message_ptr_builder().topic(prefix + "/query/datacenter").payload("").qos(1).properties(props).finalize();
    client.publish(msg)->wait();
    std::unique_lock<std::mutex> lock(answers.mu);
    return answers.cv.wait_for(lock, std::chrono::duration<double>(timeout), [&] { return answers.count > before; });
  };

  // 1. every rack known and ok
  publish_all(false, 0);
  out.Drain();
  const std::string want = "\"racks\":" + std::to_string(racks);
  const auto deadline = Clock::now() + std::chrono::duration<double>(timeout);
  for (;;) {
    if (!ask()) {
      std::fprintf(stderr, "the site did not answer its datacenter query\n");
      return 1;
    }
    {
      std::lock_guard<std::mutex> lock(answers.mu);
      if (answers.last.find(want) != std::string::npos) break;
    }
    if (Clock::now() > deadline) {
      std::fprintf(stderr, "the site never counted %d racks; last answer: %s\n", racks, answers.last.c_str());
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  const double rss_before = StatusMiB(pid, "VmRSS");

  // 2. the storm
  const double cpu0 = CpuSeconds(pid);
  const auto start = Clock::now();
  publish_all(true, 1);
  publish_all(false, 2);
  out.Drain();
  const double published_s = std::chrono::duration<double>(Clock::now() - start).count();
  // 3. its end
  if (!ask()) {
    std::fprintf(stderr, "the site did not answer after the storm\n");
    return 1;
  }
  const double worked_s = std::chrono::duration<double>(Clock::now() - start).count();
  const double cpu = CpuSeconds(pid) - cpu0;
  const long messages = 2L * racks;
  const bool ok_after = answers.last.find("\"status\":\"ok\"") != std::string::npos;
  std::printf("racks %d, storm of %ld messages: published in %.1f s, worked off in %.1f s\n", racks, messages,
              published_s, worked_s);
  std::printf("site CPU %.2f s = %.1f us per rack message; RSS %.0f MiB before the storm, peak %.0f MiB\n", cpu,
              cpu / static_cast<double>(messages) * 1e6, rss_before, StatusMiB(pid, "VmHWM"));
  if (!ok_after) std::printf("the datacenter is not ok after the storm: %s\n", answers.last.substr(0, 300).c_str());
  std::printf("result racks=%d messages=%ld cpu_s=%.3f us_per_message=%.1f worked_s=%.2f peak_mib=%.0f ok=%d\n", racks,
              messages, cpu, cpu / static_cast<double>(messages) * 1e6, worked_s, StatusMiB(pid, "VmHWM"),
              ok_after ? 1 : 0);
  client.disconnect()->wait();
  return ok_after ? 0 : 1;
}
