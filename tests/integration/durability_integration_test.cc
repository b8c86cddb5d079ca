// Durable state over a real broker: restarts, kill -9 at random moments under load, a broker
// outage. The gateway keeps its state in the test's temporary directory.
#include <gtest/gtest.h>

#include <algorithm>
#include <sqlite3.h>

#include <atomic>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "storage/sqlite_state_store.h"
#include "tests/integration/end_state.h"
#include "tests/integration/gateway_fixture.h"

namespace dctwin::testing {
namespace {

std::optional<Received> LatestStats(Probe& probe, const std::function<bool(const std::string&)>& match) {
  return probe.WaitFor([&](const Received& r) { return r.topic == "dctwin/gateway/gw-test/stats" && match(r.payload); },
                       30s);
}

bool Contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

// A store whose rows disagree, as a crash between a commit and the release of what it caused
// (or an older gateway) can leave it: the rack and the datacenter still hold a likely ToR failure
// whose servers came back. The restarted gateway reconciles them with the committed servers: the
// rack incident resolves, the rack is healthy again, and health goes out again.
TEST_F(GatewayTest, RestoreReconcilesRacksWithTheCommittedServers) {
  const std::string config = "[gateway]\nstats_interval_s = 0.2\n[model]\nheartbeat_timeout_s = 2\n";
  StartGateway(config);
  for (const char* s : {"g1", "g2", "g3"}) Commission(s, "rg");
  for (const char* s : {"g1", "g2", "g3"}) Report(s, R"({"temp_c": 40})");
  auto tor = Alert("rack", "rg", "open", 20s);
  ASSERT_TRUE(tor) << gateway_->Log();
  ASSERT_EQ(gateway_->Terminate(), 0);
  // The rack and the datacenter with the open incident, with their rows for the rack's members
  // and for the rack.
  std::map<std::pair<int, std::string>, TwinRecord> stale;
  {
    std::unique_ptr<SqliteStateStore> store;
    ASSERT_TRUE(SqliteStateStore::Open(SqliteOptions{dir_.File("state.db")}, &store).ok());
    ASSERT_TRUE(store->LoadTwins([&](TwinRecord&& r) {
      if (r.key.id == "rg" || r.key.id == "dc1" || r.key.id.rfind("rg/", 0) == 0) {
        stale[{r.key.kind, r.key.id}] = std::move(r);
      }
    }).ok());
  }
  ASSERT_EQ(stale.size(), 6u);

  StartGateway(config);
  for (const char* s : {"g1", "g2", "g3"}) Report(s, R"({"temp_c": 40})");
  ASSERT_TRUE(Alert("rack", "rg", "resolved"));
  ASSERT_EQ(gateway_->Terminate(), 0);
  {
    // The servers' rows are back; the rack's and the datacenter's go back to before, as if their
    // commits had been lost, and the clean-stop mark goes (the "crash").
    std::unique_ptr<SqliteStateStore> store;
    ASSERT_TRUE(SqliteStateStore::Open(SqliteOptions{dir_.File("state.db")}, &store).ok());
    StoreBatch b;
    for (auto& [id, r] : stale) b.upserts.push_back(r);
    b.doc_deletes.push_back(DocKey{"meta", "clean_stop"});
    ASSERT_TRUE(store->Commit(b).ok());
  }
  probe_->Clear();
  StartGateway(config);
  auto resolved = Alert("rack", "rg", "resolved");
  ASSERT_TRUE(resolved) << gateway_->Log();
  EXPECT_EQ(JsonString(resolved->payload, "id"), JsonString(tor->payload, "id"));
  EXPECT_NE(gateway_->Log().find("disagreed with the committed servers"), std::string::npos);
  // Health again, for every twin, with the rack healthy.
  EXPECT_TRUE(probe_->WaitFor([](const Received& r) {
    return r.topic == "dctwin/health/rack/rg" && JsonString(r.payload, "status") == "ok";
  }));
  EXPECT_TRUE(probe_->WaitFor([](const Received& r) { return r.topic == "dctwin/health/server/g2"; }));
  EXPECT_TRUE(probe_->WaitFor([](const Received& r) {
    return r.topic == "dctwin/health/datacenter/dc1" && JsonString(r.payload, "status") == "ok";
  }));
}

TEST_F(GatewayTest, StateSurvivesRestartsWithTheSameIncidentIds) {
  StartGateway();
  for (int i = 1; i <= 3; ++i) Commission("d" + std::to_string(i), "rd");
  for (int i = 1; i <= 3; ++i) {
    for (int k = 0; k < 3; ++k) Report("d" + std::to_string(i), R"({"temp_c": 97})");
  }
  auto rack_open = Alert("rack", "rd", "open");
  ASSERT_TRUE(rack_open);
  const std::string server_id = JsonString(Alert("server", "d1", "open")->payload, "id");

  EXPECT_EQ(gateway_->Terminate(), 0);  // clean stop
  gateway_->Start();
  WaitOnline();
  gateway_->Kill();  // and a crash
  gateway_->Start();
  WaitOnline();
  EXPECT_NE(gateway_->Log().find("restored 5 twins"), std::string::npos) << gateway_->Log();

  // The restored twin answers with the incident it had before.
  const std::string answer = RunCommand("mosquitto_rr -V 5 -h 127.0.0.1 -p " + std::to_string(broker_.port()) +
                                        " -t dctwin/query/server/d1 -e reply/d1 -m '' -W 10");
  EXPECT_NE(answer.find(server_id), std::string::npos) << answer;

  probe_->Clear();
  for (int i = 1; i <= 3; ++i) {
    for (int k = 0; k < 3; ++k) Report("d" + std::to_string(i), R"({"temp_c": 40})");
  }
  auto resolved = Alert("server", "d1", "resolved");
  ASSERT_TRUE(resolved);
  EXPECT_EQ(JsonString(resolved->payload, "id"), server_id);
  auto rack_resolved = Alert("rack", "rd", "resolved");
  ASSERT_TRUE(rack_resolved);
  EXPECT_EQ(JsonString(rack_resolved->payload, "id"), JsonString(rack_open->payload, "id"));
  // No second open for anything that was open before the restarts.
  EXPECT_TRUE(probe_->All([](const Received& r) {
                      return r.topic.rfind("dctwin/alerts/", 0) == 0 && JsonString(r.payload, "state") == "open";
                    }).empty());
}

// Issue 22 item 5: a damaged row is quarantined, and its server is not orphaned: it stays
// commissioned in its rack with an empty window, the incident only it held is resolved (record
// cleared, saying why), and every retained topic agrees with the twins.
TEST_F(GatewayTest, CorruptRowIsQuarantinedAndItsServerStartsAfreshInItsRack) {
  StartGateway();
  Commission("good", "rq");
  Commission("bad", "rq");
  Report("good", R"({"disk_errors": 2})");
  Report("bad", R"({"disk_errors": 3})");
  ASSERT_TRUE(Alert("server", "good", "open"));
  auto bad_open = Alert("server", "bad", "open");
  ASSERT_TRUE(bad_open);
  EXPECT_EQ(gateway_->Terminate(), 0);
  // Damage one row the way a bad disk or a bug would.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(dir_.File("state.db").c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "UPDATE twins SET state = x'deadbeef' WHERE id = 'bad'", nullptr, nullptr, nullptr),
            SQLITE_OK);
  EXPECT_EQ(sqlite3_changes(db), 1);
  sqlite3_close(db);
  probe_->Clear();
  gateway_->Start();
  WaitOnline();
  const std::string log = gateway_->Log();
  EXPECT_NE(log.find("state of server twin bad cannot be read"), std::string::npos) << log;
  EXPECT_NE(log.find("quarantine"), std::string::npos);
  auto resolved = Alert("server", "bad", "resolved");
  ASSERT_TRUE(resolved) << gateway_->Log();
  EXPECT_EQ(JsonString(resolved->payload, "id"), JsonString(bad_open->payload, "id"));
  EXPECT_NE(JsonString(resolved->payload, "summary").find("quarantined"), std::string::npos) << resolved->payload;
  const std::string rr = "mosquitto_rr -V 5 -h 127.0.0.1 -p " + std::to_string(broker_.port()) + " -e reply/q -m '' -W 10 -t ";
  EXPECT_NE(RunCommand(rr + "dctwin/query/server/good").find("\"kind\":\"disk\""), std::string::npos);
  const std::string bad = RunCommand(rr + "dctwin/query/server/bad");
  EXPECT_NE(bad.find("\"found\":true"), std::string::npos) << bad;
  EXPECT_NE(bad.find("\"rack\":\"rq\""), std::string::npos) << bad;
  EXPECT_NE(RunCommand(rr + "dctwin/query/rack/rq").find("\"server\":\"bad\""), std::string::npos);
  EXPECT_EQ(WaitForAgreement(broker_.port(), 20s), "") << gateway_->Log();
  // Its next report is applied, not dead-lettered.
  Report("bad", R"({"temp_c": 40})");
  ASSERT_TRUE(StatsWith("messages_in", 1));
  EXPECT_TRUE(probe_->All([](const Received& r) { return r.topic == "dctwin/deadletter/uncommissioned"; }).empty());
}

TEST_F(GatewayTest, SilenceMissedWhileDownWaitsForTheGracePeriod) {
  StartGateway("[gateway]\nstats_interval_s = 0.2\n[model]\nheartbeat_timeout_s = 1\n[state]\nrestart_grace_s = 3\n");
  Commission("g1", "rg");
  Report("g1", R"({"temp_c": 40})");
  ASSERT_TRUE(StatsWith("messages_in", 1));
  EXPECT_EQ(gateway_->Terminate(), 0);
  probe_->Clear();
  const auto restarted = std::chrono::steady_clock::now();
  gateway_->Start();
  WaitOnline();
  auto silent = Alert("server", "g1", "open", 20s);
  ASSERT_TRUE(silent);
  EXPECT_EQ(JsonString(silent->payload, "kind"), "silent");
  EXPECT_GE(std::chrono::steady_clock::now() - restarted, 2500ms);
}

TEST_F(GatewayTest, KillNineUnderLoadLosesNoCommissionAndNoIncidentId) {
  constexpr int kServers = 1000, kRacks = 25, kCrashes = 10;
  StartGateway();
  for (int i = 0; i < kServers; ++i) Commission("c" + std::to_string(i), "k" + std::to_string(i % kRacks));
  ASSERT_TRUE(LatestStats(*probe_, [](const std::string& p) { return Contains(p, "\"server\":1000,"); }))
      << gateway_->Log();

  // Background load: normal reports to every server, QoS 0, from another connection.
  std::atomic<bool> stop{false};
  std::thread load([&] {
    Probe loader(broker_.uri(), "loader");
    for (int n = 0; !stop.load(); ++n) {
      loader.Publish("dctwin/metrics/c" + std::to_string(n % kServers), R"({"cpu_util": 0.3})", 0);
    }
  });

  // Each round heats three servers in each of two racks (server, rack and datacenter incidents)
  // or cools the previous ones, then kills the gateway at a random moment and restarts it.
  std::mt19937 rng(20261124);
  std::set<int> heated;
  for (int round = 0; round < kCrashes; ++round) {
    const int rack = round % kRacks;
    for (int r : {rack, (rack + 5) % kRacks}) {
      for (int s = r; s < r + 3 * kRacks; s += kRacks) {
        const bool hot = round % 3 != 2;
        for (int k = 0; k < 3; ++k) Report("c" + std::to_string(s), hot ? R"({"temp_c": 99})" : R"({"temp_c": 30})");
        heated.insert(s);
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 150));  // the random moment of the crash
    gateway_->Kill();
    gateway_->Start();
    WaitOnline();
  }
  stop = true;
  load.join();

  // Everything commissioned is back.
  ASSERT_TRUE(LatestStats(*probe_, [](const std::string& p) {
    return Contains(p, "\"server\":1000,") && Contains(p, "\"rack\":25,");
  }));
  // Clear every condition: each incident that was ever opened resolves, under its own id.
  for (int s : heated) {
    for (int k = 0; k < 3; ++k) Report("c" + std::to_string(s), R"({"temp_c": 30})");
  }
  ASSERT_TRUE(LatestStats(*probe_, [](const std::string& p) { return Contains(p, "\"open_incidents\":0,"); }))
      << gateway_->Log();
  ASSERT_TRUE(WaitUntil(
      [&] {
        std::map<std::string, std::set<std::string>> states;
        for (const Received& r : probe_->All([](const Received& m) { return m.topic.rfind("dctwin/alerts/", 0) == 0; })) {
          states[JsonString(r.payload, "id")].insert(JsonString(r.payload, "state"));
        }
        for (const auto& [id, s] : states) {
          if (s.count("open") && !s.count("resolved")) return false;
        }
        return true;
      },
      30s));

  // Per subject and kind, deduplicated on (id, state), events alternate open(id) -> resolved(id):
  // nothing was opened twice under different ids.
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> timeline;
  std::set<std::pair<std::string, std::string>> seen;
  int opens = 0;
  for (const Received& r : probe_->All([](const Received& m) { return m.topic.rfind("dctwin/alerts/", 0) == 0; })) {
    const std::string id = JsonString(r.payload, "id");
    const std::string state = JsonString(r.payload, "state");
    if (!seen.insert({id, state}).second) continue;
    timeline[r.topic + "/" + JsonString(r.payload, "kind")].emplace_back(id, state);
    opens += state == "open";
  }
  EXPECT_GT(opens, 10);
  for (const auto& [subject, events] : timeline) {
    std::string open_id;
    for (const auto& [id, state] : events) {
      if (state == "open") {
        EXPECT_TRUE(open_id.empty()) << subject << ": " << id << " opened while " << open_id << " was open";
        open_id = id;
      } else {
        EXPECT_EQ(id, open_id) << subject << ": resolve of an incident that was not the open one";
        open_id.clear();
      }
    }
    EXPECT_TRUE(open_id.empty()) << subject << " never resolved " << open_id;
  }
}

TEST(BrokerOutageTest, EventsRaisedWhileTheBrokerIsDownArriveInOrder) {
  TempDir dir;
  Mosquitto broker(dir, /*persistent=*/true);
  broker.Start();
  auto probe = std::make_unique<Probe>(broker.uri(), "outage-probe", /*persistent=*/true);
  probe->Subscribe("dctwin/alerts/#", 1);
  // Without the storm guard, silence is judged even while the gateway is cut off from the broker:
  // that makes events to queue during the outage.
  const std::string config =
      dir.Write("dctwin.toml", "[model]\nheartbeat_timeout_s = 1\nstorm_fraction = 0\n[rack]\nmin_servers = 2\n");
  GatewayProcess gw(dir, {"--config", config, "--broker", broker.uri(), "--state", dir.File("state.db"),
                          "--gateway-id", "gw-outage"});
  gw.Start();
  ASSERT_TRUE(WaitUntil([&] { return gw.Log().find("ready") != std::string::npos; }, 10s)) << gw.Log();
  for (const char* s : {"o1", "o2"}) {
    probe->Publish(std::string("dctwin/provisioning/") + s, R"({"action":"commission","rack":"ro"})");
    probe->Publish(std::string("dctwin/metrics/") + s, R"({"temp_c": 40})");
  }
  // Both servers are commissioned and have reported before the outage.
  ASSERT_TRUE(WaitUntil(
      [&] {
        return RunCommand("mosquitto_rr -V 5 -h 127.0.0.1 -p " + std::to_string(broker.port()) +
                          " -t dctwin/query/server/o2 -e reply/o2 -m '' -W 5")
                   .find("\"last_report\"") != std::string::npos;
      },
      10s));
  probe.reset();   // the probe's session stays on the broker and queues for it
  broker.Stop();   // outage: the servers fall silent, the rack follows
  ASSERT_TRUE(WaitUntil([&] { return gw.Log().find("incident open rack ro silent") != std::string::npos; }, 20s))
      << gw.Log();
  broker.Restart();
  probe = std::make_unique<Probe>(broker.uri(), "outage-probe", /*persistent=*/true);
  // The servers come back: everything resolves.
  for (const char* s : {"o1", "o2"}) probe->Publish(std::string("dctwin/metrics/") + s, R"({"temp_c": 41})");
  ASSERT_TRUE(probe->WaitFor(
      [](const Received& r) { return r.topic == "dctwin/alerts/rack/ro" && JsonString(r.payload, "state") == "resolved"; },
      30s))
      << gw.Log() << ReadFile(dir.File("mosquitto.log"));
  ASSERT_TRUE(WaitUntil(
      [&] {
        return probe->All([](const Received& r) { return JsonString(r.payload, "state") == "resolved"; }).size() >= 3;
      },
      20s));
  // Per subject: the open (raised while the broker was down) arrives before its resolve.
  std::map<std::string, std::vector<std::string>> order;
  for (const Received& r : probe->All([](const Received&) { return true; })) {
    order[r.topic].push_back(JsonString(r.payload, "state"));
  }
  // (With a 1 s heartbeat the servers may go silent again afterwards: only the first open and
  // the resolve that follows it are judged.)
  for (const char* topic : {"dctwin/alerts/server/o1", "dctwin/alerts/server/o2", "dctwin/alerts/rack/ro"}) {
    const std::vector<std::string>& states = order[topic];
    ASSERT_GE(states.size(), 2u) << topic;
    EXPECT_EQ(states.front(), "open") << topic;
    EXPECT_NE(std::find(states.begin(), states.end(), "resolved"), states.end()) << topic;
  }
  EXPECT_EQ(gw.Terminate(), 0);
}

}  // namespace
}  // namespace dctwin::testing

namespace dctwin::testing {
namespace {

// More events than the outbound queue holds pile up while the broker is away: the queue refuses
// the rest, which wait in the outbox and go out, in order, once there is room again, without a
// restart of the gateway.
TEST(BrokerOutageTest, EventsBeyondThePublishBufferArriveWithoutARestart) {
  TempDir dir;
  Mosquitto broker(dir, /*persistent=*/true);
  broker.Start();
  auto probe = std::make_unique<Probe>(broker.uri(), "buffer-probe", /*persistent=*/true);
  probe->Subscribe("dctwin/alerts/server/#", 1);
  const std::string config = dir.Write(
      "dctwin.toml", "[broker]\nreconnect_max_s = 1\n[gateway]\npublish_buffer = 100\n[model]\nheartbeat_timeout_s = 1\n"
                     "storm_fraction = 0\n");
  GatewayProcess gw(dir, {"--config", config, "--broker", broker.uri(), "--state", dir.File("state.db"),
                          "--gateway-id", "gw-buffer"});
  gw.Start();
  ASSERT_TRUE(WaitUntil([&] { return gw.Log().find("ready") != std::string::npos; }, 10s)) << gw.Log();
  constexpr int kServers = 150;
  for (int i = 0; i < kServers; ++i) {
    probe->PublishPipelined("dctwin/provisioning/b" + std::to_string(i), R"({"action":"commission","rack":"rb)" +
                                                                               std::to_string(i / 10) + "\"}");
  }
  probe->Drain();
  ASSERT_TRUE(WaitUntil([&] { return gw.Log().find("incident open server b149 silent") != std::string::npos ||
                                     RunCommand("mosquitto_rr -V 5 -h 127.0.0.1 -p " + std::to_string(broker.port()) +
                                                " -t dctwin/query/server/b149 -e reply/b -m '' -W 5")
                                             .find("\"found\":true") != std::string::npos; },
                        10s));
  // A slow run (sanitizers) can see the first servers fall silent before the broker stops: what
  // the probe received by then counts too.
  std::set<std::string> silent;
  auto collect = [&] {
    for (const Received& r : probe->All([](const Received& x) {
           return JsonString(x.payload, "kind") == "silent" && JsonString(x.payload, "state") == "open";
         })) {
      silent.insert(JsonString(r.payload, "subject"));
    }
  };
  collect();
  probe.reset();
  broker.Stop();  // every server falls silent: far more events than the 100-message buffer
  ASSERT_TRUE(WaitUntil([&] {
    const std::string log = gw.Log();
    size_t n = 0;
    for (size_t at = log.find("silent server:b"); at != std::string::npos; at = log.find("silent server:b", at + 1)) ++n;
    return n >= static_cast<size_t>(kServers);
  }, 30s)) << gw.Log();
  broker.Restart();
  probe = std::make_unique<Probe>(broker.uri(), "buffer-probe", /*persistent=*/true);
  ASSERT_TRUE(WaitUntil([&] {
    collect();
    return silent.size() == static_cast<size_t>(kServers);
  }, 60s)) << silent.size() << " of " << kServers << "\n" << gw.Log();
}

}  // namespace
}  // namespace dctwin::testing
