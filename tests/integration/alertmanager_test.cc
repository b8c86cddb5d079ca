// The Alertmanager forwarder against the real Alertmanager from Debian's prometheus-alertmanager,
// started here on a free loopback port (no cluster, a temporary storage path), and queried with
// amtool as an operator would.
#include <gtest/gtest.h>
#include <signal.h>

#include <memory>
#include <string>

#include "tests/integration/end_state.h"
#include "tests/integration/gateway_fixture.h"

namespace dctwin::testing {
namespace {

class AlertmanagerTest : public GatewayTest {
 protected:
  void StartAlertmanager() {
    if (port_ == 0) port_ = FreeLoopbackPort();
    const std::string config = dir_.Write("alertmanager.yml", "route:\n  receiver: quiet\nreceivers:\n  - name: quiet\n");
    am_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{"prometheus-alertmanager", "--config.file=" + config,
                                 "--storage.path=" + dir_.File("am-data-" + std::to_string(++starts_)),
                                 "--web.listen-address=127.0.0.1:" + std::to_string(port_), "--cluster.listen-address="},
        dir_.File("alertmanager.log"));
    am_->Start();
    ASSERT_TRUE(WaitUntil(
        [&] {
          int status = -1;
          Amtool("alert query", &status);
          return status == 0;
        },
        20s))
        << ReadFile(dir_.File("alertmanager.log"));
  }
  std::string Url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::string Amtool(const std::string& args, int* status = nullptr) {
    return RunCommand("amtool --alertmanager.url=" + Url() + " " + args + " 2>&1", status);
  }
  // What amtool lists as active, as JSON.
  std::string Active() { return Amtool("alert query -o json"); }
  std::string Config(double resend_s) {
    return "[gateway]\nstats_interval_s = 0.2\n[model]\nheartbeat_timeout_s = 3600\n[alertmanager]\nurls = [\"" + Url() +
           "\"]\nresend_s = " + std::to_string(resend_s) + "\ntimeout_s = 1\n";
  }
  std::string OpenHot(const std::string& server, const std::string& rack) {
    Commission(server, rack);
    for (int i = 0; i < 3; ++i) Report(server, R"({"temp_c": 95})");
    auto open = Alert("server", server, "open");
    EXPECT_TRUE(open) << gateway_->Log();
    return open ? JsonString(open->payload, "id") : std::string();
  }
  void Cool(const std::string& server) {
    for (int i = 0; i < 3; ++i) Report(server, R"({"temp_c": 50})");
    ASSERT_TRUE(Alert("server", server, "resolved"));
  }
  // The gateway's count of a key under "operations" in its stats, from the latest stats message.
  double OperationsCount(const char* key) {
    double n = -1;
    for (const Received& r : probe_->All([](const Received& x) { return x.topic == "dctwin/gateway/gw-test/stats"; })) {
      const std::string k = std::string("\"") + key + "\":";
      const size_t at = r.payload.find(k);
      if (at != std::string::npos) n = std::stod(r.payload.substr(at + k.size()));
    }
    return n;
  }

  // The newest message the probe has of `topic`.
  std::optional<Received> Last(const std::string& topic) {
    auto all = probe_->All([&](const Received& r) { return r.topic == topic; });
    if (all.empty()) return std::nullopt;
    return all.back();
  }

  int port_ = 0;
  int starts_ = 0;
  std::unique_ptr<ChildProcess> am_;
};

TEST_F(AlertmanagerTest, OpenResolveAndSilenceReachAlertmanagerAsTheContractSays) {
  StartAlertmanager();
  StartGateway(Config(1) + R"(
[[rules]]
kind = "thermal"
metric = "temp_c"
op = ">"
threshold = 85.0
for_reports = 3
severity = "critical"
runbook = "https://wiki.example/thermal"
[[rules]]
kind = "disk"
metric = "disk_errors"
op = ">"
threshold = 0
severity = "warning"
)");
  const std::string id = OpenHot("s1", "r07");
  std::string active;
  ASSERT_TRUE(WaitUntil([&] { return (active = Active()).find(id) != std::string::npos; }, 15s)) << active << gateway_->Log();
  for (const char* label : {R"("alertname":"thermal")", R"("level":"server")", R"("subject":"s1")", R"("rack":"r07")",
                            R"("datacenter":"dc1")", R"("severity":"critical")", R"("gateway":"gw-test")",
                            R"("server":"s1")", R"("runbook_url":"https://wiki.example/thermal")", R"("incident_id")"}) {
    EXPECT_NE(active.find(label), std::string::npos) << label << " in " << active;
  }
  EXPECT_NE(Amtool("alert query alertname=thermal").find("thermal"), std::string::npos);

  // A muted open is never posted: a disk incident under a silence stays out of Alertmanager
  // through several resends.
  const std::string silence = RunCommand("mosquitto_rr -V 5 -h 127.0.0.1 -p " + std::to_string(broker_.port()) +
                                         " -t dctwin/command/silence -e reply/am -W 10 -m "
                                         "'{\"matchers\":{\"kind\":\"disk\"},\"duration_s\":600,\"created_by\":\"t\"}'");
  ASSERT_NE(silence.find("\"ok\":true"), std::string::npos) << silence;
  Commission("s2", "r07");
  Report("s2", R"({"disk_errors": 3})");
  auto disk = Alert("server", "s2", "open");
  ASSERT_TRUE(disk);
  EXPECT_NE(disk->payload.find("\"silenced_by\":[\"sil-"), std::string::npos) << disk->payload;
  const double posts = OperationsCount("alertmanager_posts");
  ASSERT_TRUE(WaitUntil([&] { return OperationsCount("alertmanager_posts") >= posts + 3; }, 15s));
  EXPECT_EQ(Active().find(JsonString(disk->payload, "id")), std::string::npos);

  // The resolve is posted: the alert leaves amtool's active list long before its endsAt.
  Cool("s1");
  ASSERT_TRUE(WaitUntil([&] { return Active().find(id) == std::string::npos; }, 15s)) << Active();
  EXPECT_EQ(OperationsCount("alertmanager_failures"), 0);
}

TEST_F(AlertmanagerTest, AResolveOwedDuringAnOutageSurvivesKillNine) {
  StartAlertmanager();
  // Firing alerts are posted with endsAt three resends (90 s) ahead: only the posted resolve can
  // end them within this test.
  StartGateway(Config(30));
  const std::string a = OpenHot("s1", "r1");
  const std::string b = OpenHot("s2", "r1");
  ASSERT_TRUE(WaitUntil([&] {
    const std::string active = Active();
    return active.find(a) != std::string::npos && active.find(b) != std::string::npos;
  }, 15s));
  // The gateway crashes and comes back while Alertmanager is out of its reach (its URL now leads
  // nowhere); s2 resolves meanwhile, and the gateway crashes again with the resolve still owed.
  gateway_->Kill();
  const int real_port = port_;
  port_ = FreeLoopbackPort();
  StartGateway(Config(30));
  Cool("s2");
  ASSERT_TRUE(WaitUntil([&] { return OperationsCount("alertmanager_failures") >= 1; }, 15s)) << gateway_->Log();
  gateway_->Kill();
  port_ = real_port;
  EXPECT_NE(Active().find(b), std::string::npos) << "still firing in Alertmanager";
  // Back with Alertmanager in reach: the owed resolve goes out, the open incident stays firing.
  StartGateway(Config(30));
  ASSERT_TRUE(WaitUntil([&] { return Active().find(b) == std::string::npos; }, 15s)) << Active() << gateway_->Log();
  EXPECT_NE(Active().find(a), std::string::npos);
}

TEST_F(AlertmanagerTest, AnAlertmanagerRestartedWhileAnIncidentResolvesGetsWhatIsOpenAndNothingElse) {
  StartAlertmanager();
  StartGateway(Config(30));
  const std::string a = OpenHot("s1", "r1");
  const std::string b = OpenHot("s2", "r1");
  ASSERT_TRUE(WaitUntil([&] { return Active().find(b) != std::string::npos; }, 15s));
  am_->Stop();
  Cool("s2");
  ASSERT_TRUE(WaitUntil([&] { return OperationsCount("alertmanager_failures") >= 1; }, 15s)) << gateway_->Log();
  StartAlertmanager();  // a new Alertmanager remembers no alerts: the gateway posts again what is open
  std::string active;
  ASSERT_TRUE(WaitUntil([&] { return (active = Active()).find(a) != std::string::npos; }, 20s)) << gateway_->Log();
  EXPECT_EQ(active.find(b), std::string::npos) << active;
  // The resolve of s2 was delivered too: the gateway owes Alertmanager nothing but s1.
  ASSERT_TRUE(WaitUntil([&] { return OperationsCount("alertmanager_owed") == 1; }, 15s)) << gateway_->Log();
}

}  // namespace
}  // namespace dctwin::testing

namespace dctwin::testing {
namespace {

// Issue 22 item 7: one of two Alertmanager URLs is dead. The live one gets every open and
// resolve, the owed list does not grow with every resolve, and after down_after_s the dead URL is
// a warning gateway incident alertmanager_down.
TEST_F(AlertmanagerTest, ADeadUrlNeitherGrowsWhatIsOwedNorKeepsTheOtherWaiting) {
  StartAlertmanager();
  const std::string dead = "http://127.0.0.1:" + std::to_string(FreeLoopbackPort());
  StartGateway("[gateway]\nstats_interval_s = 0.2\n[model]\nheartbeat_timeout_s = 3600\n[alertmanager]\nurls = [\"" +
               Url() + "\", \"" + dead + "\"]\nresend_s = 1\ntimeout_s = 1\ndown_after_s = 2\n");
  auto down = probe_->WaitFor([](const Received& r) {
    return r.topic == "dctwin/alerts/gateway/gw-test" && JsonString(r.payload, "kind") == "alertmanager_down";
  }, 1s);
  EXPECT_FALSE(down) << "nothing was posted yet: nothing has failed";
  for (int i = 0; i < 3; ++i) {
    const std::string server = "am" + std::to_string(i);
    OpenHot(server, "ra");
    Cool(server);
  }
  down = probe_->WaitFor([](const Received& r) {
    return r.topic == "dctwin/alerts/gateway/gw-test" && JsonString(r.payload, "kind") == "alertmanager_down" &&
           JsonString(r.payload, "state") == "open";
  }, 20s);
  ASSERT_TRUE(down) << gateway_->Log();
  EXPECT_NE(JsonString(down->payload, "summary").find(dead), std::string::npos) << down->payload;
  // Once the dead URL is down, what is owed drains: the live one took every resolve.
  ASSERT_TRUE(WaitUntil([&] { return OperationsCount("alertmanager_owed") == 0; }, 20s))
      << probe_->All([](const Received& r) { return r.topic == "dctwin/gateway/gw-test/stats"; }).back().payload;
  const std::string resolved = Amtool("alert query -o json --silenced --inhibited --active --unprocessed");
  EXPECT_EQ(resolved.find("\"am0\""), std::string::npos) << "a resolved alert still fires: " << resolved;
}


// Topology (contract v3): a feed trip is one feed incident and one notification. The racks on
// feed A-12 lose power; their rack and server incidents say the feed caused them and stay out of
// Alertmanager; a thermal incident no group causes goes out once its wait is over; when the feed
// recovers but one rack is still down (a breaker of its own), that rack's incidents are notified
// then, once.
TEST_F(AlertmanagerTest, AFeedTripIsOneFeedIncidentAndOneNotificationAndWhatOutlivesItFollowsOnce) {
  StartAlertmanager();
  const std::string inventory = dir_.Write("inventory.json", R"({"racks": [
    {"name": "r1", "row": 1, "position": 1, "feeds": ["A-12"], "tor": "sw-1"},
    {"name": "r2", "row": 1, "position": 2, "feeds": ["A-12"], "tor": "sw-2"},
    {"name": "r3", "row": 1, "position": 3, "feeds": ["B-1"], "tor": "sw-3"}],
   "servers": [{"name": "a1", "rack": "r1"}, {"name": "a2", "rack": "r1"}, {"name": "a3", "rack": "r1"},
               {"name": "b1", "rack": "r2"}, {"name": "b2", "rack": "r2"}, {"name": "b3", "rack": "r2"},
               {"name": "c1", "rack": "r3"}]})");
  std::string config = Config(1);
  config.replace(config.find("[gateway]\n"), 10, "[gateway]\ninventory = \"" + inventory + "\"\n");
  StartGateway(config + "[group]\nmin_racks = 2\nmin_servers = 5\nnotify_hold_s = 3\n");
  ASSERT_TRUE(WaitUntil([&] { return Last("dctwin/health/group/feed:A-12").has_value(); }, 15s))
      << gateway_->Log();
  EXPECT_EQ(JsonString(Last("dctwin/health/group/feed:A-12")->payload, "status"), "ok");

  // c1 runs hot: no group of r3 can cause thermal incidents, so it goes out after the wait.
  for (int i = 0; i < 3; ++i) Report("c1", R"({"temp_c": 95})");
  auto hot = Alert("server", "c1", "open");
  ASSERT_TRUE(hot) << gateway_->Log();
  for (int i = 0; i < 3; ++i) {
    for (const char* s : {"a1", "a2", "a3", "b1", "b2", "b3"}) Report(s, R"({"psu_volts": 10.2})");
  }
  auto feed = Alert("group", "feed:A-12", "open", 15s);
  ASSERT_TRUE(feed) << gateway_->Log();
  const std::string feed_id = JsonString(feed->payload, "id");
  EXPECT_EQ(JsonString(feed->payload, "level"), "group");
  EXPECT_EQ(JsonString(feed->payload, "subject"), "feed:A-12");
  EXPECT_EQ(JsonString(feed->payload, "kind"), "power");
  // The racks' retained records name the feed as their cause.
  for (const char* rack : {"r1", "r2"}) {
    const std::string topic = std::string("dctwin/incidents/rack/") + rack + "/power";
    ASSERT_TRUE(WaitUntil([&] {
      auto r = Last(topic);
      return r && JsonString(r->payload, "caused_by") == feed_id;
    }, 10s)) << topic << ": " << (Last(topic) ? Last(topic)->payload : "none");
  }
  ASSERT_TRUE(WaitUntil([&] {
    auto h = Last("dctwin/health/group/feed:A-12");
    return h && JsonString(h->payload, "status") == "critical";
  }, 10s));
  const std::string answer = RunCommand("mosquitto_rr -V 5 -h 127.0.0.1 -p " + std::to_string(broker_.port()) +
                                        " -t dctwin/query/group/feed:A-12 -e reply/am -W 10 -m ''");
  EXPECT_NE(answer.find(R"("racks":["r1","r2"])"), std::string::npos) << answer;
  EXPECT_NE(answer.find(feed_id), std::string::npos) << answer;

  // Alertmanager: the feed, the hot server, and none of the twelve incidents the feed caused.
  std::string active;
  ASSERT_TRUE(WaitUntil([&] {
    active = Active();
    return active.find(feed_id) != std::string::npos && active.find(JsonString(hot->payload, "id")) != std::string::npos;
  }, 15s)) << active << gateway_->Log();
  const double posts = OperationsCount("alertmanager_posts");
  ASSERT_TRUE(WaitUntil([&] { return OperationsCount("alertmanager_posts") >= posts + 4; }, 20s));  // past the wait
  active = Active();
  for (const char* s : {"a1", "b3"}) {
    EXPECT_EQ(active.find(std::string("\"subject\":\"") + s + "\""), std::string::npos) << s << " notified: " << active;
  }
  EXPECT_EQ(active.find(R"("level":"rack")"), std::string::npos) << active;
  EXPECT_GE(OperationsCount("alertmanager_held"), 8);

  // The feed is back, but r1 stays dark: below both thresholds the feed's incident resolves, and
  // what it held back and is still open (r1 and its servers) is notified now.
  for (int i = 0; i < 3; ++i) {
    for (const char* s : {"b1", "b2", "b3"}) Report(s, R"({"psu_volts": 12.1})");
  }
  ASSERT_TRUE(Alert("group", "feed:A-12", "resolved", 15s)) << gateway_->Log();
  ASSERT_TRUE(WaitUntil([&] {
    active = Active();
    return active.find(feed_id) == std::string::npos && active.find(R"("subject":"a1")") != std::string::npos &&
           active.find(R"("level":"rack")") != std::string::npos;
  }, 15s)) << active;
  EXPECT_EQ(active.find(R"("subject":"b1")"), std::string::npos) << "resolved while held: never notified";
  EXPECT_EQ(OperationsCount("alertmanager_failures"), 0);
  EXPECT_EQ(WaitForAgreement(broker_.port(), 10s), "");
}

}  // namespace
}  // namespace dctwin::testing
