// History (contract v3): what happened, asked with mosquitto_rr of the real binary. Every incident
// event, silence change and provisioning change is in P/query/history, filtered, paged with the
// gateway's cursor, and kept across a restart; a malformed query is answered ok: false.
#include <gtest/gtest.h>
#include <simdjson.h>

#include <string>
#include <vector>

#include "tests/integration/gateway_fixture.h"

namespace dctwin::testing {
namespace {

const char* kHistoryConfig = R"(
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
)";

// One event of an answer: the fields the tests look at.
struct Event {
  int64_t seq = 0;
  double at = 0;
  std::string type, state, change, subject, rack, id;
};

class HistoryTest : public GatewayTest {
 protected:
  std::string Request(const std::string& what, const std::string& payload) {
    std::string out = RunCommand("mosquitto_rr -V 5 -h 127.0.0.1 -p " + std::to_string(broker_.port()) + " -t dctwin/" +
                                 what + " -e reply/history -W 10 -m '" + payload + "'");
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
  }
  // The events of one answer, and its next_cursor ("" when null). False: not such an answer.
  static bool Parse(const std::string& answer, std::vector<Event>* events, std::string* cursor) {
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    if (parser.parse(answer).get(root) != simdjson::SUCCESS) return false;
    simdjson::dom::array list;
    if (root["events"].get_array().get(list) != simdjson::SUCCESS) return false;
    auto str = [](simdjson::dom::element e, const char* key) {
      std::string_view v;
      return e[key].get_string().get(v) == simdjson::SUCCESS ? std::string(v) : std::string();
    };
    for (simdjson::dom::element e : list) {
      Event ev;
      if (e["seq"].get_int64().get(ev.seq) != simdjson::SUCCESS || e["at"].get_double().get(ev.at) != simdjson::SUCCESS) {
        return false;
      }
      ev.type = str(e, "type");
      ev.state = str(e, "state");
      ev.change = str(e, "change");
      ev.subject = ev.type == "provisioning" ? str(e, "server") : str(e, "subject");
      ev.rack = str(e, "rack");
      ev.id = str(e, "id");
      events->push_back(ev);
    }
    *cursor = str(root, "next_cursor");
    return true;
  }
  std::vector<Event> History(const std::string& payload) {
    std::vector<Event> events;
    std::string cursor;
    const std::string answer = Request("query/history", payload);
    EXPECT_TRUE(Parse(answer, &events, &cursor)) << answer;
    return events;
  }
  // "type:state-or-change:subject" of each event, for readable comparisons.
  static std::vector<std::string> Lines(const std::vector<Event>& events) {
    std::vector<std::string> out;
    for (const Event& e : events) out.push_back(e.type + ":" + (e.state.empty() ? e.change : e.state) + ":" + e.subject);
    return out;
  }
};

TEST_F(HistoryTest, RemembersIncidentsSilencesAndProvisioningAcrossARestart) {
  StartGateway(kHistoryConfig);
  // Each step waits for its row: steps on different shards (and the desk) commit in their own order.
  size_t rows = 0;
  auto settle = [&] {
    ++rows;
    ASSERT_TRUE(WaitUntil([&] { return History("").size() >= rows; }, 10s)) << rows << ": " << Request("query/history", "");
  };
  Commission("h1", "r1");
  settle();
  for (int i = 0; i < 3; ++i) Report("h1", R"({"temp_c": 95})");
  auto open = Alert("server", "h1", "open");
  ASSERT_TRUE(open) << gateway_->Log();
  const std::string id = JsonString(open->payload, "id");
  settle();
  Commission("h2", "r1");
  settle();
  ASSERT_NE(Request("command/ack", R"({"incident": ")" + id + R"(", "by": "bob"})").find("\"ok\":true"), std::string::npos);
  settle();
  const std::string silence = JsonString(
      Request("command/silence", R"({"matchers": {"rack": "r1"}, "duration_s": 600, "created_by": "alice"})"), "id");
  ASSERT_FALSE(silence.empty());
  settle();
  ASSERT_NE(Request("command/silence/expire", R"({"id": ")" + silence + R"("})").find("\"ok\":true"), std::string::npos);
  settle();
  for (int i = 0; i < 3; ++i) Report("h1", R"({"temp_c": 60})");
  ASSERT_TRUE(Alert("server", "h1", "resolved"));
  settle();
  Commission("h2", "r2");  // a move
  settle();
  probe_->Publish("dctwin/provisioning/h1", R"({"action": "decommission"})");
  settle();
  const std::vector<std::string> expected{
      "provisioning:commissioned:h1", "incident:open:h1", "provisioning:commissioned:h2",
      "incident:acknowledged:h1",     "silence:created:", "silence:expired:",
      "incident:resolved:h1",         "provisioning:moved:h2", "provisioning:decommissioned:h1"};
  const std::vector<Event> all = History("");
  ASSERT_EQ(Lines(all), expected) << Request("query/history", "");
  for (size_t i = 1; i < all.size(); ++i) {
    EXPECT_GT(all[i].seq, all[i - 1].seq);
    EXPECT_GE(all[i].at, all[i - 1].at);
  }
  EXPECT_EQ(all[1].id, id);
  EXPECT_EQ(all[4].id, silence);
  EXPECT_EQ(all[7].rack, "r2");

  // Filters.
  EXPECT_EQ(Lines(History(R"({"type": "incident"})")),
            (std::vector<std::string>{"incident:open:h1", "incident:acknowledged:h1", "incident:resolved:h1"}));
  EXPECT_EQ(Lines(History(R"({"subject": "h2"})")),
            (std::vector<std::string>{"provisioning:commissioned:h2", "provisioning:moved:h2"}));
  EXPECT_EQ(History(R"({"rack": "r1"})").size(), 8u);  // h2's move is filed under r2
  EXPECT_EQ(History(R"({"kind": "thermal", "severity": "critical"})").size(), 3u);
  EXPECT_EQ(History(R"({"type": "incident", "since": )" + std::to_string(all[3].at - 1e-3) + "}").size(), 2u);
  EXPECT_EQ(History(R"({"until": )" + std::to_string(all[0].at - 1) + "}").size(), 0u);

  // Pages of two, with the cursor: the same rows, once each, in order; rows appended meanwhile
  // come on the later pages.
  std::vector<Event> paged;
  std::string cursor;
  for (int page = 0; page < 10; ++page) {
    std::vector<Event> events;
    const std::string answer =
        Request("query/history", cursor.empty() ? R"({"limit": 2})" : R"({"limit": 2, "cursor": ")" + cursor + "\"}");
    ASSERT_TRUE(Parse(answer, &events, &cursor)) << answer;
    EXPECT_LE(events.size(), 2u);
    paged.insert(paged.end(), events.begin(), events.end());
    if (page == 1) Commission("h3", "r3");
    if (cursor.empty()) break;
  }
  ASSERT_EQ(paged.size(), expected.size() + 1) << Lines(paged).back();
  EXPECT_EQ(Lines(paged).back(), "provisioning:commissioned:h3");

  // The history is in the state database: a restart keeps it.
  ASSERT_EQ(gateway_->Terminate(), 0);
  gateway_->Start();
  WaitOnline();
  EXPECT_EQ(Lines(History("")).size(), expected.size() + 1);
}

TEST_F(HistoryTest, AMalformedQueryIsAnsweredAndCounted) {
  StartGateway(kHistoryConfig);
  Commission("h1", "r1");
  const std::pair<const char*, const char*> bad[] = {
      {R"({"colour": "red"})", "unknown member"},
      {R"({"limit": 1001})", "limit"},
      {R"({"limit": 0})", "limit"},
      {R"({"cursor": "h1.5.0000000000000000"})", "cursor"},
      {R"({"cursor": "not ours"})", "cursor"},
      {R"({"since": 2000, "until": 1000})", "after"},
      {R"({"type": "weather"})", "type"},
      {R"({"since": "yesterday"})", "since"},
      {R"([1, 2])", "object"},
      {R"({"rack": )", "JSON"},
  };
  for (const auto& [payload, says] : bad) {
    const std::string answer = Request("query/history", payload);
    EXPECT_NE(answer.find("\"ok\":false"), std::string::npos) << payload << " -> " << answer;
    EXPECT_NE(answer.find(says), std::string::npos) << payload << " -> " << answer;
  }
  // A cursor given for other filters is refused too.
  ASSERT_TRUE(WaitUntil([&] { return !History("").empty(); }, 10s));
  Commission("h2", "r1");
  ASSERT_TRUE(WaitUntil([&] { return History("").size() == 2; }, 10s));
  std::vector<Event> events;
  std::string cursor;
  ASSERT_TRUE(Parse(Request("query/history", R"({"limit": 1})"), &events, &cursor));
  ASSERT_FALSE(cursor.empty());
  EXPECT_NE(Request("query/history", R"({"limit": 1, "rack": "r1", "cursor": ")" + cursor + "\"}").find("\"ok\":false"),
            std::string::npos);
  auto stats = StatsWith("messages_in", 0);
  ASSERT_TRUE(probe_->WaitFor([&](const Received& r) {
    return r.topic == "dctwin/gateway/gw-test/stats" && r.payload.find("\"bad_query\":11") != std::string::npos;
  })) << (stats ? stats->payload : "");
}

TEST_F(HistoryTest, TheReportAndDctwinctlTellWhatHappened) {
  StartGateway(kHistoryConfig);
  Commission("h1", "r1");
  Commission("h2", "r1");
  for (int i = 0; i < 3; ++i) Report("h1", R"({"temp_c": 95})");
  auto open = Alert("server", "h1", "open");
  ASSERT_TRUE(open) << gateway_->Log();
  ASSERT_NE(Request("command/ack", R"({"incident": ")" + JsonString(open->payload, "id") + R"(", "by": "bob"})")
                .find("\"ok\":true"),
            std::string::npos);
  for (int i = 0; i < 3; ++i) Report("h1", R"({"temp_c": 60})");
  ASSERT_TRUE(Alert("server", "h1", "resolved"));
  const std::string since = std::to_string(static_cast<long long>(time(nullptr)) - 3600);
  std::string report;
  ASSERT_TRUE(WaitUntil([&] {
    report = Request("query/report", R"({"since": )" + since + R"(, "by": "server"})");
    // h1's incident resolved (one mttr_s that is not null: h2's is)
    const size_t null_mttr = report.find("\"mttr_s\":null");
    return report.find("\"incidents\":1") != std::string::npos && null_mttr != std::string::npos &&
           report.find("\"mttr_s\":null", null_mttr + 1) == std::string::npos;
  }, 10s)) << report;
  simdjson::dom::parser parser;
  simdjson::dom::array rows;
  ASSERT_EQ(parser.parse(report)["rows"].get_array().get(rows), simdjson::SUCCESS) << report;
  ASSERT_EQ(rows.size(), 2u) << report;
  simdjson::dom::element h1 = rows.at(0), h2 = rows.at(1);
  EXPECT_EQ(h1["subject"].get_string().value(), "h1");
  EXPECT_EQ(h1["incidents"].get_int64().value(), 1);
  EXPECT_EQ(h1["by_kind"]["thermal"].get_int64().value(), 1);
  EXPECT_GT(h1["critical_s"].get_double().value(), 0);
  EXPECT_LT(h1["availability"].get_double().value(), 1);
  EXPECT_GE(h1["mtta_s"].get_double().value(), 0);
  EXPECT_EQ(h2["availability"].get_double().value(), 1);
  EXPECT_TRUE(h2["mtta_s"].is_null());
  EXPECT_NE(Request("query/report", R"({"by": "planet"})").find("\"ok\":false"), std::string::npos);

  const std::string ctl = std::string(DCTWIN_CTL_BINARY) + " --broker " + broker_.uri() + " --timeout 5 ";
  int status = -1;
  const std::string table = RunCommand(ctl + "report --since 1h --by rack 2>&1", &status);
  EXPECT_EQ(status, 0) << table;
  EXPECT_NE(table.find("AVAILABILITY"), std::string::npos) << table;
  EXPECT_NE(table.find("r1"), std::string::npos) << table;
  EXPECT_NE(table.find("thermal=1"), std::string::npos) << table;
  const std::string events = RunCommand(ctl + "history --since 1h --kind thermal 2>&1", &status);
  EXPECT_EQ(status, 0) << events;
  EXPECT_NE(events.find("acknowledged"), std::string::npos) << events;
  EXPECT_NE(events.find("by bob"), std::string::npos) << events;
  EXPECT_EQ(events.find("commissioned"), std::string::npos) << "filtered by kind: " << events;
  const std::string paged = RunCommand(ctl + "history --since 1h --limit 2 --json 2>/dev/null", &status);
  EXPECT_EQ(status, 0);
  EXPECT_EQ(paged.rfind("{\"events\":[", 0), 0u) << paged;
  RunCommand(ctl + "history --since yesterday 2>&1", &status);
  EXPECT_EQ(status, 2);

  // A restart keeps what the report is made of.
  ASSERT_EQ(gateway_->Terminate(), 0);
  gateway_->Start();
  WaitOnline();
  EXPECT_NE(Request("query/report", R"({"since": )" + since + R"(, "by": "rack"})").find("\"thermal\":1"),
            std::string::npos);
}

// Rollups: a server's reports as 1-minute and 1-hour buckets, asked with P/query/server/<id>
// {"series": "1m"}; a restart keeps them (and the bucket it interrupted).
TEST_F(HistoryTest, RollupsOfAServersMetricsAreAnsweredAndKeptAcrossARestart) {
  StartGateway(kHistoryConfig);
  Commission("h1", "r1");
  // Four minutes of reports, every 10 s, ending two minutes ago.
  const long long t0 = (static_cast<long long>(time(nullptr)) - 360) / 60 * 60;
  for (int i = 0; i < 24; ++i) {
    Report("h1", "{\"ts\": " + std::to_string(t0 + 10 * i) + ", \"temp_c\": " + std::to_string(40 + i) +
                     ", \"fan_rpm\": 1200}");
  }
  auto series = [&](const std::string& request) {
    simdjson::dom::parser parser;
    const std::string answer = Request("query/server/h1", request);
    std::vector<std::vector<double>> points;
    simdjson::dom::array list;
    if (parser.parse(answer)["series"]["temp_c"].get_array().get(list) == simdjson::SUCCESS) {
      for (simdjson::dom::element p : list) {
        std::vector<double> point;
        for (simdjson::dom::element x : p) point.push_back(x.get_double().value_unsafe());
        points.push_back(point);
      }
    }
    return std::make_pair(answer, points);
  };
  const std::string since = std::to_string(t0 - 60);
  // The three minutes a later report closed are written; the fourth waits for its minute to end.
  std::pair<std::string, std::vector<std::vector<double>>> got;
  ASSERT_TRUE(WaitUntil([&] {
    return (got = series(R"({"series": "1m", "metric": "temp_c", "since": )" + since + "}")).second.size() >= 3;
  }, 20s))
      << got.first;
  ASSERT_EQ(got.second[0].size(), 6u) << got.first;
  EXPECT_EQ(got.second[0][0], t0);
  EXPECT_EQ(got.second[0][1], 40);   // min
  EXPECT_EQ(got.second[0][2], 45);   // max
  EXPECT_EQ(got.second[0][3], 42.5); // mean
  EXPECT_EQ(got.second[0][4], 45);   // last
  EXPECT_EQ(got.second[0][5], 6);    // count
  EXPECT_EQ(got.first.find("fan_rpm"), std::string::npos) << got.first;
  EXPECT_NE(series(R"({"series": "1m", "metric": "*", "since": )" + since + "}").first.find("fan_rpm"), std::string::npos);
  EXPECT_NE(Request("query/server/h1", R"({"series": "5m"})").find("\"ok\":false"), std::string::npos);

  // A stop hands over the minute and the hour it was in the middle of; the restart keeps them all.
  ASSERT_EQ(gateway_->Terminate(), 0);
  gateway_->Start();
  WaitOnline();
  got = series(R"({"series": "1m", "since": )" + since + "}");
  ASSERT_EQ(got.second.size(), 4u) << got.first;
  EXPECT_EQ(got.second[3][0], t0 + 180);
  double hourly = 0;
  for (const auto& p : series(R"({"series": "1h", "since": )" + since + "}").second) hourly += p[5];
  EXPECT_EQ(hourly, 24);
  // A late report of the first minute joins it.
  Report("h1", "{\"ts\": " + std::to_string(t0 + 5) + ", \"temp_c\": 99}");
  Report("h1", "{\"temp_c\": 41}");
  ASSERT_TRUE(WaitUntil([&] {
    got = series(R"({"series": "1m", "since": )" + since + "}");
    return !got.second.empty() && got.second[0][5] == 7;
  }, 20s)) << got.first;
  EXPECT_EQ(got.second[0][2], 99);
}

}  // namespace
}  // namespace dctwin::testing
