// dctwin-gateway: config, shards, broker, signals, loop, drain. See README.md and CONTRACT.md.
#include <signal.h>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <optional>
#include <string>

#include "base/fatal_signal.h"
#include "config/config.h"
#include "config/config_loader.h"
#include "config/inventory.h"
#include "gateway/gateway.h"
#include "gateway/ops/systemd_notifier.h"

#ifndef DCTWIN_VERSION
#define DCTWIN_VERSION "unknown"
#endif

namespace {

constexpr int kExitConfig = 2;

// "<N>": the syslog priority of the line's level, which journald reads off stderr.
class SyslogPriorityFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    static const char* kPriority[] = {"<7>", "<7>", "<6>", "<4>", "<3>", "<2>", "<6>"};
    const char* p = kPriority[static_cast<int>(msg.level)];
    dest.append(p, p + 3);
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<SyslogPriorityFlag>(); }
};

void SetUpLogging(const std::string& level) {
  auto logger = spdlog::stderr_color_mt("dctwin");
  // journald stamps every line itself and reads the priority from a <N> prefix.
  if (std::getenv("JOURNAL_STREAM") != nullptr) {
    auto formatter = std::make_unique<spdlog::pattern_formatter>();
    formatter->add_flag<SyslogPriorityFlag>('*').set_pattern("%*%v");
    logger->set_formatter(std::move(formatter));
  } else {
    logger->set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ %v");
  }
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(level));
  spdlog::flush_on(spdlog::level::info);
}

struct Overrides {
  std::optional<std::string> broker, state, gateway_id, prefix, datacenter, log_level;
};

void Apply(const Overrides& o, dctwin::Config& c) {
  if (o.broker) c.broker.uri = *o.broker;
  if (o.state) c.state.path = *o.state;
  if (o.gateway_id) c.gateway.id = *o.gateway_id;
  if (o.prefix) c.gateway.prefix = *o.prefix;
  if (o.datacenter) c.gateway.datacenter = *o.datacenter;
  if (o.log_level) c.log.level = *o.log_level;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"dctwin-gateway: digital twins of a datacenter's servers, racks and site, over MQTT 5"};
  std::string config_path;
  bool check_config = false;
  Overrides o;
  app.add_option("--config", config_path, "TOML config file (built-in defaults without it)");
  app.add_flag("--check-config", check_config, "validate the config and exit: 0 if usable, 2 with every problem");
  app.add_option("--broker", o.broker, "broker URI, tcp://host:port or ssl://host:port");
  app.add_option("--state", o.state, "SQLite state database file");
  app.add_option("--gateway-id", o.gateway_id, "gateway id, also the MQTT client id");
  app.add_option("--prefix", o.prefix, "topic prefix P");
  app.add_option("--datacenter", o.datacenter, "datacenter id");
  app.add_option("--log-level", o.log_level, "trace, debug, info, warn, error, critical or off");
  app.set_version_flag("--version", std::string("dctwin-gateway ") + DCTWIN_VERSION);
  CLI11_PARSE(app, argc, argv);

  dctwin::Config config;
  std::vector<std::string> errors;
  dctwin::ConfigResult loaded;
  if (!config_path.empty()) {
    loaded = dctwin::LoadConfigFile(config_path);
    config = loaded.config;
    errors = loaded.errors;
  }
  Apply(o, config);
  // Every problem at once: the checks across keys run even when some keys were already refused.
  for (const std::string& e : dctwin::ValidateConfig(config)) {
    errors.push_back(config_path.empty() ? e : loaded.Locate(config_path, e));
  }
  if (!errors.empty()) {
    for (const std::string& e : errors) std::fprintf(stderr, "config error: %s\n", e.c_str());
    std::fprintf(stderr, "%zu problem(s) in the configuration\n", errors.size());
    return kExitConfig;
  }
  if (check_config && !config.gateway.inventory.empty()) {
    dctwin::Inventory inventory;
    std::vector<std::string> problems;
    if (!dctwin::LoadInventory(config.gateway.inventory, config.gateway.inventory_token, &inventory, &problems)) {
      for (const std::string& p : problems) std::fprintf(stderr, "inventory error: %s\n", p.c_str());
      std::fprintf(stderr, "%zu problem(s) in the inventory\n", problems.size());
      return kExitConfig;
    }
    std::printf("inventory OK: %zu racks, %zu servers\n", inventory.racks.size(), inventory.servers.size());
  }
  if (check_config) {
    std::printf("configuration OK: %zu rules, broker %s, gateway %s, datacenter %s\n", config.model.rules.size(),
                config.broker.uri.c_str(), config.gateway.id.c_str(), config.gateway.datacenter.c_str());
    return 0;
  }

  SetUpLogging(config.log.level);

  // Block the signals before any thread exists, so every thread inherits the mask and only the
  // main loop below receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  dctwin::WriteStackOnFatalSignal();

  spdlog::info("dctwin-gateway {} starting", DCTWIN_VERSION);
  dctwin::Gateway gateway(config);
  if (dctwin::Status s = gateway.Start(); !s.ok()) {
    spdlog::critical("cannot start: {}", s.ToString());
    return 1;
  }

  dctwin::SystemdNotifier systemd;
  bool ready = false;
  const auto stats_every = std::chrono::duration<double>(config.gateway.stats_interval_s);
  auto next_stats = std::chrono::steady_clock::now() + stats_every;
  for (;;) {
    if (!ready && gateway.WaitReady(std::chrono::milliseconds(0))) {
      ready = true;
      systemd.Ready(gateway.StatusLine());
    }
    gateway.CheckSilence();
    gateway.CheckBrokerDrops();
    systemd.Watchdog(gateway.ShardHeartbeats(), gateway.WriterHeartbeat(), dctwin::WallClock());
    const auto now = std::chrono::steady_clock::now();
    if (ready && now >= next_stats) {
      gateway.PublishStats();
      systemd.Status(gateway.StatusLine());
      next_stats = now + std::chrono::duration_cast<std::chrono::steady_clock::duration>(stats_every);
    }
    double wait_s = ready ? std::chrono::duration<double>(next_stats - now).count() : 0.05;
    wait_s = std::clamp(wait_s, 0.001, 0.25);  // the silence check runs on every wake
    timespec timeout;
    timeout.tv_sec = static_cast<time_t>(wait_s);
    timeout.tv_nsec = static_cast<long>((wait_s - std::floor(wait_s)) * 1e9);
    const int sig = sigtimedwait(&signals, nullptr, &timeout);
    if (sig == SIGINT || sig == SIGTERM) {
      spdlog::info("received {}", sig == SIGINT ? "SIGINT" : "SIGTERM");
      break;
    }
    if (sig == SIGHUP) {
      if (config_path.empty()) {
        spdlog::warn("SIGHUP: no --config to reload");
        continue;
      }
      dctwin::ConfigResult next = dctwin::LoadConfigFile(config_path);
      Apply(o, next.config);
      for (const std::string& e : dctwin::ValidateConfig(next.config)) next.errors.push_back(next.Locate(config_path, e));
      if (!next.ok()) {
        for (const std::string& e : next.errors) spdlog::error("reload: {}", e);
        spdlog::error("reload: {} problem(s) in {}; keeping the running configuration", next.errors.size(),
                      config_path);
        continue;
      }
      spdlog::set_level(spdlog::level::from_str(next.config.log.level));
      gateway.Reload(next.config);
      spdlog::info("reloaded {}", config_path);
    }
  }
  systemd.Stopping();
  gateway.Stop();
  return 0;
}
