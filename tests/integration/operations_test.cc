// Operators' hands against the real binary and a real broker: retained incident records,
// silences and maintenance, acknowledgements, the commands' answers (with mosquitto_rr, the
// client the contract names) and dctwinctl.
#include <gtest/gtest.h>

#include <string>

#include "tests/integration/gateway_fixture.h"

namespace dctwin::testing {
namespace {

const char* kOpsConfig = R"(
[gateway]
stats_interval_s = 0.2
[model]
heartbeat_timeout_s = 3600
[[rules]]
kind = "thermal"
metric = "temp_c"
op = ">"
threshold = 85.0
for_reports = 3
severity = "critical"
runbook = "https://wiki.example/runbooks/thermal"
)";

class OperationsTest : public GatewayTest {
 protected:
  // An MQTT 5 request with mosquitto_rr; returns the answer.
  std::string Request(const std::string& what, const std::string& payload) {
    return Trim(RunCommand("mosquitto_rr -V 5 -h 127.0.0.1 -p " + std::to_string(broker_.port()) + " -t dctwin/" + what +
                      " -e reply/ops -W 10 -m '" + payload + "'"));
  }
  static std::string Trim(std::string s) {
    while (!s.empty() && s.back() == '\n') s.pop_back();
    return s;
  }
  // What a subscriber that arrives now gets on `topic`: its retained message.
  std::string Retained(const std::string& topic) {
    return Trim(RunCommand("mosquitto_sub -h 127.0.0.1 -p " + std::to_string(broker_.port()) + " -t '" + topic +
                           "' -C 1 -W 5 -F '%r %p'"));
  }
  // dctwinctl's output (with its error messages unless `stdout_only`).
  std::string Ctl(const std::string& args, int* status = nullptr, bool stdout_only = false) {
    return RunCommand(std::string(DCTWIN_CTL_BINARY) + " --broker " + broker_.uri() + " --timeout 5 " + args +
                          (stdout_only ? " 2>/dev/null" : " 2>&1"),
                      status);
  }
  void MakeHot(const std::string& server, const std::string& rack) {
    Commission(server, rack);
    for (int i = 0; i < 3; ++i) Report(server, R"({"temp_c": 95})");
  }
  std::optional<Received> Record(const std::string& topic, const std::function<bool(const std::string&)>& match) {
    return probe_->WaitFor([&](const Received& r) { return r.topic == topic && match(r.payload); });
  }
};

TEST_F(OperationsTest, RecordsSilencesAndAcknowledgementsFollowTheContract) {
  StartGateway(kOpsConfig);
  MakeHot("s1", "r07");
  auto open = Alert("server", "s1", "open");
  ASSERT_TRUE(open) << gateway_->Log();
  const std::string id = JsonString(open->payload, "id");
  EXPECT_EQ(JsonString(open->payload, "runbook"), "https://wiki.example/runbooks/thermal");
  const std::string record_topic = "dctwin/incidents/server/s1/thermal";
  auto record = Record(record_topic, [&](const std::string& p) { return p.find(id) != std::string::npos; });
  ASSERT_TRUE(record);
  EXPECT_EQ(Retained(record_topic).rfind("1 {", 0), 0u) << "retained: " << Retained(record_topic);
  EXPECT_NE(record->payload.find("\"silenced_by\":[]"), std::string::npos) << record->payload;
  EXPECT_NE(record->payload.find("\"flapping\":false"), std::string::npos) << record->payload;

  // A silence on the rack and kind mutes it now, and says so in its answer.
  const std::string answer = Request(
      "command/silence",
      R"({"matchers": {"rack": "r07", "kind": "thermal"}, "duration_s": 7200, "created_by": "alice", "comment": "PDU swap"})");
  ASSERT_NE(answer.find("\"ok\":true"), std::string::npos) << answer;
  const std::string silence = JsonString(answer, "id");
  ASSERT_FALSE(silence.empty());
  EXPECT_NE(answer.find(id), std::string::npos) << answer;
  ASSERT_TRUE(Record(record_topic, [&](const std::string& p) { return p.find(silence) != std::string::npos; }));
  auto retained_silence = Record("dctwin/silences/" + silence, [](const std::string& p) { return !p.empty(); });
  ASSERT_TRUE(retained_silence);
  EXPECT_EQ(JsonString(retained_silence->payload, "state"), "active");
  EXPECT_EQ(JsonString(retained_silence->payload, "created_by"), "alice");

  // An acknowledgement: one acknowledged event, and the record carries it.
  const std::string acked = Request("command/ack", R"({"incident": ")" + id + R"(", "by": "bob", "comment": "on it"})");
  ASSERT_NE(acked.find("\"ok\":true"), std::string::npos) << acked;
  auto ack_event = Alert("server", "s1", "acknowledged");
  ASSERT_TRUE(ack_event);
  EXPECT_EQ(JsonString(ack_event->payload, "acked_by"), "bob");
  EXPECT_EQ(JsonString(ack_event->payload, "ack_comment"), "on it");
  ASSERT_TRUE(Record(record_topic, [](const std::string& p) { return p.find("\"acked_by\":\"bob\"") != std::string::npos; }));
  const std::string listed = Request("query/incidents", "");
  EXPECT_NE(listed.find("\"acked_by\":\"bob\""), std::string::npos) << listed;
  EXPECT_NE(listed.find(silence), std::string::npos) << listed;

  // Muted, not hidden: the resolve goes out, carrying the silence, and the record is cleared.
  for (int i = 0; i < 3; ++i) Report("s1", R"({"temp_c": 60})");
  auto resolved = Alert("server", "s1", "resolved");
  ASSERT_TRUE(resolved);
  EXPECT_NE(resolved->payload.find(silence), std::string::npos) << resolved->payload;
  ASSERT_TRUE(Record(record_topic, [](const std::string& p) { return p.empty(); }));
  EXPECT_EQ(Request("query/incidents", ""), "{\"incidents\":[]}");
  // A new incident after the resolve is new and unacknowledged.
  for (int i = 0; i < 3; ++i) Report("s1", R"({"temp_c": 96})");
  auto reopened = probe_->WaitFor([&](const Received& r) {
    return r.topic == "dctwin/alerts/server/s1" && JsonString(r.payload, "state") == "open" &&
           JsonString(r.payload, "id") != id;
  });
  ASSERT_TRUE(reopened);
  EXPECT_FALSE(JsonHas(reopened->payload, "acked_by")) << reopened->payload;
  EXPECT_NE(reopened->payload.find(silence), std::string::npos) << "still muted: " << reopened->payload;

  // Expiring the silence leaves a retained tombstone and unmutes the open incident.
  ASSERT_NE(Request("command/silence/expire", R"({"id": ")" + silence + R"("})").find("\"ok\":true"),
            std::string::npos);
  ASSERT_TRUE(Record("dctwin/silences/" + silence, [&](const std::string& p) {
    return p.rfind("{\"id\":\"" + silence + "\",\"state\":\"expired\",\"expired_at\":", 0) == 0;
  }));
  ASSERT_TRUE(Record(record_topic, [&](const std::string& p) {
    return p.find(JsonString(reopened->payload, "id")) != std::string::npos && p.find("\"silenced_by\":[]") != std::string::npos;
  }));
  const std::string silences = Request("query/silences", "");
  EXPECT_NE(silences.find("\"state\":\"expired\""), std::string::npos) << silences;
}

TEST_F(OperationsTest, BadCommandsGetAnErrorAPersonCanActOnAndChangeNothing) {
  StartGateway(kOpsConfig);
  const std::string unknown_key = Request("command/silence", R"({"matchers": {"host": "s1"}, "duration_s": 60, "created_by": "a"})");
  EXPECT_NE(unknown_key.find("\"ok\":false"), std::string::npos) << unknown_key;
  EXPECT_NE(unknown_key.find("unknown matcher"), std::string::npos) << unknown_key;
  const std::string backwards =
      Request("command/silence", R"({"matchers": {"rack": "r1"}, "starts_at": 4000000000, "ends_at": 3999999000, "created_by": "a"})");
  EXPECT_NE(backwards.find("before"), std::string::npos) << backwards;
  const std::string unknown_incident = Request("command/ack", R"({"incident": "server:nope:thermal:1.1", "by": "a"})");
  EXPECT_NE(unknown_incident.find("is not open"), std::string::npos) << unknown_incident;
  const std::string garbage = Request("command/silence", "{not json");
  EXPECT_NE(garbage.find("not valid JSON"), std::string::npos) << garbage;
  const std::string maintenance_everywhere =
      Request("command/silence", R"({"matchers": {"kind": "thermal"}, "duration_s": 60, "created_by": "a", "maintenance": true})");
  EXPECT_NE(maintenance_everywhere.find("server or rack matcher"), std::string::npos) << maintenance_everywhere;
  EXPECT_EQ(Request("query/silences", ""), "{\"silences\":[]}");
  ASSERT_TRUE(probe_->WaitFor([](const Received& r) {
    return r.topic == "dctwin/gateway/gw-test/stats" && r.payload.find("\"commands_refused\":5") != std::string::npos;
  }));
}

TEST_F(OperationsTest, AnsweredCommandsSurviveKillNine) {
  StartGateway(kOpsConfig);
  MakeHot("s1", "r1");
  auto open = Alert("server", "s1", "open");
  ASSERT_TRUE(open);
  const std::string id = JsonString(open->payload, "id");
  const std::string silence = JsonString(
      Request("command/silence", R"({"matchers": {"server": "s*"}, "duration_s": 3600, "created_by": "carol"})"), "id");
  ASSERT_FALSE(silence.empty());
  ASSERT_NE(Request("command/ack", R"({"incident": ")" + id + R"(", "by": "dave", "comment": "swapping fans"})")
                .find("\"ok\":true"),
            std::string::npos);
  gateway_->Kill();
  gateway_->Start();
  WaitOnline();
  const std::string silences = Request("query/silences", "");
  EXPECT_NE(silences.find(silence), std::string::npos) << silences;
  EXPECT_NE(silences.find("\"state\":\"active\""), std::string::npos) << silences;
  const std::string incidents = Request("query/incidents", "");
  EXPECT_NE(incidents.find("\"acked_by\":\"dave\""), std::string::npos) << incidents;
  EXPECT_NE(incidents.find(silence), std::string::npos) << incidents;
}

TEST_F(OperationsTest, MaintenanceKeepsServersOutOfSilenceAndCorrelationUntilDecommissioned) {
  StartGateway(R"(
[gateway]
stats_interval_s = 0.2
[model]
heartbeat_timeout_s = 2
storm_fraction = 0
[state]
restart_grace_s = 0
)");
  for (const char* s : {"m1", "m2", "m3"}) Commission(s, "r1");
  Commission("o1", "r2");
  const std::string answer = Request(
      "command/silence", R"({"matchers": {"rack": "r1"}, "duration_s": 3600, "created_by": "erin", "maintenance": true})");
  ASSERT_NE(answer.find("\"ok\":true"), std::string::npos) << answer;
  // Three hot servers under maintenance: their incidents open (muted), the rack does not correlate.
  for (const char* s : {"m1", "m2", "m3"}) {
    for (int i = 0; i < 3; ++i) Report(s, R"({"temp_c": 95})");
  }
  for (const char* s : {"m1", "m2", "m3"}) ASSERT_TRUE(Alert("server", s, "open")) << s;
  // The server outside the maintenance goes silent; those inside do not.
  ASSERT_TRUE(Alert("server", "o1", "open", 15s)) << gateway_->Log();
  // Decommissioning m1 ends its part of the maintenance: commissioned again, it goes silent.
  probe_->Publish("dctwin/provisioning/m1", R"({"action":"decommission"})");
  Commission("m1", "r1");
  auto m1_silent = probe_->WaitFor(
      [](const Received& r) {
        return r.topic == "dctwin/alerts/server/m1" && JsonString(r.payload, "kind") == "silent" &&
               JsonString(r.payload, "state") == "open";
      },
      15s);
  ASSERT_TRUE(m1_silent) << gateway_->Log();
  // By then m2 and m3 have been quiet longer than m1, and are still not silent; nor is r1 correlated.
  EXPECT_TRUE(probe_->All([](const Received& r) {
                      return (r.topic == "dctwin/alerts/server/m2" || r.topic == "dctwin/alerts/server/m3") &&
                             JsonString(r.payload, "kind") == "silent";
                    }).empty());
  EXPECT_TRUE(probe_->All([](const Received& r) { return r.topic == "dctwin/alerts/rack/r1"; }).empty());
}

TEST_F(OperationsTest, ExpiredSilencesStayListedForAWhileThenGo) {
  StartGateway(std::string(kOpsConfig) + "[silences]\nkeep_expired_s = 1\n");
  const std::string id = JsonString(
      Request("command/silence", R"({"matchers": {"rack": "r1"}, "duration_s": 3600, "created_by": "a"})"), "id");
  ASSERT_FALSE(id.empty());
  ASSERT_NE(Request("command/silence/expire", R"({"id": ")" + id + R"("})").find("\"ok\":true"), std::string::npos);
  EXPECT_NE(Request("query/silences", "").find("\"state\":\"expired\""), std::string::npos);
  EXPECT_NE(Request("command/silence/expire", R"({"id": ")" + id + R"("})").find("already expired"), std::string::npos);
  std::string listed;
  ASSERT_TRUE(WaitUntil([&] { return (listed = Request("query/silences", "")) == "{\"silences\":[]}"; }, 10s)) << listed;
  EXPECT_NE(Request("command/silence/expire", R"({"id": ")" + id + R"("})").find("unknown silence"), std::string::npos);
}

TEST_F(OperationsTest, DctwinctlListsSilencesAcknowledgesAndSaysWhenNobodyAnswers) {
  StartGateway(kOpsConfig);
  MakeHot("s1", "r07");
  auto open = Alert("server", "s1", "open");
  ASSERT_TRUE(open);
  const std::string id = JsonString(open->payload, "id");
  int status = -1;
  const std::string table = Ctl("incidents --rack r07", &status);
  EXPECT_EQ(status, 0) << table;
  EXPECT_NE(table.find("SEVERITY"), std::string::npos) << table;
  EXPECT_NE(table.find(id), std::string::npos) << table;
  EXPECT_EQ(Ctl("incidents --rack r99").find(id), std::string::npos);
  const std::string added = Ctl("silence add rack=r07 kind=thermal --for 2h -c 'PDU swap' --by alice", &status, true);
  ASSERT_EQ(status, 0) << added;
  const std::string silence = added.substr(0, added.find('\n'));
  EXPECT_EQ(silence.rfind("sil-", 0), 0u) << added;
  const std::string listed = Ctl("silence ls", &status);
  EXPECT_NE(listed.find("rack=r07 kind=thermal"), std::string::npos) << listed;
  EXPECT_NE(listed.find("PDU swap"), std::string::npos) << listed;
  EXPECT_EQ(Ctl("ack " + id + " -c 'on it' --by bob", &status), "ok\n");
  EXPECT_EQ(status, 0);
  ASSERT_TRUE(Alert("server", "s1", "acknowledged"));
  EXPECT_NE(Ctl("incidents --json").find("\"acked_by\":\"bob\""), std::string::npos);
  const std::string refused = Ctl("ack server:s9:thermal:1.1", &status);
  EXPECT_EQ(status, 1) << refused;
  EXPECT_NE(refused.find("is not open"), std::string::npos) << refused;
  EXPECT_EQ(Ctl("silence expire " + silence, &status), "ok\n");
  const std::string racks = Ctl("racks", &status);
  EXPECT_NE(racks.find("r07"), std::string::npos) << racks;
  const std::string server = Ctl("server s1", &status);
  EXPECT_NE(server.find("temp_c"), std::string::npos) << server;
  const std::string nobody = Ctl("--prefix nobody --timeout 1 racks", &status);
  EXPECT_EQ(status, 3) << nobody;
  EXPECT_NE(nobody.find("no answer"), std::string::npos) << nobody;
}

}  // namespace
}  // namespace dctwin::testing
