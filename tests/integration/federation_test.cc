// Pods and a site, federated by real mosquitto bridges (MQTT 5, QoS 1, persistent): each pod
// broker bridges its gateway's alerts, health, incident records, status and replies up to the
// site broker, and commands, queries and silences down. The site gateway holds the datacenter.
#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "tests/integration/end_state.h"
#include "tests/integration/federation_fixture.h"

namespace dctwin::testing {
namespace {

TEST_F(FederationTest, TheSiteCorrelatesAcrossPodsAndOwnsSilencesAndEachPodAnswersForItsOwn) {
  Sag(0, 1);  // pod1: r01, r02
  Sag(1, 3);  // pod2: r03, r04
  // Rack power incidents in both pods become one datacenter incident at the site.
  auto dc = probe_->WaitFor([](const Received& r) {
    return r.topic == "dctwin/alerts/datacenter/dc1" && JsonString(r.payload, "kind") == "power" &&
           JsonString(r.payload, "state") == "open";
  }, 30s);
  ASSERT_TRUE(dc) << site_->Log();
  std::string racks;
  ASSERT_TRUE(WaitUntil([&] {
    racks = Ask("query/unhealthy-racks");
    return racks.find("\"r01\"") != std::string::npos && racks.find("\"r04\"") != std::string::npos;
  }, 20s)) << racks;
  EXPECT_NE(Ask("query/datacenter").find("\"healthy\":false"), std::string::npos);
  // No pod publishes datacenter-level topics.
  for (const Received& r : probe_->All([](const Received& x) { return x.topic.find("/datacenter/") != std::string::npos; })) {
    EXPECT_EQ(JsonString(r.payload, "gateway").rfind("pod", 0), std::string::npos) << r.topic << " " << r.payload;
  }
  // A server query reaches the pod that holds the server, and only that pod answers.
  const std::string server = Ask("query/server/r03-s01");
  EXPECT_NE(server.find("\"found\":true"), std::string::npos) << server;
  EXPECT_NE(server.find("\"rack\":\"r03\""), std::string::npos) << server;
  // So does a change of its desired state and the question about its twin; the site takes neither.
  auto replies = [&] { return probe_->All([](const Received& r) { return r.topic == "dctwin/reply/test"; }); };
  const size_t before = replies().size();
  const std::string desired = Ask("command/desired", R"({"server": "r03-s01", "set": {"drain": true}, "by": "ops"})");
  EXPECT_NE(desired.find("\"ok\":true,\"servers\":[{\"server\":\"r03-s01\",\"version\":1}]"), std::string::npos) << desired;
  EXPECT_NE(Ask("query/twin/r03-s01").find("\"desired\":{\"drain\":true}"), std::string::npos);
  // One answer for each request, from pod2 alone. (A QoS 1 bridge may deliver one twice under
  // load: the same answer again is not a second answerer.)
  // The probe hears the answers on a connection of its own, possibly after mosquitto_rr did.
  WaitUntil([&] { return replies().size() >= before + 2; }, 10s);
  std::set<std::string> answers;
  const std::vector<Received> all = replies();
  for (size_t i = before; i < all.size(); ++i) answers.insert(all[i].payload);
  EXPECT_EQ(answers.size(), 2u) << "one answer for each request, from pod2 alone";

  // The site owns silences: it answers; the pods apply the retained silence that the bridges
  // carry down, and their records (carried up) show it.
  const std::string silence = Ask("command/silence", R"({"matchers": {"rack": "r03"}, "duration_s": 600, "created_by": "ops"})");
  ASSERT_NE(silence.find("\"ok\":true"), std::string::npos) << silence << site_->Log();
  const std::string id = JsonString(silence, "id");
  ASSERT_TRUE(probe_->WaitFor([&](const Received& r) {
    return r.topic.rfind("dctwin/incidents/server/r03-", 0) == 0 && r.payload.find(id) != std::string::npos;
  }, 15s)) << pod_[1]->Log();
  // An acknowledgement reaches the pod that holds the incident.
  auto rec = probe_->WaitFor([](const Received& r) { return r.topic.rfind("dctwin/incidents/server/r01-", 0) == 0 && !r.payload.empty(); });
  ASSERT_TRUE(rec);
  const std::string acked = Ask("command/ack", R"({"incident": ")" + JsonString(rec->payload, "id") + R"(", "by": "ops"})");
  EXPECT_NE(acked.find("\"ok\":true"), std::string::npos) << acked << pod_[0]->Log();
}

// Bad input: a pod that publishes a rack another pod owns is logged, counted (dead letter
// `conflict`), never merged, and reported once as a `config` incident at the site; it ends when
// that pod goes offline (to be reconfigured). A rack's health is taken only as it came over its
// pod's bridge: a pod also publishes it on its own P/gateway/<pod>/health/rack/<rack>, which the
// site ACL lets only that pod's bridge write, and a copy that names the pod elsewhere is not taken.
TEST_F(FederationTest, ARackPublishedByTwoPodsIsOneConfigIncidentAtTheSiteNeverMerged) {
  Sag(0, 1);  // pod1: r01, r02
  ASSERT_TRUE(probe_->WaitFor([](const Received& r) {
    return r.topic == "dctwin/health/rack/r01" && JsonString(r.payload, "gateway") == "pod1";
  }, 30s)) << pod_[0]->Log();
  ASSERT_TRUE(probe_->WaitFor([](const Received& r) {
    return r.topic == "dctwin/gateway/pod1/health/rack/r01" && JsonString(r.payload, "gateway") == "pod1";
  }, 10s)) << "pod1 publishes no copy of r01's health on its own topic";
  auto unhealthy = [&](const std::string& rack) { return Ask("query/unhealthy-racks").find("\"" + rack + "\"") != std::string::npos; };
  ASSERT_TRUE(WaitUntil([&] { return unhealthy("r01"); }, 20s)) << site_->Log();
  Probe forger(site_broker_.uri(), "forger");
  // Naming r01's pod on the plain topic, or on another pod's own topic: neither is taken.
  forger.Publish("dctwin/health/rack/r01",
                 R"({"status": "ok", "open": [], "by_kind": {}, "incidents": [], "gateway": "pod1", "rack": "r01"})");
  ASSERT_TRUE(probe_->WaitFor([](const Received& r) {
    return r.topic == "dctwin/deadletter/conflict" && r.payload.find("not the copy on its own topic") != std::string::npos;
  }, 10s)) << site_->Log();
  forger.Publish("dctwin/gateway/pod2/health/rack/r01",
                 R"({"status": "ok", "open": [], "by_kind": {}, "incidents": [], "gateway": "pod1", "rack": "r01"})");
  ASSERT_TRUE(probe_->WaitFor([](const Received& r) {
    return r.topic == "dctwin/deadletter/conflict" && r.payload.find("disagree") != std::string::npos;
  }, 10s)) << site_->Log();
  // A copy newer than pod1's last own one may only be ahead of it: not taken, not called a conflict.
  forger.Publish("dctwin/health/rack/r01",
                 R"({"updated_at": 9999999999, "status": "ok", "open": [], "by_kind": {}, "incidents": [], "gateway": "pod1"})");
  forger.Publish("dctwin/health/rack/r01", "");  // a clear names no pod: not taken either
  ASSERT_TRUE(WaitUntil([&] {
    return probe_->All([](const Received& r) {
      return r.topic == "dctwin/deadletter/conflict" && r.payload.find("not the copy on its own topic") != std::string::npos;
    }).size() >= 2;
  }, 10s)) << site_->Log();
  EXPECT_TRUE(probe_->All([](const Received& r) {
    return r.topic == "dctwin/deadletter/conflict" && r.payload.find("9999999999") != std::string::npos;
  }).empty()) << "a copy newer than the pod's own one was called a conflict";
  EXPECT_TRUE(unhealthy("r01")) << "a forged copy changed r01's health at the site";
  const std::string retained = RunCommand("mosquitto_sub -h 127.0.0.1 -p " + std::to_string(site_broker_.port()) +
                                          " -t dctwin/health/rack/r01 --retained-only -C 1 -W 2 2>/dev/null");
  EXPECT_EQ(JsonString(retained, "status"), "critical") << retained;
  Probe rogue(site_broker_.uri(), "rogue-pod");
  rogue.Publish("dctwin/gateway/pod9/status", R"({"online": true, "gateway": "pod9"})", 1, true);
  for (int i = 0; i < 3; ++i) {
    rogue.Publish("dctwin/health/rack/r01",
                  R"({"status": "critical", "open": [], "by_kind": {"power": 3}, "members": 3, "gateway": "pod9"})");
  }
  auto config = probe_->WaitFor([](const Received& r) {
    return r.topic == "dctwin/alerts/datacenter/dc1" && JsonString(r.payload, "kind") == "config";
  }, 20s);
  ASSERT_TRUE(config) << site_->Log();
  EXPECT_EQ(JsonString(config->payload, "state"), "open");
  EXPECT_NE(JsonString(config->payload, "summary").find("rack r01 by pod1 and pod9"), std::string::npos)
      << config->payload;
  ASSERT_TRUE(probe_->WaitFor([](const Received& r) { return r.topic == "dctwin/deadletter/conflict"; }));
  // Reported once, whatever the rogue sends.
  rogue.Publish("dctwin/health/rack/r01", R"({"status": "ok", "open": [], "gateway": "pod9"})");
  EXPECT_EQ(Ask("query/rack/r01").find("pod9"), std::string::npos);
  rogue.Publish("dctwin/gateway/pod9/status", R"({"online": false, "gateway": "pod9"})", 1, true);
  auto resolved = probe_->WaitFor([](const Received& r) {
    return r.topic == "dctwin/alerts/datacenter/dc1" && JsonString(r.payload, "kind") == "config" &&
           JsonString(r.payload, "state") == "resolved";
  }, 20s);
  ASSERT_TRUE(resolved) << site_->Log();
  EXPECT_EQ(JsonString(resolved->payload, "id"), JsonString(config->payload, "id"));
  EXPECT_EQ(probe_->All([](const Received& r) {
              return r.topic == "dctwin/alerts/datacenter/dc1" && JsonString(r.payload, "kind") == "config" &&
                     JsonString(r.payload, "state") == "open";
            }).size(), 1u);
}

TEST_F(FederationTest, APodGatewayKilledIsOnePodOfflineIncidentNotASilentStorm) {
  Sag(0, 1);
  ASSERT_TRUE(probe_->WaitFor([](const Received& r) { return r.topic == "dctwin/alerts/rack/r01"; }, 30s));
  pod_[0]->Kill();  // the pod broker publishes its will; the bridge carries it up
  auto offline = probe_->WaitFor([](const Received& r) {
    return r.topic == "dctwin/alerts/datacenter/dc1" && JsonString(r.payload, "kind") == "pod_offline" &&
           JsonString(r.payload, "state") == "open";
  }, 30s);
  ASSERT_TRUE(offline) << site_->Log();
  EXPECT_NE(JsonString(offline->payload, "summary").find("pod1"), std::string::npos) << offline->payload;
  pod_[0]->Start();
  auto back = probe_->WaitFor([](const Received& r) {
    return r.topic == "dctwin/alerts/datacenter/dc1" && JsonString(r.payload, "kind") == "pod_offline" &&
           JsonString(r.payload, "state") == "resolved";
  }, 30s);
  ASSERT_TRUE(back) << site_->Log();
  EXPECT_TRUE(probe_->All([](const Received& r) {
                      return r.topic.rfind("dctwin/alerts/server/", 0) == 0 && JsonString(r.payload, "kind") == "silent";
                    }).empty());
}

// (level, subject, kind, state) of every incident event on `probe` (the site broker sees the
// pods' alerts through the bridges).
std::set<std::string> Incidents(Probe& probe) {
  std::set<std::string> out;
  for (const Received& r : probe.All([](const Received& x) { return x.topic.rfind("dctwin/alerts/", 0) == 0; })) {
    const std::string state = JsonString(r.payload, "state");
    if (state != "open" && state != "resolved") continue;
    out.insert(JsonString(r.payload, "level") + " " + JsonString(r.payload, "subject") + " " +
               JsonString(r.payload, "kind") + " " + state);
  }
  return out;
}

TEST_F(FederationTest, OneStandaloneGatewayAndTwoPodsWithASiteGiveTheSameIncidents) {
  // The same timeline for the same 4 racks: once through a standalone gateway, once split over
  // the two pods (r01-r02, r03-r04) and the site.
  TempDir solo_dir;
  Mosquitto solo_broker(solo_dir);
  solo_broker.Start();
  Probe solo_probe(solo_broker.uri(), "solo-probe");
  solo_probe.Subscribe("dctwin/#");
  auto solo = Gateway(solo_dir, solo_broker, "solo", "standalone");
  ASSERT_TRUE(solo_probe.WaitFor([](const Received& r) {
    return r.topic == "dctwin/gateway/solo/status" && r.payload.find("\"online\":true") != std::string::npos;
  }));
  const std::string timeline = "0.5 power-sag 9; 0.5 overheat r02-s01; 0.5 overheat r02-s02; 0.5 overheat r04-s03; 4 recover-all";
  auto run = [&](const std::string& uri, int first, int racks, const TempDir& dir) {
    auto sim = std::make_unique<ChildProcess>(
        std::vector<std::string>{DCTWIN_SIM_BINARY, "--broker", uri, "--racks", std::to_string(racks), "--first-rack",
                                 std::to_string(first), "--servers-per-rack", "3", "--interval", "0.2", "--duration",
                                 "8", "--scenario", timeline},
        dir.File("sim-same.log"));
    sim->Start();
    return sim;
  };
  auto a = run(solo_broker.uri(), 1, 4, solo_dir);
  auto b = run(pod_broker_[0]->uri(), 1, 2, pod_dir_[0]);
  auto c = run(pod_broker_[1]->uri(), 3, 2, pod_dir_[1]);
  // Both sides see the datacenter power incident open and resolve, and every rack settle.
  const std::string dc_resolved = "datacenter dc1 power resolved";
  ASSERT_TRUE(WaitUntil([&] { return Incidents(solo_probe).count(dc_resolved) && Incidents(*probe_).count(dc_resolved); },
                        60s))
      << site_->Log();
  std::set<std::string> one, fed;
  ASSERT_TRUE(WaitUntil([&] {
    one = Incidents(solo_probe);
    fed = Incidents(*probe_);
    return one == fed;
  }, 20s));
  EXPECT_EQ(one, fed);
  EXPECT_TRUE(one.count("rack r03 power open")) << "the timeline made rack incidents";
  EXPECT_TRUE(one.count("server r02-s01 thermal open"));
}


// Topology: feeds that span pods. Feed A-12 feeds r02 (pod 1) and r03 (pod 2), feed B-7 r01 and
// r04; a power sag across all four racks is one incident per feed, from a standalone gateway and
// from the site alike, with the same health and the same answers.
TEST_F(FederationTest, FeedsThatSpanPodsGiveTheSameGroupIncidentsAtTheSiteAsStandalone) {
  const std::string inventory = R"({"racks": [
    {"name": "r01", "row": 1, "position": 1, "feeds": ["B-7"]}, {"name": "r02", "row": 1, "position": 2, "feeds": ["A-12"]},
    {"name": "r03", "row": 2, "position": 1, "feeds": ["A-12"]}, {"name": "r04", "row": 2, "position": 2, "feeds": ["B-7"]}],
    "servers": []})";
  // The site reads the inventory for its groups (a reload: the fixture's site started without).
  const std::string site_inventory = site_dir_.Write("inventory.json", inventory);
  site_->Terminate();
  site_ = Gateway(site_dir_, site_broker_, "site", "site", "inventory = \"" + site_inventory + "\"\n");
  WaitOnline("site");
  TempDir solo_dir;
  Mosquitto solo_broker(solo_dir);
  solo_broker.Start();
  Probe solo_probe(solo_broker.uri(), "solo-probe");
  solo_probe.Subscribe("dctwin/#");
  auto solo = Gateway(solo_dir, solo_broker, "solo", "standalone",
                      "inventory = \"" + solo_dir.Write("inventory.json", inventory) + "\"\n");
  ASSERT_TRUE(solo_probe.WaitFor([](const Received& r) {
    return r.topic == "dctwin/gateway/solo/status" && r.payload.find("\"online\":true") != std::string::npos;
  }));
  const std::string timeline = "0.5 power-sag 9; 4 recover-all";
  auto run = [&](const std::string& uri, int first, int racks, const TempDir& dir) {
    auto sim = std::make_unique<ChildProcess>(
        std::vector<std::string>{DCTWIN_SIM_BINARY, "--broker", uri, "--racks", std::to_string(racks), "--first-rack",
                                 std::to_string(first), "--servers-per-rack", "3", "--interval", "0.2", "--duration",
                                 "8", "--scenario", timeline},
        dir.File("sim-feeds.log"));
    sim->Start();
    return sim;
  };
  auto a = run(solo_broker.uri(), 1, 4, solo_dir);
  auto b = run(pod_broker_[0]->uri(), 1, 2, pod_dir_[0]);
  auto c = run(pod_broker_[1]->uri(), 3, 2, pod_dir_[1]);
  const std::set<std::string> feeds{"group feed:A-12 power open", "group feed:A-12 power resolved",
                                    "group feed:B-7 power open", "group feed:B-7 power resolved"};
  auto groups = [](Probe& p) {
    std::set<std::string> out;
    for (const std::string& e : Incidents(p)) {
      if (e.rfind("group ", 0) == 0) out.insert(e);
    }
    return out;
  };
  ASSERT_TRUE(WaitUntil([&] { return groups(solo_probe) == feeds && groups(*probe_) == feeds; }, 60s))
      << "standalone: " << ::testing::PrintToString(groups(solo_probe)) << "\nsite: " << ::testing::PrintToString(groups(*probe_))
      << site_->Log();
  // Racks on two feeds: the datacenter's incident is no one feed's, and both sides say so.
  EXPECT_TRUE(Incidents(solo_probe).count("datacenter dc1 power open"));
  EXPECT_TRUE(Incidents(*probe_).count("datacenter dc1 power open"));
  // Both ends agree on what is retained, the site's group health included.
  EXPECT_EQ(WaitForAgreement(solo_broker.port(), 20s), "");
  EXPECT_EQ(WaitForAgreement(site_broker_.port(), 20s), "");
  const std::string answer = Ask("query/group/feed:A-12");
  EXPECT_NE(answer.find(R"("racks":["r02","r03"])"), std::string::npos) << answer;
  EXPECT_NE(answer.find(R"("status":"ok")"), std::string::npos) << answer;
}

}  // namespace
}  // namespace dctwin::testing
