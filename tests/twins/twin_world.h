// TwinWorld: a whole small datacenter in one TwinRegistry, with the messages between twins
// delivered synchronously in the order they were sent. Tests the domain with plain calls and a
// clock the test sets.
#pragma once

#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "twins/twin_registry.h"

namespace dctwin::testing {

class TwinWorld {
 public:
  explicit TwinWorld(ModelConfig model = DefaultModel(), bool auto_commission = false)
      : registry_(model, Options(auto_commission)) {
    Effects out;
    registry_.StartDatacenter(now, out);
    Collect(out);
  }

  static ModelConfig DefaultModel() {
    ModelConfig m;
    m.rules = DefaultRules();
    return m;
  }

  double now = 1000;
  double mono = 0;  // > 0: a monotonic clock apart from `now` (clock-step tests)
  std::vector<IncidentEvent> events;
  std::vector<HealthUpdate> health;
  int uncommissioned = 0;

  void Commission(const std::string& server, const std::string& rack) {
    Send(Envelope{{Level::kServer, server}, now, dctwin::Commission{rack}});
  }
  void Decommission(const std::string& server) {
    Send(Envelope{{Level::kServer, server}, now, dctwin::Decommission{}});
  }
  // One report stamped `now`; the clock then moves on by `step` seconds.
  void Report(const std::string& server, std::vector<std::pair<std::string, double>> metrics, double step = 10) {
    dctwin::Report r;
    r.ts = now;
    r.metrics = std::move(metrics);
    Send(Envelope{{Level::kServer, server}, now, std::move(r)});
    now += step;
  }
  // One report with its own timestamp, received at `now`.
  void ReportAt(const std::string& server, double ts, std::vector<std::pair<std::string, double>> metrics) {
    dctwin::Report r;
    r.ts = ts;
    r.metrics = std::move(metrics);
    Send(Envelope{{Level::kServer, server}, now, std::move(r)});
  }
  int applied = 0;
  int late = 0;
  size_t metrics_ignored = 0;

  void Query(Level level, const std::string& id, QueryKind kind) {
    dctwin::Query q;
    q.kind = kind;
    q.reply_token = 41;
    Send(Envelope{{level, id}, now, std::move(q)});
  }
  void Storm(bool active, int silent, int total) {
    Send(Envelope{{Level::kDatacenter, "dc1"}, now, SilenceStorm{active, silent, total}});
  }
  std::vector<QueryReply> replies;
  int rejected = 0;

  void UpdateModel(const ModelConfig& model) {
    Effects out;
    registry_.UpdateModel(model, now, out);
    Collect(out);
    Drain();
  }

  void SetMaintenance(std::vector<Silence> active) {
    Effects out;
    registry_.SetMaintenance(std::make_shared<const std::vector<Silence>>(std::move(active)), now, out);
    Collect(out);
    Drain();
  }

  void Timers(bool hold = false) {
    Effects out;
    registry_.FireTimers(now, mono > 0 ? mono : now, hold, out);
    Collect(out);
    Drain();
  }

  const TwinRegistry& registry() const { return registry_; }
  // Restore: decode saved twins into registry(), then FinishRestore().
  TwinRegistry& restoring() { return registry_; }
  void FinishRestore() {
    Effects out;
    registry_.FinishRestore(now, now, now, out);
    Collect(out);
    Drain();
  }
  // Delivers messages from outside the world (as the gateway posts them), and what they cause.
  void Deliver(std::vector<Envelope> envs) {
    for (Envelope& e : envs) queue_.push_back(std::move(e));
    Drain();
  }
  const ServerTwin& server(const std::string& id) const { return *registry_.server(id); }
  const DatacenterTwin& dc() const { return *registry_.datacenter(); }

  // The contract's events (open, resolved) of one subject; UpdatesFor: its record updates.
  std::vector<IncidentEvent> EventsFor(Level level, const std::string& subject) const {
    std::vector<IncidentEvent> out;
    for (const auto& e : events) {
      if (e.level == level && e.subject == subject && e.state != IncidentState::kUpdated) out.push_back(e);
    }
    return out;
  }
  std::vector<IncidentEvent> UpdatesFor(Level level, const std::string& subject) const {
    std::vector<IncidentEvent> out;
    for (const auto& e : events) {
      if (e.level == level && e.subject == subject && e.state == IncidentState::kUpdated) out.push_back(e);
    }
    return out;
  }
  const HealthUpdate* LastHealth(Level level, const std::string& subject) const {
    for (auto it = health.rbegin(); it != health.rend(); ++it) {
      if (it->level == level && it->subject == subject) return &*it;
    }
    return nullptr;
  }

 private:
  static RegistryOptions Options(bool auto_commission) {
    RegistryOptions o;
    o.auto_commission = auto_commission;
    return o;
  }
  void Send(Envelope env) {
    if (mono > 0) env.mono = mono;
    queue_.push_back(std::move(env));
    Drain();
  }
  void Collect(Effects& out) {
    for (auto& e : out.events) events.push_back(e);
    for (auto& h : out.health) health.push_back(h);
    for (auto& s : out.sends) queue_.push_back(std::move(s));
    for (auto& r : out.replies) replies.push_back(std::move(r));
    applied += out.reports_applied;
    late += out.reports_late;
    metrics_ignored += out.metrics_ignored;
  }
  void Drain() {
    while (!queue_.empty()) {
      Envelope env = std::move(queue_.front());
      queue_.pop_front();
      Effects out;
      switch (registry_.Handle(env, out)) {
        case TwinRegistry::Outcome::kUncommissioned: ++uncommissioned; break;
        case TwinRegistry::Outcome::kRejected: ++rejected; break;
        default: break;
      }
      Collect(out);
    }
  }

  TwinRegistry registry_;
  std::deque<Envelope> queue_;
};

}  // namespace dctwin::testing
