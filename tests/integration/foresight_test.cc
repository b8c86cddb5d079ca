// Forecast and change rules (contract v3), black box: the real gateway over a real mosquitto is
// fed eight hours of a filling disk and an inlet temperature that steps (stamped in the past: the
// model judges by report time), and says so on P/alerts and P/incidents with the contract's
// figures, in P/query/server and in `dctwinctl server`; a restart keeps the forecast.
#include <simdjson.h>

#include <cmath>
#include <ctime>
#include <string>

#include "tests/integration/end_state.h"
#include "tests/integration/gateway_fixture.h"

namespace dctwin::testing {
namespace {

const char* kForesightConfig = R"(
[gateway]
stats_interval_s = 0.2
[model]
heartbeat_timeout_s = 86400
max_messages_per_s = 0
[[rules]]
kind = "disk_full"
metric = "df-*/percent_bytes-used"
op = ">"
threshold = 95
forecast_s = 14400
[[rules]]
metric = "inlet_temp"
change = "up"
shift = 3
)";

constexpr double kHour = 3600;

class ForesightTest : public GatewayTest {
 protected:
  std::string Request(const std::string& what, const std::string& payload) {
    std::string out = RunCommand("mosquitto_rr -V 5 -h 127.0.0.1 -p " + std::to_string(broker_.port()) + " -t dctwin/" +
                                 what + " -e reply/foresight -W 10 -m '" + payload + "'");
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
  }
  // The first open event of `kind` on s1's alerts.
  std::optional<Received> Opened(const std::string& kind) {
    return probe_->WaitFor([&](const Received& r) {
      return r.topic == "dctwin/alerts/server/s1" && JsonString(r.payload, "kind") == kind &&
             JsonString(r.payload, "state") == "open";
    }, 30s);
  }
  static double Number(const std::string& json, const char* key) {
    simdjson::dom::parser parser;
    double v = NAN;
    if (parser.parse(json)[key].get_double().get(v) != simdjson::SUCCESS) return NAN;
    return v;
  }
};

TEST_F(ForesightTest, AFillingDiskIsForecastAndAStepIsAChangeOnEveryInterface) {
  StartGateway(kForesightConfig);
  Commission("s1", "r1");
  ASSERT_TRUE(WaitUntil([&] { return Request("query/server/s1", "{}").find("\"found\":true") != std::string::npos; }, 10s));
  // Eight hours ago to now, a report a minute: the disk fills at 2 % an hour from 80 % (95 % is
  // 7.5 h after the start: within the 4-h forecast from 3.5 h on), and the inlet temperature
  // steps from 24 to 28 degrees at 7 h.
  const double t0 = std::floor(static_cast<double>(time(nullptr)) - 8 * kHour);
  for (int i = 0; i < 480; ++i) {
    const double t = t0 + 60 * i;
    const double disk = 80 + 2 * (t - t0) / kHour + 0.05 * std::sin(i);
    const double inlet = (t - t0 < 7 * kHour ? 24 : 28) + 0.3 * std::sin(1.7 * i);
    char json[200];
    std::snprintf(json, sizeof json, R"({"ts": %.0f, "df-root/percent_bytes-used": %.3f, "inlet_temp": %.3f})", t,
                  disk, inlet);
    probe_->PublishPipelined("dctwin/metrics/s1", json);
  }
  probe_->Drain();
  auto forecast = Opened("disk_full");
  ASSERT_TRUE(forecast) << gateway_->Log();
  const std::string& f = forecast->payload;
  EXPECT_EQ(JsonString(f, "metric"), "df-root/percent_bytes-used") << f;
  const double at = Number(f, "at"), eta = Number(f, "eta_s");
  EXPECT_NEAR(at, t0 + 3.5 * kHour, 0.25 * kHour) << f;
  EXPECT_NEAR(at + eta, t0 + 7.5 * kHour, 0.25 * kHour) << f;
  EXPECT_LE(Number(f, "eta_low_s"), eta) << f;
  EXPECT_GE(Number(f, "eta_high_s"), eta) << f;
  EXPECT_NE(JsonString(f, "summary").find("df-root/percent_bytes-used reaches 95 in ~"), std::string::npos) << f;
  EXPECT_NE(JsonString(f, "summary").find("on server s1"), std::string::npos) << f;

  auto change = Opened("change");
  ASSERT_TRUE(change) << gateway_->Log();
  const std::string& c = change->payload;
  EXPECT_EQ(JsonString(c, "metric"), "inlet_temp") << c;
  EXPECT_NEAR(Number(c, "before"), 24, 0.3) << c;
  EXPECT_NEAR(Number(c, "after"), 28, 0.4) << c;
  EXPECT_NEAR(Number(c, "changed_at"), t0 + 7 * kHour, 60) << c;
  EXPECT_NE(JsonString(c, "summary").find("inlet_temp stepped up from 24"), std::string::npos) << c;

  // The retained records carry the same figures.
  const std::string port = std::to_string(broker_.port());
  std::string records;
  ASSERT_TRUE(WaitUntil([&] {
    records = RunCommand("mosquitto_sub -h 127.0.0.1 -p " + port +
                         " -t 'dctwin/incidents/server/s1/#' --retained-only -W 2 -v 2>/dev/null");
    return records.find("\"eta_high_s\"") != std::string::npos && records.find("\"changed_at\"") != std::string::npos;
  }, 10s)) << records;

  // The query and dctwinctl say what the rules see.
  const std::string view = Request("query/server/s1", "{}");
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  ASSERT_EQ(parser.parse(view).get(root), simdjson::SUCCESS) << view;
  simdjson::dom::element fc = root["forecasts"].at(0);
  EXPECT_EQ(fc["metric"].get_string().value(), "df-root/percent_bytes-used") << view;
  EXPECT_TRUE(fc["firing"].get_bool().value()) << view;
  EXPECT_TRUE(fc["known"].get_bool().value()) << view;
  EXPECT_NEAR(fc["rate_per_h"].get_double().value(), 2, 0.1) << view;
  simdjson::dom::element ch = root["changes"].at(0);
  EXPECT_TRUE(ch["changed"].get_bool().value()) << view;
  EXPECT_EQ(ch["direction"].get_string().value(), "up") << view;

  const std::string ctl = std::string(DCTWIN_CTL_BINARY) + " --broker " + broker_.uri() + " --timeout 5 ";
  int status = -1;
  const std::string shown = RunCommand(ctl + "server s1 2>&1", &status);
  EXPECT_EQ(status, 0) << shown;
  EXPECT_NE(shown.find("FORECAST"), std::string::npos) << shown;
  EXPECT_NE(shown.find("> 95"), std::string::npos) << shown;
  EXPECT_NE(shown.find("+2/h"), std::string::npos) << shown;
  EXPECT_NE(shown.find("up from 24"), std::string::npos) << shown;

  // A restart keeps the watches: the forecast is still known, nothing resolved.
  ASSERT_EQ(gateway_->Terminate(), 0);
  gateway_->Start();
  WaitOnline();
  const std::string again = Request("query/server/s1", "{}");
  ASSERT_EQ(parser.parse(again).get(root), simdjson::SUCCESS) << again;
  EXPECT_TRUE(root["forecasts"].at(0)["known"].get_bool().value()) << again;
  EXPECT_TRUE(root["changes"].at(0)["changed"].get_bool().value()) << again;
  EXPECT_TRUE(probe_->All([](const Received& r) {
    return r.topic == "dctwin/alerts/server/s1" && JsonString(r.payload, "state") == "resolved";
  }).empty()) << "nothing resolved";
  EXPECT_EQ(WaitForAgreement(broker_.port(), 10s), "");
}

}  // namespace
}  // namespace dctwin::testing
