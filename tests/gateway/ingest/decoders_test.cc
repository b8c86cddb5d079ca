#include "gateway/ingest/decoders.h"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>

namespace dctwin {
namespace {

TEST(DecodeNativeReportTest, ReadsTimestampAndMetrics) {
  Report r;
  DecodeError err;
  ASSERT_TRUE(DecodeNativeReport(R"({"ts": 1732442400.5, "cpu_util": 0.42, "temp_c": 61, "n": -3e2})", 5, &r, &err))
      << err.detail;
  EXPECT_DOUBLE_EQ(r.ts, 1732442400.5);
  ASSERT_EQ(r.metrics.size(), 3u);
  EXPECT_EQ(r.metrics[0].first, "cpu_util");
  EXPECT_DOUBLE_EQ(r.metrics[0].second, 0.42);
  EXPECT_DOUBLE_EQ(r.metrics[1].second, 61);
  EXPECT_DOUBLE_EQ(r.metrics[2].second, -300);
}

TEST(DecodeNativeReportTest, WithoutTimestampUsesReceiveTime) {
  Report r;
  DecodeError err;
  ASSERT_TRUE(DecodeNativeReport(R"({"temp_c": 61.5})", 1234.5, &r, &err));
  EXPECT_DOUBLE_EQ(r.ts, 1234.5);
}

TEST(DecodeNativeReportTest, EscapedKeysAreUnescaped) {
  Report r;
  DecodeError err;
  ASSERT_TRUE(DecodeNativeReport(R"({"a\/b\u0041": 1})", 1, &r, &err));
  EXPECT_EQ(r.metrics.at(0).first, "a/bA");
}

struct BadCase {
  const char* payload;
  RejectReason reason;
};

class DecodeNativeReportRejects : public ::testing::TestWithParam<BadCase> {};

TEST_P(DecodeNativeReportRejects, WithReason) {
  Report r;
  DecodeError err;
  EXPECT_FALSE(DecodeNativeReport(GetParam().payload, 1, &r, &err)) << GetParam().payload;
  EXPECT_EQ(err.reason, GetParam().reason) << GetParam().payload << ": " << err.detail;
  EXPECT_FALSE(err.detail.empty());
}

INSTANTIATE_TEST_SUITE_P(
    Payloads, DecodeNativeReportRejects,
    ::testing::Values(BadCase{"", RejectReason::kBadJson}, BadCase{"{", RejectReason::kBadJson},
                      BadCase{"[1,2]", RejectReason::kBadJson}, BadCase{"42", RejectReason::kBadJson},
                      BadCase{R"({"a": 1} trailing)", RejectReason::kBadJson},
                      BadCase{R"({"a": 1,})", RejectReason::kBadJson},
                      BadCase{R"({"a": "hot"})", RejectReason::kBadMetric},
                      BadCase{R"({"a": true})", RejectReason::kBadMetric},
                      BadCase{R"({"a": null})", RejectReason::kBadMetric},
                      BadCase{R"({"a": {"b": 1}})", RejectReason::kBadMetric},
                      BadCase{R"({"": 1})", RejectReason::kBadMetric},
                      BadCase{R"({"a": 1e999})", RejectReason::kBadMetric},
                      BadCase{R"({"ts": "now", "a": 1})", RejectReason::kBadTimestamp},
                      BadCase{R"({"ts": -5, "a": 1})", RejectReason::kBadTimestamp}));

TEST(DecodeProvisioningTest, CommissionAndDecommission) {
  Message m;
  DecodeError err;
  ASSERT_TRUE(DecodeProvisioning(R"({"action":"commission","rack":"r-12.a"})", &m, &err)) << err.detail;
  ASSERT_TRUE(std::holds_alternative<Commission>(m));
  EXPECT_EQ(std::get<Commission>(m).rack, "r-12.a");
  ASSERT_TRUE(DecodeProvisioning(R"({"action":"decommission","note":{"by":"ops"}})", &m, &err)) << err.detail;
  EXPECT_TRUE(std::holds_alternative<Decommission>(m));
}

TEST(DecodeProvisioningTest, Rejects) {
  Message m;
  DecodeError err;
  EXPECT_FALSE(DecodeProvisioning(R"({"action":"commission"})", &m, &err));
  EXPECT_EQ(err.reason, RejectReason::kBadProvisioning);
  EXPECT_FALSE(DecodeProvisioning(R"({"action":"commission","rack":"r 1"})", &m, &err));
  EXPECT_EQ(err.reason, RejectReason::kBadId);
  EXPECT_FALSE(DecodeProvisioning(R"({"action":"explode"})", &m, &err));
  EXPECT_EQ(err.reason, RejectReason::kBadProvisioning);
  EXPECT_FALSE(DecodeProvisioning(R"({"action":7})", &m, &err));
  EXPECT_EQ(err.reason, RejectReason::kBadProvisioning);
  EXPECT_FALSE(DecodeProvisioning("nope", &m, &err));
  EXPECT_EQ(err.reason, RejectReason::kBadJson);
}

// collectd and Telegraf decoding, on payloads captured from the real collectd 5.12 of Debian
// (tests/data/collectd/) and on line protocol as Telegraf writes it.


std::string Unhex(const std::string& hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
  return out;
}

std::map<std::string, double> AsMap(const Report& r) {
  std::map<std::string, double> m;
  for (const auto& [k, v] : r.metrics) m[k] = v;
  return m;
}

TEST(CollectdDecoderTest, EveryCapturedMessageDecodes) {
  const CollectdTypes types = CollectdTypes::BuiltIn();
  std::ifstream in(DCTWIN_SOURCE_DIR "/tests/data/collectd/collectd-5.12-mqtt-capture.txt");
  ASSERT_TRUE(in) << "capture file missing";
  std::string topic, hex;
  int messages = 0;
  std::map<std::string, double> seen;
  while (in >> topic >> hex) {
    // collectd/<host>/<plugin>/<type>
    const size_t a = topic.find('/', 9), b = topic.find('/', a + 1);
    const std::string payload = Unhex(hex);
    ASSERT_EQ(payload.back(), '\0') << "collectd 5.12 ends its payload with a NUL";
    Report r;
    DecodeError err;
    ASSERT_TRUE(DecodeCollectd(topic.substr(a + 1, b - a - 1), topic.substr(b + 1), payload, types, 1, &r, &err))
        << topic << ": " << err.detail;
    EXPECT_TRUE(r.partial);
    EXPECT_GT(r.ts, 1.7e9);
    for (const auto& [k, v] : r.metrics) seen[k] = v;
    ++messages;
  }
  EXPECT_GT(messages, 100);
  EXPECT_TRUE(seen.count("load/load.shortterm"));
  EXPECT_TRUE(seen.count("load/load.midterm"));
  EXPECT_TRUE(seen.count("load/load.longterm"));
  EXPECT_TRUE(seen.count("memory/memory-used"));
  EXPECT_TRUE(seen.count("interface-lo/if_octets.rx"));
  EXPECT_TRUE(seen.count("interface-lo/if_octets.tx"));
  EXPECT_GT(seen["memory/memory-used"], 1e6);
}

TEST(CollectdDecoderTest, NanAndUAreMissingNotZero) {
  const CollectdTypes types = CollectdTypes::BuiltIn();
  Report r;
  DecodeError err;
  ASSERT_TRUE(DecodeCollectd("interface-eth0", "if_octets", std::string("1732442400.505:nan:17", 21), types, 1, &r, &err));
  EXPECT_EQ(AsMap(r), (std::map<std::string, double>{{"interface-eth0/if_octets.tx", 17}}));
  ASSERT_TRUE(DecodeCollectd("cpu-0", "cpu-idle", "1732442400:U", types, 1, &r, &err));
  EXPECT_TRUE(r.metrics.empty());
  ASSERT_TRUE(DecodeCollectd("load", "load", "N:0.5:0.25:0.125", types, 77, &r, &err));
  EXPECT_DOUBLE_EQ(r.ts, 77);
  EXPECT_EQ(AsMap(r).at("load/load.longterm"), 0.125);
}

TEST(CollectdDecoderTest, RejectsMalformedPayloads) {
  const CollectdTypes types = CollectdTypes::BuiltIn();
  Report r;
  DecodeError err;
  EXPECT_FALSE(DecodeCollectd("load", "load", "1732442400:1:2", types, 1, &r, &err));  // load has 3 values
  EXPECT_EQ(err.reason, RejectReason::kBadMetric);
  EXPECT_FALSE(DecodeCollectd("memory", "memory-used", "yesterday:5", types, 1, &r, &err));
  EXPECT_EQ(err.reason, RejectReason::kBadTimestamp);
  EXPECT_FALSE(DecodeCollectd("memory", "memory-used", "1732442400:lots", types, 1, &r, &err));
  EXPECT_FALSE(DecodeCollectd("memory", "memory-used", "no colon", types, 1, &r, &err));
  // Unknown multi-value types number their values.
  ASSERT_TRUE(DecodeCollectd("custom", "pair", "1:3:4", types, 1, &r, &err));
  EXPECT_EQ(AsMap(r), (std::map<std::string, double>{{"custom/pair.0", 3}, {"custom/pair.1", 4}}));
  // ... up to 64 of them: a message of thousands is refused, not turned into thousands of metrics.
  std::string wide = "1";
  for (int i = 0; i < 64; ++i) wide += ":1";
  ASSERT_TRUE(DecodeCollectd("custom", "wide", wide, types, 1, &r, &err)) << err.detail;
  EXPECT_EQ(r.metrics.size(), 64u);
  EXPECT_FALSE(DecodeCollectd("custom", "wide", wide + ":1", types, 1, &r, &err));
  EXPECT_EQ(err.reason, RejectReason::kBadMetric);
  EXPECT_NE(err.detail.find("at most 64 values"), std::string::npos) << err.detail;
  std::string flood = "1";
  for (int i = 0; i < 30000; ++i) flood += ":1";
  EXPECT_FALSE(DecodeCollectd("custom", "wide", flood, types, 1, &r, &err));
}

TEST(LineProtocolTest, TelegrafLines) {
  std::vector<Report> reports;
  DecodeError err;
  const std::string payload =
      "cpu,cpu=cpu-total,host=web-1 usage_idle=97.5,usage_user=1.25 1732442400000000000\n"
      "mem,host=web-1 used=8123456i,free=42u,available_percent=61.2,active=true,label=\"a \\\" b, c\" 1732442400000000000\n"
      "disk\\ io,dev\\,ice=sda1 reads=5i 1732442400000000000\n";
  ASSERT_TRUE(DecodeLineProtocol(payload, 1, &reports, &err)) << err.detail;
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_DOUBLE_EQ(reports[0].ts, 1732442400.0);
  EXPECT_TRUE(reports[0].partial);
  const auto m = AsMap(reports[0]);
  EXPECT_EQ(m.at("cpu.usage_idle"), 97.5);
  EXPECT_EQ(m.at("cpu.usage_user"), 1.25);
  EXPECT_EQ(m.at("mem.used"), 8123456);
  EXPECT_EQ(m.at("mem.free"), 42);
  EXPECT_EQ(m.at("mem.available_percent"), 61.2);
  EXPECT_EQ(m.at("mem.active"), 1);
  EXPECT_EQ(m.count("mem.label"), 0u);  // strings are ignored
  EXPECT_EQ(m.at("disk io.reads"), 5);
  EXPECT_EQ(m.size(), 7u);
}

TEST(LineProtocolTest, TimestampsSplitReportsAndMissingOnesUseReceiveTime) {
  std::vector<Report> reports;
  DecodeError err;
  ASSERT_TRUE(DecodeLineProtocol("a x=1 2000000000\na y=2 1000000000\nb z=3\n", 55, &reports, &err)) << err.detail;
  ASSERT_EQ(reports.size(), 3u);
  EXPECT_DOUBLE_EQ(reports[0].ts, 55);  // no timestamp
  EXPECT_DOUBLE_EQ(reports[1].ts, 1);
  EXPECT_DOUBLE_EQ(reports[2].ts, 2);
}

TEST(LineProtocolTest, Rejects) {
  std::vector<Report> reports;
  DecodeError err;
  for (const char* bad : {"", "nofields", "m x", "m x=", "m x=abc", "m x=1 notatime", "m x=\"open", "m,tag x=1",
                          "m x=12.5i", "m x=1 -5"}) {
    EXPECT_FALSE(DecodeLineProtocol(bad, 1, &reports, &err)) << bad;
  }
}

}  // namespace
}  // namespace dctwin
