#include "twins/server_twin.h"

#include <algorithm>
#include <cstdio>
#include <utility>

namespace dctwin {

namespace {

constexpr const char* kSilent = "silent";

std::string FormatValue(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

}  // namespace

ServerTwin::ServerTwin(std::string id, std::string datacenter)
    : id_(std::move(id)), datacenter_(std::move(datacenter)) {}

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

void ServerTwin::OnCommission(const Commission& msg, double now, Effects& out) {
  if (commissioned_ && msg.rack == rack_) return;
  if (commissioned_) {
    TellRack(rack_, false, now, out);
    rack_incidents_.clear();
  } else {
    commissioned_ = true;
    heard_ = false;
    last_heard_ = now;
  }
  rack_ = msg.rack;
  TellRack(rack_, true, now, out);
  PublishHealthIfChanged(now, out);
}

void ServerTwin::OnDecommission(double now, Effects& out) {
  if (!commissioned_) return;
  while (!open_.empty()) {
    Resolve(open_.size() - 1, "server " + id_ + " was decommissioned", now, out);
  }
  TellRack(rack_, false, now, out);
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

ServerTwin::Condition& ServerTwin::FindCondition(uint16_t rule, const std::string& metric) {
  for (Condition& c : conditions_) {
    if (c.rule == rule && c.metric == metric) return c;
  }
  Condition c;
  c.rule = rule;
  c.metric = metric;
  conditions_.push_back(std::move(c));
  return conditions_.back();
}

void ServerTwin::OnReport(const Report& report, double now, RuleSet& rules, Effects& out) {
  if (!commissioned_) return;
  const size_t open_before = open_.size();
  heard_ = true;
  last_heard_ = now;
  for (size_t i = 0; i < open_.size(); ++i) {
    if (open_[i].kind == kSilent) {
      Resolve(i, "server " + id_ + " reports again", report.ts, out);
      break;
    }
  }

  std::vector<std::string> touched;
  for (const auto& [metric, value] : report.metrics) {
    for (uint16_t r : rules.RulesFor(metric)) {
      const Rule& rule = rules.rule(r);
      const bool holds = rule.Holds(value);
      bool exists = false;
      for (const Condition& c : conditions_) exists = exists || (c.rule == r && c.metric == metric);
      // A clear value of a condition that is not tracked changes nothing: skip the allocation.
      if (!holds && !exists) continue;
      Condition& c = FindCondition(r, metric);
      c.last_value = value;
      if (holds) {
        c.clear_count = 0;
        if (c.true_count == 0) c.first_true_ts = report.ts;
        if (c.true_count < UINT32_MAX) ++c.true_count;
        const bool met = rule.for_s > 0 ? (report.ts - c.first_true_ts >= rule.for_s)
                                        : (static_cast<int>(c.true_count) >= rule.for_reports);
        if (met) c.firing = true;
      } else {
        c.true_count = 0;
        if (c.firing && static_cast<int>(++c.clear_count) >= rules.ClearReports(r)) {
          c.firing = false;
          c.clear_count = 0;
        }
      }
      if (std::find(touched.begin(), touched.end(), rule.kind) == touched.end()) touched.push_back(rule.kind);
    }
  }
  for (const std::string& kind : touched) EvaluateKind(kind, report.ts, now, rules, out);
  conditions_.erase(std::remove_if(conditions_.begin(), conditions_.end(),
                                   [](const Condition& c) { return !c.firing && c.true_count == 0; }),
                    conditions_.end());

  if (open_.size() != open_before || !out.events.empty()) TellRack(rack_, true, now, out);
  PublishHealthIfChanged(now, out);
  out.report_applied = true;
}

void ServerTwin::EvaluateKind(const std::string& kind, double ts, double now, RuleSet& rules, Effects& out) {
  const Condition* firing = nullptr;
  Severity severity = Severity::kWarning;
  for (const Condition& c : conditions_) {
    const Rule& rule = rules.rule(c.rule);
    if (rule.kind != kind || !c.firing) continue;
    if (firing == nullptr || (rule.severity == Severity::kCritical && severity != Severity::kCritical)) {
      firing = &c;
    }
    severity = Worst(severity, rule.severity);
  }
  auto it = std::find_if(open_.begin(), open_.end(), [&](const Incident& i) { return i.kind == kind; });
  if (it == open_.end() && firing != nullptr) {
    const Rule& rule = rules.rule(firing->rule);
    std::string summary = firing->metric + " = " + FormatValue(firing->last_value) + " " +
                          std::string(CompareOpName(rule.op)) + " " + FormatValue(rule.threshold);
    if (rule.for_s > 0) {
      summary += " for " + FormatValue(rule.for_s) + " s";
    } else if (rule.for_reports > 1) {
      summary += " for " + std::to_string(rule.for_reports) + " reports";
    }
    summary += " on server " + id_ + " in rack " + rack_;
    Open(kind, severity, std::move(summary), ts, now, out);
  } else if (it != open_.end() && firing == nullptr && kind != kSilent) {
    Resolve(static_cast<size_t>(it - open_.begin()),
            kind + " cleared on server " + id_ + ": back within threshold", ts, out);
  }
}

void ServerTwin::Open(const std::string& kind, Severity severity, std::string summary, double at, double now,
                      Effects& out) {
  Incident inc;
  inc.id = MakeIncidentId(Level::kServer, id_, kind, now, ++seq_);
  inc.kind = kind;
  inc.severity = severity;
  inc.opened_at = at;
  inc.summary = std::move(summary);
  for (const IncidentRef& r : rack_incidents_) {
    if (r.kind == kind) inc.caused_by = r.id;
  }
  out.events.push_back(MakeEvent(inc, IncidentState::kOpen, at));
  open_.push_back(std::move(inc));
}

void ServerTwin::Resolve(size_t index, std::string summary, double at, Effects& out) {
  Incident inc = std::move(open_[index]);
  open_.erase(open_.begin() + static_cast<std::ptrdiff_t>(index));
  inc.summary = std::move(summary);
  out.events.push_back(MakeEvent(inc, IncidentState::kResolved, at));
}

IncidentEvent ServerTwin::MakeEvent(const Incident& incident, IncidentState state, double at) const {
  IncidentEvent e;
  e.id = incident.id;
  e.level = Level::kServer;
  e.subject = id_;
  e.rack = rack_;
  e.datacenter = datacenter_;
  e.kind = incident.kind;
  e.severity = incident.severity;
  e.state = state;
  e.opened_at = incident.opened_at;
  e.at = at;
  e.summary = incident.summary;
  e.caused_by = incident.caused_by;
  return e;
}

void ServerTwin::OnRackIncidents(const RackIncidents& msg, double now, Effects& out) {
  if (!commissioned_ || msg.rack != rack_) return;  // a late notice from a rack the server left
  rack_incidents_ = msg.open;
  for (Incident& inc : open_) {
    if (!inc.caused_by.empty()) continue;  // once correlated, an incident keeps its cause
    for (const IncidentRef& r : rack_incidents_) {
      if (r.kind == inc.kind) inc.caused_by = r.id;
    }
  }
  PublishHealthIfChanged(now, out);
}

void ServerTwin::OnTimer(double now, const ModelConfig& model, Effects& out) {
  if (!commissioned_ || now < SilenceDeadline(model)) return;
  for (const Incident& inc : open_) {
    if (inc.kind == kSilent) return;
  }
  char buf[96];
  std::snprintf(buf, sizeof buf, "no report from server %s for %g s", id_.c_str(), model.heartbeat_timeout_s);
  Open(kSilent, Severity::kCritical, std::string(buf) + " (rack " + rack_ + ")", now, now, out);
  TellRack(rack_, true, now, out);
  PublishHealthIfChanged(now, out);
}

void ServerTwin::TellRack(const std::string& rack, bool member, double now, Effects& out) const {
  MemberStatus status;
  status.server = id_;
  status.member = member;
  if (member) {
    for (const Incident& inc : open_) status.open.push_back({inc.kind, inc.id, inc.severity, inc.opened_at});
  }
  out.sends.push_back(Envelope{TwinAddress{Level::kRack, rack}, now, std::move(status)});
}

void ServerTwin::PublishHealthIfChanged(double now, Effects& out) {
  std::vector<std::string> open;
  open.reserve(open_.size());
  for (const Incident& inc : open_) open.push_back(inc.id);
  const HealthStatus s = status();
  if (health_published_ && s == published_status_ && open == published_open_ && rack_ == published_rack_) return;
  health_published_ = true;
  published_status_ = s;
  published_open_ = open;
  published_rack_ = rack_;
  HealthUpdate h;
  h.level = Level::kServer;
  h.subject = id_;
  h.status = s;
  h.open = std::move(open);
  h.updated_at = now;
  h.rack = rack_;
  out.health.push_back(std::move(h));
}

}  // namespace dctwin
