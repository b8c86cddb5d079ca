#include "gateway/publish/alert_publisher.h"
#include "gateway/incidents/incident_json.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include "tests/gateway/mqtt/recording_sink.h"

namespace dctwin {
namespace {

using testing::RecordingSink;

simdjson::dom::element Parse(simdjson::dom::parser& parser, const std::string& json) {
  simdjson::dom::element doc;
  EXPECT_EQ(parser.parse(json).get(doc), simdjson::SUCCESS) << json;
  return doc;
}

TEST(AlertPublisherTest, IncidentEventHasEveryContractField) {
  IncidentEvent e;
  e.id = "server:s1:thermal:1.1";
  e.level = Level::kServer;
  e.subject = "s1";
  e.rack = "r1";
  e.datacenter = "dc1";
  e.kind = "thermal";
  e.severity = Severity::kCritical;
  e.state = IncidentState::kResolved;
  e.opened_at = 100.5;
  e.at = 130;
  e.summary = "temp \"high\"\n";
  e.caused_by = "rack:r1:thermal:1.1";
  e.silenced_by = {"sil-1"};
  const std::string payload = IncidentEventJson(e);
  simdjson::dom::parser parser;
  auto doc = Parse(parser, payload);
  EXPECT_EQ(std::string_view(doc["id"]), "server:s1:thermal:1.1");
  EXPECT_EQ(std::string_view(doc["level"]), "server");
  EXPECT_EQ(std::string_view(doc["subject"]), "s1");
  EXPECT_EQ(std::string_view(doc["rack"]), "r1");
  EXPECT_EQ(std::string_view(doc["datacenter"]), "dc1");
  EXPECT_EQ(std::string_view(doc["kind"]), "thermal");
  EXPECT_EQ(std::string_view(doc["severity"]), "critical");
  EXPECT_EQ(std::string_view(doc["state"]), "resolved");
  EXPECT_DOUBLE_EQ(double(doc["opened_at"]), 100.5);
  EXPECT_DOUBLE_EQ(double(doc["at"]), 130);
  EXPECT_EQ(std::string_view(doc["summary"]), "temp \"high\"\n");
  EXPECT_EQ(std::string_view(doc["caused_by"]), "rack:r1:thermal:1.1");
  EXPECT_EQ(std::string_view(doc["silenced_by"].at(0)), "sil-1");
  EXPECT_FALSE(bool(doc["flapping"]));
  // A record is the open incident: its state says open whatever the event was.
  auto rec = Parse(parser, IncidentRecordJson(e));
  EXPECT_EQ(std::string_view(rec["state"]), "open");
}

TEST(AlertPublisherTest, CausedByIsLeftOutWhenThereIsNone) {
  IncidentEvent e;
  e.id = "x";
  const std::string json = IncidentEventJson(e);
  EXPECT_EQ(json.find("caused_by"), std::string::npos) << json;
}

TEST(AlertPublisherTest, HealthIsRetainedAndClearedWithAnEmptyPayload) {
  RecordingSink sink;
  AlertPublisher alerts("dctwin", "dc1", sink);
  HealthUpdate h;
  h.level = Level::kDatacenter;
  h.subject = "dc1";
  h.status = HealthStatus::kWarning;
  h.open = {"a", "b"};
  h.unhealthy = {"r7"};
  h.by_kind = {{"disk", 1}};
  h.updated_at = 9;
  alerts.PublishHealth(h);
  HealthUpdate gone;
  gone.level = Level::kServer;
  gone.subject = "s9";
  gone.cleared = true;
  alerts.PublishHealth(gone);
  ASSERT_EQ(sink.messages.size(), 2u);
  EXPECT_EQ(sink.messages[0].topic, "dctwin/health/datacenter/dc1");
  EXPECT_TRUE(sink.messages[0].retained);
  EXPECT_EQ(sink.messages[0].qos, 1);
  simdjson::dom::parser parser;
  auto doc = Parse(parser, sink.messages[0].payload);
  EXPECT_EQ(std::string_view(doc["status"]), "warning");
  EXPECT_EQ(simdjson::dom::array(doc["open"]).size(), 2u);
  EXPECT_FALSE(bool(doc["healthy"]));
  EXPECT_EQ(std::string_view(doc["unhealthy_racks"].at(0)), "r7");
  EXPECT_EQ(int64_t(doc["by_kind"]["disk"]), 1);
  EXPECT_EQ(sink.messages[1].topic, "dctwin/health/server/s9");
  EXPECT_TRUE(sink.messages[1].retained);
  EXPECT_TRUE(sink.messages[1].payload.empty());
}

TEST(AlertPublisherTest, RefusedPublicationsAreCounted) {
  RecordingSink sink;
  sink.refuse = true;
  AlertPublisher alerts("dctwin", "dc1", sink);
  HealthUpdate h;
  h.subject = "s1";
  alerts.PublishHealth(h);
  alerts.PublishHealth(h);
  EXPECT_EQ(alerts.failed(), 2u);
}

}  // namespace
}  // namespace dctwin
