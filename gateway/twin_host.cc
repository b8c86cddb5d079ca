#include "gateway/twin_host.h"

#include <spdlog/spdlog.h>

#include <utility>
#include <variant>

namespace dctwin {

TwinHost::TwinHost(size_t shard, const ModelConfig& model, HostOptions options, ShardPool<Envelope>& pool,
                   AlertPublisher& alerts, DeadLetters& dead_letters)
    : shard_(shard), options_(std::move(options)), pool_(pool), alerts_(alerts), dead_letters_(dead_letters),
      rules_(model) {}

void TwinHost::OnStart(double now) {
  if (!Owns(TwinAddress{Level::kDatacenter, options_.datacenter})) return;
  datacenter_ = std::make_unique<DatacenterTwin>(options_.datacenter);
  counters_.datacenters.store(1, std::memory_order_relaxed);
  Effects out;
  datacenter_->Start(now, out);
  Apply(out);
}

void TwinHost::Handle(Envelope& env) {
  Effects out;
  switch (env.to.level) {
    case Level::kServer: HandleServer(env, out); break;
    case Level::kRack: HandleRack(env, out); break;
    case Level::kDatacenter: HandleDatacenter(env, out); break;
  }
  Apply(out);
}

TwinHost::ServerSlot& TwinHost::CommissionSlot(const std::string& id, const std::string& rack, double now,
                                               Effects& out) {
  auto it = servers_.find(id);
  if (it == servers_.end()) {
    it = servers_.emplace(id, ServerSlot(ServerTwin(id, options_.datacenter))).first;
    it->second.generation = ++next_generation_;
    counters_.servers.store(static_cast<int64_t>(servers_.size()), std::memory_order_relaxed);
    spdlog::debug("server {} commissioned into rack {}", id, rack);
  }
  it->second.twin.OnCommission(Commission{rack}, now, out);
  Arm(id, it->second);
  return it->second;
}

void TwinHost::HandleServer(Envelope& env, Effects& out) {
  const std::string& id = env.to.id;
  if (auto* c = std::get_if<Commission>(&env.msg)) {
    CommissionSlot(id, c->rack, env.now, out);
    return;
  }
  auto it = servers_.find(id);
  if (auto* report = std::get_if<Report>(&env.msg)) {
    if (it == servers_.end()) {
      if (!options_.auto_commission) {
        dead_letters_.Reject(RejectReason::kUncommissioned, options_.prefix + "/metrics/" + id,
                             "server " + id + " is not commissioned; report dropped", "");
        return;
      }
      ServerSlot& slot = CommissionSlot(id, options_.default_rack, env.now, out);
      slot.twin.OnReport(*report, env.now, rules_, out);
      return;
    }
    it->second.twin.OnReport(*report, env.now, rules_, out);
    Arm(id, it->second);
    return;
  }
  if (it == servers_.end()) {
    if (std::holds_alternative<Decommission>(env.msg)) spdlog::info("decommission of unknown server {} ignored", id);
    return;  // a late rack notice for a server that is gone
  }
  if (std::holds_alternative<Decommission>(env.msg)) {
    it->second.twin.OnDecommission(env.now, out);
    servers_.erase(it);
    counters_.servers.store(static_cast<int64_t>(servers_.size()), std::memory_order_relaxed);
    spdlog::debug("server {} decommissioned", id);
  } else if (auto* notice = std::get_if<RackIncidents>(&env.msg)) {
    it->second.twin.OnRackIncidents(*notice, env.now, out);
  }
}

void TwinHost::HandleRack(Envelope& env, Effects& out) {
  const std::string& id = env.to.id;
  auto it = racks_.find(id);
  if (auto* status = std::get_if<MemberStatus>(&env.msg)) {
    if (it == racks_.end()) {
      if (!status->member) return;
      it = racks_.emplace(id, RackTwin(id, options_.datacenter)).first;
    }
    it->second.OnMemberStatus(*status, env.now, rules_.config(), out);
  } else if (auto* notice = std::get_if<DatacenterIncidents>(&env.msg)) {
    if (it == racks_.end()) return;
    it->second.OnDatacenterIncidents(*notice, env.now, out);
  }
  if (it != racks_.end() && it->second.Empty()) racks_.erase(it);
  counters_.racks.store(static_cast<int64_t>(racks_.size()), std::memory_order_relaxed);
}

void TwinHost::HandleDatacenter(Envelope& env, Effects& out) {
  if (!datacenter_ || env.to.id != datacenter_->id()) return;
  if (auto* status = std::get_if<RackStatus>(&env.msg)) {
    datacenter_->OnRackStatus(*status, env.now, rules_.config(), out);
  }
}

void TwinHost::Arm(const std::string& id, ServerSlot& slot) {
  if (slot.armed || !slot.twin.commissioned()) return;
  slot.armed = true;
  timers_.push(TimerEntry{slot.twin.SilenceDeadline(rules_.config()), slot.generation, id});
}

void TwinHost::Tick(double now) {
  // Entries are not moved when a report pushes a deadline out; a popped entry whose twin has a
  // later deadline is pushed again. That keeps the per-report cost at a comparison.
  while (!timers_.empty() && timers_.top().deadline <= now) {
    TimerEntry entry = timers_.top();
    timers_.pop();
    auto it = servers_.find(entry.server);
    if (it == servers_.end() || it->second.generation != entry.generation) continue;
    ServerSlot& slot = it->second;
    slot.armed = false;
    const double deadline = slot.twin.SilenceDeadline(rules_.config());
    if (deadline > now) {
      Arm(entry.server, slot);
      continue;
    }
    Effects out;
    slot.twin.OnTimer(now, rules_.config(), out);
    Apply(out);
  }
}

void TwinHost::Apply(Effects& out) {
  for (const IncidentEvent& e : out.events) {
    counters_.open_incidents.fetch_add(e.state == IncidentState::kOpen ? 1 : -1, std::memory_order_relaxed);
    alerts_.PublishEvent(e);
  }
  for (const HealthUpdate& h : out.health) alerts_.PublishHealth(h);
  for (Envelope& s : out.sends) {
    const size_t hash = s.to.Hash();
    pool_.PostInternal(hash, std::move(s));
  }
  if (out.report_applied) counters_.messages_in.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace dctwin
