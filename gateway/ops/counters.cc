#include "gateway/ops/counters.h"

#include <cstdio>

#include "base/json_writer.h"

namespace dctwin {

namespace {
long long I(uint64_t v) { return static_cast<long long>(v); }
}  // namespace

std::string RenderStatsJson(const CountersSnapshot& c) {
  JsonWriter w;
  w.BeginObject()
      .Field("gateway", c.gateway)
      .Field("at", c.at)
      .Field("uptime_s", c.uptime_s)
      .IntField("clock_steps", I(c.clock_steps))
      .IntField("messages_in", I(c.reports_applied))  // the contract's name for reports applied
      .IntField("reports_applied", I(c.reports_applied))
      .IntField("reports_late", I(c.reports_late))
      .IntField("messages_rejected", I(c.rejected_total));
  w.Key("messages_decoded").BeginObject();
  for (const auto& [source, n] : c.messages_decoded) w.IntField(source, I(n));
  w.EndObject();
  w.Key("rejected").BeginObject();
  for (const auto& [reason, n] : c.rejected) {
    if (n > 0) w.IntField(reason, I(n));
  }
  w.EndObject();
  const auto rate_limited = c.rejected.find("rate_limited");
  w.Key("limits")
      .BeginObject()
      .IntField("metrics_ignored", I(c.metrics_ignored))
      .IntField("servers_refused", I(c.servers_refused))
      .IntField("memory_refused", I(c.memory_refused))
      .IntField("twin_bytes", c.twin_bytes)
      .IntField("max_twin_bytes", c.max_twin_bytes)
      .IntField("rate_limited", rate_limited == c.rejected.end() ? 0 : I(rate_limited->second))
      .EndObject();
  w.Key("twins")
      .BeginObject()
      .IntField("server", c.servers)
      .IntField("rack", c.racks)
      .IntField("datacenter", c.datacenters)
      .EndObject();
  w.IntField("open_incidents", c.open_incidents).IntField("publish_failures", I(c.publish_failures));
  w.Field("connected", c.connected);
  // Each MQTT connection: the main one, then the ingest ones.
  w.Key("connections").BeginArray();
  for (const CountersSnapshot::Link& l : c.connections) {
    w.BeginObject()
        .Field("client_id", l.client_id)
        .Field("connected", l.connected)
        .IntField("received", I(l.received))
        .EndObject();
  }
  w.EndArray();
  w.Key("store")
      .BeginObject()
      .IntField("commits", I(c.store.commits))
      .IntField("failures", I(c.store.failures))
      .IntField("twins_written", I(c.store.twins_written))
      .IntField("pending_twins", static_cast<long long>(c.store.pending_twins))
      .IntField("submit_waits", I(c.store.submit_waits))
      .IntField("rollups_written", I(c.store.rollups_written))
      .IntField("rollups_dropped", I(c.store.rollups_dropped))
      .IntField("rollup_names_refused", I(c.rollup_names_refused))
      .IntField("outbox", c.store.outbox_rows)
      .IntField("checkpoints", I(c.checkpoints))
      .Field("last_commit_ms", c.store.last_commit_ms)
      .Field("max_commit_ms", c.store.max_commit_ms)
      .IntField("rounds", I(c.store.rounds))
      .Field("round_ms_total", c.store.round_ms_total)
      .EndObject();
  w.Key("operations")
      .BeginObject()
      .IntField("commands_ok", I(c.commands_ok))
      .IntField("commands_refused", I(c.commands_refused))
      .IntField("requests_busy", I(c.requests_busy))
      .IntField("incident_records", c.incident_records)
      .IntField("active_silences", c.active_silences)
      .IntField("history_rows", c.history_rows)
      .IntField("opens_deferred", I(c.opens_deferred))
      .IntField("control_accepted", I(c.control_accepted))
      .IntField("control_refused", I(c.control_refused))
      .IntField("control_reports", I(c.control_reports_applied + c.control_reports_unchanged))
      .IntField("control_reports_stale", I(c.control_reports_stale))
      .IntField("control_reports_refused", I(c.control_reports_refused))
      .IntField("control_waiting", c.control_waiting)
      .IntField("control_drained", c.control_drained);
  if (c.alertmanager) {
    w.IntField("alertmanager_owed", c.alertmanager_owed)
        .IntField("alertmanager_held", c.alertmanager_held)
        .IntField("alertmanager_posts", I(c.alertmanager_posts))
        .IntField("alertmanager_failures", I(c.alertmanager_failures));
  }
  w.EndObject();
  w.Key("outbound")
      .BeginObject()
      .IntField("queued", I(c.outbound.queued))
      .IntField("in_flight", I(c.outbound.in_flight))
      .IntField("sent", I(c.outbound.sent))
      .IntField("refused", I(c.outbound.refused))
      .IntField("retried", I(c.outbound.retried))
      .IntField("dropped", I(c.outbound.dropped))
      .IntField("superseded", I(c.outbound.superseded));
  // Alert latency (see OutboundStats): how many, their sum, and how many within each bound.
  uint64_t alerts_timed = 0;
  for (uint64_t n : c.outbound.alert_latency) alerts_timed += n;
  w.Key("alert_latency").BeginObject().IntField("count", I(alerts_timed)).Field("sum_s", c.outbound.alert_latency_sum_s);
  w.Key("le_s").BeginArray();
  for (double bound : kAlertLatencyBuckets) w.Number(bound);
  w.EndArray().Key("within").BeginArray();
  uint64_t within = 0;
  for (size_t b = 0; b + 1 < kAlertLatencyBucketCount; ++b) w.Int(I(within += c.outbound.alert_latency[b]));
  w.EndArray().EndObject().EndObject();
  w.Key("shards").BeginArray();
  for (const ShardStats& s : c.shards) {
    w.BeginObject()
        .IntField("depth", I(s.depth))
        .IntField("max_depth", I(s.max_depth))
        .IntField("handled", I(s.handled))
        .IntField("dropped", I(s.dropped))
        .IntField("shed", I(s.shed))
        .Field("lowered", s.lowered)
        .IntField("lowerings", I(s.lowerings))
        .EndObject();
  }
  w.EndArray().EndObject();
  return w.Take();
}

namespace {

// Label values are ids and kinds from configuration and input: escape what the format requires.
std::string LabelValue(const std::string& v) {
  std::string out;
  for (char ch : v) {
    if (ch == '\\' || ch == '"') {
      out += '\\';
      out += ch;
    } else if (ch == '\n') {
      out += "\\n";
    } else {
      out += ch;
    }
  }
  return out;
}

class Exposition {
 public:
  Exposition() { out_.reserve(8192); }
  void Family(const char* name, const char* type, const char* help) {
    out_ += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
  }
  void Sample(const std::string& name, const std::string& labels, double value) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.17g", value);
    out_ += name;
    if (!labels.empty()) out_ += "{" + labels + "}";
    out_ += " ";
    out_ += buf;
    out_ += "\n";
  }
  // A histogram family from per-bucket (not cumulative) counts; `bounds` has one entry fewer than
  // `counts`, whose last bucket is +Inf.
  template <size_t N>
  void Histogram(const char* name, const char* help, const double (&bounds)[N], const uint64_t (&counts)[N + 1],
                 double sum) {
    Family(name, "histogram", help);
    const std::string bucket = std::string(name) + "_bucket";
    uint64_t cumulative = 0;
    for (size_t b = 0; b <= N; ++b) {
      cumulative += counts[b];
      char le[32];
      if (b < N) {
        std::snprintf(le, sizeof le, "%g", bounds[b]);
      } else {
        std::snprintf(le, sizeof le, "+Inf");
      }
      Sample(bucket, std::string("le=\"") + le + "\"", static_cast<double>(cumulative));
    }
    Sample(std::string(name) + "_sum", "", sum);
    Sample(std::string(name) + "_count", "", static_cast<double>(cumulative));
  }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

}  // namespace

std::string RenderPrometheus(const CountersSnapshot& c) {
  Exposition e;
  auto d = [](auto v) { return static_cast<double>(v); };
  e.Family("dctwin_messages_decoded_total", "counter", "Input messages decoded and handed to a shard, by publisher.");
  for (const auto& [source, n] : c.messages_decoded) e.Sample("dctwin_messages_decoded_total", "source=\"" + source + "\"", d(n));
  e.Family("dctwin_reports_applied_total", "counter", "Reports fully applied to server twins.");
  e.Sample("dctwin_reports_applied_total", "", d(c.reports_applied));
  e.Family("dctwin_reports_late_total", "counter",
           "Reports older than their server's newest report: placed in the window, not judged by the rules.");
  e.Sample("dctwin_reports_late_total", "", d(c.reports_late));
  e.Family("dctwin_rejected_total", "counter", "Rejected input messages, by reason.");
  for (const auto& [reason, n] : c.rejected) e.Sample("dctwin_rejected_total", "reason=\"" + reason + "\"", d(n));
  e.Family("dctwin_dead_letters_published_total", "counter", "Dead letters published (rate-limited).");
  e.Sample("dctwin_dead_letters_published_total", "", d(c.dead_letters_published));
  e.Family("dctwin_metrics_ignored_total", "counter", "Metrics dropped because their server reports more than max_metrics.");
  e.Sample("dctwin_metrics_ignored_total", "", d(c.metrics_ignored));
  e.Family("dctwin_servers_refused_total", "counter", "Commissions refused because the gateway holds max_servers.");
  e.Sample("dctwin_servers_refused_total", "", d(c.servers_refused));
  e.Family("dctwin_memory_refused_total", "counter", "Servers and metrics refused because the server twins hold model.max_memory_mb.");
  e.Sample("dctwin_memory_refused_total", "", d(c.memory_refused));
  e.Family("dctwin_twin_bytes", "gauge", "What the server twins hold in memory, roughly.");
  e.Sample("dctwin_twin_bytes", "", d(c.twin_bytes));

  e.Family("dctwin_shard_queue_depth", "gauge", "Messages waiting in a shard's mailbox.");
  for (size_t i = 0; i < c.shards.size(); ++i) {
    e.Sample("dctwin_shard_queue_depth", "shard=\"" + std::to_string(i) + "\"", d(c.shards[i].depth));
  }
  e.Family("dctwin_shard_dropped_total", "counter", "Messages dropped because a shard's mailbox stayed full.");
  for (size_t i = 0; i < c.shards.size(); ++i) {
    e.Sample("dctwin_shard_dropped_total", "shard=\"" + std::to_string(i) + "\"", d(c.shards[i].dropped));
  }
  e.Family("dctwin_shard_shed_total", "counter",
           "Of the dropped: metric reports dropped at once because their shard was full while others had room.");
  for (size_t i = 0; i < c.shards.size(); ++i) {
    e.Sample("dctwin_shard_shed_total", "shard=\"" + std::to_string(i) + "\"", d(c.shards[i].shed));
  }
  e.Family("dctwin_shard_priority_lowered", "gauge",
           "1 while a shard runs at a lower CPU priority because its mailbox was half full.");
  for (size_t i = 0; i < c.shards.size(); ++i) {
    e.Sample("dctwin_shard_priority_lowered", "shard=\"" + std::to_string(i) + "\"", c.shards[i].lowered ? 1 : 0);
  }
  uint64_t handled[kLatencyBucketCount] = {};
  double handled_s = 0;
  for (const ShardStats& s : c.shards) {
    for (size_t b = 0; b < kLatencyBucketCount; ++b) handled[b] += s.latency[b];
    handled_s += s.latency_sum_s;
  }
  e.Histogram("dctwin_handling_seconds", "Time to handle one message in a shard.", kLatencyBuckets, handled,
              handled_s);
  e.Histogram("dctwin_alert_latency_seconds",
              "From the receipt of a report to the first hand-over to the MQTT client of an alert it caused, "
              "after the alert's commit.",
              kAlertLatencyBuckets, c.outbound.alert_latency, c.outbound.alert_latency_sum_s);

  e.Family("dctwin_twins", "gauge", "Twins, by kind.");
  e.Sample("dctwin_twins", "kind=\"server\"", d(c.servers));
  e.Sample("dctwin_twins", "kind=\"rack\"", d(c.racks));
  e.Sample("dctwin_twins", "kind=\"datacenter\"", d(c.datacenters));
  e.Family("dctwin_open_incidents", "gauge", "Open incidents, by level and kind.");
  for (const auto& [key, n] : c.open_by_kind) {
    const size_t slash = key.find('/');
    e.Sample("dctwin_open_incidents",
             "level=\"" + key.substr(0, slash) + "\",kind=\"" + LabelValue(key.substr(slash + 1)) + "\"", d(n));
  }

  e.Family("dctwin_store_commits_total", "counter", "State store transactions committed.");
  e.Sample("dctwin_store_commits_total", "", d(c.store.commits));
  e.Family("dctwin_store_failures_total", "counter", "State store commits that failed (and were retried).");
  e.Sample("dctwin_store_failures_total", "", d(c.store.failures));
  e.Family("dctwin_store_pending_twins", "gauge", "Twins changed and not yet committed.");
  e.Sample("dctwin_store_pending_twins", "", d(c.store.pending_twins));
  e.Family("dctwin_store_submit_waits_total", "counter",
           "Times a shard waited because too many batches were waiting for a commit (a failing store).");
  e.Sample("dctwin_store_submit_waits_total", "", d(c.store.submit_waits));
  e.Family("dctwin_store_checkpoints_total", "counter", "WAL checkpoints run by the checkpoint thread.");
  e.Sample("dctwin_store_checkpoints_total", "", d(c.checkpoints));
  e.Family("dctwin_store_commit_seconds", "gauge", "Duration of the urgent commits: the last one and the longest.");
  e.Sample("dctwin_store_commit_seconds", "which=\"last\"", c.store.last_commit_ms / 1000);
  e.Sample("dctwin_store_commit_seconds", "which=\"max\"", c.store.max_commit_ms / 1000);
  e.Family("dctwin_outbox_events", "gauge", "Outbox messages committed and not yet acknowledged by the broker.");
  e.Sample("dctwin_outbox_events", "", d(c.store.outbox_rows));

  e.Family("dctwin_outbound_queued", "gauge", "Messages waiting to be handed to the broker.");
  e.Sample("dctwin_outbound_queued", "", d(c.outbound.queued));
  e.Family("dctwin_outbound_dropped_total", "counter", "Outgoing messages given up (refused for good or failed too often).");
  e.Sample("dctwin_outbound_dropped_total", "", d(c.outbound.dropped));
  e.Family("dctwin_outbound_superseded_total", "counter",
           "Retained values (health, status) replaced by a newer one for the same topic before they went out.");
  e.Sample("dctwin_outbound_superseded_total", "", d(c.outbound.superseded));
  e.Family("dctwin_publish_failures_total", "counter", "Answers and best-effort messages the outbound queue refused (full).");
  e.Sample("dctwin_publish_failures_total", "", d(c.publish_failures));

  e.Family("dctwin_opens_deferred_total", "counter",
           "Incident opens held back because the outbox was full (published once it had room).");
  e.Sample("dctwin_opens_deferred_total", "", d(c.opens_deferred));
  e.Family("dctwin_control_changes_total", "counter", "Desired-state changes (operators and automations), by result.");
  e.Sample("dctwin_control_changes_total", "result=\"accepted\"", d(c.control_accepted));
  e.Sample("dctwin_control_changes_total", "result=\"refused\"", d(c.control_refused));
  e.Sample("dctwin_control_changes_total", "result=\"busy\"", d(c.control_busy));
  e.Family("dctwin_control_reports_total", "counter", "Servers' reports of their state (P/reported/<id>), by result.");
  e.Sample("dctwin_control_reports_total", "result=\"applied\"", d(c.control_reports_applied));
  e.Sample("dctwin_control_reports_total", "result=\"unchanged\"", d(c.control_reports_unchanged));
  e.Sample("dctwin_control_reports_total", "result=\"stale\"", d(c.control_reports_stale));
  e.Sample("dctwin_control_reports_total", "result=\"refused\"", d(c.control_reports_refused));
  e.Family("dctwin_control_waiting", "gauge", "Desired versions waiting for their server to apply them.");
  e.Sample("dctwin_control_waiting", "", static_cast<double>(c.control_waiting));
  e.Family("dctwin_control_drained", "gauge", "Servers drained (desired or reported drain = true).");
  e.Sample("dctwin_control_drained", "", static_cast<double>(c.control_drained));
  e.Family("dctwin_commands_total", "counter", "Operator commands, by result.");
  e.Sample("dctwin_commands_total", "result=\"ok\"", d(c.commands_ok));
  e.Sample("dctwin_commands_total", "result=\"refused\"", d(c.commands_refused));
  e.Sample("dctwin_commands_total", "result=\"busy\"", d(c.requests_busy));
  e.Family("dctwin_rollups_written_total", "counter", "Rollup buckets (1 min, 1 h) written to the state database.");
  e.Sample("dctwin_rollups_written_total", "", d(c.store.rollups_written));
  e.Family("dctwin_rollups_dropped_total", "counter",
           "Rollup buckets given up while commits failed (past a million waiting; incidents never are).");
  e.Sample("dctwin_rollups_dropped_total", "", d(c.store.rollups_dropped));
  e.Family("dctwin_rollup_names_refused_total", "counter",
           "New metric names kept in no rollup: the metric dictionary was full (262,144 names).");
  e.Sample("dctwin_rollup_names_refused_total", "", d(c.rollup_names_refused));
  e.Family("dctwin_history_queries_total", "counter", "History queries, by result (refused: malformed).");
  e.Sample("dctwin_history_queries_total", "result=\"ok\"", d(c.history_answered));
  e.Sample("dctwin_history_queries_total", "result=\"refused\"", d(c.history_refused));
  e.Family("dctwin_history_rows", "gauge", "Rows in the history (incident events, silence and provisioning changes).");
  e.Sample("dctwin_history_rows", "", d(c.history_rows));
  e.Family("dctwin_active_silences", "gauge", "Silences in force now.");
  e.Sample("dctwin_active_silences", "", d(c.active_silences));
  if (c.alertmanager) {
    e.Family("dctwin_alertmanager_posts_total", "counter", "POSTs to Alertmanager, by result.");
    e.Sample("dctwin_alertmanager_posts_total", "result=\"ok\"", d(c.alertmanager_posts));
    e.Sample("dctwin_alertmanager_posts_total", "result=\"failed\"", d(c.alertmanager_failures));
    e.Family("dctwin_alertmanager_held", "gauge",
             "Notifications held back: a feed, cooling unit or switch may cause them, or its open incident does.");
    e.Sample("dctwin_alertmanager_held", "", d(c.alertmanager_held));
  }
  e.Family("dctwin_clock_steps_total", "counter",
           "Steps of the system's wall clock (NTP, a resumed VM); a backward one is absorbed at half speed.");
  e.Sample("dctwin_clock_steps_total", "", d(c.clock_steps));
  e.Family("dctwin_broker_connected", "gauge", "1 while connected to the broker.");
  e.Sample("dctwin_broker_connected", "", c.connected ? 1 : 0);
  return e.Take();
}

}  // namespace dctwin
