// GatewayTest: a real mosquitto on a free loopback port, a recording probe subscribed to
// everything under dctwin/, and helpers to run the real gateway binary and talk to it.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/integration/harness.h"

namespace dctwin::testing {

inline const char* kFastConfig = R"(
[gateway]
stats_interval_s = 0.2
[model]
heartbeat_timeout_s = 3600
)";

class GatewayTest : public ::testing::Test {
 protected:
  void SetUp() override {
    broker_.SetPersistent(persistent_broker_);
    broker_.SetExtra(broker_extra_);
    broker_.Start();
    probe_ = std::make_unique<Probe>(broker_.uri(), "probe-" + std::to_string(getpid()));
    probe_->Subscribe("dctwin/#");
  }

  void StartGateway(const std::string& config = kFastConfig, std::vector<std::string> extra = {}) {
    const std::string path = dir_.Write("dctwin.toml", config);
    std::vector<std::string> args{"--config", path, "--broker", broker_.uri(), "--state", dir_.File("state.db"),
                                  "--gateway-id", "gw-test"};
    args.insert(args.end(), extra.begin(), extra.end());
    gateway_ = std::make_unique<GatewayProcess>(dir_, args);
    gateway_->Start();
    WaitOnline();
  }

  // Starts the gateway with libfaketime preloaded: its wall clock is shifted by what `shift_file`
  // says (read again at every call, so a test can step it), its monotonic clock is left alone,
  // as NTP would step a real host. False when libfaketime cannot be used (the test skips).
  bool StartGatewayOnFakeTime(const std::string& config_path, const std::string& shift_file) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    return false;  // a sanitizer runtime must come first in the library list
#endif
    const char* faketime = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";
    if (access(faketime, R_OK) != 0) return false;  // scripts/deps.sh installs it
    gateway_ = std::make_unique<GatewayProcess>(
        dir_, std::vector<std::string>{"--config", config_path, "--broker", broker_.uri(), "--state",
                                       dir_.File("state.db"), "--gateway-id", "gw-test"});
    gateway_->SetEnv("LD_PRELOAD", faketime);
    gateway_->SetEnv("FAKETIME_TIMESTAMP_FILE", shift_file);
    gateway_->SetEnv("FAKETIME_NO_CACHE", "1");
    gateway_->SetEnv("FAKETIME_DONT_FAKE_MONOTONIC", "1");
    gateway_->Start();
    WaitOnline();
    return true;
  }

  // Waits for the online status of the gateway process running now (a restarted one has a new pid).
  void WaitOnline() {
    const std::string pid = "\"pid\":" + std::to_string(gateway_->pid());
    auto online = probe_->WaitFor([&](const Received& r) {
      return r.topic == "dctwin/gateway/gw-test/status" && r.payload.find("\"online\":true") != std::string::npos &&
             r.payload.find(pid) != std::string::npos;
    });
    ASSERT_TRUE(online) << gateway_->Log();
  }

  void Commission(const std::string& server, const std::string& rack) {
    probe_->Publish("dctwin/provisioning/" + server, R"({"action":"commission","rack":")" + rack + "\"}");
  }
  void Report(const std::string& server, const std::string& json) { probe_->Publish("dctwin/metrics/" + server, json); }

  std::optional<Received> Alert(const std::string& level, const std::string& subject, const std::string& state,
                                std::chrono::milliseconds timeout = 10s) {
    const std::string topic = "dctwin/alerts/" + level + "/" + subject;
    return probe_->WaitFor(
        [&](const Received& r) { return r.topic == topic && JsonString(r.payload, "state") == state; }, timeout);
  }

  // The latest stats message whose messages_in reached `n`.
  std::optional<Received> StatsWith(const char* key, double n) {
    return probe_->WaitFor([&](const Received& r) {
      return r.topic == "dctwin/gateway/gw-test/stats" && JsonNumber(r.payload, key) >= n;
    });
  }

  bool persistent_broker_ = false;  // set by a derived fixture's constructor
  std::string broker_extra_;        // more broker settings, likewise
  TempDir dir_;
  Mosquitto broker_{dir_};
  std::unique_ptr<Probe> probe_;
  std::unique_ptr<GatewayProcess> gateway_;
};

}  // namespace dctwin::testing
