#include "gateway/ingest_router.h"

#include "config/config.h"
#include "gateway/decoders.h"

namespace dctwin {

IngestRouter::IngestRouter(std::string prefix, size_t max_payload, ShardPool<Envelope>& pool,
                           DeadLetters& dead_letters, Clock clock)
    : prefix_(std::move(prefix)), max_payload_(max_payload), pool_(pool), dead_letters_(dead_letters),
      clock_(std::move(clock)) {}

std::vector<std::string> IngestRouter::Subscriptions(const std::string& prefix) {
  return {prefix + "/metrics/+", prefix + "/provisioning/+"};
}

void IngestRouter::OnMessage(std::string_view topic, std::string_view payload) {
  if (topic.size() <= prefix_.size() + 1 || topic.compare(0, prefix_.size(), prefix_) != 0 ||
      topic[prefix_.size()] != '/') {
    dead_letters_.Reject(RejectReason::kBadTopic, topic, "topic outside the gateway's prefix", payload);
    return;
  }
  const std::string_view rest = topic.substr(prefix_.size() + 1);
  const size_t slash = rest.find('/');
  const std::string_view kind = rest.substr(0, slash);
  const std::string_view id = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
  if (kind != "metrics" && kind != "provisioning") {
    dead_letters_.Reject(RejectReason::kBadTopic, topic, "no input is expected on this topic", payload);
    return;
  }
  if (!IsValidId(id)) {
    dead_letters_.Reject(RejectReason::kBadId, topic, "server id must match [A-Za-z0-9._-]{1,64}", payload);
    return;
  }
  if (payload.size() > max_payload_) {
    dead_letters_.Reject(RejectReason::kTooLarge, topic,
                         "payload of " + std::to_string(payload.size()) + " bytes is over the limit", payload);
    return;
  }
  const double now = clock_();
  DecodeError err;
  if (kind == "metrics") {
    Report report;
    if (!DecodeNativeReport(payload, now, &report, &err)) {
      dead_letters_.Reject(err.reason, topic, err.detail, payload);
      return;
    }
    Post(TwinAddress{Level::kServer, std::string(id)}, now, std::move(report), topic, payload);
  } else {
    Message msg;
    if (!DecodeProvisioning(payload, &msg, &err)) {
      dead_letters_.Reject(err.reason, topic, err.detail, payload);
      return;
    }
    Post(TwinAddress{Level::kServer, std::string(id)}, now, std::move(msg), topic, payload);
  }
}

void IngestRouter::Post(TwinAddress to, double now, Message msg, std::string_view topic, std::string_view payload) {
  const size_t hash = to.Hash();
  if (!pool_.PostExternal(hash, Envelope{std::move(to), now, std::move(msg)})) {
    dead_letters_.Reject(RejectReason::kQueueFull, topic, "shard mailbox full or gateway stopping; message dropped",
                         payload);
  }
}

}  // namespace dctwin
