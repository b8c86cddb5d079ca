// Integration test harness: a real mosquitto on a free loopback port, the real gateway binary
// as a child process, and a real MQTT 5 client that records everything it receives.
// Every wait has a deadline; nothing sleeps for a fixed time.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <mqtt/async_client.h>

namespace dctwin::testing {

using namespace std::chrono_literals;

// A temporary directory removed with everything in it.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }
  std::string Write(const std::string& name, const std::string& text) const;

 private:
  std::string path_;
};

int FreeLoopbackPort();
// The limit lines of the shipped broker settings (config/mosquitto/dctwin.conf).
std::string ShippedBrokerLimits();
bool WaitUntil(const std::function<bool()>& condition, std::chrono::milliseconds timeout);
std::string ReadFile(const std::string& path);

class Mosquitto {
 public:
  // persistent: sessions and queued messages survive a restart (saved on SIGTERM).
  // extra: configuration lines appended after the defaults (TLS, authentication).
  explicit Mosquitto(const TempDir& dir, bool persistent = false, std::string extra = "");
  ~Mosquitto();
  // Before Start(): keep sessions and retained messages across restarts.
  void SetPersistent(bool persistent) { persistent_ = persistent; }
  void SetExtra(std::string extra) { extra_ = std::move(extra); }
  void Start();
  void Stop();
  // Stops and starts again on the same port.
  void Restart();
  // Starts again on the port of the last Start() (after a Stop(): a broker that was down).
  void StartAgain();
  // SIGSTOP freezes it with its connections open (nothing is acknowledged); SIGCONT resumes it.
  void Signal(int sig) {
    if (pid_ > 0) kill(pid_, sig);
  }
  int port() const { return port_; }
  std::string uri() const { return "tcp://127.0.0.1:" + std::to_string(port_); }

 private:
  bool Launch();

  const TempDir& dir_;
  bool persistent_;
  std::string extra_;
  int port_ = 0;
  pid_t pid_ = -1;
};

class GatewayProcess {
 public:
  GatewayProcess(const TempDir& dir, std::vector<std::string> args);
  ~GatewayProcess();
  // Set in the child's environment at the next Start().
  void SetEnv(const std::string& name, const std::string& value) { env_.emplace_back(name, value); }
  void Start();
  // SIGTERM and wait; returns the exit code (or 128+signal).
  int Terminate(std::chrono::milliseconds timeout = 20s);
  void Kill();
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  std::string Log() const { return ReadFile(log_); }

 private:
  int Wait(std::chrono::milliseconds timeout);
  const std::vector<std::string> args_;
  const std::string log_;
  std::vector<std::pair<std::string, std::string>> env_;
  pid_t pid_ = -1;
};

// Any other child process (collectd, ...), stopped with SIGTERM when the object goes.
class ChildProcess {
 public:
  ChildProcess(std::vector<std::string> argv, std::string log);
  ~ChildProcess();
  void Start();
  void Stop();
  void Signal(int sig);

 private:
  const std::vector<std::string> argv_;
  const std::string log_;
  pid_t pid_ = -1;
};

struct Received {
  std::string topic;
  std::string payload;
  int qos = 0;
  bool retained = false;
};

// An MQTT 5 client that subscribes to filters and records every message.
class Probe {
 public:
  // persistent: clean_start=false with a session expiry, so the broker queues for this client
  // while it is away.
  Probe(const std::string& uri, const std::string& client_id, bool persistent = false);
  ~Probe();
  void Subscribe(const std::string& filter, int qos = 1);
  void Publish(const std::string& topic, const std::string& payload, int qos = 1, bool retained = false);
  // Publishes QoS 1 without waiting for each acknowledgement (at most 16 in flight, below the
  // broker's Receive Maximum); Drain() waits for the rest.
  void PublishPipelined(const std::string& topic, const std::string& payload, bool retained = false);
  void Drain();
  // The first recorded message (oldest first) matching `match`, waiting up to `timeout`.
  std::optional<Received> WaitFor(const std::function<bool(const Received&)>& match,
                                  std::chrono::milliseconds timeout = 10s);
  std::vector<Received> All(const std::function<bool(const Received&)>& match);
  void Clear();

 private:
  mqtt::async_client client_;
  std::deque<mqtt::delivery_token_ptr> pending_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Received> received_;
};

// Runs a command and returns what it printed on stdout (and its exit status in *status).
std::string RunCommand(const std::string& command, int* status = nullptr);

// Small JSON field readers for assertions (simdjson DOM underneath).
std::string JsonString(const std::string& json, const char* key);
double JsonNumber(const std::string& json, const char* key);
bool JsonHas(const std::string& json, const char* key);

}  // namespace dctwin::testing
