// The availability report from spans: arithmetic on known stretches of time.
#include "gateway/history/report.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <map>
#include <string>

namespace dctwin {
namespace {

SpanRecord Commissioned(const std::string& server, const std::string& rack, double from, double to = 0) {
  return SpanRecord{"c:" + server, "commissioned", "server", server, rack, "", "", from, 0, to, ""};
}
SpanRecord Incident(const std::string& id, const std::string& level, const std::string& subject, const std::string& rack,
                    const std::string& severity, double from, double to, double acked = 0,
                    const std::string& kind = "thermal") {
  return SpanRecord{id, "incident", level, subject, rack, kind, severity, from, acked, to, ""};
}
SpanRecord Maintenance(const std::string& matchers, double from, double to) {
  return SpanRecord{"m:x", "maintenance", "", "", "", "", "", from, 0, to, matchers};
}

// The rows of an answer by subject.
std::map<std::string, simdjson::dom::element> Rows(simdjson::dom::parser& parser, const std::string& json) {
  std::map<std::string, simdjson::dom::element> out;
  simdjson::dom::array rows;
  EXPECT_EQ(parser.parse(json)["rows"].get_array().get(rows), simdjson::SUCCESS) << json;
  for (simdjson::dom::element r : rows) out[std::string(r["subject"].get_string().value())] = r;
  return out;
}
double Num(simdjson::dom::element e, const char* key) {
  double v = -1;
  if (e[key].get_double().get(v) == simdjson::SUCCESS) return v;
  int64_t i = -1;
  return e[key].get_int64().get(i) == simdjson::SUCCESS ? static_cast<double>(i) : -1;
}

TEST(ReportTest, AvailabilityCountsCriticalTimeOutsideMaintenanceWhileCommissioned) {
  // A period of 1000 s. s1: critical 100..300 (200 s), of which 200..300 under maintenance of its
  // rack; acknowledged after 50 s, resolved after 200 s. s2: a warning only. s3: commissioned
  // half the period, critical for all of it and after.
  const std::vector<SpanRecord> spans{
      Commissioned("s1", "r1", 0), Commissioned("s2", "r1", 0), Commissioned("s3", "r2", 500),
      Incident("i1", "server", "s1", "r1", "critical", 100, 300, 150),
      Incident("i2", "server", "s2", "r1", "warning", 400, 0, 0, "disk"),
      Incident("i3", "server", "s3", "r2", "critical", 400, 0),
      Maintenance(R"({"rack":"r1"})", 200, 300),
  };
  ReportQuery q{1000, 2000, "server", ""};
  std::vector<SpanRecord> shifted = spans;  // the same, a thousand seconds later
  for (SpanRecord& s : shifted) {
    s.started_at += 1000;
    if (s.ended_at > 0) s.ended_at += 1000;
    if (s.acked_at > 0) s.acked_at += 1000;
  }
  simdjson::dom::parser parser;
  const std::string json = ReportJson(q, shifted, 5000, "dc1");
  auto rows = Rows(parser, json);
  ASSERT_EQ(rows.size(), 3u) << json;
  EXPECT_DOUBLE_EQ(Num(rows["s1"], "availability"), 0.9) << json;  // 100 of 1000 s counted
  EXPECT_DOUBLE_EQ(Num(rows["s1"], "critical_s"), 200);
  EXPECT_DOUBLE_EQ(Num(rows["s1"], "maintenance_s"), 100);
  EXPECT_DOUBLE_EQ(Num(rows["s1"], "mtta_s"), 50);
  EXPECT_DOUBLE_EQ(Num(rows["s1"], "mttr_s"), 200);
  EXPECT_EQ(Num(rows["s1"], "incidents"), 1);
  EXPECT_DOUBLE_EQ(Num(rows["s2"], "availability"), 1);
  EXPECT_DOUBLE_EQ(Num(rows["s2"], "warning_s"), 600);  // still open at the end of the period
  EXPECT_TRUE(rows["s2"]["mttr_s"].is_null());
  EXPECT_EQ(Num(rows["s2"]["by_kind"], "disk"), 1);
  // s3 was there from 1500: 500 s, all critical.
  EXPECT_DOUBLE_EQ(Num(rows["s3"], "availability"), 0) << json;

  q.by = "rack";
  auto racks = Rows(parser, ReportJson(q, shifted, 5000, "dc1"));
  ASSERT_EQ(racks.size(), 2u);
  EXPECT_DOUBLE_EQ(Num(racks["r1"], "availability"), 0.9);
  EXPECT_EQ(Num(racks["r1"], "incidents"), 2);
  EXPECT_DOUBLE_EQ(Num(racks["r1"], "maintenance_s"), 100);
  q.by = "datacenter";
  auto site = Rows(parser, ReportJson(q, shifted, 5000, "dc1"));
  ASSERT_EQ(site.size(), 1u);
  EXPECT_DOUBLE_EQ(Num(site["dc1"], "critical_s"), 800);  // 1100..1300 and 1400..2000
  q.by = "server";
  q.rack = "r2";
  EXPECT_EQ(Rows(parser, ReportJson(q, shifted, 5000, "dc1")).size(), 1u);
}

TEST(ReportTest, MalformedRequestsAreRefusedAndDefaultsFilledIn) {
  ReportQuery q;
  std::string error;
  ASSERT_TRUE(ParseReportQuery("", 100000, &q, &error)) << error;
  EXPECT_EQ(q.until, 100000);
  EXPECT_EQ(q.since, 100000 - 86400);
  EXPECT_FALSE(ParseReportQuery(R"({"by": "planet"})", 100000, &q, &error));
  EXPECT_FALSE(ParseReportQuery(R"({"since": 5000, "until": 4000})", 100000, &q, &error));
  EXPECT_FALSE(ParseReportQuery(R"({"colour": 1})", 100000, &q, &error));
  EXPECT_NE(error.find("unknown member"), std::string::npos);
}

}  // namespace
}  // namespace dctwin
