#include "twins/server_twin.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <utility>

namespace dctwin {

namespace {

constexpr const char* kSilent = "silent";
constexpr const char* kClockSkew = "clock_skew";
constexpr const char* kAnomaly = "anomaly";

std::string FormatValue(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
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
  if (c.rule == kAnomalyRule) return Key{std::string(kAnomaly) + ":" + c.metric, kAnomaly};
  const std::string& kind = rules.rule(c.rule).kind;
  return Key{kind, kind};
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
  // Rules and the anomaly check judge each value against the window as it was before this report.
  for (const auto& [metric, value] : report.metrics) {
    bool rated = false;
    for (uint16_t r : rules.RulesFor(metric)) {
      const Rule& rule = rules.rule(r);
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
    if (open_[i].flapping) touch(Key{open_keys_[i], open_[i].kind});
  }
  for (const Key& key : touched) EvaluateKey(key, report.ts, now, rules, out);
  conditions_.erase(std::remove_if(conditions_.begin(), conditions_.end(),
                                   [](const Condition& c) { return !c.firing && c.true_count == 0; }),
                    conditions_.end());

  if (open_.size() != open_before || !out.events.empty()) TellRack(rack_.str(), true, now, out);
  PublishHealthIfChanged(now, out);
  ++out.reports_applied;
}

std::string ServerTwin::Summary(const Condition& c, const RuleSet& rules) const {
  if (c.rule == kAnomalyRule) {
    const MetricBaseline* b = FindBaseline(c.metric);
    char buf[200];
    std::snprintf(buf, sizeof buf, " = %g is %.1f typical deviations (%g) from its baseline %g, outside its range at this hour",
                  c.last_value, c.detail, b ? b->deviation() : 0.0, b ? b->level() : 0.0);
    return c.metric + buf + " on server " + id_ + " in rack " + rack_.str();
  }
  const Rule& rule = rules.rule(c.rule);
  std::string summary = c.metric + (rule.rate ? " rises at " : " = ") + FormatValue(c.last_value) +
                        (rule.rate ? "/s " : " ") + std::string(CompareOpName(rule.op)) + " " +
                        FormatValue(rule.threshold);
  if (rule.for_s > 0) {
    summary += " for " + FormatValue(rule.for_s) + " s";
  } else if (rule.for_reports > 1) {
    summary += " for " + std::to_string(rule.for_reports) + " reports";
  }
  return summary + " on server " + id_ + " in rack " + rack_.str();
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
    Open(key, severity, Summary(*firing, rules), std::move(runbook), ts, now, model, out);
  } else if (it != open_keys_.end()) {
    Incident& inc = open_[static_cast<size_t>(it - open_keys_.begin())];
    if (firing != nullptr || (inc.flapping && holding)) {
      inc.stable_since = 0;  // a flapping incident's clear stretch starts over with any swing back
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
            key.kind + " cleared on server " + id_ + ": back within threshold", ts, out);
  }
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
    Open(Key{kClockSkew, kClockSkew}, Severity::kWarning,
         std::to_string(refused_in_a_row_) + " reports in a row from server " + id_ + " in rack " + rack_.str() +
             " were refused for their timestamps (" + FormatValue(std::fabs(ahead_s)) + side +
             " the gateway's clock): check the server's clock and NTP",
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

void ServerTwin::Open(const Key& key, Severity severity, std::string summary, std::string runbook, double at,
                      double now, const ModelConfig& model, Effects& out) {
  Incident inc;
  inc.id = MakeIncidentId(Level::kServer, id_, key.kind, now, ++seq_);
  inc.kind = key.kind;
  inc.severity = severity;
  inc.opened_at = at;
  inc.summary = std::move(summary);
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
  const size_t open_before = open_.size();
  for (size_t i = 0; i < open_.size();) {
    const std::string& kind = open_[i].kind;
    const std::string& key = open_keys_[i];
    bool held = kind == kSilent || kind == kClockSkew;
    for (const Condition& c : conditions_) held = held || (c.firing && KeyOf(c, rules).key == key);
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
  Open(Key{kSilent, kSilent}, Severity::kCritical, std::string(buf) + " (rack " + rack_.str() + ")", std::string(), now,
       now, model, out);
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

}  // namespace dctwin
