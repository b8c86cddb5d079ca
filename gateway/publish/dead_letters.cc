#include "gateway/publish/dead_letters.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include "base/json_writer.h"

namespace dctwin {

namespace {
constexpr size_t kPayloadHead = 128;

// The first bytes of a payload as readable text: printable ASCII as is, every other byte as \xNN.
std::string PrintableHead(std::string_view payload) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : payload.substr(0, std::min(payload.size(), kPayloadHead))) {
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  return out;
}
}  // namespace

std::string_view RejectReasonName(RejectReason reason) {
  switch (reason) {
    case RejectReason::kBadTopic: return "bad_topic";
    case RejectReason::kBadId: return "bad_id";
    case RejectReason::kBadJson: return "bad_json";
    case RejectReason::kBadMetric: return "bad_metric";
    case RejectReason::kBadTimestamp: return "bad_timestamp";
    case RejectReason::kBadProvisioning: return "bad_provisioning";
    case RejectReason::kTooLarge: return "too_large";
    case RejectReason::kUncommissioned: return "uncommissioned";
    case RejectReason::kQueueFull: return "queue_full";
    case RejectReason::kShuttingDown: return "shutting_down";
    case RejectReason::kNoResponseTopic: return "no_response_topic";
    case RejectReason::kBadQuery: return "bad_query";
    case RejectReason::kRateLimited: return "rate_limited";
    case RejectReason::kLimit: return "limit";
    case RejectReason::kConflict: return "conflict";
    case RejectReason::kBadResponseTopic: return "bad_response_topic";
    case RejectReason::kCount: break;
  }
  return "unknown";
}

DeadLetters::DeadLetters(std::string prefix, MessageSink& sink, double per_second)
    : prefix_(std::move(prefix)), sink_(sink), per_second_(per_second), tokens_(per_second),
      refilled_(std::chrono::steady_clock::now()) {}

uint64_t DeadLetters::total() const {
  uint64_t n = 0;
  for (const auto& c : counts_) n += c.load(std::memory_order_relaxed);
  return n;
}

std::string DeadLetters::Json(std::string_view topic, RejectReason reason, std::string_view detail,
                              std::string_view payload) {
  const std::string head = PrintableHead(payload);
  JsonWriter w;
  w.BeginObject()
      .Field("topic", topic)
      .Field("reason", RejectReasonName(reason))
      .Field("detail", detail)
      .Field("payload_head", head)
      .IntField("payload_bytes", static_cast<long long>(payload.size()))
      .EndObject();
  return w.Take();
}

bool DeadLetters::TakeToken(std::chrono::steady_clock::time_point now) {
  const double elapsed = std::chrono::duration<double>(now - refilled_).count();
  refilled_ = now;
  tokens_ = std::min(per_second_, tokens_ + elapsed * per_second_);
  if (tokens_ < 1.0) return false;
  tokens_ -= 1.0;
  return true;
}

void DeadLetters::Reject(RejectReason reason, std::string_view topic, std::string_view detail,
                         std::string_view payload) {
  counts_[static_cast<size_t>(reason)].fetch_add(1, std::memory_order_relaxed);
  uint64_t suppressed = 0;
  {
    MutexLock lock(mu_);
    if (!TakeToken(std::chrono::steady_clock::now())) {
      ++suppressed_;
      return;
    }
    std::swap(suppressed, suppressed_);
  }
  if (suppressed > 0) {
    spdlog::warn("rejected {} from {}: {} ({} more rejections not logged)", RejectReasonName(reason), topic, detail,
                 suppressed);
  } else {
    spdlog::warn("rejected {} from {}: {}", RejectReasonName(reason), topic, detail);
  }
  OutMessage msg;
  msg.topic = prefix_ + "/deadletter/" + std::string(RejectReasonName(reason));
  msg.payload = Json(topic, reason, detail, payload);
  msg.qos = 0;
  msg.retained = false;
  if (sink_.Publish(std::move(msg))) published_.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace dctwin
