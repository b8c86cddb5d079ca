#include "gateway/ops/systemd_notifier.h"

#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include <cstdlib>

namespace dctwin {

SystemdNotifier::SystemdNotifier() : active_(std::getenv("NOTIFY_SOCKET") != nullptr) {
  uint64_t usec = 0;
  if (active_ && sd_watchdog_enabled(0, &usec) > 0) watchdog_s_ = static_cast<double>(usec) / 1e6;
}

void SystemdNotifier::Send(const std::string& state) {
  if (!active_) return;
  const int rc = sd_notify(0, state.c_str());
  if (rc < 0) spdlog::warn("sd_notify failed: {}", rc);
}

void SystemdNotifier::Ready(const std::string& status) { Send("READY=1\nSTATUS=" + status); }
void SystemdNotifier::Status(const std::string& status) { Send("STATUS=" + status); }
void SystemdNotifier::Stopping() { Send("STOPPING=1\nSTATUS=draining the shards"); }

void SystemdNotifier::Watchdog(const std::vector<double>& shard_heartbeats, double writer_heartbeat, double now) {
  if (watchdog_s_ <= 0 || now - last_ping_ < watchdog_s_ / 3) return;
  if (now - writer_heartbeat > watchdog_s_) {
    spdlog::error("the state store writer has committed nothing for {:.1f} s: not feeding the watchdog",
                  now - writer_heartbeat);
    return;
  }
  for (double beat : shard_heartbeats) {
    if (now - beat > watchdog_s_ / 2) {
      spdlog::error("a shard has made no progress for {:.1f} s: not feeding the watchdog", now - beat);
      return;
    }
  }
  last_ping_ = now;
  Send("WATCHDOG=1");
}

}  // namespace dctwin
