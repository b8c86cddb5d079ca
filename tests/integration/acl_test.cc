// The shipped mosquitto ACL (config/mosquitto/dctwin.acl) on a broker that enforces it, with
// passwords made by mosquitto_passwd: a viewer's command never reaches the gateway, an
// operator's does, and a server can publish only its own metrics.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <string>

#include "tests/integration/harness.h"

namespace dctwin::testing {
namespace {

class AclTest : public ::testing::Test {
 protected:
  void SetUp() override { Start(ReadFile(std::string(DCTWIN_SOURCE_DIR) + "/config/mosquitto/dctwin.acl")); }
  // More of the gateway's config (before Start()).
  std::string extra_config_;

  void Start(const std::string& acl_text) {
    const std::string d = dir_.path();
    chmod(d.c_str(), 0755);  // mosquitto, started as root, reads its files as the mosquitto user
    int status = -1;
    RunCommand("cd " + d + " && touch passwd && for u in dctwin-gateway provisioning viewer operator s1 s2 pod-1-bridge; do "
               "mosquitto_passwd -b passwd $u pw-$u || exit 1; done && chmod 644 passwd",
               &status);
    ASSERT_EQ(status, 0);
    const std::string acl = dir_.Write("dctwin.acl", acl_text);
    chmod(acl.c_str(), 0644);
    broker_ = std::make_unique<Mosquitto>(
        dir_, false, "allow_anonymous false\npassword_file " + d + "/passwd\nacl_file " + acl + "\n");
    broker_->Start();
    const std::string creds = dir_.Write("credentials", "dctwin-gateway\npw-dctwin-gateway\n");
    chmod(creds.c_str(), 0600);
    const std::string config = dir_.Write(
        "dctwin.toml", "[broker]\ncredentials_file = \"" + creds + "\"\n[gateway]\nstats_interval_s = 0.3\n[metrics]\nlisten = \"\"\n"
                       "[model]\nheartbeat_timeout_s = 3600\n" + extra_config_);
    gateway_ = std::make_unique<GatewayProcess>(
        dir_, std::vector<std::string>{"--config", config, "--broker", broker_->uri(), "--state", dir_.File("state.db"),
                                       "--gateway-id", "gw-acl"});
    gateway_->Start();
    ASSERT_TRUE(WaitUntil(
        [&] {
          return Sub("viewer", "dctwin/gateway/gw-acl/status").find("\"online\":true") != std::string::npos;
        },
        20s))
        << gateway_->Log();
  }

  std::string Auth(const std::string& user) const {
    return " -h 127.0.0.1 -p " + std::to_string(broker_->port()) + " -u " + user + " -P pw-" + user + " ";
  }
  // The retained message on `topic`, as `user` sees it.
  std::string Sub(const std::string& user, const std::string& topic) {
    return RunCommand("mosquitto_sub" + Auth(user) + "-t '" + topic + "' -C 1 -W 2 2>/dev/null");
  }
  void Pub(const std::string& user, const std::string& topic, const std::string& payload) {
    RunCommand("mosquitto_pub -V 5 -q 1" + Auth(user) + "-t '" + topic + "' -m '" + payload + "' 2>/dev/null");
  }
  std::string Ask(const std::string& user, const std::string& what, const std::string& payload, int wait_s = 10) {
    return RunCommand("mosquitto_rr -V 5" + Auth(user) + "-t dctwin/" + what + " -e dctwin/reply/" + user + " -W " +
                      std::to_string(wait_s) + " -m '" + payload + "' 2>/dev/null");
  }

  TempDir dir_;
  std::unique_ptr<Mosquitto> broker_;
  std::unique_ptr<GatewayProcess> gateway_;
};

TEST_F(AclTest, ViewersWatchOperatorsActServersPublishOnlyTheirOwnMetrics) {
  Pub("provisioning", "dctwin/provisioning/s1", R"({"action":"commission","rack":"r1"})");
  Pub("provisioning", "dctwin/provisioning/s2", R"({"action":"commission","rack":"r1"})");
  // s1 tries to speak for s2 first (the broker drops it), then reports for itself.
  for (int i = 0; i < 3; ++i) Pub("s1", "dctwin/metrics/s2", R"({"temp_c": 99})");
  for (int i = 0; i < 3; ++i) Pub("s1", "dctwin/metrics/s1", R"({"temp_c": 99})");
  std::string incidents;
  ASSERT_TRUE(WaitUntil([&] { return (incidents = Ask("viewer", "query/incidents", "")).find("server:s1:thermal") != std::string::npos; }, 15s))
      << incidents << gateway_->Log();
  EXPECT_EQ(incidents.find("server:s2:"), std::string::npos) << incidents;
  const std::string s2 = Ask("viewer", "query/server/s2", "");
  EXPECT_NE(s2.find("\"found\":true"), std::string::npos) << s2;
  EXPECT_EQ(s2.find("temp_c"), std::string::npos) << "s1's reports for s2 reached the gateway: " << s2;

  // A viewer's silence never arrives: no answer, and no silence.
  const std::string silence = R"({"matchers": {"rack": "r1"}, "duration_s": 600, "created_by": "v"})";
  EXPECT_EQ(Ask("viewer", "command/silence", silence, 3), "");
  EXPECT_EQ(Ask("operator", "query/silences", ""), "{\"silences\":[]}\n");
  // An operator's does.
  const std::string answer = Ask("operator", "command/silence", silence);
  EXPECT_NE(answer.find("\"ok\":true"), std::string::npos) << answer << gateway_->Log();
  EXPECT_NE(Ask("viewer", "query/silences", "").find("\"created_by\":\"v\""), std::string::npos);
  // Viewers read the retained records, including the silence's.
  EXPECT_NE(Sub("viewer", "dctwin/incidents/server/s1/thermal").find("\"silenced_by\":[\"sil-"), std::string::npos);

  // On a site broker, a pod's bridge writes its own pod's topics only: the copy of a rack's health
  // under P/gateway/<pod>/ is where the site knows which bridge it came over.
  RunCommand("mosquitto_pub -V 5 -q 1 -r" + Auth("pod-1-bridge") + "-t dctwin/gateway/pod-2/health/rack/r9 -m forged");
  RunCommand("mosquitto_pub -V 5 -q 1 -r" + Auth("pod-1-bridge") + "-t dctwin/gateway/pod-1/health/rack/r9 -m own");
  RunCommand("mosquitto_pub -V 5 -q 1 -r" + Auth("viewer") + "-t dctwin/gateway/pod-1/health/rack/r8 -m forged");
  EXPECT_EQ(Sub("viewer", "dctwin/gateway/pod-1/health/rack/r9"), "own\n");
  EXPECT_EQ(Sub("viewer", "dctwin/gateway/pod-2/health/rack/r9"), "");
  EXPECT_EQ(Sub("viewer", "dctwin/gateway/pod-1/health/rack/r8"), "");
}

// Control on the shipped ACL: operators change desired state, viewers cannot; a server reads only
// its own P/control and reports only its own P/reported.
class ControlAclTest : public AclTest {
 protected:
  void SetUp() override {
    extra_config_ = "[control]\nack_timeout_s = 600\n[[control.keys]]\nname = \"power_cap_w\"\ntype = \"number\"\n";
    AclTest::SetUp();
  }
};

TEST_F(ControlAclTest, OperatorsSetDesiredStateAndEachServerSeesAndReportsOnlyItsOwn) {
  Pub("provisioning", "dctwin/provisioning/s1", R"({"action":"commission","rack":"r1"})");
  Pub("provisioning", "dctwin/provisioning/s2", R"({"action":"commission","rack":"r1"})");
  ASSERT_TRUE(WaitUntil([&] { return Ask("viewer", "query/twin/s2", "").find("\"server\":\"s2\"") != std::string::npos; }, 15s))
      << gateway_->Log();
  // A viewer's change never arrives; an operator's does.
  EXPECT_EQ(Ask("viewer", "command/desired", R"({"server":"s1","set":{"power_cap_w":300}})", 3), "");
  EXPECT_NE(Ask("viewer", "query/twin/s1", "").find("\"version\":0"), std::string::npos);
  EXPECT_NE(Ask("operator", "command/desired", R"({"server":"s1","set":{"power_cap_w":300}})").find("\"ok\":true"),
            std::string::npos);
  EXPECT_NE(Ask("operator", "command/desired", R"({"server":"s2","set":{"power_cap_w":400}})").find("\"ok\":true"),
            std::string::npos);
  // Each server reads its own desired state, not another's; viewers read neither.
  EXPECT_NE(Sub("s1", "dctwin/control/s1").find("\"power_cap_w\":300"), std::string::npos);
  EXPECT_EQ(Sub("s1", "dctwin/control/s2"), "");
  EXPECT_EQ(Sub("viewer", "dctwin/control/s1"), "");
  // s1 cannot report for s2, a viewer for nobody; s1 for itself, it can.
  Pub("s1", "dctwin/reported/s2", R"({"version":1,"reported":{"power_cap_w":400},"ac":200})");
  Pub("viewer", "dctwin/reported/s1", R"({"version":1,"reported":{"power_cap_w":300},"ac":200})");
  Pub("s1", "dctwin/reported/s1", R"({"version":1,"reported":{"power_cap_w":300},"ac":200})");
  ASSERT_TRUE(WaitUntil([&] { return Ask("viewer", "query/twin/s1", "").find("\"state\":\"in_sync\"") != std::string::npos; }, 10s));
  // The reports are taken in order on one connection: s2's would have come before s1's.
  EXPECT_NE(Ask("viewer", "query/twin/s2", "").find("\"reported_version\":0"), std::string::npos)
      << Ask("viewer", "query/twin/s2", "");
  // Viewers see the twin's state.
  EXPECT_NE(Sub("viewer", "dctwin/twin/server/s1").find("\"state\":\"in_sync\""), std::string::npos);
}

// A gateway that may write only under dctwin/ is asked to answer on another topic: the broker
// refuses that reply for good, and the gateway gives it up (counted) instead of retrying for ever.
class NarrowGatewayAclTest : public AclTest {
 protected:
  void SetUp() override {
    Start("user dctwin-gateway\ntopic readwrite dctwin/#\n\nuser viewer\ntopic read dctwin/#\n\nuser operator\ntopic readwrite dctwin/#\ntopic read elsewhere/#\n");
  }
};

TEST_F(NarrowGatewayAclTest, AReplyTheBrokerRefusesIsGivenUpNotRetriedForEver) {
  RunCommand("mosquitto_rr -V 5" + Auth("operator") + "-t dctwin/query/datacenter -e elsewhere/x -W 2 -m '' 2>/dev/null");
  std::string stats;
  ASSERT_TRUE(WaitUntil([&] {
    stats = Sub("operator", "dctwin/gateway/gw-acl/stats");
    return stats.find("\"dropped\":1") != std::string::npos;
  }, 15s)) << stats << gateway_->Log();
  EXPECT_NE(gateway_->Log().find("gave up publishing to elsewhere/x"), std::string::npos) << gateway_->Log();
  // Nothing is stuck behind it.
  EXPECT_NE(Ask("operator", "query/datacenter", "").find("\"found\":true"), std::string::npos);
  EXPECT_NE(stats.find("\"queued\":0"), std::string::npos) << stats;
}

}  // namespace
}  // namespace dctwin::testing
