// IngestRouter: the only thing an MQTT message callback does. Parses the topic, decodes the
// payload, and posts the message to the owner shard of its twin. Rejections go to DeadLetters.
// No I/O and no waiting apart from the pool's backpressure.
//
// Thread-safe: any number of MQTT connections may feed one router.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <unordered_map>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gateway/ingest/collectd_types.h"
#include "base/thread_annotations.h"
#include "gateway/publish/answer_topics.h"
#include "gateway/publish/dead_letters.h"
#include "gateway/publish/reply_book.h"
#include "gateway/mqtt/message_sink.h"
#include "gateway/control/control_desk.h"
#include "gateway/history/history_service.h"
#include "gateway/incidents/incident_desk.h"
#include "gateway/runtime/shard_pool.h"
#include "twins/messages.h"
#include "twins/topology.h"

namespace dctwin {

struct IngestOptions {
  std::string prefix = "dctwin";
  std::string datacenter = "dc1";
  std::string collectd_prefix = "collectd";  // "" = off
  std::string telegraf_prefix = "telegraf";  // "" = off
  size_t max_payload = 64 * 1024;
  std::string role = "standalone";  // standalone | pod | site
  std::string gateway_id = "dctwin-1";
  std::vector<std::string> reply_topics{"#"};  // gateway.reply_topics (gateway/publish/answer_topics.h)
};

class IngestRouter {
 public:
  using Clock = std::function<double()>;

  IngestRouter(IngestOptions options, CollectdTypes collectd_types, ShardPool<Envelope>& pool,
               DeadLetters& dead_letters, MessageSink& replies, ReplyBook& reply_book, Clock clock);

  // Topic filters the gateway subscribes to: all of them, or split into the control inputs
  // (provisioning and queries, which must stay in order on one connection) and the metric inputs
  // (native, collectd, Telegraf), which several connections may share.
  static std::vector<std::string> Subscriptions(const IngestOptions& options);
  static std::vector<std::string> ControlSubscriptions(const IngestOptions& options);
  static std::vector<std::string> MetricSubscriptions(const IngestOptions& options);

  // `response_topic` and `correlation` are the MQTT 5 properties of a request (empty if none).
  // Messages accepted from each kind of publisher (decoded and handed to a shard).
  uint64_t accepted_native() const { return native_.load(std::memory_order_relaxed); }
  uint64_t accepted_collectd() const { return collectd_.load(std::memory_order_relaxed); }
  uint64_t accepted_telegraf() const { return telegraf_.load(std::memory_order_relaxed); }

  // Where operator commands and the queries about incidents and silences go. Set before the
  // first message; without it those topics are answered with an error.
  // site: which pod owns each rack, as the restored datacenter twin says; before Start.
  void SeedRackOwners(const std::map<std::string, std::string>& owners, const std::set<std::string>& own_topic_pods);
  // `desk` returns false when it refuses the request (its queue is full).
  void SetDesk(std::function<bool(DeskRequest)> desk) { desk_ = std::move(desk); }
  // P/command/desired, P/query/twin/<id> and P/reported/<id> go here (false: too many wait). Set
  // before Start(); without it those topics are refused.
  void SetControl(std::function<bool(ControlRequest)> control) { control_ = std::move(control); }
  // The servers the inventory lists, and their racks: provisioning over MQTT may not move or
  // decommission them (the inventory wins). Any thread; replaced whole.
  // A site: which groups each rack belongs to, so a pod's rack health reaches them (nullptr: none).
  void SetTopology(std::shared_ptr<const Topology> topology) {
    MutexLock lock(inventory_mu_);
    topology_ = std::move(topology);
  }
  void SetInventory(std::shared_ptr<const std::unordered_map<std::string, std::string>> listed) {
    MutexLock lock(inventory_mu_);
    inventory_ = std::move(listed);
  }
  // P/query/history goes here (false: too many wait; the asker is told). Set before Start().
  void SetHistory(std::function<bool(HistoryRequest)> history) { history_ = std::move(history); }

  void OnMessage(std::string_view topic, std::string_view payload, std::string_view response_topic = {},
                 std::string_view correlation = {});

 private:
  void RouteNative(std::string_view topic, std::string_view payload, std::string_view response_topic,
                   std::string_view correlation);
  void RouteCollectd(std::string_view topic, std::string_view rest, std::string_view payload);
  void RouteTelegraf(std::string_view topic, std::string_view rest, std::string_view payload);
  bool CheckServer(std::string_view topic, std::string_view id, std::string_view payload);
  void RouteQuery(std::string_view topic, std::string_view what, std::string_view payload,
                  std::string_view response_topic, std::string_view correlation);
  void RouteCommand(std::string_view topic, std::string_view what, std::string_view payload,
                    std::string_view response_topic, std::string_view correlation);
  void RouteSiteInput(std::string_view topic, std::string_view kind, std::string_view rest, std::string_view payload);
  // Site: a rack's health, from P/health/rack/<rack> (`bridge_pod` empty) or from a pod's own
  // copy on P/gateway/<bridge_pod>/health/rack/<rack>.
  void RouteRackHealth(std::string_view topic, std::string_view rack, std::string_view payload,
                       std::string_view bridge_pod);
  // Site: whether a rack's health is taken as to where it came from. A pod that publishes its
  // own copies is believed only there: a plain copy naming it (or clearing its rack) is not
  // taken, and is dead-lettered when it differs from the last own copy of that rack and is not
  // newer (`updated_at`) than it.
  bool OnlyFromOwnTopic(std::string_view topic, std::string_view rack, const std::string& gateway,
                        std::string_view payload, double updated_at, bool own_topic);
  // {"ok": false, "error": ...} to a request's Response Topic (nothing when it named none).
  void AnswerError(std::string_view response_topic, std::string_view correlation, const std::string& error);
  // Site: a message from `pod` came over its bridge. If the bridge's last notification said "0",
  // it is up after all: the datacenter hears "1".
  void BridgeCarried(std::string_view pod);
  bool ToDesk(DeskRequest::Type type, std::string_view payload, std::string_view response_topic,
              std::string_view correlation);
  // false: dropped (and dead-lettered)
  bool Post(TwinAddress to, double now, Message msg, std::string_view topic, std::string_view payload);
  // A report for a shard that would shed it (ShardPool::WouldShed), dropped before it is decoded;
  // counted and dead-lettered as PostExternal's shedding is.
  void Shed(const TwinAddress& to, std::string_view topic, std::string_view payload);
  void RejectShed(std::string_view topic, std::string_view payload);

  // Constant after construction
  const IngestOptions options_;
  const CollectdTypes collectd_types_;
  ShardPool<Envelope>& pool_;
  DeadLetters& dead_letters_;
  MessageSink& replies_;
  ReplyBook& reply_book_;
  const Clock clock_;
  const AnswerTopics answer_topics_;
  std::function<bool(DeskRequest)> desk_;
  std::function<bool(HistoryRequest)> history_;
  std::function<bool(ControlRequest)> control_;
  Mutex inventory_mu_;
  std::shared_ptr<const std::unordered_map<std::string, std::string>> inventory_ GUARDED_BY(inventory_mu_);
  std::shared_ptr<const Topology> topology_ GUARDED_BY(inventory_mu_);
  bool ToControl(ControlRequest r, std::string_view topic);
  // site: which pod gateway publishes each rack, to notice two pods claiming one rack
  Mutex owners_mu_;
  std::map<std::string, std::string, std::less<>> rack_owner_ GUARDED_BY(owners_mu_);
  std::set<std::string> conflicts_ GUARDED_BY(owners_mu_);  // "<rack>\n<pod>" reported as a conflict
  std::set<std::string, std::less<>> bridges_down_ GUARDED_BY(owners_mu_);  // pods whose bridge last said "0"
  // pods that publish their racks' health on their own topic, and the hash of each rack's last copy there
  std::set<std::string, std::less<>> own_topic_pods_ GUARDED_BY(owners_mu_);
  struct OwnCopy {
    size_t hash = 0;
    double updated_at = 0;
  };
  std::map<std::string, OwnCopy, std::less<>> last_own_copy_ GUARDED_BY(owners_mu_);

  std::atomic<uint64_t> native_{0};
  std::atomic<uint64_t> collectd_{0};
  std::atomic<uint64_t> telegraf_{0};
};

}  // namespace dctwin
