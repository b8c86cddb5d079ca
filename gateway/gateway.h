// Gateway: assembles the parts in the order data flows through them
//   MqttLink -> IngestRouter -> ShardPool<TwinHost> -> AlertPublisher / DeadLetters -> OutboundQueue -> MqttLink
// and publishes the gateway's own status and stats. main() owns one.
//
// Start/Stop/PublishStats are called from main's thread only; everything else runs on the
// link's and the shards' threads.
#pragma once

#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "base/thread_annotations.h"
#include "config/config.h"
#include "gateway/ops/counters.h"
#include "gateway/publish/alert_publisher.h"
#include "gateway/publish/outbox_delivery.h"
#include "gateway/publish/reply_book.h"
#include "gateway/publish/dead_letters.h"
#include "gateway/incidents/alertmanager_forwarder.h"
#include "gateway/control/control_desk.h"
#include "gateway/history/history_service.h"
#include "gateway/incidents/incident_desk.h"
#include "gateway/ingest/ingest_router.h"
#include "gateway/ops/broker_drop_watch.h"
#include "gateway/ops/gateway_incidents.h"
#include "gateway/ops/metrics_server.h"
#include "gateway/mqtt/mqtt_link.h"
#include "gateway/mqtt/outbound_queue.h"
#include "gateway/runtime/shard_pool.h"
#include "storage/commit_stage_chain.h"
#include "storage/store_writer.h"
#include "gateway/runtime/twin_host.h"
#include "storage/sqlite_state_store.h"
#include "storage/status.h"

namespace dctwin {

// The gateway's wall clock (Unix seconds): the system's, except that a backward step never moves
// it backwards (base/step_guarded_clock.h). Every timestamp the gateway makes comes from here.
double WallClock();
// Steps of the system clock seen so far.
uint64_t WallClockSteps();

class Gateway {
 public:
  explicit Gateway(Config config);
  ~Gateway();

  // Opens the state store, restores every twin, queues the outbox, starts the shards and begins
  // connecting; returns once that is done (before the broker answers). An error leaves nothing
  // running.
  Status Start();
  // True once connected with every subscription active; then the online status is published.
  bool WaitReady(std::chrono::milliseconds timeout);
  void PublishStats();
  // Applies what a configuration reload may change while running: the model (rules, thresholds,
  // hysteresis, correlation, anomaly and storm settings). Logs what needs a restart instead.
  void Reload(const Config& next);
  // Takes the groups and their racks (nullptr: none) for the shards' next model, defines every
  // group it names and retires every group it no longer names.
  void ApplyTopology(std::shared_ptr<const Topology> next);
  // Reads the inventory (gateway.inventory) and applies it: commissions what it lists, moves what
  // changed, decommissions what an earlier inventory listed and this one does not. A bad
  // inventory is refused whole, every problem logged, and the running topology stays. Main's
  // thread, after Start(); false when refused.
  bool SyncInventory(const std::string& source);
  // The alert-storm guard's evaluation; call it about once a second.
  void CheckSilence();
  // Drains the shards, publishes what they produced and the offline status, disconnects.
  void Stop();

  // Everything counted, now; rendered as the stats JSON and as the Prometheus text.
  CountersSnapshot Snapshot() const;
  std::string StatsJson() const;
  // The Prometheus text exposition of the gateway's metrics. Thread-safe.
  std::string PrometheusText() const;
  // The port the metrics endpoint listens on (0: off).
  int metrics_port() const { return metrics_ ? metrics_->port() : 0; }
  // One line for systemd's STATUS=.
  std::string StatusLine() const;
  std::vector<double> ShardHeartbeats() const { return pool_->Heartbeats(); }
  double WriterHeartbeat() const { return writer_->heartbeat(); }
  // Resolves broker_dropping once the broker has dropped nothing for broker.drop_quiet_s.
  void CheckBrokerDrops() { drop_watch_->Check(WallClock()); }

 private:
  // Constant after construction, except config_.model, which Reload() replaces (main thread only)
  Config config_;
  const double started_at_;
  std::unique_ptr<MqttLink> link_;                       // everything published, and the will
  std::vector<std::unique_ptr<MqttLink>> ingest_links_;  // the inputs: <id>-in, then <id>-ingest-<k>
  std::unique_ptr<OutboundQueue> outbound_;
  std::unique_ptr<OutboxDelivery> delivery_;
  std::unique_ptr<GatewayIncidents> own_incidents_;  // the gateway's own (store_failing, ...)
  std::unique_ptr<BrokerDropWatch> drop_watch_;
  std::unique_ptr<ReplyBook> reply_book_;
  std::unique_ptr<AlertPublisher> alerts_;
  std::unique_ptr<DeadLetters> dead_letters_;
  std::unique_ptr<ShardPool<Envelope>> pool_;
  MetricDictionary metric_names_;  // the rollups' metric names (before store_: it uses them)
  std::unique_ptr<SqliteStateStore> store_;
  std::unique_ptr<HistoryService> history_;  // P/query/history, on a connection of its own
  std::unique_ptr<IncidentDesk> desk_;
  std::unique_ptr<ControlDesk> control_;        // desired and reported state (P/command/desired, P/reported/+)
  std::unique_ptr<CommitStageChain> stages_;    // the desks, in the writer's order: incidents, then control
  std::unique_ptr<AlertmanagerForwarder> forwarder_;
  std::unique_ptr<StoreWriter> writer_;
  std::unique_ptr<SilenceCensus> census_;
  TwinLimits limits_;  // max_servers and model.max_memory_mb, across the shards
  std::vector<std::unique_ptr<TwinHost>> hosts_;
  std::unique_ptr<IngestRouter> router_;
  std::unique_ptr<MetricsServer> metrics_;

  Status Restore();
  // The main connection and every ingest connection are up.
  bool Connected() const;
  // Whether the twin an incident record names holds it open (after a restore, before the shards
  // run: the desk's reconciliation).
  bool HeldByATwin(const IncidentEvent& record) const;
  Status ReadCredentials();
  // Publishes the status (online) when every connection is ready (on every reconnect); the
  // output queue sends it first, and again after every reconnect of the output connection.
  void AnnounceIfReady();
  // Sets the status the queue announces: online (with the store's error while its commits fail)
  // or, at the end of a stop, offline.
  void Announce(std::string payload) EXCLUDES(status_mu_);

  // The servers the last applied inventory listed, kept beside the state database
  // (<state.path>.inventory, one per line): what a later inventory drops is decommissioned.
  std::set<std::string> InventoryListed() const;
  bool SaveInventoryListed(const std::set<std::string>& servers) const;

  bool started_ = false;
  bool announced_ = false;
  // Ids of the incidents the twins resolved themselves at restore (their events are on the way),
  // for the desk's reconciliation.
  std::set<std::string> resolved_at_restore_;
  // Servers whose state was quarantined at restore, commissioned again into their rack.
  std::vector<std::pair<std::string, std::string>> recommission_;
  // The groups (feeds, cooling units, switches) the inventory names, or restored ones until it is
  // read; the topology the shards have. Main's thread.
  std::set<std::string> groups_;
  std::shared_ptr<const Topology> topology_;
  // The floor plan the page reads (/topology.json); main writes it, the HTTP threads read it.
  mutable Mutex topology_mu_;
  std::string topology_json_ GUARDED_BY(topology_mu_);
  // The current status payload; held across the hand-over so that the queue gets the values in
  // the order they were set (Paho's threads, the writer's, main's).
  Mutex status_mu_;
  std::string status_payload_ GUARDED_BY(status_mu_);
  std::atomic<bool> stopped_{false};
};

}  // namespace dctwin
