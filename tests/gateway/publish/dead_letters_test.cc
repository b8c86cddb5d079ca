#include "gateway/publish/dead_letters.h"

#include <gtest/gtest.h>
#include <simdjson.h>

#include "tests/gateway/mqtt/recording_sink.h"

namespace dctwin {
namespace {

using testing::RecordingSink;

TEST(DeadLettersTest, EveryRejectionIsCountedButPublicationIsRateLimited) {
  RecordingSink sink;
  DeadLetters dl("dctwin", sink, 5);
  for (int i = 0; i < 1000; ++i) dl.Reject(RejectReason::kBadJson, "dctwin/metrics/s1", "invalid JSON", "{{{");
  dl.Reject(RejectReason::kBadId, "dctwin/metrics/a b", "bad id", "");
  EXPECT_EQ(dl.count(RejectReason::kBadJson), 1000u);
  EXPECT_EQ(dl.count(RejectReason::kBadId), 1u);
  EXPECT_EQ(dl.total(), 1001u);
  // The bucket holds 5 tokens; a burst this fast refills at most a few more.
  EXPECT_GE(sink.messages.size(), 5u);
  EXPECT_LE(sink.messages.size(), 8u);
  EXPECT_EQ(sink.messages[0].topic, "dctwin/deadletter/bad_json");
  EXPECT_EQ(sink.messages[0].qos, 0);
}

TEST(DeadLettersTest, PayloadHeadIsEscapedAndCut) {
  std::string payload = "\x01\xff\"quote\"";
  payload += std::string(500, 'x');
  const std::string json = DeadLetters::Json("t", RejectReason::kTooLarge, "big", payload);
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_EQ(parser.parse(json).get(doc), simdjson::SUCCESS) << json;
  EXPECT_EQ(std::string_view(doc["reason"]), "too_large");
  EXPECT_EQ(std::string_view(doc["topic"]), "t");
  const std::string_view head = doc["payload_head"];
  EXPECT_LT(head.size(), 200u);
  EXPECT_EQ(head.substr(0, 18), "\\x01\\xff\"quote\"xxx");
  EXPECT_EQ(int64_t(doc["payload_bytes"]), static_cast<int64_t>(payload.size()));
}

}  // namespace
}  // namespace dctwin
