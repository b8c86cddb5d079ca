#include "gateway/gateway.h"

#include "config/inventory.h"

#include <malloc.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <thread>
#include <sys/stat.h>
#include <utility>

#include "base/step_guarded_clock.h"
#include "base/thread_name.h"
#include "config/inventory.h"
#include "config/runtime_config.h"
#include "gateway/ops/counters.h"
#include "gateway/runtime/restore_lanes.h"
#include "base/json_writer.h"
#include "storage/twin_codec.h"
#include "twins/reconcile.h"

#ifndef DCTWIN_VERSION
#define DCTWIN_VERSION "unknown"
#endif

namespace dctwin {

namespace {
constexpr auto kTick = std::chrono::milliseconds(200);

// What the page draws the floor from (/topology.json; the retained P/topology announces its
// version): each rack's row, position and groups, and each group's racks.
std::string TopologyJson(const Inventory& inventory, const Topology& topology) {
  JsonWriter w;
  w.BeginObject().Key("racks").BeginArray();
  for (const InventoryRack& r : inventory.racks) {
    w.BeginObject().Field("rack", r.name).Field("row", r.row).Field("position", r.position);
    w.Key("groups").BeginArray();
    if (const std::vector<std::string>* groups = topology.GroupsOf(r.name)) {
      for (const std::string& g : *groups) w.String(g);
    }
    w.EndArray().EndObject();
  }
  w.EndArray().Key("groups").BeginObject();
  for (const auto& [group, racks] : topology.group_racks) {
    w.Key(group).BeginArray();
    for (const std::string& r : racks) w.String(r);
    w.EndArray();
  }
  w.EndObject().EndObject();
  return w.Take();
}

// `store_error`: non-empty while state store commits fail.
std::string StatusJson(const Config& c, bool online, double started_at, const char* reason,
                       const std::string& store_error = "") {
  JsonWriter w;
  w.BeginObject().Field("online", online).Field("gateway", c.gateway.id).Field("datacenter", c.gateway.datacenter);
  if (online) {
    w.Field("version", DCTWIN_VERSION).Field("started_at", started_at).IntField("pid", getpid());
    w.Field("store", store_error.empty() ? "ok" : "failing");
    if (!store_error.empty()) w.Field("store_error", store_error);
  }
  if (reason != nullptr) w.Field("reason", reason);
  w.EndObject();
  return w.Take();
}
}  // namespace

namespace {
StepGuardedClock& GuardedClock() {
  static StepGuardedClock clock(StepGuardedClock::SystemWall, StepGuardedClock::SystemMono, 1.0, [](double step) {
    if (step < 0) {
      spdlog::warn("the system clock stepped back {:.1f} s; the gateway's clock keeps going at half speed until it "
                   "has caught up ({:.0f} s): no timestamp goes backwards",
                   -step, -2 * step);
    } else {
      spdlog::warn("the system clock stepped forward {:.1f} s; the gateway's clock follows it", step);
    }
  });
  return clock;
}
}  // namespace

double WallClock() { return GuardedClock().Now(); }

namespace {
double MonotonicSeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

uint64_t WallClockSteps() { return GuardedClock().steps(); }

namespace {

// model.max_memory_mb in bytes; 0 is half of the machine's memory.
int64_t MemoryBudgetBytes(int64_t mb) {
  if (mb > 0) return mb << 20;
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page = sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page <= 0) return INT64_MAX;
  return static_cast<int64_t>(pages) * page / 2;
}

}  // namespace

Gateway::Gateway(Config config) : config_(std::move(config)), started_at_(WallClock()) {
  const std::string& prefix = config_.gateway.prefix;
  const std::string status_topic = prefix + "/gateway/" + config_.gateway.id + "/status";

  MqttLink::Options lo;
  lo.uri = config_.broker.uri;
  lo.client_id = config_.gateway.id;
  lo.session_expiry_s = config_.broker.session_expiry_s;
  lo.keepalive_s = config_.broker.keepalive_s;
  lo.reconnect_min_s = config_.broker.reconnect_min_s;
  lo.reconnect_max_s = config_.broker.reconnect_max_s;
  lo.subscribe_qos = config_.broker.subscribe_qos;
  lo.ca_file = config_.broker.ca_file;
  lo.cert_file = config_.broker.cert_file;
  lo.key_file = config_.broker.key_file;
  IngestOptions io;
  io.prefix = prefix;
  io.datacenter = config_.gateway.datacenter;
  io.collectd_prefix = config_.ingest.collectd_prefix;
  io.telegraf_prefix = config_.ingest.telegraf_prefix;
  io.max_payload = static_cast<size_t>(config_.gateway.max_payload_bytes);
  io.role = config_.gateway.role;
  io.gateway_id = config_.gateway.id;
  io.reply_topics = config_.gateway.reply_topics;
  // Every connection calls the router only after Start(), by which time router_ is built.
  auto on_message = [this](const mqtt::const_message_ptr& msg) {
    if (msg->get_topic() == kBrokerDroppedTopic) {
      drop_watch_->OnCount(msg->get_payload_ref().str(), WallClock());
      return;
    }
    const mqtt::properties& props = msg->get_properties();
    std::string response_topic, correlation;
    if (props.contains(mqtt::property::RESPONSE_TOPIC)) {
      response_topic = mqtt::get<std::string>(props, mqtt::property::RESPONSE_TOPIC);
      if (props.contains(mqtt::property::CORRELATION_DATA)) {
        correlation = mqtt::get<std::string>(props, mqtt::property::CORRELATION_DATA);
      }
    }
    router_->OnMessage(msg->get_topic(), msg->get_payload_ref().str(), response_topic, correlation);
  };
  // Input and output travel on different connections, so that a stop can end the input first
  // (what the broker has not delivered stays in the persistent session) and still publish what
  // the input caused: <id>-in reads provisioning, queries and commands (and the metrics, unless
  // broker.ingest_connections > 1 shares them over <id>-ingest-<k>); <id> itself publishes, and
  // carries the will.
  auto ready = [this] { AnnounceIfReady(); };
  const int ingest_links = config_.broker.ingest_connections;
  MqttLink::Options control = lo;
  control.client_id = config_.gateway.id + "-in";
  control.optional_subscriptions = {kBrokerDroppedTopic};
  control.on_ready = ready;
  if (ingest_links > 1) {
    // Metrics arrive over the shared group; their filters get the $share/<group>/ prefix.
    for (int k = 1; k <= ingest_links; ++k) {
      MqttLink::Options il = lo;
      il.client_id = config_.gateway.id + "-ingest-" + std::to_string(k);
      il.on_ready = ready;
      for (const std::string& f : IngestRouter::MetricSubscriptions(io)) {
        il.subscriptions.push_back("$share/" + config_.gateway.id + "/" + f);
      }
      ingest_links_.push_back(std::make_unique<MqttLink>(std::move(il), on_message));
    }
    control.subscriptions = IngestRouter::ControlSubscriptions(io);
  } else {
    control.subscriptions = IngestRouter::Subscriptions(io);
  }
  ingest_links_.insert(ingest_links_.begin(), std::make_unique<MqttLink>(std::move(control), on_message));
  lo.will_topic = status_topic;
  lo.will_payload = StatusJson(config_, false, started_at_, "connection lost");
  // The output connection is ready: the online status first, then every retained topic again.
  lo.on_ready = [this] {
    AnnounceIfReady();
    outbound_->Reconnected();
  };
  {
    MutexLock lock(status_mu_);
    status_payload_ = StatusJson(config_, true, started_at_, nullptr);
  }
  link_ = std::make_unique<MqttLink>(std::move(lo), on_message);
  outbound_ = std::make_unique<OutboundQueue>(*link_, static_cast<size_t>(config_.gateway.publish_buffer),
                                              config_.broker.max_inflight);
  delivery_ = std::make_unique<OutboxDelivery>(*outbound_);
  own_incidents_ = std::make_unique<GatewayIncidents>(prefix, config_.gateway.id, config_.gateway.datacenter,
                                                      *outbound_, WallClock);
  drop_watch_ = std::make_unique<BrokerDropWatch>(*own_incidents_, config_.broker.drop_quiet_s);
  reply_book_ = std::make_unique<ReplyBook>();
  alerts_ = std::make_unique<AlertPublisher>(prefix, config_.gateway.datacenter, *outbound_, config_.gateway.id,
                                             config_.gateway.role == "pod");
  dead_letters_ = std::make_unique<DeadLetters>(prefix, *outbound_, config_.gateway.deadletter_per_s);

  size_t shards = config_.gateway.shards > 0 ? static_cast<size_t>(config_.gateway.shards)
                                             : std::max(1u, std::thread::hardware_concurrency());
  pool_ = std::make_unique<ShardPool<Envelope>>(shards, static_cast<size_t>(config_.gateway.mailbox_capacity),
                                                std::chrono::milliseconds(config_.gateway.enqueue_timeout_ms), kTick,
                                                WallClock);
  std::string types_error;
  CollectdTypes types = CollectdTypes::Load(config_.ingest.collectd_types_db, &types_error);
  if (!types_error.empty() && !config_.ingest.collectd_prefix.empty()) spdlog::warn("collectd: {}", types_error);
  router_ = std::make_unique<IngestRouter>(io, std::move(types), *pool_, *dead_letters_, *outbound_, *reply_book_,
                                           WallClock);
}

Gateway::~Gateway() { Stop(); }

Status Gateway::ReadCredentials() {
  const std::string& path = config_.broker.credentials_file;
  if (path.empty()) return Status::Ok();
  Credentials c;
  std::string error, warning;
  if (!dctwin::ReadCredentials(path, &c, &error, &warning)) return Status::Invalid(error);
  if (!warning.empty()) spdlog::warn("{}", warning);
  link_->SetCredentials(c.username, c.password);
  for (auto& l : ingest_links_) l->SetCredentials(c.username, c.password);
  return Status::Ok();
}

Status Gateway::Start() {
  Status s = ReadCredentials();
  if (!s.ok()) return s;
  SqliteOptions so;
  so.path = config_.state.path;
  so.synchronous_full = config_.state.synchronous == "full";
  so.history_keep_s = config_.history.keep_days * 86400.0;
  so.history_max_rows = config_.history.max_rows;
  so.rollup_1m_keep_s = config_.history.rollup_1m_days * 86400.0;
  so.rollup_1h_keep_s = config_.history.rollup_1h_days * 86400.0;
  so.metrics = &metric_names_;
  s = SqliteStateStore::Open(so, &store_);
  if (!s.ok()) return s;
  history_ = std::make_unique<HistoryService>(config_.state.path, config_.gateway.datacenter, WallClock, *outbound_,
                                              *dead_letters_);
  s = history_->Start();
  if (!s.ok()) return s;
  router_->SetHistory([this](HistoryRequest r) { return history_->Submit(std::move(r)); });
  IncidentDesk::Options desk_options;
  desk_options.prefix = config_.gateway.prefix;
  desk_options.gateway_id = config_.gateway.id;
  desk_options.keep_expired_s = config_.silences.keep_expired_s;
  desk_options.max_silences = static_cast<size_t>(config_.silences.max_silences);
  desk_options.notify = !config_.alertmanager.urls.empty();
  desk_options.group_hold_s = config_.model.group_notify_hold_s;
  desk_options.owns_silences = config_.gateway.role != "pod";
  desk_options.answer_unknown = config_.gateway.role == "standalone";
  desk_options.render_thread = true;
  desk_ = std::make_unique<IncidentDesk>(desk_options, *outbound_, WallClock);
  ControlDesk::Options control_options;
  control_options.prefix = config_.gateway.prefix;
  control_options.answer_unknown = config_.gateway.role == "standalone";
  control_ = std::make_unique<ControlDesk>(control_options, config_.control, *outbound_, WallClock, MonotonicSeconds);
  stages_ = std::make_unique<CommitStageChain>(std::vector<CommitStage*>{desk_.get(), control_.get()});
  writer_ = std::make_unique<StoreWriter>(*store_, *delivery_, std::chrono::milliseconds(config_.state.flush_interval_ms),
                                          config_.state.outbox_max, stages_.get(), WallClock);
  desk_->SetWake([this] { writer_->Wake(); });
  control_->SetWake([this] { writer_->Wake(); });
  control_->SetHistoryStamp([this](double at) { return desk_->StampHistory(at); });
  control_->SetRejectSink([this](RejectReason reason, const std::string& topic, const std::string& detail,
                                 const std::string& payload) { dead_letters_->Reject(reason, topic, detail, payload); });
  control_->SetConditionSink([this](const std::string& server, ControlCondition c) {
    TwinAddress to{Level::kServer, server};
    const size_t hash = to.Hash();
    pool_->PostInternal(hash, Envelope{std::move(to), WallClock(), std::move(c)});
  });
  desk_->SetExtraRecords([this] { return own_incidents_->Records(); });
  own_incidents_->SetEventHandler([this](const IncidentEvent& e) {
    DeskRequest r;
    r.type = DeskRequest::Type::kGatewayIncident;
    r.event = e;
    desk_->Submit(std::move(r));
  });
  writer_->SetFailureHandler([this](bool failing, const std::string& error) {
    own_incidents_->Set(kStoreFailing, failing, Severity::kCritical,
                        failing ? "state store commits fail on " + config_.state.path + ": " + error +
                                      "; changes are held in memory and input waits at the broker"
                                : "state store commits succeed again");
    Announce(StatusJson(config_, true, started_at_, nullptr, failing ? error : ""));
  });
  router_->SetDesk([this](DeskRequest r) { return desk_->Submit(std::move(r)); });
  if (config_.gateway.role != "site") {
    router_->SetControl([this](ControlRequest r) { return control_->Submit(std::move(r)); });
  }
  if (desk_options.notify) {
    AlertmanagerForwarder::Options fo;
    fo.urls = config_.alertmanager.urls;
    fo.resend_s = config_.alertmanager.resend_s;
    fo.timeout_s = config_.alertmanager.timeout_s;
    fo.gateway_id = config_.gateway.id;
    fo.down_after_s = config_.alertmanager.down_after_s;
    forwarder_ = std::make_unique<AlertmanagerForwarder>(
        fo,
        [this](std::vector<std::string> ids) {
          DeskRequest r;
          r.type = DeskRequest::Type::kResolvesDelivered;
          r.ids = std::move(ids);
          desk_->Submit(std::move(r));
        },
        WallClock);
    desk_->SetNotificationHandler([this](std::vector<NotificationChange> c) { forwarder_->Apply(std::move(c)); });
    forwarder_->SetDownHandler([this](const std::vector<std::string>& down) {
      std::string urls;
      for (const std::string& u : down) urls += (urls.empty() ? "" : ", ") + u;
      own_incidents_->Set(kAlertmanagerDown, !down.empty(), Severity::kWarning,
                          down.empty() ? "every Alertmanager takes alerts again"
                                       : "Alertmanager " + urls + " has failed for " +
                                             std::to_string(static_cast<int64_t>(config_.alertmanager.down_after_s)) +
                                             " s or more: its notifications wait, the other URLs are served");
    });
  }
  census_ = std::make_unique<SilenceCensus>(pool_->size());
  RegistryOptions ro;
  ro.datacenter = config_.gateway.datacenter;
  ro.auto_commission = config_.gateway.auto_commission;
  ro.default_rack = config_.gateway.default_rack;
  ro.sample_flush_s = config_.state.sample_flush_s;
  ro.datacenter_twin = config_.gateway.role != "pod";
  ro.rack_twins = config_.gateway.role != "site";
  ro.answer_unknown = config_.gateway.role == "standalone";
  limits_.max_servers = config_.gateway.max_servers;
  limits_.max_bytes = MemoryBudgetBytes(config_.model.max_memory_mb);
  spdlog::info("server twins may hold {} MiB (model.max_memory_mb{})", limits_.max_bytes.load() >> 20,
               config_.model.max_memory_mb > 0 ? "" : ": half of this machine's memory");
  for (size_t i = 0; i < pool_->size(); ++i) {
    hosts_.push_back(std::make_unique<TwinHost>(i, config_.model, ro, config_.gateway.prefix, *pool_, *alerts_,
                                                *reply_book_, *dead_letters_, *writer_, *census_,
                                                std::chrono::milliseconds(config_.state.flush_interval_ms),
                                                static_cast<size_t>(config_.state.flush_changes), limits_));
    // A shard's events reach the desks in the writer's round that commits the state behind them.
    hosts_.back()->SetEventsSink([this](ShardEvents& events) {
      const double now = WallClock();
      desk_->OnIncidents(events.incidents, events.provisioning, now, events.received);
      control_->OnIncidents(events.incidents, events.provisioning, now, events.received);
    });
  }
  if (config_.history.rollup_1m_days > 0 || config_.history.rollup_1h_days > 0) {
    for (auto& h : hosts_) h->SetRollups(&metric_names_);
  }
  s = Restore();
  if (!s.ok()) return s;
  s = desk_->Restore(*store_);
  if (!s.ok()) return s;
  // The desk's records follow the restored twins: what no twin held when it was read (its twin's
  // state was quarantined) is resolved, and its notification with it. (What a twin resolves at
  // restore itself, a rule removed meanwhile, it resolves with its own event.)
  desk_->ResolveUnheld(
      [this](const IncidentEvent& record) { return HeldByATwin(record) || resolved_at_restore_.count(record.id) > 0; },
      WallClock());
  resolved_at_restore_.clear();
  {
    std::vector<std::pair<std::string, std::string>> servers;
    for (const auto& h : hosts_) {
      h->registry().ForEachServer([&](const ServerTwin& t) {
        if (t.commissioned()) servers.emplace_back(t.id(), t.rack());
      });
    }
    desk_->SeedCommissioned(servers, WallClock());
    s = control_->Restore(*store_, servers);
    if (!s.ok()) return s;
  }
  // Maintenance and notifications as the last run left them; from now on after every commit.
  const auto maintenance = desk_->ActiveMaintenance();
  for (auto& h : hosts_) h->SetMaintenance(maintenance);
  desk_->SetMaintenanceHandler([this](std::shared_ptr<const std::vector<Silence>> active) {
    for (auto& h : hosts_) h->SetMaintenance(active);
  });
  if (forwarder_) {
    forwarder_->Update(desk_->Notifications());
    forwarder_->Start();
  }

  outbound_->SetAckHandler([this](int64_t seq) { writer_->Acked(seq); });
  writer_->Start();
  std::vector<ShardHandler<Envelope>*> handlers;
  for (auto& h : hosts_) handlers.push_back(h.get());
  pool_->Start(handlers);
  if (!config_.gateway.inventory.empty()) SyncInventory(config_.gateway.inventory);
  if (config_.gateway.inventory.empty() && config_.gateway.role != "pod") {
    // No inventory: no floor plan, and no groups (those of an inventory no longer configured go).
    ApplyTopology(nullptr);
  }
  if (config_.model.topology != topology_) {
    config_.model.topology = topology_;
    for (auto& h : hosts_) h->UpdateModel(config_.model);
  }
  spdlog::info("gateway {} for datacenter {}: {} shards, {} rules, prefix {}, state {}", config_.gateway.id,
               config_.gateway.datacenter, pool_->size(), config_.model.rules.size(), config_.gateway.prefix,
               config_.state.path);
  own_incidents_->PublishAll();  // clears what a crashed run may have left retained
  outbound_->Start();
  link_->Start();
  for (auto& l : ingest_links_) l->Start();
  if (!config_.metrics.listen.empty()) {
    metrics_ = std::make_unique<MetricsServer>([this] { return PrometheusText(); });
    metrics_->ServeTopology([this] {
      MutexLock lock(topology_mu_);
      return topology_json_;
    });
    if (config_.hmi.enabled) {
      const std::string root = FindPageRoot(config_.hmi.root);
      if (root.empty()) {
        spdlog::warn("the operators' page is not installed (no {} and no {}); serving /metrics only",
                     DCTWIN_HMI_INSTALL_DIR, DCTWIN_HMI_BUILD_DIR);
      } else {
        JsonWriter w;
        w.BeginObject()
            .Field("broker_ws_url", config_.hmi.broker_ws_url)
            .Field("prefix", config_.gateway.prefix)
            .Field("gateway", config_.gateway.id)
            .Field("datacenter", config_.gateway.datacenter);
        // The keys of the desired state, for the page's change dialog.
        w.Key("control_keys").BeginArray();
        for (const ControlKeySpec& k : config_.control.keys) {
          w.BeginObject().Field("name", k.name).Field("type", ControlTypeName(k.type));
          if (k.min) w.Field("min", *k.min);
          if (k.max) w.Field("max", *k.max);
          if (!k.values.empty()) {
            w.Key("values").BeginArray();
            for (const std::string& v : k.values) w.String(v);
            w.EndArray();
          }
          w.EndObject();
        }
        w.EndArray().EndObject();
        metrics_->ServePage(root, w.Take());
      }
    }
    std::string error;
    if (metrics_->Start(config_.metrics.listen, &error)) {
      spdlog::info("metrics on http://{}/metrics, operators' page on http://{}/", config_.metrics.listen,
                   config_.metrics.listen);
    } else {
      spdlog::error("metrics endpoint: {}; running without it", error);
      metrics_.reset();
    }
  }
  started_ = true;
  return Status::Ok();
}

namespace {

// work(i) for every i below `count`, on `lanes` threads (i % lanes picks the thread); returns
// when all are done.
void OnLanes(size_t lanes, size_t count, const std::function<void(size_t)>& work) {
  std::vector<std::thread> threads;
  for (size_t lane = 0; lane < lanes; ++lane) {
    threads.emplace_back([&, lane] {
      NameThisThread("dctwin-restore-" + std::to_string(lane));
      for (size_t i = lane; i < count; i += lanes) work(i);
    });
  }
  for (std::thread& t : threads) t.join();
}

}  // namespace

Status Gateway::Restore() {
  const auto t0 = std::chrono::steady_clock::now();
  // This thread reads the rows; each shard's are decoded on a lane of their own (a shard's host
  // is touched by one lane only), so decoding and filling memory use every core.
  struct LaneResult {
    std::vector<std::pair<TwinRecord, std::string>> bad;
    size_t twins = 0;
  };
  const size_t lanes = std::min<size_t>(hosts_.size(), std::max(1u, std::thread::hardware_concurrency()));
  std::vector<LaneResult> results(lanes);
  Status s;
  {
    using Job = std::pair<size_t, TwinRecord>;  // (shard, row)
    RestoreLanes<Job> restorers(lanes, [&](size_t lane, Job&& job) {
      TwinRecord& record = job.second;
      Status r = hosts_[job.first]->Restore(record);
      LaneResult& out = results[lane];
      if (r.ok()) {
        // A datacenter's rack row and a rack's member row are parts of those twins.
        if (record.key.kind != static_cast<uint8_t>(TwinKind::kDatacenterRack) &&
            record.key.kind != static_cast<uint8_t>(TwinKind::kRackMember)) {
          ++out.twins;
        }
      } else {
        out.bad.emplace_back(std::move(record), r.ToString());
      }
    });
    s = store_->LoadTwins([&](TwinRecord&& record) {
      // A rack's row of the datacenter twin goes to the datacenter twin's shard, a member's row
      // (<rack>/<server>) to its rack's.
      std::string owner = record.key.id;
      if (record.key.kind == static_cast<uint8_t>(TwinKind::kDatacenterRack)) owner = config_.gateway.datacenter;
      if (record.key.kind == static_cast<uint8_t>(TwinKind::kRackMember)) owner = owner.substr(0, owner.find('/'));
      const size_t shard = pool_->ShardOf(TwinAddress{LevelOfKind(record.key.kind), owner}.Hash());
      restorers.Post(shard % lanes, Job{shard, std::move(record)});
    });
    restorers.Finish();
  }
  if (!s.ok()) return s;
  // Where a restore's time goes, for the log: reading and decoding, the health every twin
  // publishes, the reconciliation, the outbox, giving memory back.
  auto since = [last = std::chrono::steady_clock::now()]() mutable {
    const auto now = std::chrono::steady_clock::now();
    const double ms = std::chrono::duration<double, std::milli>(now - last).count();
    last = now;
    return ms;
  };
  const double read_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::vector<std::pair<TwinRecord, std::string>> bad;
  size_t twins = 0;
  for (LaneResult& r : results) {
    twins += r.twins;
    bad.insert(bad.end(), std::make_move_iterator(r.bad.begin()), std::make_move_iterator(r.bad.end()));
  }
  for (const auto& h : hosts_) {
    h->registry().ForEachGroup([&](const GroupTwin& g) {
      groups_.insert(g.id());  // retired if the inventory no longer names it
    });
  }
  for (auto& [record, reason] : bad) {
    spdlog::error("state of {} twin {} cannot be read ({}); moved to the quarantine table, the twin starts afresh",
                  LevelName(LevelOfKind(record.key.kind)), record.key.id, reason);
    Status q = store_->Quarantine(record, reason);
    if (!q.ok()) return q;
    // A server stays commissioned where its rack says it is, with an empty window: the pool
    // commissions it again before anything else reaches it.
    if (LevelOfKind(record.key.kind) != Level::kServer) continue;
    const std::string server = record.key.id;
    std::string rack;
    for (const auto& h : hosts_) {
      h->registry().ForEachRack([&](const RackTwin& r) {
        if (rack.empty() && r.members().count(server) > 0) rack = r.id();
      });
    }
    if (rack.empty()) {
      spdlog::error("no rack lists server {}: it stays uncommissioned until provisioning commissions it again", server);
      continue;
    }
    spdlog::warn("server {} stays commissioned in rack {} and starts with an empty window", server, rack);
    recommission_.emplace_back(server, rack);
  }
  const double grace =
      config_.state.restart_grace_s >= 0 ? config_.state.restart_grace_s : config_.model.heartbeat_timeout_s;
  // Every twin publishes its health: the outbound queue's retained table starts empty, and
  // whatever the broker holds may predate the last commit.
  {
    // Each host on one thread, as the shards will run them: a host touches only its own twins.
    const double now = WallClock();
    std::vector<std::vector<std::string>> resolved(hosts_.size());
    OnLanes(lanes, hosts_.size(), [&](size_t i) { resolved[i] = hosts_[i]->FinishRestore(now + grace, now); });
    for (auto& ids : resolved) resolved_at_restore_.insert(ids.begin(), ids.end());
  }
  const double health_ms = since();
  // Racks and the datacenter follow the committed server twins: the pool handles these first.
  std::vector<const TwinRegistry*> owners;
  for (const auto& h : hosts_) owners.push_back(&h->registry());
  std::vector<Envelope> fixes;
  {
    // Each registry's part on a lane of its own (they only read).
    const double now = WallClock();
    std::vector<std::vector<Envelope>> parts(owners.size());
    OnLanes(lanes, owners.size(), [&](size_t i) {
      parts[i] = ReconcileMembershipOf(*owners[i], owners, config_.gateway.datacenter,
                                       config_.gateway.role == "standalone", now);
    });
    for (auto& part : parts) fixes.insert(fixes.end(), std::make_move_iterator(part.begin()), std::make_move_iterator(part.end()));
  }
  if (!fixes.empty()) spdlog::warn("restore: {} rack or datacenter memberships disagreed with the committed servers; correcting them", fixes.size());
  for (const Envelope& e : fixes) pool_->PostInternal(e.to.Hash(), e);
  const double reconcile_ms = since();
  if (config_.gateway.role == "site") {
    // Which pod owns each rack survives a restart: a document from another pod, retained while
    // the site was down, is a conflict, not the rack's new health.
    // So does which pods publish their own copies, the only ones then taken.
    std::map<std::string, std::string> rack_owners;
    std::set<std::string> own_topic_pods;
    for (const auto& h : hosts_) {
      if (const DatacenterTwin* d = h->registry().datacenter()) {
        for (const auto& [rack, status] : d->racks()) {
          if (!status.owner.empty()) rack_owners.emplace(rack, status.owner);
          if (status.from_owner_topic) own_topic_pods.insert(status.owner);
        }
      }
    }
    if (!rack_owners.empty()) spdlog::info("restore: {} racks and the pods that own them", rack_owners.size());
    router_->SeedRackOwners(rack_owners, own_topic_pods);
  }
  for (const auto& [server, rack] : recommission_) {
    const TwinAddress to{Level::kServer, server};
    pool_->PostInternal(to.Hash(), Envelope{to, WallClock(), Commission{rack}});
  }
  // Events committed before the last stop but not acknowledged go out first.
  size_t events = 0;
  s = store_->LoadOutbox([&](OutboxRecord&& r) {
    outbound_->Publish(OutMessage{r.topic, r.payload, r.qos, r.retained, {}, r.seq});
    ++events;
  });
  if (!s.ok()) return s;
  const double outbox_ms = since();
  // Restoring allocated and freed much (decoded rows, the reconciliation's maps): give the freed
  // memory back, so that the resident size says what the twins hold.
  malloc_trim(0);
  const double trim_ms = since();
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  spdlog::info("restored {} twins and {} unpublished events from {} in {:.0f} ms", twins, events, config_.state.path,
               ms);
  spdlog::info("restore took: rows read and decoded {:.0f} ms, incidents listed and health published {:.0f} ms, memberships {:.0f} ms, "
               "the outbox and the rest {:.0f} ms, memory given back {:.0f} ms",
               read_ms, health_ms, reconcile_ms, outbox_ms, trim_ms);
  return Status::Ok();
}

bool Gateway::WaitReady(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto left = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  };
  if (!link_->WaitReady(timeout)) return false;
  for (auto& l : ingest_links_) {
    if (!l->WaitReady(std::max(left(), std::chrono::milliseconds(0)))) return false;
  }
  if (!announced_) {
    announced_ = true;  // the link itself publishes the online status on every connect
    spdlog::info("ready");
  }
  return true;
}

CountersSnapshot Gateway::Snapshot() const {
  CountersSnapshot c;
  c.gateway = config_.gateway.id;
  c.at = WallClock();
  c.uptime_s = c.at - started_at_;
  c.clock_steps = WallClockSteps();
  for (const auto& h : hosts_) {
    const HostCounters& hc = h->counters();
    c.reports_applied += hc.messages_in.load(std::memory_order_relaxed);
    c.reports_late += hc.reports_late.load(std::memory_order_relaxed);
    c.metrics_ignored += hc.metrics_ignored.load(std::memory_order_relaxed);
    c.servers_refused += hc.servers_refused.load(std::memory_order_relaxed);
    c.memory_refused += hc.memory_refused.load(std::memory_order_relaxed);
    c.servers += hc.servers.load(std::memory_order_relaxed);
    c.racks += hc.racks.load(std::memory_order_relaxed);
    c.datacenters += hc.datacenters.load(std::memory_order_relaxed);
    c.open_incidents += hc.open_incidents.load(std::memory_order_relaxed);
    for (const auto& [kind, n] : h->OpenByKind()) c.open_by_kind[kind] += n;
  }
  c.twin_bytes = limits_.bytes.load(std::memory_order_relaxed);
  c.max_twin_bytes = limits_.max_bytes.load(std::memory_order_relaxed);
  c.messages_decoded = {{"native", router_->accepted_native()},
                        {"collectd", router_->accepted_collectd()},
                        {"telegraf", router_->accepted_telegraf()}};
  c.rejected_total = dead_letters_->total();
  for (size_t i = 0; i < static_cast<size_t>(RejectReason::kCount); ++i) {
    const auto reason = static_cast<RejectReason>(i);
    c.rejected[std::string(RejectReasonName(reason))] = dead_letters_->count(reason);
  }
  c.dead_letters_published = dead_letters_->published();
  c.publish_failures = alerts_->failed();
  c.connected = Connected();
  auto link = [&c](const MqttLink& l) {
    c.connections.push_back(CountersSnapshot::Link{l.client_id(), l.connected(), l.messages_received()});
  };
  link(*link_);
  for (const auto& l : ingest_links_) link(*l);
  c.store = writer_->Stats();
  c.checkpoints = store_->checkpoints();
  c.rollup_names_refused = metric_names_.refused();
  c.outbound = outbound_->Stats();
  c.shards = pool_->Stats();
  c.commands_ok = desk_->commands_ok();
  c.commands_refused = desk_->commands_refused();
  c.requests_busy = desk_->requests_refused();
  c.incident_records = desk_->open_records();
  c.active_silences = desk_->active_silences();
  c.opens_deferred = desk_->opens_deferred();
  c.control_accepted = control_->changes_accepted();
  c.control_refused = control_->changes_refused();
  c.control_reports_applied = control_->reports_applied();
  c.control_reports_unchanged = control_->reports_unchanged();
  c.control_reports_stale = control_->reports_stale();
  c.control_reports_refused = control_->reports_refused();
  c.control_busy = control_->requests_refused();
  c.control_waiting = control_->pending();
  c.control_drained = control_->drained();
  c.history_answered = history_->answered();
  c.history_refused = history_->refused();
  c.history_rows = store_->HistoryRows();
  if (forwarder_) {
    c.alertmanager = true;
    c.alertmanager_owed = desk_->owed_notifications();
    c.alertmanager_held = desk_->held_notifications();
    c.alertmanager_posts = forwarder_->posts_ok();
    c.alertmanager_failures = forwarder_->posts_failed();
  }
  return c;
}

std::string Gateway::StatsJson() const { return RenderStatsJson(Snapshot()); }

std::string Gateway::PrometheusText() const { return RenderPrometheus(Snapshot()); }

void Gateway::Reload(const Config& next) {
  for (const std::string& key : RestartKeys(config_, next)) spdlog::warn("reload: {} changed; that takes a restart", key);
  if (!next.gateway.inventory.empty()) {
    config_.gateway.inventory = next.gateway.inventory;
    config_.gateway.inventory_token = next.gateway.inventory_token;
    SyncInventory(next.gateway.inventory);
  } else if (!config_.gateway.inventory.empty()) {
    // No inventory any more: what it commissioned stays, and provisioning over MQTT may change it.
    config_.gateway.inventory.clear();
    router_->SetInventory(nullptr);
    ApplyTopology(nullptr);
    spdlog::info("reload: no inventory any more; its servers stay, provisioning over MQTT may change them; its "
                 "groups are gone");
  }
  config_.model = next.model;
  config_.model.topology = topology_;
  for (auto& h : hosts_) h->UpdateModel(config_.model);
  if (const int64_t budget = MemoryBudgetBytes(next.model.max_memory_mb); budget != limits_.max_bytes.load()) {
    limits_.max_bytes = budget;
    spdlog::info("reload: server twins may hold {} MiB (they hold {} MiB)", budget >> 20, limits_.bytes.load() >> 20);
  }
  spdlog::info("reload: {} rules, clear_reports {}, heartbeat {} s, rack.min_servers {}, datacenter.min_racks {}",
               next.model.rules.size(), next.model.clear_reports, next.model.heartbeat_timeout_s,
               next.model.rack_min_servers, next.model.datacenter_min_racks);
}

std::set<std::string> Gateway::InventoryListed() const {
  std::set<std::string> servers;
  std::ifstream in(config_.state.path + ".inventory");
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) servers.insert(line);
  }
  return servers;
}

bool Gateway::SaveInventoryListed(const std::set<std::string>& servers) const {
  const std::string path = config_.state.path + ".inventory";
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    for (const std::string& s : servers) out << s << '\n';
    out.flush();
    if (!out) return false;
  }
  return std::rename(tmp.c_str(), path.c_str()) == 0;
}

bool Gateway::SyncInventory(const std::string& source) {
  Inventory inventory;
  std::vector<std::string> problems;
  if (!LoadInventory(source, config_.gateway.inventory_token, &inventory, &problems)) {
    for (const std::string& p : problems) spdlog::error("inventory: {}", p);
    spdlog::error("inventory {} refused ({} problem(s)); the running topology stays", source, problems.size());
    return false;
  }
  if (config_.gateway.role != "pod") {
    auto topology = BuildTopology(inventory);
    std::string plan = TopologyJson(inventory, *topology);
    // The page reads the plan at /topology.json, and reads it again when the retained
    // P/topology names another version than the one it has.
    const std::string version = std::to_string(std::hash<std::string>{}(plan));
    plan = "{\"version\":\"" + version + "\"," + plan.substr(1);
    JsonWriter w;
    w.BeginObject()
        .Field("version", version)
        .IntField("racks", static_cast<long long>(inventory.racks.size()))
        .IntField("groups", static_cast<long long>(topology->group_racks.size()))
        .Field("url", std::string("topology.json"))
        .EndObject();
    {
      MutexLock lock(topology_mu_);
      topology_json_ = std::move(plan);
    }
    outbound_->Publish(OutMessage{config_.gateway.prefix + "/topology", w.Take(), 1, true, {}});
    ApplyTopology(std::move(topology));
  }
  if (config_.gateway.role == "site") {
    // The pods hold the servers; the site needs the racks' groups only.
    spdlog::info("inventory {}: {} racks, {} groups", source, inventory.racks.size(), groups_.size());
    return true;
  }
  auto listed = std::make_shared<std::unordered_map<std::string, std::string>>();
  std::set<std::string> names;
  for (const InventoryServer& s : inventory.servers) {
    (*listed)[s.name] = s.rack;
    names.insert(s.name);
  }
  const std::set<std::string> before = InventoryListed();
  // Until the changes are committed, both lists count: a crash in between decommissions at the
  // next start what this inventory dropped.
  std::set<std::string> both = before;
  both.insert(names.begin(), names.end());
  if (!SaveInventoryListed(both)) spdlog::warn("inventory: cannot write {}.inventory", config_.state.path);
  router_->SetInventory(listed);
  const double now = WallClock();
  size_t gone = 0;
  for (const InventoryServer& s : inventory.servers) {
    TwinAddress to{Level::kServer, s.name};
    const size_t hash = to.Hash();
    pool_->PostInternal(hash, Envelope{std::move(to), now, Commission{s.rack}});
  }
  for (const std::string& server : before) {
    if (names.count(server) != 0) continue;
    TwinAddress to{Level::kServer, server};
    const size_t hash = to.Hash();
    pool_->PostInternal(hash, Envelope{std::move(to), now, Decommission{}});
    ++gone;
  }
  // Once the shards have handled it all and the writer committed it, the new list alone counts.
  if (pool_->WaitIdle(std::chrono::seconds(60)) && writer_->Flush(std::chrono::seconds(60))) {
    if (!SaveInventoryListed(names)) spdlog::warn("inventory: cannot write {}.inventory", config_.state.path);
  }
  spdlog::info("inventory {}: {} racks, {} servers listed; {} no longer listed (decommissioned)", source,
               inventory.racks.size(), inventory.servers.size(), gone);
  return true;
}

void Gateway::ApplyTopology(std::shared_ptr<const Topology> next) {
  const double now = WallClock();
  if (!next) {
    outbound_->Publish(OutMessage{config_.gateway.prefix + "/topology", std::string(), 1, true, {}});
    MutexLock lock(topology_mu_);
    topology_json_.clear();
  }
  std::set<std::string> listed;
  if (next) {
    for (const auto& [group, racks] : next->group_racks) {
      listed.insert(group);
      const TwinAddress to{Level::kGroup, group};
      pool_->PostInternal(to.Hash(), Envelope{to, now, GroupDefinition{racks}});
    }
  }
  // A group no longer named resolves what it has open and clears its health.
  for (const std::string& group : groups_) {
    if (listed.count(group) != 0) continue;
    const TwinAddress to{Level::kGroup, group};
    pool_->PostInternal(to.Hash(), Envelope{to, now, GroupDefinition{}});
  }
  groups_ = std::move(listed);
  desk_->SetGroups(!groups_.empty());
  if (config_.gateway.role == "site") router_->SetTopology(next);
  topology_ = std::move(next);  // the shards get it with the next model they are given
}

void Gateway::CheckSilence() {
  const double now = WallClock();
  if (auto storm = census_->Evaluate(config_.model, Connected(), now)) {
    if (storm->active) {
      spdlog::warn("{} of {} servers are overdue at once: holding per-server silent incidents back", storm->silent,
                   storm->total);
    } else {
      spdlog::info("silence storm over: {} of {} servers overdue", storm->silent, storm->total);
    }
    const TwinAddress dc{Level::kDatacenter, config_.gateway.datacenter};
    const size_t hash = dc.Hash();
    pool_->PostInternal(hash, Envelope{dc, now, *storm});
  }
}

std::string Gateway::StatusLine() const {
  int64_t servers = 0, open = 0;
  uint64_t in = 0;
  for (const auto& h : hosts_) {
    servers += h->counters().servers.load(std::memory_order_relaxed);
    open += h->counters().open_incidents.load(std::memory_order_relaxed);
    in += h->counters().messages_in.load(std::memory_order_relaxed);
  }
  return std::string(Connected() ? "connected" : "disconnected") + ", " + std::to_string(servers) +
         " servers, " + std::to_string(open) + " open incidents, " + std::to_string(in) + " reports applied";
}

void Gateway::PublishStats() {
  outbound_->Publish(OutMessage{config_.gateway.prefix + "/gateway/" + config_.gateway.id + "/stats", StatsJson(), 0,
                            false, {}});
}

void Gateway::AnnounceIfReady() {
  // Every (re)connect says online again once every connection is ready: after an unclean
  // disconnect the broker published the will, and nothing else would ever replace it.
  if (stopped_ || !link_->ready()) return;
  for (const auto& l : ingest_links_) {
    if (!l->ready()) return;
  }
  MutexLock lock(status_mu_);
  outbound_->Announce(config_.gateway.prefix + "/gateway/" + config_.gateway.id + "/status", status_payload_);
}

void Gateway::Announce(std::string payload) {
  MutexLock lock(status_mu_);
  status_payload_ = std::move(payload);
  outbound_->Announce(config_.gateway.prefix + "/gateway/" + config_.gateway.id + "/status", status_payload_);
}

bool Gateway::HeldByATwin(const IncidentEvent& record) const {
  const TwinRegistry& r = hosts_[pool_->ShardOf(TwinAddress{record.level, record.subject}.Hash())]->registry();
  const std::vector<Incident>* open = nullptr;
  switch (record.level) {
    case Level::kServer:
      if (const ServerTwin* t = r.server(record.subject)) open = &t->open_incidents();
      break;
    case Level::kRack:
      if (const RackTwin* t = r.rack(record.subject)) open = &t->open_incidents();
      break;
    case Level::kDatacenter:
      if (r.datacenter() != nullptr && r.datacenter()->id() == record.subject) open = &r.datacenter()->open_incidents();
      break;
    case Level::kGroup:
      if (const GroupTwin* t = r.group(record.subject)) open = &t->open_incidents();
      break;
    case Level::kGateway:
      break;
  }
  if (open == nullptr) return false;
  return std::any_of(open->begin(), open->end(), [&](const Incident& i) { return i.id == record.id; });
}

bool Gateway::Connected() const {
  if (!link_->connected()) return false;
  for (const auto& l : ingest_links_) {
    if (!l->connected()) return false;
  }
  return true;
}

void Gateway::Stop() {
  if (stopped_ || !started_) return;
  stopped_ = true;
  spdlog::info("stopping: input first, then draining the shards");
  if (metrics_) metrics_->Stop();
  // Input ends first: what the broker has not delivered stays queued in the persistent sessions
  // for the next start, and everything delivered is in the shards' mailboxes.
  for (auto& l : ingest_links_) l->Stop();
  // The writer keeps committing while the shards drain: what the twins send each other is
  // released only after its commit.
  bool clean = pool_->Stop();
  if (!clean) spdlog::error("stopping: the shards did not drain in 30 s (is the state store failing?)");
  // The shard threads are gone: hand over what they changed last, and commit it.
  for (auto& h : hosts_) h->Seal(WallClock(), true);
  clean = writer_->Flush(std::chrono::seconds(10)) && clean;
  writer_->Stop();
  if (forwarder_) forwarder_->Stop();
  history_->Stop();
  PublishStats();
  Announce(StatusJson(config_, false, started_at_, "shutdown"));
  if (!outbound_->Flush(std::chrono::seconds(5))) {
    spdlog::warn("broker did not acknowledge everything in 5 s");
    clean = false;
  }
  outbound_->Stop();
  link_->Stop();
  // The Paho clients go before anything they may call back: destroying one fails what is still
  // pending on it (a publish the broker never acknowledged), through the outbound queue's
  // listener. Left to the members' order, the queue was destroyed first, and a stop while the
  // broker was away could crash on those calls.
  for (auto& l : ingest_links_) l->Close();
  link_->Close();
  writer_->CommitAcknowledged();  // what the broker has is no longer owed
  spdlog::info(clean ? "stopped" : "stopped; not everything reached the broker (it goes out at the next start)");
}

}  // namespace dctwin
