// MqttLink: one MQTT 5 connection to the broker through the Paho async client.
//  - persistent session: clean_start=false with a session expiry, client id = gateway id;
//  - subscriptions are (re)made in the connected callback, so every reconnect restores them;
//  - every connect and reconnect is made by one thread of the link, one attempt at a time, with
//    backoff from reconnect_min_s doubling to reconnect_max_s (no Paho automatic reconnect beside
//    it: two attempts at once made the broker see the client id connect twice);
//  - the will publishes the retained offline status when the gateway dies; on_ready runs on every
//    connect once the subscriptions are granted (the owner says online again);
// Publishing goes through OutboundQueue, which uses client() directly.
// The message handler runs on Paho's thread: it must decode, route, enqueue and return.
//
// Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>

#include "base/thread_annotations.h"
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <mqtt/async_client.h>


namespace dctwin {

class MqttLink {
 public:
  struct Options {
    std::string uri;
    std::string client_id;
    int session_expiry_s = 3600;
    int keepalive_s = 30;
    int reconnect_min_s = 1;
    int reconnect_max_s = 30;
    std::vector<std::string> subscriptions;
    // Subscribed beside them; a refusal (an ACL without them) is a warning, not a failure.
    std::vector<std::string> optional_subscriptions;
    int subscribe_qos = 1;
    std::string will_topic;    // empty: no will
    std::string will_payload;
    // Called (on Paho's thread) each time the subscriptions are granted, just after ready()
    // turned true (so that it can see this link ready); WaitReady() may return before it ran.
    std::function<void()> on_ready;
    std::string ca_file;       // TLS, for ssl:// URIs
    std::string cert_file;
    std::string key_file;
  };
  using MessageHandler = std::function<void(const mqtt::const_message_ptr&)>;

  MqttLink(Options options, MessageHandler handler);
  ~MqttLink();
  MqttLink(const MqttLink&) = delete;
  MqttLink& operator=(const MqttLink&) = delete;

  // Username and password for the broker; before Start().
  void SetCredentials(const std::string& username, const std::string& password);
  // Starts connecting in the background; returns at once.
  void Start();
  // Waits until connected with every subscription granted, or the timeout passes.
  bool WaitReady(std::chrono::milliseconds timeout);
  // Connected to the broker; for a link without subscriptions, only once on_ready has run.
  bool connected() const { return connected_.load(); }
  bool ready() const { return ready_.load(); }
  const std::string& client_id() const { return options_.client_id; }
  // Messages this connection has received since start.
  uint64_t messages_received() const { return received_.load(std::memory_order_relaxed); }

  // The Paho client; not after Close().
  mqtt::async_client& client() { return *client_; }

  // Disconnects cleanly (the will is not sent). Idempotent.
  void Stop();
  // Stops and destroys the Paho client. Paho calls back every operation still pending (a QoS 1
  // publish the broker never acknowledged, a subscribe) as failed while it is destroyed, so the
  // owner of a listener handed to client() must close the link before that listener goes
  // (Gateway does so at the end of Stop()). Idempotent; the destructor closes too.
  void Close();

 private:
  class Listener;

  void ConnectLoop();
  void AwaitAbandoned(mqtt::token& token);  // a connect attempt left by a stop
  void OnConnected(const std::string& cause);
  void OnConnectionLost(const std::string& cause);
  void Subscribe();
  void SetReady(bool ready);

  // Constant after construction
  const Options options_;
  const MessageHandler handler_;
  std::unique_ptr<mqtt::async_client> client_;
  mqtt::connect_options connect_options_;
  std::unique_ptr<Listener> subscribe_listener_;
  class OptionalListener;
  std::unique_ptr<OptionalListener> optional_listener_;

  std::atomic<uint64_t> received_{0};
  std::atomic<bool> connected_{false};
  std::atomic<bool> ready_{false};
  std::atomic<bool> stopping_{false};
  std::atomic<bool> need_connect_{false};  // the connect thread should (re)connect
  Mutex mu_;                    // for cv_ only: ready_ and stopping_ are atomics
  std::condition_variable cv_;  // ready_ and stopping_ changes
  std::thread connect_thread_;
};

}  // namespace dctwin
