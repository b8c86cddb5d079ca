// WindowedPublisher: QoS 1 publishing with at most `window` messages unacknowledged, for the
// tools. Past the broker's Receive Maximum, Paho C 1.3.12 stalls for up to a second per message
// (eclipse-paho/paho.mqtt.c#1457); keeping the window here avoids that. Not thread-safe.
#pragma once

#include <deque>
#include <string>

#include <mqtt/async_client.h>

namespace dctwin::tools {

class WindowedPublisher {
 public:
  WindowedPublisher(mqtt::async_client& client, size_t window) : client_(client), window_(window) {}
  void Publish(const std::string& topic, const char* payload, size_t len, int qos, bool retained = false) {
    if (qos == 0) {
      client_.publish(topic, payload, len, 0, retained);
      return;
    }
    while (pending_.size() >= window_) {
      pending_.front()->wait();
      pending_.pop_front();
    }
    pending_.push_back(client_.publish(topic, payload, len, qos, retained));
  }
  void Publish(const std::string& topic, const std::string& payload, bool retained = false) {
    Publish(topic, payload.data(), payload.size(), 1, retained);
  }
  void Drain() {
    for (auto& t : pending_) t->wait();
    pending_.clear();
  }

 private:
  mqtt::async_client& client_;
  const size_t window_;
  std::deque<mqtt::delivery_token_ptr> pending_;
};

}  // namespace dctwin::tools
