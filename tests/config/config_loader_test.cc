#include "config/config_loader.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

namespace dctwin {
namespace {

class ConfigLoaderTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& text) {
    char path[] = "/tmp/dctwin-config-XXXXXX";
    const int fd = mkstemp(path);
    EXPECT_GE(fd, 0);
    close(fd);
    std::ofstream(path) << text;
    paths_.push_back(path);
    return path;
  }
  void TearDown() override {
    for (const auto& p : paths_) std::remove(p.c_str());
  }
  std::vector<std::string> paths_;
};

bool HasError(const ConfigResult& r, const std::string& needle) {
  for (const auto& e : r.errors) {
    if (e.find(needle) != std::string::npos) return true;
  }
  return false;
}

TEST_F(ConfigLoaderTest, ShippedExampleLoadsAndEqualsTheDefaults) {
  ConfigResult r = LoadConfigFile(DCTWIN_SOURCE_DIR "/config/dctwin.toml");
  ASSERT_TRUE(r.ok()) << r.errors.at(0);
  const Config defaults;
  EXPECT_EQ(r.config.broker.uri, defaults.broker.uri);
  EXPECT_EQ(r.config.gateway.id, "dctwin-1");
  EXPECT_EQ(r.config.gateway.prefix, "dctwin");
  EXPECT_EQ(r.config.model.window_s, 900);
  EXPECT_EQ(r.config.model.heartbeat_timeout_s, 60);
  EXPECT_EQ(r.config.model.clear_reports, 3);
  EXPECT_EQ(r.config.model.rack_min_servers, 3);
  EXPECT_EQ(r.config.model.datacenter_min_racks, 2);
  // The built-in model first, then the rules for stock collectd metric names.
  ASSERT_GT(r.config.model.rules.size(), defaults.model.rules.size());
  EXPECT_EQ(r.config.model.rules[defaults.model.rules.size()].metric, "interface-*/if_dropped.*");
  for (size_t i = 0; i < defaults.model.rules.size(); ++i) {
    const Rule& a = r.config.model.rules[i];
    const Rule& b = defaults.model.rules[i];
    EXPECT_EQ(a.kind, b.kind);
    EXPECT_EQ(a.metric, b.metric);
    EXPECT_EQ(a.op, b.op);
    EXPECT_EQ(a.threshold, b.threshold);
    EXPECT_EQ(a.for_reports, b.for_reports);
    EXPECT_EQ(a.for_s, b.for_s);
    EXPECT_EQ(a.severity, b.severity);
  }
}

TEST_F(ConfigLoaderTest, ControlKeysInterlocksAndAutomationsAreRead) {
  ConfigResult r = LoadConfigFile(DCTWIN_SOURCE_DIR "/config/dctwin.toml");
  ASSERT_TRUE(r.ok()) << r.errors.at(0);
  ASSERT_EQ(r.config.control.keys.size(), 3u);
  EXPECT_EQ(r.config.control.keys[0].name, "power_cap_w");
  EXPECT_EQ(*r.config.control.keys[0].max, 1000);
  EXPECT_EQ(r.config.control.keys[2].values.size(), 3u);
  EXPECT_EQ(r.config.control.max_drained_per_rack, 0.25);
  EXPECT_EQ(r.config.control.max_drained_per_datacenter, 0.05);
  EXPECT_EQ(r.config.control.max_changes_per_min, 600);
  EXPECT_EQ(r.config.control.ack_timeout_s, 120);

  r = LoadConfigFile(Write(R"(
[control]
ack_timeout_s = 30
[[control.keys]]
name = "drain"
type = "bool"
[[automation]]
kind = "disk"
severity = "critical"
set = { drain = true }
)"));
  ASSERT_TRUE(r.ok()) << r.errors.at(0);
  ASSERT_EQ(r.config.control.automation.size(), 1u);
  EXPECT_EQ(r.config.control.automation[0].kind, "disk");
  EXPECT_EQ(*r.config.control.automation[0].severity, Severity::kCritical);
  EXPECT_EQ(std::get<bool>(*r.config.control.automation[0].set.at(0).second), true);

  r = LoadConfigFile(Write(R"(
[[control.keys]]
name = "cap"
type = "integer"
[[control.keys]]
name = "mode"
type = "string"
min = 3
[[control.keys]]
name = "mode"
type = "bool"
[[control.keys]]
type = "bool"
[[automation]]
kind = "disk"
set = { turbo = true }
[[automation]]
kind = "disk"
set = { mode = "x" }
[[automation]]
set = { mode = true }
)"));
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(HasError(r, "control.keys[0].type must be number, bool or string"));
  EXPECT_TRUE(HasError(r, "control.keys[1]: min and max apply to number keys only"));
  EXPECT_TRUE(HasError(r, "key mode is declared twice"));
  EXPECT_TRUE(HasError(r, "control.keys[3].name is required"));
  EXPECT_TRUE(HasError(r, "automation[0].set.turbo is not a declared control key"));
  EXPECT_TRUE(HasError(r, "automation[2].kind is required"));
}

TEST_F(ConfigLoaderTest, ContractKeysAreRead) {
  ConfigResult r = LoadConfigFile(Write(R"(
[broker]
uri = "tcp://10.0.0.5:1884"
[gateway]
id = "gw-7"
datacenter = "fra1"
prefix = "site/dct"
stats_interval_s = 1
[state]
path = "/var/lib/dctwin/x.db"
[model]
window_s = 600
heartbeat_timeout_s = 20
clear_reports = 2
[rack]
min_servers = 4
[datacenter]
min_racks = 3
[[rules]]
kind = "thermal"
metric = "temp_c"
op = ">="
threshold = 70
for_s = 30
severity = "warning"
)"));
  ASSERT_TRUE(r.ok()) << r.errors.at(0);
  EXPECT_EQ(r.config.broker.uri, "tcp://10.0.0.5:1884");
  EXPECT_EQ(r.config.gateway.id, "gw-7");
  EXPECT_EQ(r.config.gateway.datacenter, "fra1");
  EXPECT_EQ(r.config.gateway.prefix, "site/dct");
  EXPECT_EQ(r.config.gateway.stats_interval_s, 1);
  EXPECT_EQ(r.config.state.path, "/var/lib/dctwin/x.db");
  EXPECT_EQ(r.config.model.window_s, 600);
  EXPECT_EQ(r.config.model.heartbeat_timeout_s, 20);
  EXPECT_EQ(r.config.model.clear_reports, 2);
  EXPECT_EQ(r.config.model.rack_min_servers, 4);
  EXPECT_EQ(r.config.model.datacenter_min_racks, 3);
  ASSERT_EQ(r.config.model.rules.size(), 1u);
  EXPECT_EQ(r.config.model.rules[0].op, CompareOp::kGreaterEqual);
  EXPECT_EQ(r.config.model.rules[0].for_s, 30);
  EXPECT_EQ(r.config.model.rules[0].severity, Severity::kWarning);
}

TEST_F(ConfigLoaderTest, NoRulesMeansTheDefaultModelAndAnEmptyListMeansNone) {
  ConfigResult a = LoadConfigFile(Write("[gateway]\nid = \"x\"\n"));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a.config.model.rules.size(), DefaultRules().size());
  ConfigResult b = LoadConfigFile(Write("rules = []\n"));
  ASSERT_TRUE(b.ok()) << b.errors.at(0);
  EXPECT_TRUE(b.config.model.rules.empty());
}

TEST_F(ConfigLoaderTest, EveryProblemIsReportedWithKeyAndLine) {
  ConfigResult r = LoadConfigFile(Write(R"([broker]
uri = "nonsense"
colour = "blue"
[gateway]
stats_interval_s = "often"
[rack]
min_servers = 0
[[rules]]
kind = "thermal"
metric = "temp_c"
op = "=="
severity = "meh"
for_reports = 2
for_s = 3
)"));
  EXPECT_FALSE(r.ok());
  for (const std::string& e : ValidateConfig(r.config)) r.errors.push_back(r.Locate("f", e));
  EXPECT_TRUE(HasError(r, ":3: unknown key broker.colour"));
  EXPECT_TRUE(HasError(r, "f:2: broker.uri must look like"));  // cross-key checks name the line too
  EXPECT_TRUE(HasError(r, ":5: gateway.stats_interval_s must be a number"));
  EXPECT_TRUE(HasError(r, ":7: rack.min_servers must be between 1"));
  EXPECT_TRUE(HasError(r, "rules[0].threshold is required"));
  EXPECT_TRUE(HasError(r, "rules[0].op must be one of"));
  EXPECT_TRUE(HasError(r, "rules[0].severity must be warning or critical"));
  EXPECT_TRUE(HasError(r, "for_reports or for_s, not both"));
  EXPECT_TRUE(HasError(r, "broker.uri must look like"));
  EXPECT_GE(r.errors.size(), 8u);
}

TEST_F(ConfigLoaderTest, ForecastAndChangeRulesAreRead) {
  ConfigResult r = LoadConfigFile(Write(R"([[rules]]
kind = "disk_full"
metric = "df-*/percent_bytes-used"
threshold = 95
forecast_s = 14400
[[rules]]
kind = "disk_full"
metric = "df-*/percent_bytes-used"
threshold = 99
forecast_s = 3600
lookback_s = 7200
severity = "critical"
[[rules]]
metric = "inlet_temp"
change = "up"
[[rules]]
kind = "fans"
metric = "fan_rpm"
change = "down"
shift = 5
change_accept_s = 600
)"));
  ASSERT_TRUE(r.ok()) << r.errors.at(0);
  const auto& rules = r.config.model.rules;
  ASSERT_EQ(rules.size(), 4u);
  EXPECT_EQ(rules[0].forecast_s, 14400);
  EXPECT_EQ(rules[0].lookback_s, 6 * 3600);  // the default
  EXPECT_EQ(rules[1].lookback_s, 7200);
  EXPECT_EQ(rules[2].change, ChangeDirection::kUp);
  EXPECT_EQ(rules[2].kind, "change");  // a change rule needs no kind
  EXPECT_EQ(rules[2].shift, 3);
  EXPECT_EQ(rules[2].change_accept_s, 3600);
  EXPECT_EQ(rules[3].change, ChangeDirection::kDown);
  EXPECT_EQ(rules[3].shift, 5);
  EXPECT_EQ(rules[3].change_accept_s, 600);
  // Two forecast rules on one metric with different thresholds are one identity apart from a
  // threshold rule on it.
  Rule threshold = rules[0];
  threshold.forecast_s = 0;
  EXPECT_NE(RuleSet::Identity(threshold), RuleSet::Identity(rules[0]));
  EXPECT_NE(RuleSet::Identity(rules[2]), RuleSet::Identity(rules[3]));
}

TEST_F(ConfigLoaderTest, ForecastAndChangeRulesThatCannotWorkAreRefused) {
  ConfigResult r = LoadConfigFile(Write(R"([[rules]]
kind = "a"
metric = "m"
forecast_s = 3600
[[rules]]
kind = "b"
metric = "m"
threshold = 1
forecast_s = 3600
change = "up"
[[rules]]
kind = "c"
metric = "m"
change = "sideways"
[[rules]]
kind = "d"
metric = "m"
change = "up"
threshold = 3
for_reports = 2
[[rules]]
kind = "e"
metric = "m"
threshold = 3
shift = 2
lookback_s = 60
[[rules]]
kind = "f"
metric = "m"
threshold = 3
forecast_s = -5
)"));
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(HasError(r, "rules[0].threshold is required"));
  EXPECT_TRUE(HasError(r, "rules[1]: a rule forecasts (forecast_s) or watches for a change (change), not both"));
  EXPECT_TRUE(HasError(r, "rules[2].change must be \"up\", \"down\" or \"both\""));
  EXPECT_TRUE(HasError(r, "rules[3]: rate, for_reports, for_s and clear_reports apply to threshold rules"));
  EXPECT_TRUE(HasError(r, "rules[3]: a change rule has no threshold or op"));
  EXPECT_TRUE(HasError(r, "rules[4].lookback_s needs forecast_s"));
  EXPECT_TRUE(HasError(r, "rules[4].shift and .change_accept_s need change"));
  EXPECT_TRUE(HasError(r, "rules[5].forecast_s must be between"));
}

TEST_F(ConfigLoaderTest, SyntaxErrorsNameTheLine) {
  ConfigResult r = LoadConfigFile(Write("[broker]\nuri = \"tcp://x:1\"\n[gateway\n"));
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.errors[0].find(":3:"), std::string::npos) << r.errors[0];
}

TEST_F(ConfigLoaderTest, MissingFileIsAClearError) {
  ConfigResult r = LoadConfigFile("/nonexistent/dctwin.toml");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.errors[0].find("cannot read the config file"), std::string::npos) << r.errors[0];
}

TEST(ValidateConfigTest, IdsFollowTheContractPattern) {
  EXPECT_TRUE(IsValidId("rack-12.A_b"));
  EXPECT_FALSE(IsValidId(""));
  EXPECT_FALSE(IsValidId("a/b"));
  EXPECT_FALSE(IsValidId("a+b"));
  EXPECT_FALSE(IsValidId(std::string(65, 'a')));
  EXPECT_TRUE(IsValidId(std::string(64, 'a')));
  Config c;
  c.gateway.prefix = "dctwin/#";
  EXPECT_FALSE(ValidateConfig(c).empty());
}

}  // namespace
}  // namespace dctwin
