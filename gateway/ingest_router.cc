#include "gateway/ingest_router.h"

#include "config/config.h"
#include "gateway/decoders.h"
#include "gateway/json_writer.h"

namespace dctwin {

IngestRouter::IngestRouter(std::string prefix, std::string datacenter, size_t max_payload, ShardPool<Envelope>& pool,
                           DeadLetters& dead_letters, MessageSink& replies, Clock clock)
    : prefix_(std::move(prefix)), datacenter_(std::move(datacenter)), max_payload_(max_payload), pool_(pool),
      dead_letters_(dead_letters), replies_(replies), clock_(std::move(clock)) {}

std::vector<std::string> IngestRouter::Subscriptions(const std::string& prefix) {
  return {prefix + "/metrics/+", prefix + "/provisioning/+", prefix + "/query/#"};
}

void IngestRouter::OnMessage(std::string_view topic, std::string_view payload, std::string_view response_topic,
                             std::string_view correlation) {
  if (topic.size() <= prefix_.size() + 1 || topic.compare(0, prefix_.size(), prefix_) != 0 ||
      topic[prefix_.size()] != '/') {
    dead_letters_.Reject(RejectReason::kBadTopic, topic, "topic outside the gateway's prefix", payload);
    return;
  }
  const std::string_view rest = topic.substr(prefix_.size() + 1);
  const size_t slash = rest.find('/');
  const std::string_view kind = rest.substr(0, slash);
  const std::string_view id = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
  if (kind == "query") {
    RouteQuery(topic, id, payload, response_topic, correlation);
    return;
  }
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

void IngestRouter::RouteQuery(std::string_view topic, std::string_view what, std::string_view payload,
                              std::string_view response_topic, std::string_view correlation) {
  if (response_topic.empty()) {
    dead_letters_.Reject(RejectReason::kNoResponseTopic, topic,
                         "a query needs an MQTT 5 Response Topic (mosquitto_rr -V 5 -e <topic>)", payload);
    return;
  }
  Query q;
  q.reply_topic = std::string(response_topic);
  q.correlation = std::string(correlation);
  TwinAddress to;
  std::string problem;
  if (what == "unhealthy-racks" || what == "datacenter") {
    q.kind = what == "datacenter" ? QueryKind::kDatacenter : QueryKind::kUnhealthyRacks;
    to = TwinAddress{Level::kDatacenter, datacenter_};
  } else if (what.rfind("rack/", 0) == 0 || what.rfind("server/", 0) == 0) {
    const bool rack = what[0] == 'r';
    const std::string_view id = what.substr(rack ? 5 : 7);
    q.kind = rack ? QueryKind::kRack : QueryKind::kServer;
    to = TwinAddress{rack ? Level::kRack : Level::kServer, std::string(id)};
    if (!IsValidId(id)) problem = "id must match [A-Za-z0-9._-]{1,64}";
  } else {
    problem = "unknown query; ask unhealthy-racks, datacenter, rack/<id> or server/<id>";
  }
  if (!problem.empty()) {
    dead_letters_.Reject(RejectReason::kBadQuery, topic, problem, payload);
    // The asker waits for an answer: tell it what was wrong.
    JsonWriter w;
    w.BeginObject().Field("error", problem).Field("topic", topic).EndObject();
    replies_.Publish(OutMessage{q.reply_topic, w.Take(), 1, false, q.correlation});
    return;
  }
  Post(std::move(to), clock_(), std::move(q), topic, payload);
}

void IngestRouter::Post(TwinAddress to, double now, Message msg, std::string_view topic, std::string_view payload) {
  const size_t hash = to.Hash();
  if (!pool_.PostExternal(hash, Envelope{std::move(to), now, std::move(msg)})) {
    if (pool_.closed()) {
      dead_letters_.Reject(RejectReason::kShuttingDown, topic, "gateway is stopping; message dropped", payload);
    } else {
      dead_letters_.Reject(RejectReason::kQueueFull, topic, "shard mailbox full; message dropped", payload);
    }
  }
}

}  // namespace dctwin
