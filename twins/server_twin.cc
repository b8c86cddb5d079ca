#include "twins/server_twin.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <utility>

namespace dctwin {

namespace {

constexpr const char* kSilent = "silent";
constexpr const char* kClockSkew = "clock_skew";
// The incidents of the control state: held by the gateway's control desk, not by a rule.
bool IsControlKind(const std::string& kind) { return kind == "control" || kind == "drift" || kind == "automation"; }
constexpr const char* kAnomaly = "anomaly";
constexpr const char* kChange = "change";

// The model still has what opens incidents of `key` (see ServerTwin::KeyOf): the anomaly check, or
// a rule of that kind (a forecast rule of that kind, a change rule).
bool StillRuled(const std::string& key, const RuleSet& rules) {
  const ModelConfig& model = rules.config();
  if (key.rfind(std::string(kAnomaly) + ":", 0) == 0) return model.anomaly_z > 0;
  for (size_t r = 0; r < model.rules.size(); ++r) {
    const Rule& rule = rules.rule(r);
    if (rule.forecast()) {
      if (key.rfind("forecast:" + rule.kind + ":", 0) == 0) return true;
    } else if (rule.watches_change()) {
      if (key.rfind(std::string(kChange) + ":", 0) == 0) return true;
    } else if (key == rule.kind) {
      return true;
    }
  }
  return false;
}

std::string FormatValue(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// A value for a person: four significant digits at most.
std::string Readable(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

// A duration in the unit a person would use for it: "45 s", "38 min", "2.4 h", "3.1 d".
struct DurationUnit {
  const char* name;
  double seconds;
  int decimals;
};
DurationUnit UnitFor(double s) {
  if (s < 120) return {"s", 1, 0};
  if (s < 7200) return {"min", 60, 0};
  if (s < 2 * 86400) return {"h", 3600, 1};
  return {"d", 86400, 1};
}
std::string InUnit(double s, const DurationUnit& u) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", u.decimals, s / u.seconds);
  return buf;
}
std::string Duration(double s) {
  const DurationUnit u = UnitFor(s);
  return InUnit(s, u) + " " + u.name;
}

std::string UtcTime(double ts) {
  const time_t t = static_cast<time_t>(ts);
  struct tm tm {};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// A forecast's crossing this far out is no forecast any more: etas are capped at it.
double ForecastHorizon(const Rule& rule) { return 10 * std::max(rule.forecast_s, rule.lookback_s); }

// A rate per hour with its sign.
std::string PerHour(double per_s) {
  const double h = per_s * 3600;
  return (h >= 0 ? "+" : "") + Readable(h) + "/h";
}

}  // namespace

ServerTwin::ServerTwin(std::string id, std::string datacenter, const ModelConfig& model)
    : id_(std::move(id)), datacenter_(datacenter),
      window_(model.window_s, static_cast<size_t>(model.max_window_rows), static_cast<size_t>(model.max_metrics)) {}

HealthStatus ServerTwin::status() const {
  if (!commissioned_) return HealthStatus::kUnknown;
  bool critical = false;
  for (const Incident& inc : open_) {
    if (inc.kind == kSilent) return HealthStatus::kSilent;
    critical = critical || inc.severity == Severity::kCritical;
  }
  if (critical) return HealthStatus::kCritical;
  if (!open_.empty()) return HealthStatus::kWarning;
  return heard_ ? HealthStatus::kOk : HealthStatus::kUnknown;
}

ServerView ServerTwin::View() const {
  ServerView v;
  v.rack = rack_.str();
  v.status = status();
  v.open = open_;
  v.last_report_ts = window_.empty() ? 0 : window_.newest_ts();
  v.metrics = window_.SummarizeAll();
  return v;
}

void ServerTwin::OnCommission(const Commission& msg, double now, Effects& out) {
  if (commissioned_ && msg.rack == rack_.str()) return;
  const bool moved = commissioned_;
  if (commissioned_) {
    TellRack(rack_.str(), false, now, out);
    rack_incidents_.clear();
  } else {
    commissioned_ = true;
    heard_ = false;
    last_heard_ = now;
  }
  rack_ = Interned(msg.rack);
  if (moved) {
    // Its open incidents move with it: their records name the new rack, and no cause in the old one.
    for (Incident& inc : open_) {
      inc.caused_by.clear();
      out.events.push_back(MakeEvent(inc, IncidentState::kUpdated, now));
    }
  }
  TellRack(rack_.str(), true, now, out);
  PublishHealthIfChanged(now, out);
}

void ServerTwin::OnDecommission(double now, Effects& out) {
  if (!commissioned_) return;
  while (!open_.empty()) {
    Resolve(open_.size() - 1, "server " + id_ + " was decommissioned", now, out);
  }
  TellRack(rack_.str(), false, now, out);
  commissioned_ = false;
  conditions_.clear();
  rack_incidents_.clear();
  HealthUpdate h;
  h.level = Level::kServer;
  h.subject = id_;
  h.cleared = true;
  h.updated_at = now;
  out.health.push_back(std::move(h));
}

ServerTwin::Condition& ServerTwin::FindCondition(uint16_t rule, const std::string& metric, const RuleSet& rules) {
  for (Condition& c : conditions_) {
    if (c.rule == rule && c.metric == metric) return c;
  }
  Condition c;
  c.rule = rule;
  c.rule_id = rule == kAnomalyRule ? std::string(kAnomaly) : RuleSet::Identity(rules.rule(rule));
  c.metric = metric;
  conditions_.push_back(std::move(c));
  return conditions_.back();
}

ServerTwin::Key ServerTwin::KeyOf(const Condition& c, const RuleSet& rules) const {
  if (c.rule == kAnomalyRule) return Key{std::string(kAnomaly) + ":" + c.metric, kAnomaly, {}};
  const Rule& rule = rules.rule(c.rule);
  if (rule.forecast()) return Key{"forecast:" + rule.kind + ":" + c.metric, rule.kind, {}};
  if (rule.watches_change()) return Key{std::string(kChange) + ":" + c.metric, kChange, {}};
  return Key{rule.kind, rule.kind, {}};
}

void ServerTwin::Update(Condition& c, bool holds, double value, double ts, int for_reports, double for_s,
                        int clear_reports) {
  c.last_value = value;
  if (holds) {
    c.clear_count = 0;
    if (c.true_count == 0) c.first_true_ts = ts;
    if (c.true_count < UINT32_MAX) ++c.true_count;
    const bool met = for_s > 0 ? (ts - c.first_true_ts >= for_s) : (static_cast<int>(c.true_count) >= for_reports);
    if (met) c.firing = true;
  } else {
    c.true_count = 0;
    if (c.firing && static_cast<int>(++c.clear_count) >= clear_reports) {
      c.firing = false;
      c.clear_count = 0;
    }
  }
}

void ServerTwin::OnReport(const Report& report, double now, RuleSet& rules, Effects& out) {
  if (!commissioned_) return;
  const ModelConfig& model = rules.config();
  if (report.ts > now + model.max_future_s) {
    OnRefused("report timestamp is " + FormatValue(report.ts - now) + " s ahead of the gateway's clock",
              report.ts - now, now, model, out);
    return;
  }
  if (!window_.empty() && report.ts < window_.newest_ts() - model.window_s) {
    OnRefused("report timestamp is older than the window (" + FormatValue(model.window_s) + " s)",
              report.ts - now, now, model, out);
    return;
  }
  const size_t open_before = open_.size();
  if (refused_in_a_row_ > 0) {
    refused_in_a_row_ = 0;
    auto skew = std::find(open_keys_.begin(), open_keys_.end(), kClockSkew);
    if (skew != open_keys_.end()) {
      Resolve(static_cast<size_t>(skew - open_keys_.begin()),
              "timestamps of server " + id_ + " are good again", report.ts, out);
    }
  }
  heard_ = true;
  last_heard_ = now;
  for (size_t i = 0; i < open_.size(); ++i) {
    if (open_[i].kind == kSilent) {
      Resolve(i, "server " + id_ + " reports again", report.ts, out);
      break;
    }
  }

  // A report older than the newest one (reports that raced over different connections, or a
  // daemon that sent a backlog late) takes its place in the window, but incident state follows
  // the newest report: judging it now would count a past value after a newer one.
  if (!window_.empty() && report.ts < window_.newest_ts()) {
    window_.Add(report.ts, report.metrics, &out.metrics_ignored);
    if (open_.size() != open_before || !out.events.empty()) TellRack(rack_.str(), true, now, out);
    PublishHealthIfChanged(now, out);
    ++out.reports_applied;
    ++out.reports_late;
    return;
  }

  std::vector<Key> touched;
  auto touch = [&](Key key) {
    for (const Key& k : touched) {
      if (k.key == key.key) return;
    }
    touched.push_back(std::move(key));
  };
  auto tracked = [&](uint16_t rule, const std::string& metric) {
    for (const Condition& c : conditions_) {
      if (c.rule == rule && c.metric == metric) return true;
    }
    return false;
  };
  // A twin's first report brings all its metrics at once: their baselines get exactly the room
  // they need (one at a time, 6 would take the room of 8, 400 bytes more for good).
  if (model.anomaly_z > 0 && baselines_.capacity() < report.metrics.size()) {
    baselines_.reserve(std::min(report.metrics.size(), static_cast<size_t>(std::max(0, model.max_metrics))));
  }
  // Rules and the anomaly check judge each value against the window as it was before this report.
  for (const auto& [metric, value] : report.metrics) {
    bool rated = false;
    for (uint16_t r : rules.RulesFor(metric)) {
      const Rule& rule = rules.rule(r);
      if (rule.forecast() || rule.watches_change()) {
        if (std::optional<Key> key = Foresee(r, metric, value, report.ts, rules)) touch(std::move(*key));
        continue;
      }
      rated = rated || rule.rate;
      double judged = value;
      if (rule.rate) {
        const std::string& name = metric;  // a structured binding cannot be captured before C++20 in clang 14
        auto prev = std::find_if(exact_.begin(), exact_.end(), [&](const ExactValue& e) { return e.metric == name; });
        if (prev == exact_.end() || report.ts <= prev->ts) continue;
        judged = (value - prev->value) / (report.ts - prev->ts);
      }
      const bool holds = rule.Holds(judged);
      // A clear value of a condition that is not tracked changes nothing: skip the allocation.
      if (!holds && !tracked(r, metric)) continue;
      Condition& c = FindCondition(r, metric, rules);
      Update(c, holds, judged, report.ts, rule.for_reports, rule.for_s, rules.ClearReports(r));
      touch(KeyOf(c, rules));
    }
    // Rates come from exact values: keep the newest value of every metric a rate rule judges.
    if (rated) {
      const std::string& name = metric;
      auto e = std::find_if(exact_.begin(), exact_.end(), [&](const ExactValue& x) { return x.metric == name; });
      if (e == exact_.end()) {
        exact_.push_back(ExactValue{metric, report.ts, value});
      } else {
        *e = ExactValue{metric, report.ts, value};
      }
    }
    if (model.anomaly_z > 0) {
      MetricBaseline* baseline = BaselineOf(metric, model);
      if (baseline == nullptr) continue;
      const AnomalyJudgement j = baseline->Observe(
          report.ts, value, AnomalyParams{model.anomaly_z, model.anomaly_min_samples, model.anomaly_for_reports,
                                          model.anomaly_baseline_s});
      if (!j.holds && !tracked(kAnomalyRule, metric)) continue;
      Condition& c = FindCondition(kAnomalyRule, metric, rules);
      if (j.holds) c.detail = j.score;
      // The baseline has already asked for persistence (anomaly_for_reports): one report opens.
      Update(c, j.holds, value, report.ts, 1, 0, model.clear_reports);
      touch(KeyOf(c, rules));
    }
  }
  window_.Add(report.ts, report.metrics, &out.metrics_ignored);
  DropStaleMetrics(report.ts, rules, out);
  // A flapping incident waits for a stretch of clear reports: every report counts towards it,
  // also those that no longer touch its (dropped) conditions.
  for (size_t i = 0; i < open_.size(); ++i) {
    if (open_[i].flapping) touch(Key{open_keys_[i], open_[i].kind, {}});
  }
  for (const Key& key : touched) EvaluateKey(key, report.ts, now, rules, out);
  conditions_.erase(std::remove_if(conditions_.begin(), conditions_.end(),
                                   [](const Condition& c) { return !c.firing && c.true_count == 0; }),
                    conditions_.end());

  if (open_.size() != open_before || !out.events.empty()) TellRack(rack_.str(), true, now, out);
  PublishHealthIfChanged(now, out);
  ++out.reports_applied;
}

ServerTwin::Details ServerTwin::DetailsOf(const Condition& c, double ts, const RuleSet& rules) const {
  Details d;
  d.metric = c.metric;
  const std::string where = " on server " + id_ + " in rack " + rack_.str();
  if (c.rule == kAnomalyRule) {
    const MetricBaseline* b = FindBaseline(c.metric);
    char buf[200];
    std::snprintf(buf, sizeof buf, " = %g is %.1f typical deviations (%g) from its baseline %g, outside its range at this hour",
                  c.last_value, c.detail, b ? b->deviation() : 0.0, b ? b->level() : 0.0);
    d.summary = c.metric + buf + where;
    return d;
  }
  const Rule& rule = rules.rule(c.rule);
  const Watch* w = FindWatch(c.rule, c.metric);
  if (rule.forecast() && w != nullptr) {
    const Projection p = std::get<TrendTracker>(w->state).Project(rule.threshold, rule.op);
    const double horizon = ForecastHorizon(rule);
    auto from_now = [&](double eta) { return std::clamp(p.at + eta - ts, 0.0, horizon); };
    const double eta = from_now(p.eta), low = from_now(p.eta_low), high = from_now(p.eta_high);
    d.figures = {{"eta_s", eta}, {"eta_low_s", low}, {"eta_high_s", high}, {"threshold", rule.threshold},
                 {"current", p.level}, {"rate_per_h", p.slope * 3600}};
    const DurationUnit u = UnitFor(eta);
    d.summary = c.metric + " reaches " + Readable(rule.threshold) +
                (eta <= 0 ? " now" : " in ~" + InUnit(eta, u) + " " + u.name) + " (" + InUnit(low, u) +
                (high >= horizon ? " " + std::string(u.name) + " or later" : "\u2013" + InUnit(high, u) + " " + u.name) +
                (eta > 0 ? ", around " + UtcTime(ts + eta) : std::string()) + ")" + where + ": now " +
                Readable(p.level) + ", " + PerHour(p.slope) + " over the last " + Duration(p.span_s);
    return d;
  }
  if (rule.watches_change() && w != nullptr) {
    const ChangeTracker& change = std::get<ChangeTracker>(w->state);
    d.figures = {{"before", change.before()}, {"after", change.after()}, {"changed_at", change.changed_at()},
                 {"shift", change.size()}};
    d.summary = c.metric + " stepped " + (change.up() ? "up" : "down") + " from " + Readable(change.before()) + " to " +
                Readable(change.after()) + " (" + Readable(std::fabs(change.size())) + " standard deviations) at " +
                UtcTime(change.changed_at()) + where;
    return d;
  }
  std::string summary = c.metric + (rule.rate ? " rises at " : " = ") + FormatValue(c.last_value) +
                        (rule.rate ? "/s " : " ") + std::string(CompareOpName(rule.op)) + " " +
                        FormatValue(rule.threshold);
  if (rule.for_s > 0) {
    summary += " for " + FormatValue(rule.for_s) + " s";
  } else if (rule.for_reports > 1) {
    summary += " for " + std::to_string(rule.for_reports) + " reports";
  }
  d.summary = summary + where;
  return d;
}

void ServerTwin::EvaluateKey(const Key& key, double ts, double now, RuleSet& rules, Effects& out) {
  const Condition* firing = nullptr;
  Severity severity = Severity::kWarning;
  bool holding = false;  // some value is over its threshold now, firing or not yet
  for (const Condition& c : conditions_) {
    if (c.true_count > 0 && KeyOf(c, rules).key == key.key) holding = true;
    if (!c.firing || KeyOf(c, rules).key != key.key) continue;
    const Severity s = c.rule == kAnomalyRule ? Severity::kWarning : rules.rule(c.rule).severity;
    if (firing == nullptr || (s == Severity::kCritical && severity != Severity::kCritical)) firing = &c;
    severity = Worst(severity, s);
  }
  auto it = std::find(open_keys_.begin(), open_keys_.end(), key.key);
  const ModelConfig& model = rules.config();
  if (it == open_keys_.end() && firing != nullptr) {
    std::string runbook = firing->rule == kAnomalyRule ? std::string() : rules.rule(firing->rule).runbook;
    Open(key, severity, DetailsOf(*firing, ts, rules), std::move(runbook), ts, now, model, out);
  } else if (it != open_keys_.end()) {
    Incident& inc = open_[static_cast<size_t>(it - open_keys_.begin())];
    if (firing != nullptr || (inc.flapping && holding)) {
      inc.stable_since = 0;  // a flapping incident's clear stretch starts over with any swing back
      if (firing != nullptr && firing->rule != kAnomalyRule && rules.rule(firing->rule).forecast()) {
        RefreshForecast(inc, *firing, ts, rules, out);
      }
      return;
    }
    if (inc.flapping && model.flap_stable_s > 0) {
      // A flapping incident resolves only after its condition stayed clear for flap_stable_s.
      if (inc.stable_since <= 0) inc.stable_since = ts;
      if (ts - inc.stable_since < model.flap_stable_s) return;
      Resolve(static_cast<size_t>(it - open_keys_.begin()),
              key.kind + " cleared on server " + id_ + ": back within threshold and stable for " +
                  FormatValue(model.flap_stable_s) + " s after flapping",
              ts, out);
      return;
    }
    Resolve(static_cast<size_t>(it - open_keys_.begin()),
            key.why.empty() ? key.kind + " cleared on server " + id_ + ": back within threshold" : key.why, ts, out);
  }
}

void ServerTwin::RefreshForecast(Incident& inc, const Condition& c, double ts, const RuleSet& rules, Effects& out) {
  Details d = DetailsOf(c, ts, rules);
  // The record follows the forecast when its crossing moved by more than a twentieth of the
  // forecast time (not at every bucket: each update is a retained publish and a commit).
  auto figure = [](const std::vector<Figure>& figures, const char* name) {
    for (const Figure& f : figures) {
      if (f.name == name) return f.value;
    }
    return 0.0;
  };
  const double tolerance = rules.rule(c.rule).forecast_s / 20;
  bool moved = false;
  for (const char* name : {"eta_s", "eta_low_s", "eta_high_s"}) {
    const double was = std::max(0.0, figure(inc.figures, name) - (ts - inc.figures_at));
    moved = moved || std::fabs(figure(d.figures, name) - was) > tolerance;
  }
  if (!moved) return;
  inc.summary = std::move(d.summary);
  if (inc.flapping) inc.summary += " (flapping)";
  inc.figures = std::move(d.figures);
  inc.figures_at = ts;
  out.events.push_back(MakeEvent(inc, IncidentState::kUpdated, ts));
}

void ServerTwin::OnRefused(std::string why, double ahead_s, double now, const ModelConfig& model, Effects& out) {
  out.rejected = std::move(why);
  // A refused report still proves that the server is alive.
  const size_t open_before = open_.size();
  heard_ = true;
  last_heard_ = now;
  for (size_t i = 0; i < open_.size(); ++i) {
    if (open_[i].kind == kSilent) {
      Resolve(i, "server " + id_ + " reports again (with timestamps the gateway refuses)", now, out);
      break;
    }
  }
  if (refused_in_a_row_ < UINT32_MAX) ++refused_in_a_row_;
  if (static_cast<int>(refused_in_a_row_) >= model.clock_skew_reports &&
      std::find(open_keys_.begin(), open_keys_.end(), kClockSkew) == open_keys_.end()) {
    const std::string side = ahead_s > 0 ? " s ahead of" : " s behind";
    Open(Key{kClockSkew, kClockSkew, {}}, Severity::kWarning,
         Details{std::to_string(refused_in_a_row_) + " reports in a row from server " + id_ + " in rack " + rack_.str() +
                     " were refused for their timestamps (" + FormatValue(std::fabs(ahead_s)) + side +
                     " the gateway's clock): check the server's clock and NTP",
                 {}, {}},
         std::string(), now, now, model, out);
  }
  if (open_.size() != open_before || !out.events.empty()) TellRack(rack_.str(), true, now, out);
  PublishHealthIfChanged(now, out);
}

void ServerTwin::DropStaleMetrics(double ts, const RuleSet& rules, Effects& out) {
  const ModelConfig& model = rules.config();
  if (model.metric_stale_s <= 0 || ts < next_stale_check_) return;
  // Looking costs a pass over the window: a tenth of the stale time apart is soon enough.
  next_stale_check_ = ts + std::max(1.0, model.metric_stale_s / 10);
  std::vector<std::pair<std::string, double>> stale;
  for (auto& [metric, seen] : window_.LastSeenAll()) {
    if (seen < ts - model.metric_stale_s) stale.emplace_back(metric, seen);
  }
  if (stale.empty()) return;
  for (const auto& [metric, seen] : stale) {
    std::vector<Key> keys;
    for (auto it = conditions_.begin(); it != conditions_.end();) {
      if (it->metric != metric) {
        ++it;
        continue;
      }
      keys.push_back(KeyOf(*it, rules));
      it = conditions_.erase(it);
    }
    window_.RemoveMetric(metric);
    const std::string& gone = metric;
    baselines_.erase(std::remove_if(baselines_.begin(), baselines_.end(), [&](const Baseline& b) { return b.metric == gone; }),
                     baselines_.end());
    exact_.erase(std::remove_if(exact_.begin(), exact_.end(), [&](const ExactValue& e) { return e.metric == gone; }),
                 exact_.end());
    watches_.erase(std::remove_if(watches_.begin(), watches_.end(), [&](const Watch& w) { return w.metric == gone; }),
                   watches_.end());
    for (const Key& key : keys) {
      auto open = std::find(open_keys_.begin(), open_keys_.end(), key.key);
      if (open == open_keys_.end()) continue;
      const bool still = std::any_of(conditions_.begin(), conditions_.end(),
                                     [&](const Condition& c) { return c.firing && KeyOf(c, rules).key == key.key; });
      if (still) continue;
      Resolve(static_cast<size_t>(open - open_keys_.begin()),
              key.kind + " on server " + id_ + ": " + metric + " stopped being reported (nothing for " +
                  FormatValue(ts - seen) + " s); its conditions count as clear",
              ts, out);
    }
  }
  // The caller (OnReport) tells the rack about what changed here.
}

bool ServerTwin::NoteOpenForFlapping(const std::string& key, double at, const ModelConfig& model) {
  if (model.flap_count <= 0) return false;
  auto it = std::find_if(flaps_.begin(), flaps_.end(), [&](const FlapTrack& f) { return f.key == key; });
  if (it == flaps_.end()) {
    flaps_.push_back(FlapTrack{key, {}});
    it = flaps_.end() - 1;
  }
  std::vector<double>& opened = it->opened;
  opened.erase(std::remove_if(opened.begin(), opened.end(), [&](double t) { return t < at - model.flap_window_s; }),
               opened.end());
  opened.push_back(at);
  // Only the last flap_count opens can ever matter.
  if (opened.size() > static_cast<size_t>(model.flap_count)) opened.erase(opened.begin());
  return opened.size() >= static_cast<size_t>(model.flap_count);
}

void ServerTwin::Open(const Key& key, Severity severity, Details details, std::string runbook, double at,
                      double now, const ModelConfig& model, Effects& out) {
  Incident inc;
  inc.id = MakeIncidentId(Level::kServer, id_, key.kind, now, ++seq_);
  inc.kind = key.kind;
  inc.severity = severity;
  inc.opened_at = at;
  inc.summary = std::move(details.summary);
  inc.metric = std::move(details.metric);
  inc.figures = std::move(details.figures);
  if (!inc.figures.empty()) inc.figures_at = at;
  inc.runbook = std::move(runbook);
  if (key.kind != kSilent && NoteOpenForFlapping(key.key, at, model)) {
    inc.flapping = true;
    inc.summary += " (flapping: opened " + std::to_string(model.flap_count) + " times within " +
                   FormatValue(model.flap_window_s) + " s; resolves after " + FormatValue(model.flap_stable_s) +
                   " s clear)";
  }
  for (const IncidentRef& r : rack_incidents_) {
    if (r.kind == key.kind) inc.caused_by = r.id;
  }
  out.events.push_back(MakeEvent(inc, IncidentState::kOpen, at));
  open_.push_back(std::move(inc));
  open_keys_.push_back(key.key);
}

void ServerTwin::Resolve(size_t index, std::string summary, double at, Effects& out) {
  Incident inc = std::move(open_[index]);
  open_.erase(open_.begin() + static_cast<std::ptrdiff_t>(index));
  open_keys_.erase(open_keys_.begin() + static_cast<std::ptrdiff_t>(index));
  inc.summary = std::move(summary);
  out.events.push_back(MakeEvent(inc, IncidentState::kResolved, at));
}

IncidentEvent ServerTwin::MakeEvent(const Incident& incident, IncidentState state, double at) const {
  return dctwin::MakeEvent(incident, Level::kServer, id_, rack_.str(), datacenter_.str(), state, at);
}

void ServerTwin::OnRackIncidents(const RackIncidents& msg, double now, Effects& out) {
  if (!commissioned_ || msg.rack != rack_.str()) return;  // a late notice from a rack the server left
  rack_incidents_ = msg.open;
  for (Incident& inc : open_) {
    if (!inc.caused_by.empty()) continue;  // once correlated, an incident keeps its cause
    for (const IncidentRef& r : rack_incidents_) {
      if (r.kind == inc.kind) inc.caused_by = r.id;
    }
    // Its record says so from now on.
    if (!inc.caused_by.empty()) out.events.push_back(MakeEvent(inc, IncidentState::kUpdated, now));
  }
  PublishHealthIfChanged(now, out);
}

std::optional<ServerTwin::Key> ServerTwin::Foresee(uint16_t r, const std::string& metric, double value, double ts,
                                                   RuleSet& rules) {
  const Rule& rule = rules.rule(r);
  const ModelConfig& model = rules.config();
  Watch* w = WatchOf(r, metric, rules);
  if (w == nullptr) return std::nullopt;
  Condition* existing = nullptr;
  for (Condition& c : conditions_) {
    if (c.rule == r && c.metric == metric) existing = &c;
  }
  const bool firing = existing != nullptr && existing->firing;
  auto where = [&] { return " on server " + id_; };  // built only for the words of a resolve
  bool holds = false;
  double shown = value;
  std::string why;
  if (rule.forecast()) {
    auto& trend = std::get<TrendTracker>(w->state);
    if (!trend.Add(ts, value, rule.lookback_s)) return std::nullopt;  // judged when a bucket closes
    const Projection p = trend.Project(rule.threshold, rule.op);
    shown = p.level;
    if (p.known) {
      // Hysteresis: it opens within forecast_s and holds until the crossing is past 1.5 times that.
      holds = p.eta <= (firing ? 1.5 : 1.0) * rule.forecast_s;
      if (firing && !holds) {
        why = std::isfinite(p.eta)
                  ? metric + " is no longer expected to reach " + Readable(rule.threshold) + " soon" + where() +
                        ": ~" + Duration(p.eta) + " at the trend now (" + PerHour(p.slope) + "), past 1.5 x " +
                        Duration(rule.forecast_s)
                  : metric + " no longer heads for " + Readable(rule.threshold) + where() + ": the trend turned (" +
                        PerHour(p.slope) + " over the last " + Duration(p.span_s) + ")";
      }
    } else {
      // Too few points since a break: a fall away from the threshold (a reset, a clean-up) ends
      // the forecast; otherwise it stands until there is a trend again.
      holds = firing && !p.broke;
      if (firing && p.broke) {
        why = metric + " fell back to " + Readable(p.level) + where() +
              " (a reset or a clean-up): no trend towards " + Readable(rule.threshold) + " any more";
      }
    }
  } else {
    auto& change = std::get<ChangeTracker>(w->state);
    const ChangeTracker::Event event = change.Observe(
        ts, value,
        ChangeParams{rule.change, rule.shift, rule.change_accept_s, model.anomaly_baseline_s, model.anomaly_min_samples});
    if (event == ChangeTracker::Event::kChanged) {
      // A step to a level the metric takes at this hour every day (a nightly job) is routine.
      const MetricBaseline* baseline = FindBaseline(metric);
      if (baseline != nullptr && baseline->RoutineAt(ts, change.after())) change.Dismiss();
    }
    holds = change.changed();
    if (event == ChangeTracker::Event::kReturned) {
      why = metric + " returned to its level before the change (" + Readable(change.before()) + ")" + where();
    } else if (event == ChangeTracker::Event::kAccepted) {
      why = metric + ": the new level " + Readable(change.level()) + " has lasted " + Duration(rule.change_accept_s) +
            " and is now its level" + where();
    }
  }
  if (!holds && existing == nullptr) return std::nullopt;
  Condition& c = existing != nullptr ? *existing : FindCondition(r, metric, rules);
  // The rule's own test asked for persistence already: one judgement opens, one clears.
  Update(c, holds, shown, ts, 1, 0, 1);
  Key key = KeyOf(c, rules);
  key.why = std::move(why);
  return key;
}

ServerTwin::Watch* ServerTwin::WatchOf(uint16_t r, const std::string& metric, const RuleSet& rules) {
  if (Watch* found = const_cast<Watch*>(FindWatch(r, metric))) return found;
  if (watches_.size() >= static_cast<size_t>(std::max(0, rules.config().max_metrics))) return nullptr;
  const Rule& rule = rules.rule(r);
  Watch w;
  w.metric = metric;
  w.rule_id = RuleSet::Identity(rule);
  w.rule = r;
  if (rule.watches_change()) w.state = ChangeTracker();
  auto at = std::lower_bound(watches_.begin(), watches_.end(), metric,
                             [](const Watch& x, const std::string& m) { return x.metric < m; });
  return &*watches_.insert(at, std::move(w));
}

const ServerTwin::Watch* ServerTwin::FindWatch(uint16_t r, const std::string& metric) const {
  auto it = std::lower_bound(watches_.begin(), watches_.end(), metric,
                             [](const Watch& w, const std::string& m) { return w.metric < m; });
  for (; it != watches_.end() && it->metric == metric; ++it) {
    if (it->rule == r) return &*it;
  }
  return nullptr;
}

std::vector<ForesightView> ServerTwin::Foresight(const RuleSet& rules) const {
  std::vector<ForesightView> views;
  for (const Watch& w : watches_) {
    if (w.rule >= rules.config().rules.size()) continue;
    const Rule& rule = rules.rule(w.rule);
    ForesightView v;
    v.metric = w.metric;
    for (const Condition& c : conditions_) {
      if (c.rule == w.rule && c.metric == w.metric) v.firing = c.firing;
    }
    if (const auto* trend = std::get_if<TrendTracker>(&w.state)) {
      v.kind = rule.kind;
      v.forecast = true;
      v.op = rule.op;
      v.threshold = rule.threshold;
      v.forecast_s = rule.forecast_s;
      v.projection = trend->Project(rule.threshold, rule.op);
      const double horizon = ForecastHorizon(rule);
      v.projection.eta = std::min(v.projection.eta, horizon);
      v.projection.eta_low = std::min(v.projection.eta_low, horizon);
      v.projection.eta_high = std::min(v.projection.eta_high, horizon);
    } else if (const auto* change = std::get_if<ChangeTracker>(&w.state)) {
      v.kind = kChange;
      v.direction = rule.change;
      v.learning = static_cast<int>(change->samples()) < std::max(2, rules.config().anomaly_min_samples);
      v.changed = change->changed();
      v.up = change->up();
      v.level = change->level();
      if (v.changed) {
        v.before = change->before();
        v.after = change->after();
        v.changed_at = change->changed_at();
      }
    }
    views.push_back(std::move(v));
  }
  return views;
}

MetricBaseline* ServerTwin::BaselineOf(const std::string& metric, const ModelConfig& model) {
  if (MetricBaseline* found = const_cast<MetricBaseline*>(FindBaseline(metric))) return found;
  if (baselines_.size() >= static_cast<size_t>(std::max(0, model.max_metrics))) return nullptr;
  auto at = std::lower_bound(baselines_.begin(), baselines_.end(), metric,
                             [](const Baseline& b, const std::string& m) { return b.metric < m; });
  return &baselines_.insert(at, Baseline{metric, MetricBaseline()})->baseline;
}

const MetricBaseline* ServerTwin::FindBaseline(const std::string& metric) const {
  auto it = std::lower_bound(baselines_.begin(), baselines_.end(), metric,
                             [](const Baseline& b, const std::string& m) { return b.metric < m; });
  return it != baselines_.end() && it->metric == metric ? &it->baseline : nullptr;
}

void ServerTwin::BindRules(const RuleSet& rules, double now, Effects& out) {
  const ModelConfig& model = rules.config();
  std::vector<Condition> kept;
  for (Condition& c : conditions_) {
    if (c.rule == kAnomalyRule) {
      if (model.anomaly_z > 0) kept.push_back(std::move(c));
      continue;
    }
    // State from before rule identities were stored: trust the index once, as it was saved.
    if (c.rule_id.empty() && c.rule < model.rules.size()) c.rule_id = RuleSet::Identity(rules.rule(c.rule));
    const int index = rules.IndexOf(c.rule_id);
    if (index < 0) continue;  // the rule was removed or changed what it watches
    c.rule = static_cast<uint16_t>(index);
    kept.push_back(std::move(c));
  }
  conditions_ = std::move(kept);
  if (model.anomaly_z <= 0) baselines_.clear();
  // A watch follows its rule by identity; a rule that is gone takes its watches along, and a
  // watch whose kind does not fit its rule any more (a forecast rule that became a change rule
  // under the same identity cannot happen: the identity says which) is dropped.
  std::vector<Watch> watching;
  for (Watch& w : watches_) {
    const int index = rules.IndexOf(w.rule_id);
    if (index < 0) continue;
    const Rule& rule = rules.rule(static_cast<size_t>(index));
    if (rule.forecast() != std::holds_alternative<TrendTracker>(w.state)) continue;
    w.rule = static_cast<uint16_t>(index);
    watching.push_back(std::move(w));
  }
  watches_ = std::move(watching);
  const size_t open_before = open_.size();
  for (size_t i = 0; i < open_.size();) {
    const std::string& kind = open_[i].kind;
    const std::string& key = open_keys_[i];
    bool held = kind == kSilent || kind == kClockSkew || IsControlKind(kind);
    for (const Condition& c : conditions_) held = held || (c.firing && KeyOf(c, rules).key == key);
    // A flapping incident whose condition cleared waits, open, for its stable stretch.
    held = held || (open_[i].flapping && StillRuled(key, rules));
    if (held) {
      ++i;
      continue;
    }
    Resolve(i, kind + " on server " + id_ + ": the rule that opened it was removed or changed (configuration)", now,
            out);
  }
  if (open_.size() != open_before) {
    TellRack(rack_.str(), true, now, out);
    PublishHealthIfChanged(now, out);
  }
}

bool ServerTwin::OnControlCondition(const ControlCondition& msg, double now, const ModelConfig& model,
                                    Effects& out) {
  if (!commissioned_ || !IsControlKind(msg.kind)) return false;
  auto it = std::find(open_keys_.begin(), open_keys_.end(), msg.kind);
  if (msg.open == (it != open_keys_.end())) return false;
  if (msg.open) {
    Open(Key{msg.kind, msg.kind, {}}, Severity::kWarning, Details{msg.summary, {}, {}}, std::string(), now, now, model,
         out);
  } else {
    Resolve(static_cast<size_t>(it - open_keys_.begin()),
            msg.summary.empty() ? msg.kind + " on server " + id_ + " is over" : msg.summary, now, out);
  }
  TellRack(rack_.str(), true, now, out);
  PublishHealthIfChanged(now, out);
  return true;
}

void ServerTwin::SetMaintenance(bool on, double now, Effects& out) {
  if (on == maintenance_) return;
  maintenance_ = on;
  if (!on) last_heard_ = std::max(last_heard_, now);
  if (commissioned_) TellRack(rack_.str(), true, now, out);
  PublishHealthIfChanged(now, out);
}

void ServerTwin::OnTimer(double now, const ModelConfig& model, Effects& out) {
  if (!commissioned_ || maintenance_) return;
  if (std::find(open_keys_.begin(), open_keys_.end(), kSilent) != open_keys_.end()) return;
  char buf[96];
  std::snprintf(buf, sizeof buf, "no report from server %s for %g s", id_.c_str(), model.heartbeat_timeout_s);
  Open(Key{kSilent, kSilent, {}}, Severity::kCritical, Details{std::string(buf) + " (rack " + rack_.str() + ")", {}, {}},
       std::string(), now, now, model, out);
  TellRack(rack_.str(), true, now, out);
  PublishHealthIfChanged(now, out);
}

MemberStatus ServerTwin::Membership() const {
  MemberStatus status;
  status.server = id_;
  status.member = true;
  status.maintenance = maintenance_;
  for (const Incident& inc : open_) status.open.push_back({inc.kind, inc.id, inc.severity, inc.opened_at});
  return status;
}

void ServerTwin::TellRack(const std::string& rack, bool member, double now, Effects& out) const {
  MemberStatus status;
  if (member) {
    status = Membership();
  } else {
    status.server = id_;
    status.member = false;
    status.maintenance = maintenance_;
  }
  out.sends.push_back(Envelope{TwinAddress{Level::kRack, rack}, now, std::move(status)});
}

void ServerTwin::PublishHealthIfChanged(double now, Effects& out) {
  std::vector<std::string> open;
  open.reserve(open_.size());
  for (const Incident& inc : open_) open.push_back(inc.id);
  HealthUpdate h;
  h.level = Level::kServer;
  h.subject = id_;
  h.status = status();
  h.open = std::move(open);
  h.updated_at = now;
  h.rack = rack_.str();
  h.maintenance = maintenance_;
  if (health_.Changed(h)) out.health.push_back(std::move(h));
}

size_t ServerTwin::ApproxBytes() const {
  auto heap = [](const std::string& s) { return s.capacity() > 15 ? s.capacity() + 1 : 0; };
  size_t n = sizeof(*this) + heap(id_) + window_.HeapBytes();
  n += conditions_.capacity() * sizeof(Condition) + open_.capacity() * sizeof(Incident) +
       open_keys_.capacity() * sizeof(std::string) + rack_incidents_.capacity() * sizeof(IncidentRef) +
       flaps_.capacity() * sizeof(FlapTrack) + exact_.capacity() * sizeof(ExactValue) +
       baselines_.capacity() * sizeof(Baseline) + watches_.capacity() * sizeof(Watch);
  return n;
}

}  // namespace dctwin
