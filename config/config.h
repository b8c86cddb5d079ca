// The gateway's configuration: one struct, every field with its default. The commented example
// file config/dctwin.toml documents the same keys.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "twins/control.h"
#include "twins/model.h"

namespace dctwin {

struct BrokerConfig {
  std::string uri = "tcp://127.0.0.1:1883";
  int session_expiry_s = 3600;  // how long the broker keeps the session (and queued QoS 1 messages) while we are away
  int keepalive_s = 30;
  int reconnect_min_s = 1;      // automatic reconnect backoff, doubling up to reconnect_max_s
  int reconnect_max_s = 30;
  int subscribe_qos = 1;        // maximum QoS the gateway asks for on its input subscriptions
  // TLS (ssl:// URIs): the CA that signed the broker's certificate, and optionally a client
  // certificate and key for brokers that require one.
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  // Username and password, from a file only the service can read: first line the username,
  // second line the password. Never in this config.
  std::string credentials_file;
  // broker_dropping (a gateway incident) resolves after this long without a rise of the broker's
  // $SYS/broker/publish/messages/dropped.
  double drop_quiet_s = 300;
  int max_inflight = 20;        // QoS 1 publications awaiting acknowledgement; keep it at or below the
                                // broker's Receive Maximum (mosquitto: max_inflight_messages, default 20)
  // Connections that read metric reports. 1: one connection reads everything. N > 1: provisioning
  // and queries stay on the main connection, and N more connections share the metric topics
  // through an MQTT 5 shared subscription ($share/<gateway id>/...). Paho reads them all on its one
  // receive thread: more sockets, no more parallel reading.
  int ingest_connections = 1;
};

struct GatewayConfig {
  std::string id = "dctwin-1";  // also the MQTT client id
  // "standalone": servers, racks and the datacenter. "pod": the servers and racks reporting to
  // this broker, no datacenter-level topics. "site": the datacenter twin of every rack of every pod
  // (from their bridged rack health), silences, and pod_offline.
  std::string role = "standalone";
  std::string datacenter = "dc1";
  std::string prefix = "dctwin";
  double stats_interval_s = 5;
  int shards = 0;                     // 0: one per core
  int mailbox_capacity = 65536;       // messages from MQTT waiting per shard
  int enqueue_timeout_ms = 2000;      // how long ingest waits for room before it drops (and counts) a message
  int publish_buffer = 200000;        // outgoing messages held while the broker is unreachable
  bool auto_commission = false;       // reports from unknown servers commission them into default_rack
  std::string default_rack = "unassigned";
  double deadletter_per_s = 10;       // dead letters published per second at most (the rest are only counted)
  int max_payload_bytes = 65536;      // larger input messages are refused (dead letter too_large)
  int max_servers = 1000000;          // commissions beyond this are refused (dead letter limit)
  // Topic filters an answer's Response Topic must match (never the gateway's own topics, whatever
  // this says); a request naming another one is dead-lettered as bad_response_topic.
  std::vector<std::string> reply_topics{"#"};
  std::string inventory;        // a JSON inventory file (config/inventory.h); empty: none
  std::string inventory_token;  // NetBox's API token (for an inventory URL)
};

struct StateConfig {
  std::string path = "./dctwin.db";
  // "normal": a commit survives a crash of the gateway, a power loss may lose the last commits.
  // "full": every commit is synced to disk before its events are published (slower).
  std::string synchronous = "normal";
  int flush_interval_ms = 100;   // changed twins are committed at least this often (events at once) ...
  int flush_changes = 10000;     // ... or as soon as a shard has this many changed twins
  double sample_flush_s = 30;    // a twin whose only change is new samples is written at most this late
  // Outbox rows (events, records, answers to commands) waiting for the broker. At this many, new
  // incident opens are held back (durably; published once there is room); nothing is dropped.
  int outbox_max = 100000;
  double restart_grace_s = -1;   // silence deadlines missed while down fire after this; < 0: heartbeat timeout
};

// Real publishers besides the native JSON one. An empty prefix turns one off.
struct IngestConfig {
  std::string collectd_prefix = "collectd";                     // collectd/<host>/<plugin>/<type>
  std::string collectd_types_db = "/usr/share/collectd/types.db";  // names of multi-value types' values
  std::string telegraf_prefix = "telegraf";                     // telegraf/<host>/<plugin>
};

struct MetricsConfig {
  std::string listen = "127.0.0.1:9464";  // Prometheus text endpoint (GET /metrics); "" turns it off
};

// Alertmanager forwarder: every open, unmuted incident is posted to /api/v2/alerts of each URL
// at least every resend_s; resolves are posted with endsAt. Empty urls: off.
struct AlertmanagerConfig {
  std::vector<std::string> urls;
  double resend_s = 60;
  double timeout_s = 5;  // one HTTP request
  double down_after_s = 300;  // a URL failing this long is down: an alertmanager_down incident
};

struct SilencesConfig {
  double keep_expired_s = 86400;  // expired silences stay listed this long, then are removed
  int max_silences = 10000;       // pending and active at once; more are refused
};

// What happened (P/query/history): incident events, silence and provisioning changes, kept in
// the state database with the change itself.
struct HistoryConfig {
  double keep_days = 90;      // older rows are removed, a few hundred per commit
  int max_rows = 10'000'000;  // past it the oldest rows are removed likewise
  // 1-minute and 1-hour rollups of every server metric; both 0: no rollups are kept.
  double rollup_1m_days = 2;
  double rollup_1h_days = 60;
};

// The operators' page, served by the HTTP listener of [metrics] at /.
struct HmiConfig {
  // MQTT over WebSockets URL the page connects to; "" = ws://<the page's host>:9001.
  std::string broker_ws_url;
  // Folder of the page's files; "" = the installed page (share/dctwin/hmi), else the build's.
  std::string root;
  bool enabled = true;
};

struct LogConfig {
  std::string level = "info";
};

struct Config {
  BrokerConfig broker;
  GatewayConfig gateway;
  StateConfig state;
  IngestConfig ingest;
  MetricsConfig metrics;
  AlertmanagerConfig alertmanager;
  SilencesConfig silences;
  HistoryConfig history;
  HmiConfig hmi;
  LogConfig log;
  ControlOptions control;  // [control], [[control.keys]] and [[automation]]
  ModelConfig model = DefaultModel();

  static ModelConfig DefaultModel();
};

// Ids of servers, racks, datacenters and gateways: [A-Za-z0-9._-]{1,64}.
bool IsValidId(std::string_view id);

}  // namespace dctwin
