// Counters: one snapshot of everything the gateway counts, rendered twice: as the stats JSON
// (P/gateway/<id>/stats, the contract's fields) and as the Prometheus text exposition (/metrics).
// Each name has one meaning in both:
//   reports_applied  reports fully applied to server twins (the contract's stats `messages_in`);
//   messages_decoded input messages decoded and handed to a shard, by publisher (a collectd
//                    report arrives as many messages).
// Series stay once they have appeared, also at zero (open incidents of a kind that resolved).
//
// Pure: the renderers read only the snapshot. The gateway fills it (any thread).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "gateway/mqtt/outbound_queue.h"
#include "gateway/publish/dead_letters.h"
#include "gateway/runtime/shard_pool.h"
#include "storage/store_writer.h"

namespace dctwin {

struct CountersSnapshot {
  std::string gateway;
  double at = 0;
  double uptime_s = 0;
  uint64_t clock_steps = 0;  // steps of the system's wall clock seen (base/step_guarded_clock.h)

  uint64_t reports_applied = 0;
  uint64_t reports_late = 0;  // of reports_applied: older than their server's newest report
  std::map<std::string, uint64_t> messages_decoded;  // by publisher: native, collectd, telegraf
  uint64_t rejected_total = 0;
  std::map<std::string, uint64_t> rejected;  // by reason, every reason
  uint64_t dead_letters_published = 0;
  uint64_t metrics_ignored = 0;
  uint64_t servers_refused = 0;
  uint64_t memory_refused = 0;  // servers and metrics refused past model.max_memory_mb
  int64_t twin_bytes = 0;       // what the server twins hold (ServerTwin::ApproxBytes)
  int64_t max_twin_bytes = 0;   // model.max_memory_mb

  int64_t servers = 0;
  int64_t racks = 0;
  int64_t datacenters = 0;
  int64_t open_incidents = 0;
  std::map<std::string, int64_t> open_by_kind;  // "<level>/<kind>"

  uint64_t publish_failures = 0;
  bool connected = false;
  struct Link {
    std::string client_id;
    bool connected = false;
    uint64_t received = 0;
  };
  std::vector<Link> connections;

  StoreWriterStats store;
  uint64_t checkpoints = 0;
  uint64_t rollup_names_refused = 0;  // new metric names the full metric dictionary refused
  OutboundStats outbound;
  std::vector<ShardStats> shards;

  uint64_t commands_ok = 0;
  uint64_t commands_refused = 0;
  uint64_t requests_busy = 0;  // queries and commands refused because the desk's queue was full
  int64_t incident_records = 0;
  int64_t active_silences = 0;
  uint64_t opens_deferred = 0;  // incident opens held back while the outbox was full
  // Control: desired-state changes (operators and automations), servers' reports.
  uint64_t control_accepted = 0;
  uint64_t control_refused = 0;
  uint64_t control_reports_applied = 0;
  uint64_t control_reports_unchanged = 0;
  uint64_t control_reports_stale = 0;   // out of order: an older version after a newer one
  uint64_t control_reports_refused = 0;
  uint64_t control_busy = 0;            // requests refused: the control desk's queue was full
  int64_t control_waiting = 0;          // versions waiting for their server (within the timeout)
  int64_t control_drained = 0;          // servers drained (desired or reported)
  uint64_t history_answered = 0;  // P/query/history answered
  uint64_t history_refused = 0;   // malformed history queries (answered ok: false)
  int64_t history_rows = 0;
  bool alertmanager = false;  // the forwarder runs: the three below mean something
  int64_t alertmanager_owed = 0;
  int64_t alertmanager_held = 0;  // held back: a group may cause them, or an open group incident does
  uint64_t alertmanager_posts = 0;
  uint64_t alertmanager_failures = 0;
};

std::string RenderStatsJson(const CountersSnapshot& c);
std::string RenderPrometheus(const CountersSnapshot& c);

}  // namespace dctwin
