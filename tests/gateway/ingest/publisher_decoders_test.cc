// collectd and Telegraf decoding, on payloads captured from the real collectd 5.12 of Debian
// (tests/data/collectd/) and on line protocol as Telegraf writes it.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>

#include "gateway/ingest/decoders.h"

namespace dctwin {
namespace {

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
}

TEST(CollectdTypesTest, ReadsTypesDbText) {
  CollectdTypes t;
  t.Parse("# comment\nif_octets\t\trx:DERIVE:0:U, tx:DERIVE:0:U\nvalue value:GAUGE:U:U\n\nbroken\n");
  ASSERT_NE(t.Sources("if_octets"), nullptr);
  EXPECT_EQ(*t.Sources("if_octets"), (std::vector<std::string>{"rx", "tx"}));
  EXPECT_EQ(t.Sources("nothing"), nullptr);
  std::string error;
  CollectdTypes loaded = CollectdTypes::Load("/nonexistent/types.db", &error);
  EXPECT_FALSE(error.empty());
  EXPECT_NE(loaded.Sources("load"), nullptr);  // the built-in table serves
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
