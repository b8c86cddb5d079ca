// Pods and a site, federated by real mosquitto bridges (MQTT 5, QoS 1, persistent): each pod
// broker bridges its gateway's alerts, health, incident records, status and replies up to the
// site broker, and commands, queries and silences down. The site gateway holds the datacenter.
// Pod 1's bridge runs through a TcpCut, so that a test can cut it; the site broker keeps its
// sessions and retained messages across a restart, as the shipped site broker does.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <string>

#include "tests/integration/gateway_fixture.h"
#include "tests/integration/tcp_cut.h"

namespace dctwin::testing {

inline std::string Bridge(const std::string& name, int site_port) {
  return "connection " + name + "\naddress 127.0.0.1:" + std::to_string(site_port) +
         "\nbridge_protocol_version mqttv50\ncleansession false\nremote_clientid " + name +
         "-bridge\nrestart_timeout 1 2\nnotification_topic dctwin/gateway/" + name + "/bridge\n"
         "topic dctwin/alerts/# out 1\ntopic dctwin/health/# out 1\ntopic dctwin/incidents/# out 1\n"
         "topic dctwin/gateway/# out 1\ntopic dctwin/reply/# out 1\n"
         "topic dctwin/command/# in 1\ntopic dctwin/query/# in 1\ntopic dctwin/silences/# in 1\n";
}

class FederationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    site_broker_.Start();
    bridge_cut_ = std::make_unique<TcpCut>(site_broker_.port());
    pod_broker_[0] = std::make_unique<Mosquitto>(pod_dir_[0], false, Bridge("pod1", bridge_cut_->port()));
    pod_broker_[1] = std::make_unique<Mosquitto>(pod_dir_[1], false, Bridge("pod2", site_broker_.port()));
    pod_broker_[0]->Start();
    pod_broker_[1]->Start();
    probe_ = std::make_unique<Probe>(site_broker_.uri(), "site-probe");
    probe_->Subscribe("dctwin/#");
    site_ = Gateway(site_dir_, site_broker_, "site", "site");
    pod_[0] = Gateway(pod_dir_[0], *pod_broker_[0], "pod1", "pod");
    pod_[1] = Gateway(pod_dir_[1], *pod_broker_[1], "pod2", "pod");
    for (const char* id : {"site", "pod1", "pod2"}) WaitOnline(id);
  }

  // `gateway_extra`: more keys of the [gateway] table.
  std::unique_ptr<GatewayProcess> Gateway(const TempDir& dir, const Mosquitto& broker, const std::string& id,
                                          const std::string& role, const std::string& gateway_extra = "") {
    const std::string config = dir.Write(
        "dctwin.toml", "[gateway]\nrole = \"" + role + "\"\nstats_interval_s = 0.5\n" + gateway_extra +
                       "[metrics]\nlisten = \"\"\n"
                       "[broker]\nreconnect_max_s = 2\n[model]\nheartbeat_timeout_s = 3600\n"
                       "[[control.keys]]\nname = \"drain\"\ntype = \"bool\"\n");
    auto gw = std::make_unique<GatewayProcess>(dir, std::vector<std::string>{"--config", config, "--broker", broker.uri(),
                                                                             "--state", dir.File("state.db"),
                                                                             "--gateway-id", id});
    gw->Start();
    return gw;
  }
  void WaitOnline(const std::string& id) {
    ASSERT_TRUE(probe_->WaitFor([&](const Received& r) {
      return r.topic == "dctwin/gateway/" + id + "/status" && r.payload.find("\"online\":true") != std::string::npos;
    }, 20s)) << id;
  }
  std::string Ask(const std::string& what, const std::string& payload = "") {
    return RunCommand("mosquitto_rr -V 5 -h 127.0.0.1 -p " + std::to_string(site_broker_.port()) + " -t dctwin/" + what +
                      " -e dctwin/reply/test -W 10 -m '" + payload + "'");
  }
  // Three servers per rack, in racks first..first+1 of pod `p`, with psu_volts sagging.
  void Sag(int p, int first_rack) { Simulate(p, first_rack, "0.5 power-sag 9"); }
  // The same servers, healthy from now on (the simulator that made them sag stops first).
  void Heal(int p, int first_rack) { Simulate(p, first_rack, ""); }
  void Simulate(int p, int first_rack, const std::string& scenario) {
    sim_[p].reset();
    std::vector<std::string> argv{DCTWIN_SIM_BINARY, "--broker", pod_broker_[p]->uri(), "--racks", "2",
                                  "--first-rack", std::to_string(first_rack), "--servers-per-rack", "3", "--interval",
                                  "0.2", "--duration", "300"};
    if (!scenario.empty()) {
      argv.push_back("--scenario");
      argv.push_back(scenario);
    }
    sim_[p] = std::make_unique<ChildProcess>(argv, pod_dir_[p].File("sim.log"));
    sim_[p]->Start();
  }

  TempDir site_dir_;
  TempDir pod_dir_[2];
  Mosquitto site_broker_{site_dir_, /*persistent=*/true};
  std::unique_ptr<TcpCut> bridge_cut_;  // pod 1's bridge to the site broker
  std::unique_ptr<Mosquitto> pod_broker_[2];
  std::unique_ptr<Probe> probe_;
  std::unique_ptr<GatewayProcess> site_;
  std::unique_ptr<GatewayProcess> pod_[2];
  std::unique_ptr<ChildProcess> sim_[2];
};

}  // namespace dctwin::testing
