// SystemdNotifier: the sd_notify protocol (libsystemd) for a Type=notify service: READY=1 once
// state is restored and subscriptions are active, STATUS= lines, WATCHDOG=1 only while every
// shard is making progress and the state store writer has committed within WatchdogSec (a
// failing or hung store restarts the service), STOPPING=1 on the way out. Does nothing when not run by systemd
// (no NOTIFY_SOCKET).
//
// Not thread-safe: main thread only.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace dctwin {

class SystemdNotifier {
 public:
  SystemdNotifier();

  bool active() const { return active_; }
  void Ready(const std::string& status);
  void Status(const std::string& status);
  void Stopping();
  // Pings the watchdog when it is due and every shard heartbeat is recent; a stuck shard stops
  // the pings, and systemd restarts the service.
  void Watchdog(const std::vector<double>& shard_heartbeats, double writer_heartbeat, double now);

 private:
  void Send(const std::string& state);

  bool active_ = false;
  double watchdog_s_ = 0;  // 0: no watchdog
  double last_ping_ = 0;
};

}  // namespace dctwin
