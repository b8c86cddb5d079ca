#include "gateway/mqtt/mqtt_link.h"

#include "gateway/mqtt/tcp_nodelay.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include "gateway/mqtt/paho_trace.h"

namespace dctwin {

namespace {
// One connect at a time in the whole process. Paho C 1.3.12 (Debian's) races when two clients of
// one process connect at the same moment: after both links lost the broker and reconnected in
// the same millisecond, ASan saw its threads read a string another of its threads had freed
// (BrokerOutageTest.EventsBeyondThePublishBufferArriveWithoutARestart, about one run in six).
// A link holds this from its connect call until that attempt has succeeded or failed.
Mutex& ConnectMutex() {
  static Mutex mu;
  return mu;
}

// The first reason code of a SUBACK that refuses a filter (0x80 and up), or 0 when all were granted.
int RefusedCode(const mqtt::token& tok) {
  try {
    const mqtt::subscribe_response response = tok.get_subscribe_response();
    for (auto rc : response.get_reason_codes()) {
      if (static_cast<int>(rc) >= 0x80) return static_cast<int>(rc);
    }
  } catch (const std::exception&) {
    // an MQTT 3 response carries no reason codes
  }
  return 0;
}
}  // namespace

class MqttLink::Listener : public mqtt::iaction_listener {
 public:
  explicit Listener(MqttLink& link) : link_(link) {}
  void on_success(const mqtt::token& tok) override {
    if (RefusedCode(tok) != 0) {
      spdlog::error("broker refused a subscription; check the broker's ACLs for {}", link_.options_.client_id);
      return;
    }
    spdlog::info("subscribed to {} topic filters", link_.options_.subscriptions.size());
    link_.SetReady(true);
  }
  void on_failure(const mqtt::token& tok) override {
    spdlog::error("subscribe failed (code {}); retrying on the next reconnect", tok.get_return_code());
  }

 private:
  MqttLink& link_;
};

class MqttLink::OptionalListener : public mqtt::iaction_listener {
 public:
  explicit OptionalListener(const MqttLink& link) : link_(link) {}
  void on_success(const mqtt::token& tok) override {
    if (const int code = RefusedCode(tok); code != 0) Refused(code);
  }
  void on_failure(const mqtt::token& tok) override { Refused(tok.get_return_code()); }

 private:
  void Refused(int code) {
    if (warned_.exchange(true)) return;
    std::string filters;
    for (const std::string& f : link_.options_.optional_subscriptions) filters += (filters.empty() ? "" : ", ") + f;
    spdlog::warn("the broker refused {} for {} (code {}); the gateway works without it", filters,
                 link_.options_.client_id, code);
  }
  const MqttLink& link_;
  std::atomic<bool> warned_{false};
};

MqttLink::MqttLink(Options options, MessageHandler handler)
    : options_(std::move(options)), handler_(std::move(handler)), subscribe_listener_(std::make_unique<Listener>(*this)),
      optional_listener_(std::make_unique<OptionalListener>(*this)) {
  mqtt::create_options create(MQTTVERSION_5);
  client_ = std::make_unique<mqtt::async_client>(options_.uri, options_.client_id, create);
  QuietPahoTrace();  // after the first client: creating it initializes the library's trace

  // Set on the member itself, never through connect_options_builder: Paho C++ 1.2.0 copies the
  // options' C struct with a pointer to the properties of the object it was copied from, so
  // properties set on a temporary dangle (eclipse-paho/paho.mqtt.cpp#362, fixed in 1.3).
  connect_options_.set_mqtt_version(MQTTVERSION_5);
  connect_options_.set_clean_start(false);
  mqtt::properties props;
  props.add(mqtt::property(mqtt::property::SESSION_EXPIRY_INTERVAL, options_.session_expiry_s));
  connect_options_.set_properties(props);
  connect_options_.set_keep_alive_interval(std::chrono::seconds(options_.keepalive_s));
  // Every (re)connect is made by ConnectLoop, one at a time: with Paho's automatic reconnect as
  // well, a first connect that failed under load was retried by both, and the broker saw the
  // client id connect twice ("already connected, closing old connection"). An attempt that has no
  // answer in 10 s is given up (Paho closes its socket) and the next one follows the backoff.
  connect_options_.set_connect_timeout(std::chrono::seconds(10));
  if (!options_.will_topic.empty()) {
    connect_options_.set_will_message(mqtt::message(options_.will_topic, options_.will_payload, 1, true));
  }
  if (options_.uri.rfind("ssl://", 0) == 0 || options_.uri.rfind("mqtts://", 0) == 0) {
    mqtt::ssl_options ssl;
    if (!options_.ca_file.empty()) ssl.set_trust_store(options_.ca_file);
    if (!options_.cert_file.empty()) ssl.set_key_store(options_.cert_file);
    if (!options_.key_file.empty()) ssl.set_private_key(options_.key_file);
    ssl.set_enable_server_cert_auth(true);
    ssl.set_verify(true);  // the broker's host name must match its certificate
    connect_options_.set_ssl(ssl);
  }


  client_->set_connected_handler([this](const std::string& cause) { OnConnected(cause); });
  client_->set_connection_lost_handler([this](const std::string& cause) { OnConnectionLost(cause); });
  client_->set_message_callback([this](mqtt::const_message_ptr msg) {
    received_.fetch_add(1, std::memory_order_relaxed);
    handler_(msg);
  });
}

// Closed first thing: the client is destroyed while the listeners it may still call are alive.
MqttLink::~MqttLink() { Close(); }

void MqttLink::Close() {
  Stop();
  client_.reset();
}

void MqttLink::SetCredentials(const std::string& username, const std::string& password) {
  connect_options_.set_user_name(username);
  connect_options_.set_password(password);
}

void MqttLink::Start() {
  need_connect_.store(true);
  connect_thread_ = std::thread([this] { ConnectLoop(); });
}

void MqttLink::ConnectLoop() {
  int backoff = std::max(1, options_.reconnect_min_s);
  bool lost = false;  // a connection was made before: this is a reconnect
  while (!stopping_.load()) {
    {
      // Bounded waits: Stop() sets stopping_ without taking mu_.
      MutexLock lock(mu_);
      while (!stopping_.load() && !need_connect_.load()) cv_.wait_for(lock.native(), std::chrono::milliseconds(500));
    }
    if (stopping_.load()) return;
    try {
      MutexLock one_at_a_time(ConnectMutex());
      if (stopping_.load()) return;
      spdlog::info("{} to {} as {}", lost ? "reconnecting" : "connecting", options_.uri, options_.client_id);
      auto token = client_->connect(connect_options_);
      while (!token->wait_for(std::chrono::milliseconds(200))) {
        if (stopping_.load()) return AwaitAbandoned(*token);
      }
      need_connect_.store(false);
      lost = true;
      backoff = std::max(1, options_.reconnect_min_s);
      continue;
    } catch (const mqtt::exception& e) {
      spdlog::warn("cannot connect to {}: {}; retrying in {} s", options_.uri, e.what(), backoff);
    }
    MutexLock lock(mu_);
    cv_.wait_for(lock.native(), std::chrono::seconds(backoff), [&] { return stopping_.load(); });
    backoff = std::min(backoff * 2, std::max(options_.reconnect_max_s, 1));
  }
}

void MqttLink::AwaitAbandoned(mqtt::token& token) {
  // Paho calls the token back from its own threads when the attempt ends. Destroying the client
  // while that can still happen is not safe, so a stop waits for the end of the attempt (its
  // connect timeout at most). Whatever the outcome, the link is stopping.
  try {
    token.wait_for(connect_options_.get_connect_timeout() + std::chrono::seconds(1));
  } catch (const mqtt::exception&) {
  }
}

void MqttLink::OnConnected(const std::string& cause) {
  spdlog::info("connected to {}{}", options_.uri, cause.empty() ? "" : " (" + cause + ")");
  if (SetTcpNoDelayToBroker(options_.uri) == 0) spdlog::debug("no socket to {} found for TCP_NODELAY", options_.uri);
  Subscribe();
  // Last: a link without subscriptions was ready (on_ready ran) inside Subscribe(), so what its
  // on_ready queued (the gateway's status) is first in line when a sender sees it connected.
  connected_.store(true);
}

void MqttLink::OnConnectionLost(const std::string& cause) {
  connected_.store(false);
  SetReady(false);
  spdlog::warn("connection to {} lost{}; reconnecting", options_.uri, cause.empty() ? "" : ": " + cause);
  {
    MutexLock lock(mu_);
    need_connect_.store(true);
  }
  cv_.notify_all();
}

void MqttLink::Subscribe() {
  if (!options_.optional_subscriptions.empty()) {
    auto filters = mqtt::string_collection::create(options_.optional_subscriptions);
    mqtt::iasync_client::qos_collection qos(options_.optional_subscriptions.size(), 0);
    try {
      client_->subscribe(filters, qos, nullptr, *optional_listener_);
    } catch (const mqtt::exception& e) {
      spdlog::warn("subscribe failed: {}", e.what());
    }
  }
  if (options_.subscriptions.empty()) {
    SetReady(true);
    return;
  }
  auto filters = mqtt::string_collection::create(options_.subscriptions);
  mqtt::iasync_client::qos_collection qos(options_.subscriptions.size(), options_.subscribe_qos);
  try {
    client_->subscribe(filters, qos, nullptr, *subscribe_listener_);
  } catch (const mqtt::exception& e) {
    spdlog::error("subscribe failed: {}", e.what());
  }
}

void MqttLink::SetReady(bool ready) {
  {
    MutexLock lock(mu_);
    ready_.store(ready);
  }
  cv_.notify_all();
  if (ready && options_.on_ready && !stopping_.load()) options_.on_ready();
}

bool MqttLink::WaitReady(std::chrono::milliseconds timeout) {
  MutexLock lock(mu_);
  return cv_.wait_for(lock.native(), timeout, [&] { return ready_.load() || stopping_.load(); }) && ready_.load();
}

void MqttLink::Stop() {
  if (stopping_.exchange(true)) return;
  cv_.notify_all();
  if (connect_thread_.joinable()) connect_thread_.join();
  try {
    if (client_ && client_->is_connected()) client_->disconnect(std::chrono::seconds(5))->wait_for(std::chrono::seconds(6));
  } catch (const mqtt::exception& e) {
    spdlog::warn("disconnect: {}", e.what());
  }
  connected_.store(false);
  ready_.store(false);
}

}  // namespace dctwin
