// The monitoring model: threshold rules and the parameters of correlation.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "twins/incident.h"
#include "twins/topology.h"

namespace dctwin {

enum class CompareOp : uint8_t { kGreater, kGreaterEqual, kLess, kLessEqual };
// The steps a change rule reports (kNone: the rule is not a change rule).
enum class ChangeDirection : uint8_t { kNone, kUp, kDown, kBoth };

bool ParseCompareOp(std::string_view text, CompareOp* out);
std::string_view CompareOpName(CompareOp op);
// Whether `value` op `threshold` holds (value > threshold, ...).
bool Compare(double value, CompareOp op, double threshold);
bool ParseChangeDirection(std::string_view text, ChangeDirection* out);
std::string_view ChangeDirectionName(ChangeDirection direction);

// One rule as the config file states it: a threshold on the value (or its rate), a forecast of
// when the trend crosses the threshold (forecast_s > 0), or a change of level (change != kNone).
struct Rule {
  std::string kind;                 // incident kind it opens: thermal, disk, network, ...
  std::string metric;               // a metric name or an fnmatch glob
  CompareOp op = CompareOp::kGreater;
  double threshold = 0;
  int for_reports = 1;              // consecutive reports the condition must hold ...
  double for_s = 0;                 // ... or, when > 0, seconds it must hold (by report timestamps)
  int clear_reports = 0;            // consecutive clear reports that resolve; 0 = model default
  Severity severity = Severity::kWarning;
  bool rate = false;                // compare the rate of change per second instead of the value
  std::string runbook;              // URL of what to do, carried in the incidents it opens
  // Forecast (twins/foresight.h): opens when the trend over lookback_s crosses the threshold
  // within forecast_s; resolves when the crossing moves past 1.5 x forecast_s or the trend turns.
  double forecast_s = 0;
  double lookback_s = 6 * 3600;
  // Change: a level step of at least `shift` standard deviations opens a `change` incident; it
  // resolves when the metric returns or the new level has lasted change_accept_s.
  ChangeDirection change = ChangeDirection::kNone;
  double shift = 3;
  double change_accept_s = 3600;

  bool Holds(double value) const;
  bool forecast() const { return forecast_s > 0; }
  bool watches_change() const { return change != ChangeDirection::kNone; }
};

// Everything the twins need to know of the model. Plain value; copied into every shard.
struct ModelConfig {
  double window_s = 900;
  double heartbeat_timeout_s = 60;
  int clear_reports = 3;
  int rack_min_servers = 3;
  int datacenter_min_racks = 2;
  // A group (feed, cooling unit, ToR switch) opens an incident of a kind it can cause when at
  // least group_min_racks of its racks have a rack incident of that kind, or at least
  // group_min_servers of its servers, in at least two of its racks (or its only rack), have server
  // incidents of it.
  int group_min_racks = 2;
  int group_min_servers = 5;
  // How long the Alertmanager notification of a server or rack incident of a kind a group can
  // cause waits for correlation to name its group (the gateway's incident desk; takes a restart).
  double group_notify_hold_s = 30;
  // The groups and their racks, from the inventory (nullptr: no inventory, no groups).
  std::shared_ptr<const Topology> topology;
  // Anomaly (twins/baseline.h): each metric's baseline (level and typical deviation over about
  // anomaly_baseline_s, by report time) and its range at each hour of the day on the days before.
  // A value off its hour's range that is more than 2 x anomaly_z deviations from the level (and
  // beyond the metric's recent excursions), or more than anomaly_z in anomaly_for_reports of the
  // last five reports, opens an `anomaly` incident. anomaly_min_samples reports of the metric are
  // learned first. anomaly_z = 0 turns it off.
  double anomaly_z = 4.0;
  int anomaly_min_samples = 30;
  int anomaly_for_reports = 3;
  double anomaly_baseline_s = 3600;
  // Alert-storm guard: when at least storm_fraction of the gateway's servers (and at least
  // storm_min_servers) are overdue or silent at once, the broker or the network is the likely
  // cause: one datacenter-level `silent_storm` incident opens and per-server `silent` incidents are
  // held back until it ends. A server's `silent` therefore opens after the heartbeat timeout plus
  // a confirmation of min(storm_window_s, max(heartbeat_timeout_s / 4, 1 s)): long enough for the
  // gateway to count the servers that go quiet together. storm_fraction = 0 turns the guard off
  // (and the confirmation with it).
  double storm_fraction = 0.5;
  int storm_min_servers = 10;
  double storm_window_s = 10;
  double StormConfirmS() const {
    if (storm_fraction <= 0) return 0;
    const double quarter = heartbeat_timeout_s / 4 > 1 ? heartbeat_timeout_s / 4 : 1;
    return storm_window_s < quarter ? storm_window_s : quarter;
  }
  // collectd and Telegraf send a server's report in parts (one message per plugin); parts whose
  // timestamps lie within assemble_s of the first are one report, applied once no new part has
  // come for assemble_s.
  double assemble_s = 1.0;
  // A report stamped more than this far ahead of the gateway's clock is rejected.
  double max_future_s = 300;
  // Memory limits of one server twin.
  int max_window_rows = 1024;
  int max_metrics = 1024;  // a big collectd host reports several hundred
  // The server twins' memory, all shards together: past it, new servers and metrics new to a
  // twin are refused (dead letter `limit`). 0: half of the machine's memory.
  int64_t max_memory_mb = 0;
  // Reports one server may send per second (all the collectd/Telegraf parts of one report count
  // once), with bursts of twice that; the rest are refused (dead letter rate_limited). 0: no limit.
  double max_messages_per_s = 100;
  // Flapping: when one server's incidents of one kind have opened flap_count times within
  // flap_window_s, the incident that is open is flapping and resolves only once its condition has
  // been clear for flap_stable_s (by report timestamps). flap_count = 0 turns it off.
  // A metric a server has not reported for metric_stale_s (by its report timestamps) is stale: its
  // conditions count as clear, incidents only it kept open resolve, and it leaves the window.
  // 0 turns it off.
  double metric_stale_s = 300;
  // Reports refused for their timestamps in a row that open a `clock_skew` warning (they still
  // count as signs of life: such a server is never `silent`).
  int clock_skew_reports = 3;
  int flap_count = 4;
  double flap_window_s = 1800;
  double flap_stable_s = 600;
  std::vector<Rule> rules;
};

// The rules compiled for lookup by metric name. Caches which rules match a metric name, so
// glob matching runs once per distinct name rather than once per report.
// Not thread-safe: every shard owns its own RuleSet.
class RuleSet {
 public:
  explicit RuleSet(ModelConfig config);
  RuleSet(RuleSet&&) = default;
  RuleSet& operator=(RuleSet&&) = default;

  const ModelConfig& config() const { return config_; }
  const Rule& rule(size_t index) const { return config_.rules[index]; }
  int ClearReports(size_t index) const;

  // A rule's identity across restarts and reloads: what it watches and how (kind, metric, op,
  // rate). Thresholds, counts and severity may change under the same identity.
  static std::string Identity(const Rule& rule);
  // Index of the rule with this identity, or -1.
  int IndexOf(const std::string& identity) const;
  // Indexes of the rules that apply to `metric`, in config order.
  const std::vector<uint16_t>& RulesFor(std::string_view metric);

 private:
  // Constant after construction
  ModelConfig config_;

  // Looked up by string_view on every metric of every report: a transparent hash avoids building
  // a std::string per lookup.
  struct NameHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, std::vector<uint16_t>, NameHash, std::equal_to<>> cache_;
  std::unordered_map<std::string, int> identities_;  // Identity() -> first index with it
};

// The default model of the contract: thermal, disk, network, cpu and power rules.
std::vector<Rule> DefaultRules();

}  // namespace dctwin
