// ServerTwin: the digital twin of one server. Keeps a sliding window of its reports, evaluates
// the threshold rules (value or rate of change, with `for` and clear hysteresis) and the anomaly
// check over the window, opens and resolves its incidents, raises `silent` when reports stop,
// and tells its rack about its open incidents.
//
// Not thread-safe: a twin is owned by one shard, which hands it one message at a time. All time
// comes in as arguments, so tests drive it with plain calls and a clock of their own.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "twins/baseline.h"
#include "twins/foresight.h"
#include "twins/incident.h"
#include "twins/interned.h"
#include "twins/messages.h"
#include "twins/metric_window.h"
#include "twins/model.h"

namespace dctwin {

class ServerTwin {
 public:
  ServerTwin(std::string id, std::string datacenter, const ModelConfig& model);

  // Commissioning twice into the same rack is harmless; into another rack moves the server and
  // its open incidents there.
  void OnCommission(const Commission& msg, double now, Effects& out);
  // Resolves every open incident and leaves the rack; the twin is then dropped by its owner.
  void OnDecommission(double now, Effects& out);
  // A report stamped too far ahead of `now`, or older than the window, is refused: out.rejected
  // says why and nothing else changes.
  void OnReport(const Report& report, double now, RuleSet& rules, Effects& out);
  void OnRackIncidents(const RackIncidents& msg, double now, Effects& out);
  // Opens or resolves an incident of the server's control state (`control`, `drift`,
  // `automation`); false when it changed nothing (already so).
  bool OnControlCondition(const ControlCondition& msg, double now, const ModelConfig& model, Effects& out);
  // Binds the conditions to `rules` by the identity of the rule that made each (after a restore or
  // a reload: rules may have been added, removed or reordered). A condition whose rule is gone
  // goes too, so do anomaly conditions when anomaly_z is 0; an incident left without a firing
  // condition resolves now, saying the rule was removed or changed.
  void BindRules(const RuleSet& rules, double now, Effects& out);
  // Opens `silent` (never during maintenance). The owner calls it when its own (monotonic) clock
  // says nothing was heard for the heartbeat timeout; `now` stamps the event.
  void OnTimer(double now, const ModelConfig& model, Effects& out);
  // Wall clock of the last sign of life (a report, or the commission).
  double last_heard() const { return last_heard_; }
  // A maintenance silence starts or ends for this server. During maintenance the server does not
  // go silent and its rack does not count it for correlation; when it ends, the heartbeat starts
  // afresh from `now`.
  void SetMaintenance(bool on, double now, Effects& out);
  bool maintenance() const { return maintenance_; }

  const std::string& id() const { return id_; }
  const std::string& rack() const { return rack_.str(); }
  bool commissioned() const { return commissioned_; }
  const std::vector<Incident>& open_incidents() const { return open_; }
  // What this server tells its rack: membership, maintenance and open incidents.
  MemberStatus Membership() const;
  // The rack's open incidents, as the rack last told this server.
  const std::vector<IncidentRef>& rack_incidents() const { return rack_incidents_; }
  // After a restore: publishes the health (whatever the broker holds may predate the last commit).
  void RepublishHealth(double now, Effects& out) {
    health_ = HealthMemo();
    PublishHealthIfChanged(now, out);
  }
  const MetricWindow& window() const { return window_; }
  // What this twin holds in memory, roughly (the object, its window and its vectors; not the
  // strings inside them): what model.max_memory_mb counts.
  size_t ApproxBytes() const;
  HealthStatus status() const;
  ServerView View() const;
  // What the forecast and change rules see now, one entry per (rule, metric) they watch.
  std::vector<ForesightView> Foresight(const RuleSet& rules) const;

  // Durable state, for storage/twin_codec (defined in twins/twin_serialization.h).
  template <class Archive>
  void serialize(Archive& ar, std::uint32_t version);

  // The state of one (rule, metric) pair that is holding or firing; dropped once it is clear.
  struct Condition {
    uint16_t rule = 0;  // index into the rules, or kAnomalyRule
    std::string rule_id;  // RuleSet::Identity of that rule: what survives edits of the rule list
    std::string metric;
    uint32_t true_count = 0;
    uint32_t clear_count = 0;
    double first_true_ts = 0;
    double last_value = 0;
    double detail = 0;  // anomaly: the z-score
    bool firing = false;

    template <class Archive>
    void serialize(Archive& ar, std::uint32_t version);
  };

  // The newest exact value of a metric that a rate rule judges: the window keeps floats, and a
  // counter above 2^24 read back from a float moves when it does not.
  struct ExactValue {
    std::string metric;
    double ts = 0;
    double value = 0;

    template <class Archive>
    void serialize(Archive& ar, std::uint32_t version);
  };

  // The anomaly baseline of one metric.
  struct Baseline {
    std::string metric;
    MetricBaseline baseline;
    template <class Archive>
    void serialize(Archive& ar, std::uint32_t version);
  };
  // What a forecast or a change rule keeps of one metric (the one its rule uses).
  struct Watch {
    std::string metric;
    std::string rule_id;  // RuleSet::Identity of the rule
    uint16_t rule = 0;    // its index now
    std::variant<TrendTracker, ChangeTracker> state;
    template <class Archive>
    void serialize(Archive& ar, std::uint32_t version);
  };
  // When each incident key opened recently (report timestamps), for flap detection.
  struct FlapTrack {
    std::string key;
    std::vector<double> opened;

    template <class Archive>
    void serialize(Archive& ar, std::uint32_t version);
  };

 private:
  static constexpr uint16_t kAnomalyRule = 0xffff;

  // Incidents are keyed: a threshold rule's kind, "anomaly:<metric>", "forecast:<kind>:<metric>"
  // or "change:<metric>". `why`: what the summary of a resolve says, when it is not the usual.
  struct Key {
    std::string key;
    std::string kind;
    std::string why;
  };
  // What an incident says when it opens: its summary and, for forecasts and changes, the metric
  // and the figures of the contract (eta_s, ...; before, after, changed_at).
  struct Details {
    std::string summary;
    std::string metric;
    std::vector<Figure> figures;
  };

  Key KeyOf(const Condition& c, const RuleSet& rules) const;
  Condition& FindCondition(uint16_t rule, const std::string& metric, const RuleSet& rules);
  void Update(Condition& c, bool holds, double value, double ts, int for_reports, double for_s, int clear_reports);
  void EvaluateKey(const Key& key, double ts, double now, RuleSet& rules, Effects& out);
  // What `c` says when its incident opens at report time `ts`.
  Details DetailsOf(const Condition& c, double ts, const RuleSet& rules) const;
  void Open(const Key& key, Severity severity, Details details, std::string runbook, double at, double now,
            const ModelConfig& model, Effects& out);
  // Feeds a forecast or change rule's watch of `metric`: the key of its condition when that was
  // judged (a forecast is judged when a bucket of its trend closes, a change at every report).
  std::optional<Key> Foresee(uint16_t rule, const std::string& metric, double value, double ts, RuleSet& rules);
  // The watch of (rule, metric) (created when missing, up to max_metrics), or nullptr.
  Watch* WatchOf(uint16_t rule, const std::string& metric, const RuleSet& rules);
  const Watch* FindWatch(uint16_t rule, const std::string& metric) const;
  // An open forecast incident whose crossing moved: its record says the new one.
  void RefreshForecast(Incident& inc, const Condition& c, double ts, const RuleSet& rules, Effects& out);
  bool NoteOpenForFlapping(const std::string& key, double at, const ModelConfig& model);
  // A report refused for its timestamp: alive all the same, and a clock_skew after a few in a row.
  void OnRefused(std::string why, double ahead_s, double now, const ModelConfig& model, Effects& out);
  // Metrics not reported for metric_stale_s: their conditions go, what only they kept open resolves.
  void DropStaleMetrics(double ts, const RuleSet& rules, Effects& out);
  void Resolve(size_t index, std::string summary, double at, Effects& out);
  IncidentEvent MakeEvent(const Incident& incident, IncidentState state, double at) const;
  void TellRack(const std::string& rack, bool member, double now, Effects& out) const;
  void PublishHealthIfChanged(double now, Effects& out);
  // The baseline of `metric` (created when missing, up to max_metrics), or nullptr.
  MetricBaseline* BaselineOf(const std::string& metric, const ModelConfig& model);
  const MetricBaseline* FindBaseline(const std::string& metric) const;

  // Constant after construction
  const std::string id_;
  const Interned datacenter_;  // shared by every twin: one copy

  bool commissioned_ = false;
  bool heard_ = false;  // a report arrived since commission
  Interned rack_;  // shared with the rack's other servers
  double last_heard_ = 0;  // wall clock of the last report (or of commission)
  uint64_t seq_ = 0;
  MetricWindow window_;
  std::vector<Condition> conditions_;
  std::vector<Incident> open_;
  std::vector<std::string> open_keys_;  // parallel to open_
  std::vector<IncidentRef> rack_incidents_;
  bool maintenance_ = false;
  uint32_t refused_in_a_row_ = 0;  // reports refused for their timestamps since the last good one
  double next_stale_check_ = 0;    // report time of the next look for stale metrics
  std::vector<FlapTrack> flaps_;
  std::vector<ExactValue> exact_;  // metrics with a rate rule
  std::vector<Baseline> baselines_;  // by metric name, sorted
  std::vector<Watch> watches_;       // by metric name
  HealthMemo health_;  // not durable: health goes out only when it says something new
};

}  // namespace dctwin
