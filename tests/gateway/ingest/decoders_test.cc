#include "gateway/ingest/decoders.h"

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace dctwin
