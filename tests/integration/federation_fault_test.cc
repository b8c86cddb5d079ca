// Faults of a federation, each over real bridged mosquittos: a bridge cut for 30 s, the site
// gateway killed and restarted, the site broker down for 30 s. In each, incidents keep happening
// in a pod while the fault lasts, and afterwards the site has every alert the pod published and a
// view of the racks that is current again. A cut bridge is a pod_offline incident while it lasts.
#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <string>
#include <thread>

#include "tests/integration/federation_fixture.h"

namespace dctwin::testing {
namespace {

// How long each outage lasts: the time an operator restarts a broker or a switch port flaps.
constexpr auto kOutage = 30s;

bool IsAlert(const Received& r) { return r.topic.rfind("dctwin/alerts/", 0) == 0; }
bool RackPower(const Received& r, const std::string& rack, const std::string& state) {
  return r.topic == "dctwin/alerts/rack/" + rack && JsonString(r.payload, "kind") == "power" &&
         JsonString(r.payload, "state") == state;
}

std::set<std::string> AlertsOf(const std::vector<Received>& got) {
  std::set<std::string> out;
  for (const Received& r : got) {
    if (IsAlert(r)) out.insert(r.topic + " " + r.payload);
  }
  return out;
}

// Every alert of `pod` is among `site` (both as topic + payload); lists what is missing.
std::string Missing(const std::set<std::string>& pod, const std::set<std::string>& site) {
  std::string missing;
  for (const std::string& a : pod) {
    if (!site.count(a)) missing += a + "\n";
  }
  return missing;
}

class FederationFaultTest : public FederationTest {
 protected:
  // Waits until the site's unhealthy racks are exactly `racks` (e.g. "r01,r02"; "" for none).
  bool UnhealthyRacksAre(const std::string& racks, std::string* last) {
    return WaitUntil([&] {
      *last = Ask("query/unhealthy-racks");
      std::string got;
      for (const char* r : {"r01", "r02", "r03", "r04"}) {
        if (last->find(std::string("\"") + r + "\"") != std::string::npos) got += (got.empty() ? "" : ",") + std::string(r);
      }
      return got == racks;
    }, 30s);
  }
};

TEST_F(FederationFaultTest, ABridgeCutFor30sLosesNoAlertAndTheSiteCatchesUp) {
  Probe pod_probe(pod_broker_[0]->uri(), "pod1-probe");
  pod_probe.Subscribe("dctwin/alerts/#");
  Sag(0, 1);  // pod1: r01, r02
  ASSERT_TRUE(probe_->WaitFor([](const Received& r) { return RackPower(r, "r01", "open"); }, 30s)) << pod_[0]->Log();

  bridge_cut_->Cut();
  const auto cut_at = std::chrono::steady_clock::now();
  // The site cannot see pod1's racks any more, and says so (the bridge's will at the site broker,
  // believed once nothing from pod1 contradicts it for DatacenterTwin::kBridgeConfirmS).
  auto offline = probe_->WaitFor([](const Received& r) {
    return r.topic == "dctwin/alerts/datacenter/dc1" && JsonString(r.payload, "kind") == "pod_offline" &&
           JsonString(r.payload, "state") == "open";
  }, 25s);
  ASSERT_TRUE(offline) << site_->Log();
  EXPECT_NE(JsonString(offline->payload, "summary").find("the bridge from pod pod1 is down"), std::string::npos)
      << offline->payload;
  // The pod goes on while it cannot reach the site: its racks recover.
  Heal(0, 1);
  ASSERT_TRUE(pod_probe.WaitFor([](const Received& r) { return RackPower(r, "r02", "resolved"); }, 25s))
      << pod_[0]->Log();
  ASSERT_TRUE(pod_probe.WaitFor([](const Received& r) { return RackPower(r, "r01", "resolved"); }, 5s));
  EXPECT_TRUE(probe_->All([](const Received& r) { return RackPower(r, "r01", "resolved"); }).empty())
      << "the cut let a message through";
  std::this_thread::sleep_until(cut_at + kOutage);  // the outage itself, not a wait for a result
  bridge_cut_->Mend();

  // What the pod published during the cut arrives; nothing is missing.
  std::string missing;
  ASSERT_TRUE(WaitUntil([&] {
    missing = Missing(AlertsOf(pod_probe.All(IsAlert)), AlertsOf(probe_->All(IsAlert)));
    return missing.empty();
  }, 30s)) << "not at the site:\n" << missing;
  EXPECT_GE(bridge_cut_->accepted(), 2) << "the bridge never reconnected";
  auto back = probe_->WaitFor([](const Received& r) {
    return r.topic == "dctwin/alerts/datacenter/dc1" && JsonString(r.payload, "kind") == "pod_offline" &&
           JsonString(r.payload, "state") == "resolved";
  }, 10s);
  ASSERT_TRUE(back) << site_->Log();
  EXPECT_EQ(JsonString(back->payload, "id"), JsonString(offline->payload, "id"));
  // The site's view is current again: no rack is unhealthy.
  std::string racks;
  EXPECT_TRUE(UnhealthyRacksAre("", &racks)) << racks;
  const std::string dc = Ask("query/datacenter");
  EXPECT_NE(dc.find("\"healthy\":true"), std::string::npos) << dc << site_->Log();
}

TEST_F(FederationFaultTest, ASiteGatewayKilledAndRestartedRebuildsFromRetainedHealthAndItsState) {
  Sag(0, 1);  // pod1: r01, r02
  Sag(1, 3);  // pod2: r03, r04
  auto dc_open = probe_->WaitFor([](const Received& r) {
    return r.topic == "dctwin/alerts/datacenter/dc1" && JsonString(r.payload, "kind") == "power" &&
           JsonString(r.payload, "state") == "open";
  }, 30s);
  ASSERT_TRUE(dc_open) << site_->Log();
  std::string racks;
  ASSERT_TRUE(UnhealthyRacksAre("r01,r02,r03,r04", &racks)) << racks;

  site_->Kill();
  // While the site gateway is down, pod2's racks recover; their health is retained at the site
  // broker, which is all the restarted gateway has to learn it from.
  Heal(1, 3);
  ASSERT_TRUE(probe_->WaitFor([](const Received& r) { return RackPower(r, "r03", "resolved"); }, 30s));
  ASSERT_TRUE(probe_->WaitFor([](const Received& r) { return RackPower(r, "r04", "resolved"); }, 10s));
  probe_->Clear();
  site_->Start();
  WaitOnline("site");
  EXPECT_TRUE(UnhealthyRacksAre("r01,r02", &racks)) << racks << site_->Log();
  // Two racks still sag: the datacenter incident is the one from before the kill, not a new one.
  // A kill -9 may come before the open's outbox row was marked sent; the restart then sends it
  // again with the same id (the contract's redelivery, deduplicated on id and state).
  const std::string first_id = JsonString(dc_open->payload, "id");
  EXPECT_TRUE(probe_->All([&](const Received& r) {
                return r.topic == "dctwin/alerts/datacenter/dc1" && JsonString(r.payload, "state") == "open" &&
                       JsonString(r.payload, "id") != first_id;
              }).empty())
      << "before the kill: " << dc_open->payload << "\n" << site_->Log();
  Heal(0, 1);
  auto dc_resolved = probe_->WaitFor([](const Received& r) {
    return r.topic == "dctwin/alerts/datacenter/dc1" && JsonString(r.payload, "kind") == "power" &&
           JsonString(r.payload, "state") == "resolved";
  }, 30s);
  ASSERT_TRUE(dc_resolved) << site_->Log();
  EXPECT_EQ(JsonString(dc_resolved->payload, "id"), JsonString(dc_open->payload, "id"));
  EXPECT_TRUE(UnhealthyRacksAre("", &racks)) << racks;
}

TEST_F(FederationFaultTest, TheSiteBrokerDownFor30sLosesNoAlert) {
  Probe pod_probe(pod_broker_[0]->uri(), "pod1-probe");
  pod_probe.Subscribe("dctwin/alerts/#");
  // A client of the site broker with a persistent session: what arrives while it reconnects is
  // kept for it.
  auto auditor = std::make_unique<Probe>(site_broker_.uri(), "site-auditor", /*persistent=*/true);
  auditor->Subscribe("dctwin/alerts/#");
  Sag(0, 1);
  ASSERT_TRUE(auditor->WaitFor([](const Received& r) { return RackPower(r, "r01", "open"); }, 30s)) << pod_[0]->Log();

  site_broker_.Stop();
  const auto down_at = std::chrono::steady_clock::now();
  Heal(0, 1);
  ASSERT_TRUE(pod_probe.WaitFor([](const Received& r) { return RackPower(r, "r02", "resolved"); }, 25s))
      << pod_[0]->Log();
  std::this_thread::sleep_until(down_at + kOutage);  // the outage itself
  site_broker_.StartAgain();

  Probe back(site_broker_.uri(), "site-auditor", /*persistent=*/true);  // the same session
  std::string missing;
  ASSERT_TRUE(WaitUntil([&] {
    std::set<std::string> site = AlertsOf(auditor->All(IsAlert));
    for (const std::string& a : AlertsOf(back.All(IsAlert))) site.insert(a);
    missing = Missing(AlertsOf(pod_probe.All(IsAlert)), site);
    return missing.empty();
  }, 60s)) << "not at the site:\n" << missing;
  // The site gateway is back on its broker and its view is current.
  std::string racks;
  EXPECT_TRUE(UnhealthyRacksAre("", &racks)) << racks << site_->Log();
}

}  // namespace
}  // namespace dctwin::testing

namespace dctwin::testing {
namespace {

// Issue 22 item 9: a pod gateway is down when the site ends a silence early. The expiry is a
// retained tombstone, so the pod sees it when it is back and stops muting at once, not at the
// silence's old ends_at.
TEST_F(FederationFaultTest, APodThatMissedASilencesEarlyEndStopsMutingOnceItIsBack) {
  Sag(0, 1);
  ASSERT_TRUE(probe_->WaitFor([](const Received& r) {
    return r.topic.rfind("dctwin/incidents/server/", 0) == 0 && JsonString(r.payload, "kind") == "power";
  }, 30s));
  const std::string answer = Ask("command/silence", R"({"matchers": {"kind": "power"}, "duration_s": 86400, "created_by": "t"})");
  const std::string id = JsonString(answer, "id");
  ASSERT_FALSE(id.empty()) << answer;
  auto muted = probe_->WaitFor([&](const Received& r) {
    return r.topic.rfind("dctwin/incidents/server/", 0) == 0 && r.payload.find("\"silenced_by\":[\"" + id + "\"]") != std::string::npos;
  }, 30s);
  ASSERT_TRUE(muted);
  const std::string record_topic = muted->topic;
  ASSERT_EQ(pod_[0]->Terminate(), 0);
  ASSERT_NE(Ask("command/silence/expire", R"({"id": ")" + id + R"("})").find("\"ok\":true"), std::string::npos);
  const std::string tombstone = RunCommand("mosquitto_sub -h 127.0.0.1 -p " + std::to_string(site_broker_.port()) +
                                           " -t dctwin/silences/" + id + " --retained-only -C 1 -W 5 2>/dev/null");
  EXPECT_EQ(JsonString(tombstone, "state"), "expired") << tombstone;
  EXPECT_GT(JsonNumber(tombstone, "expired_at"), 0) << tombstone;
  probe_->Clear();
  pod_[0]->Start();
  WaitOnline("pod1");
  EXPECT_TRUE(probe_->WaitFor([&](const Received& r) {
    return r.topic == record_topic && r.payload.find("\"silenced_by\":[]") != std::string::npos;
  }, 30s)) << pod_[0]->Log();
}

}  // namespace
}  // namespace dctwin::testing
