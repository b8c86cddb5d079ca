#include "twins/twin_registry.h"

#include <utility>
#include <variant>

namespace dctwin {

TwinRegistry::TwinRegistry(const ModelConfig& model, RegistryOptions options)
    : options_(std::move(options)), rules_(model) {}

void TwinRegistry::StartDatacenter(double now, Effects& out) {
  datacenter_ = std::make_unique<DatacenterTwin>(options_.datacenter);
  datacenter_->Start(now, out);
}

const ServerTwin* TwinRegistry::server(const std::string& id) const {
  auto it = servers_.find(id);
  return it == servers_.end() ? nullptr : &it->second.twin;
}

const RackTwin* TwinRegistry::rack(const std::string& id) const {
  auto it = racks_.find(id);
  return it == racks_.end() ? nullptr : &it->second;
}

TwinRegistry::Outcome TwinRegistry::Handle(const Envelope& env, Effects& out) {
  if (auto* query = std::get_if<Query>(&env.msg)) return HandleQuery(env, *query, out);
  switch (env.to.level) {
    case Level::kServer:
      return HandleServer(env, out);
    case Level::kRack:
      HandleRack(env, out);
      return Outcome::kApplied;
    case Level::kDatacenter:
      if (!datacenter_ || env.to.id != datacenter_->id()) return Outcome::kIgnored;
      if (auto* status = std::get_if<RackStatus>(&env.msg)) {
        datacenter_->OnRackStatus(*status, env.now, rules_.config(), out);
      }
      return Outcome::kApplied;
  }
  return Outcome::kIgnored;
}

TwinRegistry::Outcome TwinRegistry::HandleQuery(const Envelope& env, const Query& query, Effects& out) {
  QueryReply reply;
  reply.query = query;
  reply.subject = env.to.id;
  switch (env.to.level) {
    case Level::kServer:
      if (const ServerTwin* s = server(env.to.id)) {
        ServerView view = s->View();
        view.window_s = rules_.config().window_s;
        reply.view = std::move(view);
        reply.found = true;
      }
      break;
    case Level::kRack:
      if (const RackTwin* r = rack(env.to.id)) {
        reply.view = r->View();
        reply.found = true;
      }
      break;
    case Level::kDatacenter:
      if (datacenter_ && datacenter_->id() == env.to.id) {
        reply.view = datacenter_->View();
        reply.found = true;
      }
      break;
  }
  out.replies.push_back(std::move(reply));
  return Outcome::kApplied;
}

TwinRegistry::ServerSlot& TwinRegistry::Commission(const std::string& id, const std::string& rack, double now,
                                                   Effects& out) {
  auto it = servers_.find(id);
  if (it == servers_.end()) {
    it = servers_.emplace(id, ServerSlot(ServerTwin(id, options_.datacenter, rules_.config()))).first;
    it->second.generation = ++next_generation_;
  }
  it->second.twin.OnCommission(dctwin::Commission{rack}, now, out);
  Arm(id, it->second);
  return it->second;
}

TwinRegistry::Outcome TwinRegistry::HandleServer(const Envelope& env, Effects& out) {
  const std::string& id = env.to.id;
  if (auto* c = std::get_if<dctwin::Commission>(&env.msg)) {
    Commission(id, c->rack, env.now, out);
    return Outcome::kApplied;
  }
  auto it = servers_.find(id);
  if (auto* report = std::get_if<Report>(&env.msg)) {
    if (it == servers_.end()) {
      if (!options_.auto_commission) return Outcome::kUncommissioned;
      ServerSlot& slot = Commission(id, options_.default_rack, env.now, out);
      slot.twin.OnReport(*report, env.now, rules_, out);
      return out.rejected.empty() ? Outcome::kApplied : Outcome::kRejected;
    }
    it->second.twin.OnReport(*report, env.now, rules_, out);
    Arm(id, it->second);
    return out.rejected.empty() ? Outcome::kApplied : Outcome::kRejected;
  }
  if (it == servers_.end()) return Outcome::kIgnored;  // decommission of an unknown server, a late notice
  if (std::holds_alternative<Decommission>(env.msg)) {
    it->second.twin.OnDecommission(env.now, out);
    servers_.erase(it);
  } else if (auto* notice = std::get_if<RackIncidents>(&env.msg)) {
    it->second.twin.OnRackIncidents(*notice, env.now, out);
  }
  return Outcome::kApplied;
}

void TwinRegistry::HandleRack(const Envelope& env, Effects& out) {
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
}

void TwinRegistry::Arm(const std::string& id, ServerSlot& slot) {
  if (slot.armed || !slot.twin.commissioned()) return;
  slot.armed = true;
  timers_.push(TimerEntry{slot.twin.SilenceDeadline(rules_.config()), slot.generation, id});
}

void TwinRegistry::FireTimers(double now, Effects& out) {
  // A report does not move its server's heap entry; an entry that comes due while its twin's
  // deadline has moved on is pushed again. That keeps the per-report cost at one comparison.
  while (!timers_.empty() && timers_.top().deadline <= now) {
    TimerEntry entry = timers_.top();
    timers_.pop();
    auto it = servers_.find(entry.server);
    if (it == servers_.end() || it->second.generation != entry.generation) continue;
    ServerSlot& slot = it->second;
    slot.armed = false;
    if (slot.twin.SilenceDeadline(rules_.config()) > now) {
      Arm(entry.server, slot);
      continue;
    }
    slot.twin.OnTimer(now, rules_.config(), out);  // silent now; the next report arms it again
  }
}

}  // namespace dctwin
