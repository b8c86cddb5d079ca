// BrokerDropWatch: losses before the gateway. mosquitto drops messages for a client whose queue
// is full (max_queued_messages) and counts them in $SYS/broker/publish/messages/dropped, which it
// publishes every sys_interval. A rise of that count opens the warning gateway incident
// broker_dropping with the count; it resolves once the count has not risen for quiet_s
// (broker.drop_quiet_s). The first value seen is the baseline (drops before the gateway watched
// are not its to judge); a count that falls means the broker restarted: a new baseline.
//
// Thread-safe: OnCount from Paho's callback thread, Check from the main loop.
#pragma once

#include <cstdint>
#include <string_view>

#include "base/thread_annotations.h"
#include "gateway/ops/gateway_incidents.h"

namespace dctwin {

inline constexpr const char* kBrokerDroppedTopic = "$SYS/broker/publish/messages/dropped";

class BrokerDropWatch {
 public:
  BrokerDropWatch(GatewayIncidents& incidents, double quiet_s) : incidents_(incidents), quiet_s_(quiet_s) {}

  // The payload of kBrokerDroppedTopic (a decimal count) at `now` (seconds).
  void OnCount(std::string_view payload, double now);
  // Resolves the incident once nothing was dropped for quiet_s.
  void Check(double now);

 private:
  GatewayIncidents& incidents_;
  const double quiet_s_;

  mutable Mutex mu_;
  bool baseline_ GUARDED_BY(mu_) = false;
  uint64_t last_ GUARDED_BY(mu_) = 0;
  uint64_t open_dropped_ GUARDED_BY(mu_) = 0; // since the open incident opened
  double last_rise_ GUARDED_BY(mu_) = 0;
  bool open_ GUARDED_BY(mu_) = false;
};

}  // namespace dctwin
