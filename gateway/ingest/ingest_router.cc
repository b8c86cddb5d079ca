#include "gateway/ingest/ingest_router.h"

#include "gateway/history/history_query.h"

#include <spdlog/spdlog.h>

#include <simdjson.h>

#include <algorithm>

#include "config/config.h"
#include "gateway/ingest/decoders.h"
#include "base/json_writer.h"

namespace dctwin {

IngestRouter::IngestRouter(IngestOptions options, CollectdTypes collectd_types, ShardPool<Envelope>& pool,
                           DeadLetters& dead_letters, MessageSink& replies, ReplyBook& reply_book, Clock clock)
    : options_(std::move(options)), collectd_types_(std::move(collectd_types)), pool_(pool),
      dead_letters_(dead_letters), replies_(replies), reply_book_(reply_book), clock_(std::move(clock)),
      answer_topics_(options_.prefix, options_.collectd_prefix, options_.telegraf_prefix, options_.reply_topics) {}

std::vector<std::string> IngestRouter::ControlSubscriptions(const IngestOptions& o) {
  if (o.role == "site") {
    // The site reads what the pods' bridges carry up: rack health, the pods' status, and the
    // bridges' own notifications (mosquitto's notification_topic, P/gateway/<pod>/bridge). The
    // pods' stats (QoS 0, never queued) prove a bridge is up (see BridgeCarried).
    // A pod's own copy of a rack's health comes before the plain one (see RouteRackHealth),
    // also in the retained messages a subscription brings.
    return {o.prefix + "/query/#",           o.prefix + "/command/#",         o.prefix + "/gateway/+/health/rack/+",
            o.prefix + "/health/rack/+",     o.prefix + "/gateway/+/status",  o.prefix + "/gateway/+/bridge",
            o.prefix + "/gateway/+/stats"};
  }
  std::vector<std::string> filters{o.prefix + "/provisioning/+", o.prefix + "/query/#", o.prefix + "/command/#",
                                   o.prefix + "/reported/+"};
  if (o.role == "pod") filters.push_back(o.prefix + "/silences/+");  // the site's silences, bridged down
  return filters;
}

std::vector<std::string> IngestRouter::MetricSubscriptions(const IngestOptions& o) {
  if (o.role == "site") return {};  // the site's servers report to their pods
  std::vector<std::string> filters{o.prefix + "/metrics/+"};
  if (!o.collectd_prefix.empty()) filters.push_back(o.collectd_prefix + "/+/+/+");
  if (!o.telegraf_prefix.empty()) filters.push_back(o.telegraf_prefix + "/+/+");
  return filters;
}

std::vector<std::string> IngestRouter::Subscriptions(const IngestOptions& o) {
  std::vector<std::string> filters = MetricSubscriptions(o);
  for (std::string& f : ControlSubscriptions(o)) filters.push_back(std::move(f));
  return filters;
}

namespace {
bool WantsSeries(std::string_view payload) {
  thread_local simdjson::dom::parser parser;
  simdjson::dom::element doc;
  bool series = false;
  return !parser.parse(payload.data(), payload.size()).get(doc) && !doc["series"].get_bool().get(series) && series;
}

// The rest of `topic` after "<prefix>/", or nullopt-like empty when it does not start so.
bool Under(std::string_view topic, const std::string& prefix, std::string_view* rest) {
  if (prefix.empty() || topic.size() <= prefix.size() + 1 || topic.compare(0, prefix.size(), prefix) != 0 ||
      topic[prefix.size()] != '/') {
    return false;
  }
  *rest = topic.substr(prefix.size() + 1);
  return true;
}
}  // namespace

void IngestRouter::OnMessage(std::string_view topic, std::string_view payload, std::string_view response_topic,
                             std::string_view correlation) {
  if (payload.size() > options_.max_payload) {
    dead_letters_.Reject(RejectReason::kTooLarge, topic,
                         "payload of " + std::to_string(payload.size()) + " bytes is over the limit", payload);
    return;
  }
  std::string_view rest;
  if (Under(topic, options_.prefix, &rest)) {
    RouteNative(topic, payload, response_topic, correlation);
  } else if (Under(topic, options_.collectd_prefix, &rest)) {
    RouteCollectd(topic, rest, payload);
  } else if (Under(topic, options_.telegraf_prefix, &rest)) {
    RouteTelegraf(topic, rest, payload);
  } else {
    dead_letters_.Reject(RejectReason::kBadTopic, topic, "topic outside the gateway's prefixes", payload);
  }
}

bool IngestRouter::CheckServer(std::string_view topic, std::string_view id, std::string_view payload) {
  if (IsValidId(id)) return true;
  dead_letters_.Reject(RejectReason::kBadId, topic, "server id must match [A-Za-z0-9._-]{1,64}", payload);
  return false;
}

void IngestRouter::RouteCollectd(std::string_view topic, std::string_view rest, std::string_view payload) {
  // <host>/<plugin>[-<pinst>]/<type>[-<tinst>]
  const size_t a = rest.find('/');
  const size_t b = a == std::string_view::npos ? a : rest.find('/', a + 1);
  if (b == std::string_view::npos || rest.find('/', b + 1) != std::string_view::npos) {
    dead_letters_.Reject(RejectReason::kBadTopic, topic, "collectd topics are <prefix>/<host>/<plugin>/<type>", payload);
    return;
  }
  const std::string_view host = rest.substr(0, a);
  if (!CheckServer(topic, host, payload)) return;
  const double now = clock_();
  Report report;
  DecodeError err;
  if (!DecodeCollectd(rest.substr(a + 1, b - a - 1), rest.substr(b + 1), payload, collectd_types_, now, &report, &err)) {
    dead_letters_.Reject(err.reason, topic, err.detail, payload);
    return;
  }
  collectd_.fetch_add(1, std::memory_order_relaxed);
  Post(TwinAddress{Level::kServer, std::string(host)}, now, std::move(report), topic, payload);
}

void IngestRouter::RouteTelegraf(std::string_view topic, std::string_view rest, std::string_view payload) {
  const size_t a = rest.find('/');
  if (a == std::string_view::npos || rest.find('/', a + 1) != std::string_view::npos) {
    dead_letters_.Reject(RejectReason::kBadTopic, topic, "Telegraf topics are <prefix>/<host>/<plugin>", payload);
    return;
  }
  const std::string_view host = rest.substr(0, a);
  if (!CheckServer(topic, host, payload)) return;
  const double now = clock_();
  std::vector<Report> reports;
  DecodeError err;
  if (!DecodeLineProtocol(payload, now, &reports, &err)) {
    dead_letters_.Reject(err.reason, topic, err.detail, payload);
    return;
  }
  telegraf_.fetch_add(1, std::memory_order_relaxed);
  for (Report& r : reports) Post(TwinAddress{Level::kServer, std::string(host)}, now, std::move(r), topic, payload);
}

void IngestRouter::RouteNative(std::string_view topic, std::string_view payload, std::string_view response_topic,
                               std::string_view correlation) {
  const std::string_view rest = topic.substr(options_.prefix.size() + 1);
  const size_t slash = rest.find('/');
  const std::string_view kind = rest.substr(0, slash);
  const std::string_view id = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
  if (kind == "query" || kind == "command") {
    // A request whose answer may not go where it asks is refused whole: not carried out, and
    // answered nowhere else.
    if (!response_topic.empty()) {
      if (std::string why = answer_topics_.Refusal(response_topic); !why.empty()) {
        dead_letters_.Reject(RejectReason::kBadResponseTopic, topic,
                             why + ": " + std::string(response_topic.substr(0, 200)), payload);
        return;
      }
    }
    if (kind == "query") {
      RouteQuery(topic, id, payload, response_topic, correlation);
    } else {
      RouteCommand(topic, id, payload, response_topic, correlation);
    }
    return;
  }
  if ((options_.role == "site" && (kind == "health" || kind == "gateway")) ||
      (options_.role == "pod" && kind == "silences")) {
    RouteSiteInput(topic, kind, id, payload);
    return;
  }
  if (kind != "metrics" && kind != "provisioning" && kind != "reported") {
    dead_letters_.Reject(RejectReason::kBadTopic, topic, "no input is expected on this topic", payload);
    return;
  }
  if (!CheckServer(topic, id, payload)) return;
  if (kind == "reported") {
    ControlRequest r;
    r.type = ControlRequest::Type::kReported;
    r.server = std::string(id);
    r.payload = std::string(payload);
    ToControl(std::move(r), topic);
    return;
  }
  const double now = clock_();
  DecodeError err;
  if (kind == "metrics") {
    const TwinAddress to{Level::kServer, std::string(id)};
    if (pool_.WouldShed(to.Hash())) {
      Shed(to, topic, payload);
      return;
    }
    Report report;
    if (!DecodeNativeReport(payload, now, &report, &err)) {
      dead_letters_.Reject(err.reason, topic, err.detail, payload);
      return;
    }
    native_.fetch_add(1, std::memory_order_relaxed);
    Post(to, now, std::move(report), topic, payload);
  } else {
    Message msg;
    if (!DecodeProvisioning(payload, &msg, &err)) {
      dead_letters_.Reject(err.reason, topic, err.detail, payload);
      return;
    }
    std::shared_ptr<const std::unordered_map<std::string, std::string>> listed;
    {
      MutexLock lock(inventory_mu_);
      listed = inventory_;
    }
    if (listed) {
      auto it = listed->find(std::string(id));
      const Commission* c = std::get_if<Commission>(&msg);
      if (it != listed->end() && (c == nullptr || c->rack != it->second)) {
        dead_letters_.Reject(RejectReason::kConflict, topic,
                             "server " + std::string(id) + " is in the inventory (rack " + it->second +
                                 "): the inventory wins; change it there",
                             payload);
        return;
      }
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
  TwinAddress to;
  std::string problem;
  // A pod answers only for what it holds: the datacenter, the site's incidents and silences are
  // the site gateway's to answer.
  if (options_.role == "pod" &&
      (what == "history" || what == "report" || what == "unhealthy-racks" || what == "datacenter" || what == "incidents" ||
       what == "silences" || what.rfind("group/", 0) == 0)) {
    return;
  }
  if ((what == "history" || what == "report") && history_ && options_.role != "pod") {
    HistoryRequest r{what == "report", std::string(topic), std::string(payload), std::string(response_topic),
                     std::string(correlation), {}};
    if (!history_(std::move(r))) {
      dead_letters_.Reject(RejectReason::kQueueFull, topic, "too many history queries wait", payload);
      AnswerError(response_topic, correlation, "the gateway is busy: too many history queries wait; try again later");
    }
    return;
  }
  if (what.rfind("twin/", 0) == 0 && options_.role == "site") return;  // the pods hold the servers and answer
  if (what.rfind("twin/", 0) == 0) {
    const bool rack = what.rfind("twin/rack/", 0) == 0;
    const std::string_view id = what.substr(rack ? 10 : 5);
    if (!IsValidId(id)) {
      dead_letters_.Reject(RejectReason::kBadQuery, topic, "id must match [A-Za-z0-9._-]{1,64}", payload);
      AnswerError(response_topic, correlation, "id must match [A-Za-z0-9._-]{1,64}");
      return;
    }
    ControlRequest r;
    r.type = rack ? ControlRequest::Type::kQueryRack : ControlRequest::Type::kQueryTwin;
    r.server = std::string(id);
    r.reply_topic = std::string(response_topic);
    r.correlation = std::string(correlation);
    if (!ToControl(std::move(r), topic)) AnswerError(response_topic, correlation, "the gateway is busy; try again later");
    return;
  }
  if (what == "incidents" && ToDesk(DeskRequest::Type::kQueryIncidents, payload, response_topic, correlation)) return;
  if (what == "silences" && ToDesk(DeskRequest::Type::kQuerySilences, payload, response_topic, correlation)) return;
  if (what == "unhealthy-racks" || what == "datacenter") {
    q.kind = what == "datacenter" ? QueryKind::kDatacenter : QueryKind::kUnhealthyRacks;
    to = TwinAddress{Level::kDatacenter, options_.datacenter};
  } else if (what.rfind("rack/", 0) == 0 || what.rfind("server/", 0) == 0) {
    const bool rack = what[0] == 'r';
    const std::string_view id = what.substr(rack ? 5 : 7);
    q.kind = rack ? QueryKind::kRack : QueryKind::kServer;
    // {"series": "1m" | "1h"}: the server's rollups, from the state database.
    if (!rack && history_ && options_.role != "site" && IsValidId(id) && AsksForRollups(payload)) {
      HistoryRequest r{false, std::string(topic), std::string(payload), std::string(response_topic),
                       std::string(correlation), std::string(id)};
      if (!history_(std::move(r))) {
        dead_letters_.Reject(RejectReason::kQueueFull, topic, "too many history queries wait", payload);
        AnswerError(response_topic, correlation, "the gateway is busy: too many history queries wait; try again later");
      }
      return;
    }
    // {"series": true} adds the window's samples to a server's answer.
    q.series = !rack && payload.find("\"series\"") != std::string_view::npos && WantsSeries(payload);
    to = TwinAddress{rack ? Level::kRack : Level::kServer, std::string(id)};
    if (!IsValidId(id)) problem = "id must match [A-Za-z0-9._-]{1,64}";
  } else if (what.rfind("group/", 0) == 0) {
    const std::string_view id = what.substr(6);
    q.kind = QueryKind::kGroup;
    to = TwinAddress{Level::kGroup, std::string(id)};
    if (!IsValidGroupId(id)) problem = "a group is feed:<name>, cooling:<name> or tor:<name>, the name [A-Za-z0-9._-]{1,64}";
  } else {
    problem = "unknown query; ask unhealthy-racks, datacenter, rack/<id>, server/<id>, group/<id>, twin/<id>, incidents, silences, history or report";
  }
  if (!problem.empty()) {
    dead_letters_.Reject(RejectReason::kBadQuery, topic, problem, payload);
    // The asker waits for an answer: tell it what was wrong.
    JsonWriter w;
    w.BeginObject().Field("error", problem).Field("topic", topic).EndObject();
    replies_.Publish(OutMessage{std::string(response_topic), w.Take(), 1, false, std::string(correlation)});
    return;
  }
  q.reply_token = reply_book_.Open(ReplyTo{std::string(response_topic), std::string(correlation)});
  const uint64_t token = q.reply_token;
  if (!Post(std::move(to), clock_(), std::move(q), topic, payload)) reply_book_.Forget(token);
}

void IngestRouter::RouteSiteInput(std::string_view topic, std::string_view kind, std::string_view rest,
                                  std::string_view payload) {
  thread_local simdjson::dom::parser parser;
  if (kind == "silences") {  // pod: a silence of the site, or its end (an empty retained message)
    if (!IsValidId(rest)) return;
    DeskRequest r;
    r.type = DeskRequest::Type::kSilenceMirror;
    r.ids.emplace_back(rest);
    r.payload = std::string(payload);
    if (desk_) desk_(std::move(r));
    return;
  }
  if (kind == "gateway") {  // site: <pod>/status, <pod>/bridge
    const size_t slash = rest.find('/');
    const std::string_view pod = rest.substr(0, slash);
    if (slash == std::string_view::npos || pod == options_.gateway_id || !IsValidId(pod)) return;
    if (rest.substr(slash) == "/stats") {
      BridgeCarried(pod);
      return;
    }
    // <pod>/health/rack/<rack>: the pod's own copy of its rack's health, which only that pod's
    // bridge may write (the shipped site ACL)
    if (std::string_view tail = rest.substr(slash + 1); tail.rfind("health/rack/", 0) == 0) {
      RouteRackHealth(topic, tail.substr(12), payload, pod);
      return;
    }
    if (rest.substr(slash) == "/bridge") {
      // mosquitto's bridge notification: "1" once connected, "0" when it disconnected (the will
      // the site broker publishes for a bridge that dropped).
      if (payload != "0" && payload != "1") {
        dead_letters_.Reject(RejectReason::kBadJson, topic, "a bridge notification must be 0 or 1", payload);
        return;
      }
      {
        MutexLock lock(owners_mu_);
        if (payload == "0") {
          bridges_down_.emplace(pod);
        } else if (auto it = bridges_down_.find(pod); it != bridges_down_.end()) {
          bridges_down_.erase(it);
        }
      }
      Post(TwinAddress{Level::kDatacenter, options_.datacenter}, clock_(), PodStatus{std::string(pod), payload == "1", true},
           topic, payload);
      return;
    }
    if (rest.substr(slash) != "/status") return;
    simdjson::dom::element doc;
    bool online = false;
    if (!payload.empty() && (parser.parse(payload.data(), payload.size()).get(doc) || doc["online"].get_bool().get(online))) {
      dead_letters_.Reject(RejectReason::kBadJson, topic, "a gateway status must be {\"online\": true|false, ...}", payload);
      return;
    }
    Post(TwinAddress{Level::kDatacenter, options_.datacenter}, clock_(), PodStatus{std::string(pod), online}, topic,
         payload);
    if (!online) {
      // A pod that claimed another pod's rack went away (to be reconfigured): its conflicts end;
      // if it comes back claiming the rack again, they are reported again.
      const TwinAddress dc{Level::kDatacenter, options_.datacenter};
      MutexLock lock(owners_mu_);
      for (auto c = conflicts_.begin(); c != conflicts_.end();) {
        const size_t nl = c->find('\n');
        if (std::string_view(*c).substr(nl + 1) != pod) {
          ++c;
          continue;
        }
        const std::string rack = c->substr(0, nl);
        auto owner = rack_owner_.find(rack);
        pool_.PostInternal(dc.Hash(), Envelope{dc, clock_(), RackConflict{rack, owner == rack_owner_.end() ? "" : owner->second,
                                                                          std::string(pod), false}});
        c = conflicts_.erase(c);
      }
    }
    return;
  }
  // site: health/rack/<rack>, the rack's health as its pod publishes it
  if (rest.rfind("rack/", 0) != 0) return;
  RouteRackHealth(topic, rest.substr(5), payload, "");
}

void IngestRouter::RouteRackHealth(std::string_view topic, std::string_view rack, std::string_view payload,
                                   std::string_view bridge_pod) {
  thread_local simdjson::dom::parser parser;
  if (!IsValidId(rack)) {
    dead_letters_.Reject(RejectReason::kBadId, topic, "rack id must match [A-Za-z0-9._-]{1,64}", payload);
    return;
  }
  RackStatus status;
  status.rack = std::string(rack);
  std::map<std::string, int> servers_by_kind;  // for the rack's groups
  std::string gateway;
  double updated_at = 0;
  if (payload.empty()) {
    status.exists = false;  // the pod cleared it: the rack is gone
  } else {
    simdjson::dom::element doc;
    std::string_view st, severity, gw;
    if (parser.parse(payload.data(), payload.size()).get(doc) || doc["status"].get_string().get(st)) {
      dead_letters_.Reject(RejectReason::kBadJson, topic, "rack health must be the gateway's health JSON", payload);
      return;
    }
    if (!doc["gateway"].get_string().get(gw)) gateway = std::string(gw);
    if (doc["updated_at"].get_double().get(updated_at)) updated_at = 0;
    if (gateway.empty()) {
      // Whose rack this is cannot be told: never taken (a forged or foreign document).
      dead_letters_.Reject(RejectReason::kConflict, topic,
                           "rack health without the \"gateway\" of the pod that publishes it is not taken", payload);
      return;
    }
    if (!bridge_pod.empty() && gateway != bridge_pod) {
      dead_letters_.Reject(RejectReason::kConflict, topic,
                           "rack health on pod " + std::string(bridge_pod) + "'s own topic names gateway " + gateway +
                               ": the document and the bridge it came over disagree",
                           payload);
      return;
    }
    simdjson::dom::object by_kind;
    if (!doc["by_kind"].get_object().get(by_kind)) {
      for (auto f : by_kind) {
        status.kinds.emplace_back(f.key);
        int64_t n = 0;
        if (!f.value.get_int64().get(n) && n > 0 && n < 1000000) servers_by_kind[std::string(f.key)] = static_cast<int>(n);
      }
    }
    simdjson::dom::array incidents;
    if (!doc["incidents"].get_array().get(incidents)) {
      for (simdjson::dom::element i : incidents) {
        IncidentRef ref;
        std::string_view v;
        if (!i["kind"].get_string().get(v)) ref.kind = std::string(v);
        if (!i["id"].get_string().get(v)) ref.id = std::string(v);
        if (!i["severity"].get_string().get(v)) ParseSeverity(v, &ref.severity);
        double at = 0;
        if (!i["opened_at"].get_double().get(at)) ref.opened_at = at;
        if (std::find(status.kinds.begin(), status.kinds.end(), ref.kind) == status.kinds.end()) {
          status.kinds.push_back(ref.kind);
        }
        status.incidents.push_back(std::move(ref));
      }
    }
    std::sort(status.kinds.begin(), status.kinds.end());
    double since = 0;
    if (!doc["since"].get_double().get(since)) status.since = since;
    if (!doc["severity"].get_string().get(severity)) ParseSeverity(severity, &status.worst);
    // A rack that says it is not ok counts as unhealthy even when it names no kind: its status
    // is then the kind the site shows.
    if (status.kinds.empty() && st != "ok") {
      status.kinds.emplace_back(st);
      if (st == "critical" || st == "silent") status.worst = Severity::kCritical;
      if (status.since <= 0) status.since = clock_();
    }
  }
  // A clear carries no gateway: on a pod's own topic, the pod is the one whose bridge it came over.
  if (!bridge_pod.empty()) gateway = std::string(bridge_pod);
  if (!OnlyFromOwnTopic(topic, rack, gateway, payload, updated_at, !bridge_pod.empty())) return;
  status.from_owner_topic = !bridge_pod.empty();
  // One rack, one pod: a second pod publishing the same rack is a configuration error, reported
  // and never merged. (A plain clear, with no gateway, is taken as it comes unless its rack's
  // owner publishes its own copies.)
  if (!gateway.empty()) {
    const TwinAddress dc{Level::kDatacenter, options_.datacenter};
    MutexLock lock(owners_mu_);
    auto it = rack_owner_.find(rack);
    if (it != rack_owner_.end() && it->second != gateway) {
      // Reported once (a `config` incident at the site), counted and dead-lettered every time.
      const std::string key = std::string(rack) + '\n' + gateway;
      if (status.exists && conflicts_.insert(key).second) {
        spdlog::error("rack {} belongs to pod {}, and pod {} publishes it too: its reports are refused", rack,
                      it->second, gateway);
        pool_.PostInternal(dc.Hash(), Envelope{dc, clock_(), RackConflict{std::string(rack), it->second, gateway, true}});
      } else if (!status.exists && conflicts_.erase(key) > 0) {
        pool_.PostInternal(dc.Hash(), Envelope{dc, clock_(), RackConflict{std::string(rack), it->second, gateway, false}});
        return;
      }
      if (status.exists) {
        dead_letters_.Reject(RejectReason::kConflict, topic,
                             "rack " + std::string(rack) + " belongs to pod " + it->second + ", and pod " + gateway +
                                 " publishes it too: two pods must not serve one rack",
                             payload);
      }
      return;
    }
    if (status.exists) {
      if (it == rack_owner_.end()) rack_owner_.emplace(std::string(rack), gateway);
      status.owner = gateway;  // the datacenter twin keeps it: ownership survives a restart
    } else if (it != rack_owner_.end()) {
      // The owner let the rack go: whoever claimed it too is no longer in conflict.
      const std::string prefix = std::string(rack) + '\n';
      for (auto c = conflicts_.lower_bound(prefix); c != conflicts_.end() && c->rfind(prefix, 0) == 0;) {
        pool_.PostInternal(dc.Hash(), Envelope{dc, clock_(), RackConflict{std::string(rack), gateway,
                                                                          c->substr(prefix.size()), false}});
        c = conflicts_.erase(c);
      }
      rack_owner_.erase(it);
    }
  }
  if (!gateway.empty()) BridgeCarried(gateway);
  // The rack's groups (its feeds, cooling unit, switch) hear what it has open.
  std::shared_ptr<const Topology> topology;
  {
    MutexLock lock(inventory_mu_);
    topology = topology_;
  }
  if (const std::vector<std::string>* groups = topology ? topology->GroupsOf(status.rack) : nullptr) {
    GroupMember member{status.rack, status.exists, status.incidents, std::move(servers_by_kind), status.worst};
    for (const std::string& g : *groups) {
      const TwinAddress to{Level::kGroup, g};
      pool_.PostInternal(to.Hash(), Envelope{to, clock_(), member});
    }
  }
  Post(TwinAddress{Level::kDatacenter, options_.datacenter}, clock_(), std::move(status), topic, payload);
}

void IngestRouter::BridgeCarried(std::string_view pod) {
  {
    MutexLock lock(owners_mu_);
    auto it = bridges_down_.find(pod);
    if (it == bridges_down_.end()) return;
    bridges_down_.erase(it);
  }
  // The pod's own broker also publishes its bridge's "0" when the link drops, and the bridge
  // carries that copy up after it reconnected, behind the site broker's "1": the last word at
  // the site is then a stale "0". A message the pod sent over the bridge since says it is up.
  spdlog::info("a message from pod {} came over its bridge after a bridge notification \"0\": the bridge is up", pod);
  Post(TwinAddress{Level::kDatacenter, options_.datacenter}, clock_(), PodStatus{std::string(pod), true, true},
       options_.prefix + "/gateway/" + std::string(pod) + "/bridge", "1");
}

void IngestRouter::AnswerError(std::string_view response_topic, std::string_view correlation,
                               const std::string& error) {
  if (response_topic.empty()) return;  // nobody hears it
  JsonWriter w;
  w.BeginObject().Field("ok", false).Field("error", error).EndObject();
  replies_.Publish(OutMessage{std::string(response_topic), w.Take(), 1, false, std::string(correlation)});
}

void IngestRouter::SeedRackOwners(const std::map<std::string, std::string>& owners, const std::set<std::string>& own_topic_pods) {
  MutexLock lock(owners_mu_);
  for (const auto& [rack, pod] : owners) rack_owner_.emplace(rack, pod);
  for (const std::string& pod : own_topic_pods) own_topic_pods_.emplace(pod);
}

bool IngestRouter::OnlyFromOwnTopic(std::string_view topic, std::string_view rack, const std::string& gateway,
                                    std::string_view payload, double updated_at, bool own_topic) {
  MutexLock lock(owners_mu_);
  if (own_topic) {
    if (own_topic_pods_.insert(gateway).second) {
      spdlog::info("pod {} publishes its racks' health on its own topic: the site takes its racks only from there",
                   gateway);
    }
    last_own_copy_[std::string(rack)] = OwnCopy{std::hash<std::string_view>{}(payload), updated_at};
    return true;
  }
  // A plain copy: what its pod also sent on its own topic (just before, on the same bridge), or
  // a document whose origin cannot be told.
  std::string_view pod = gateway;
  if (pod.empty()) {  // a clear: whose rack was it?
    auto owner = rack_owner_.find(rack);
    if (owner == rack_owner_.end()) return true;
    pod = owner->second;
  }
  if (!own_topic_pods_.contains(pod)) return true;  // a pod that publishes no own copies (an older one)
  // A newer plain copy may be ahead of its own copy (the pod's queue sends each topic's latest
  // value, not the two topics in step): not taken either way, but not called a conflict.
  auto last = last_own_copy_.find(rack);
  if (last != last_own_copy_.end() && last->second.hash != std::hash<std::string_view>{}(payload) &&
      updated_at <= last->second.updated_at) {
    dead_letters_.Reject(RejectReason::kConflict, topic,
                         "rack health naming pod " + std::string(pod) +
                             " that is not the copy on its own topic: only that copy is taken",
                         payload);
  }
  return false;
}

bool IngestRouter::ToDesk(DeskRequest::Type type, std::string_view payload, std::string_view response_topic,
                          std::string_view correlation) {
  if (!desk_) return false;
  DeskRequest r;
  r.type = type;
  r.payload = std::string(payload);
  r.reply_topic = std::string(response_topic);
  r.correlation = std::string(correlation);
  if (!desk_(std::move(r))) {
    dead_letters_.Reject(RejectReason::kQueueFull, options_.prefix + "/" + (type == DeskRequest::Type::kQueryIncidents ||
                                                                                   type == DeskRequest::Type::kQuerySilences
                                                                               ? "query"
                                                                               : "command"),
                         "the incident desk's queue is full (is the state store failing?)", payload);
    AnswerError(response_topic, correlation,
                "the gateway is busy: too many requests wait for its state store; try again later");
  }
  return true;
}

void IngestRouter::RouteCommand(std::string_view topic, std::string_view what, std::string_view payload,
                                std::string_view response_topic, std::string_view correlation) {
  DeskRequest::Type type;
  if (options_.role == "pod" && (what == "silence" || what == "silence/expire")) return;  // the site owns silences
  if (what == "desired") {
    if (options_.role == "site") return;  // the pods own the servers and answer
    ControlRequest r;
    r.type = ControlRequest::Type::kDesired;
    r.payload = std::string(payload);
    r.reply_topic = std::string(response_topic);
    r.correlation = std::string(correlation);
    if (!ToControl(std::move(r), topic)) {
      AnswerError(response_topic, correlation, "the gateway is busy: too many control requests wait; try again later");
    }
    return;
  }
  if (what == "silence") {
    type = DeskRequest::Type::kSilence;
  } else if (what == "silence/expire") {
    type = DeskRequest::Type::kExpireSilence;
  } else if (what == "ack") {
    type = DeskRequest::Type::kAck;
  } else {
    dead_letters_.Reject(RejectReason::kBadQuery, topic, "unknown command; send silence, silence/expire, ack or desired",
                         payload);
    AnswerError(response_topic, correlation,
                "unknown command " + std::string(what) + "; the commands are silence, silence/expire, ack, desired");
    return;
  }
  // A command without a Response Topic is still carried out; nobody hears the answer.
  if (!ToDesk(type, payload, response_topic, correlation)) {
    dead_letters_.Reject(RejectReason::kBadQuery, topic, "this gateway takes no commands", payload);
  }
}

bool IngestRouter::ToControl(ControlRequest r, std::string_view topic) {
  if (!control_) {
    dead_letters_.Reject(RejectReason::kBadQuery, topic, "this gateway does not keep desired state", r.payload);
    return true;
  }
  const std::string payload = r.payload;
  if (control_(std::move(r))) return true;
  dead_letters_.Reject(RejectReason::kQueueFull, topic, "the control desk's queue is full (is the state store failing?)",
                       payload);
  return false;
}

void IngestRouter::Shed(const TwinAddress& to, std::string_view topic, std::string_view payload) {
  pool_.CountShed(to.Hash());
  RejectShed(topic, payload);
}

void IngestRouter::RejectShed(std::string_view topic, std::string_view payload) {
  dead_letters_.Reject(RejectReason::kQueueFull, topic,
                       "this report's shard is full while others have room; dropped at once so that one busy shard "
                       "does not hold up the others",
                       payload);
}

bool IngestRouter::Post(TwinAddress to, double now, Message msg, std::string_view topic, std::string_view payload) {
  const size_t hash = to.Hash();
  const double received =
      std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  // A metric report is sheddable: the server's next one makes it good again, and waiting for a
  // hot shard would stall every other shard's messages (ShardPool::PostExternal).
  const bool sheddable = std::holds_alternative<Report>(msg);
  bool shed = false;
  if (pool_.PostExternal(hash, Envelope{std::move(to), now, std::move(msg), 0, received}, sheddable, &shed)) return true;
  if (pool_.closed()) {
    dead_letters_.Reject(RejectReason::kShuttingDown, topic, "gateway is stopping; message dropped", payload);
  } else if (shed) {
    RejectShed(topic, payload);
  } else {
    dead_letters_.Reject(RejectReason::kQueueFull, topic, "shard mailbox full; message dropped", payload);
  }
  return false;
}

}  // namespace dctwin
