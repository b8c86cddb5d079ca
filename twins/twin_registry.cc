#include "twins/twin_registry.h"

#include <algorithm>
#include <cmath>
#include <utility>
#include <variant>

namespace dctwin {

TwinRegistry::TwinRegistry(const ModelConfig& model, RegistryOptions options)
    : options_(std::move(options)), rules_(model) {}

void TwinRegistry::StartDatacenter(double now, Effects& out) {
  if (datacenter_ || !options_.datacenter_twin) return;  // restored from the store, or a pod
  datacenter_ = std::make_unique<DatacenterTwin>(options_.datacenter);
  datacenter_->set_notify_racks(options_.rack_twins);
  datacenter_->Start(now, out);
  MarkDirty(TwinAddress{Level::kDatacenter, options_.datacenter});
}

const ServerTwin* TwinRegistry::server(const std::string& id) const {
  auto it = servers_.find(id);
  return it == servers_.end() ? nullptr : &it->second.twin;
}

const RackTwin* TwinRegistry::rack(const std::string& id) const {
  auto it = racks_.find(id);
  return it == racks_.end() ? nullptr : &it->second;
}

void TwinRegistry::MarkDirty(const TwinAddress& address, const ServerTwin* server) {
  std::string key(1, static_cast<char>('0' + static_cast<int>(address.level)));
  key += address.id;
  auto [entry, added] = dirty_keys_.try_emplace(std::move(key), 0);
  if (added) dirty_.push_back(address);
  if (address.level != Level::kServer) return;
  if (server == nullptr) {
    auto it = servers_.find(address.id);
    if (it == servers_.end()) return;
    server = &it->second.twin;
  }
  // A twin marked again may have grown since (a commission, then its first wide report).
  const size_t bytes = server->ApproxBytes();
  if (bytes > entry->second) {
    dirty_server_bytes_ += bytes - entry->second;
    entry->second = bytes;
  }
}

void TwinRegistry::MarkSampled(const std::string& id, ServerSlot& slot, double now) {
  if (slot.sampled || options_.sample_flush_s <= 0) {
    if (options_.sample_flush_s <= 0) MarkDirty(TwinAddress{Level::kServer, id}, &slot.twin);
    return;
  }
  slot.sampled = true;
  ++sampled_count_;
  sampled_.emplace_back(id, now);
}

TwinRegistry::Dirty TwinRegistry::TakeDirty(double now, bool everything, size_t max_sampled) {
  dirty_keys_.clear();
  dirty_server_bytes_ = 0;
  Dirty out;
  out.changed = std::exchange(dirty_, {});
  if (datacenter_) out.datacenter_racks = datacenter_->TakeChangedRacks();
  out.rack_members = std::exchange(dropped_members_, {});
  for (const TwinAddress& a : out.changed) {
    if (a.level != Level::kRack) continue;
    auto it = racks_.find(a.id);
    if (it == racks_.end()) continue;
    for (std::string& server : it->second.TakeChangedMembers()) out.rack_members.emplace_back(a.id, std::move(server));
  }
  // A server saved now for another reason has its samples saved with it.
  for (const TwinAddress& a : out.changed) {
    if (a.level != Level::kServer) continue;
    auto it = servers_.find(a.id);
    if (it != servers_.end() && it->second.sampled) {
      it->second.sampled = false;
      --sampled_count_;
    }
  }
  while (!sampled_.empty() && (everything || sampled_.front().second <= now - options_.sample_flush_s)) {
    if (out.sampled.size() >= max_sampled) {
      out.more_sampled = true;
      break;
    }
    auto it = servers_.find(sampled_.front().first);
    if (it != servers_.end() && it->second.sampled) {
      it->second.sampled = false;
      --sampled_count_;
      out.sampled.push_back(TwinAddress{Level::kServer, it->first});
    }
    sampled_.pop_front();
  }
  return out;
}

ServerTwin* TwinRegistry::RestoreServer(const std::string& id) {
  auto it = servers_.find(id);
  if (it == servers_.end()) {
    it = servers_.emplace(id, ServerSlot(ServerTwin(id, options_.datacenter, rules_.config()))).first;
    it->second.generation = ++next_generation_;
  }
  return &it->second.twin;
}

RackTwin* TwinRegistry::RestoreRack(const std::string& id) {
  return &racks_.try_emplace(id, id, options_.datacenter).first->second;
}

GroupTwin* TwinRegistry::RestoreGroup(const std::string& id) {
  return &groups_.try_emplace(id, id, options_.datacenter).first->second;
}

const GroupTwin* TwinRegistry::group(const std::string& id) const {
  auto it = groups_.find(id);
  return it == groups_.end() ? nullptr : &it->second;
}

DatacenterTwin* TwinRegistry::RestoreDatacenter() {
  if (!datacenter_) {
    datacenter_ = std::make_unique<DatacenterTwin>(options_.datacenter);
    datacenter_->set_notify_racks(options_.rack_twins);
  }
  return datacenter_.get();
}

void TwinRegistry::UpdateModel(const ModelConfig& model, double now, Effects& out) {
  const ModelConfig old = rules_.config();
  rules_ = RuleSet(model);
  for (auto& [id, slot] : servers_) {
    const size_t before = out.events.size();
    slot.twin.BindRules(rules_, now, out);
    if (out.events.size() != before) MarkDirty(TwinAddress{Level::kServer, id});
  }
  // New correlation thresholds apply at once, not at the next change in a rack.
  if (old.rack_min_servers != model.rack_min_servers) {
    for (auto& [id, rack] : racks_) {
      const size_t before = out.events.size();
      rack.Recorrelate(now, rules_.config(), out);
      if (out.events.size() != before) MarkDirty(TwinAddress{Level::kRack, id});
    }
  }
  if (old.group_min_racks != model.group_min_racks || old.group_min_servers != model.group_min_servers) {
    for (auto& [id, group] : groups_) {
      const size_t before = out.events.size();
      group.Recorrelate(now, rules_.config(), out);
      if (out.events.size() != before) MarkDirty(TwinAddress{Level::kGroup, id});
    }
  }
  // Another inventory: every rack tells the groups it belongs to now (the groups it left hear of
  // it from their new definition).
  if (old.topology != model.topology) {
    group_sent_.clear();
    for (const auto& [id, rack] : racks_) SyncRackGroups(id, now, out);
  }
  if (datacenter_ && (old.datacenter_min_racks != model.datacenter_min_racks || old.topology != model.topology ||
                      old.group_min_racks != model.group_min_racks)) {
    const size_t before = out.events.size();
    datacenter_->Recorrelate(now, rules_.config(), out);
    if (out.events.size() != before) MarkDirty(TwinAddress{Level::kDatacenter, datacenter_->id()});
  }
}

bool TwinRegistry::InMaintenance(const std::string& id, const std::string& rack) const {
  if (!maintenance_) return false;
  for (const Silence& s : *maintenance_) {
    if (s.CoversServer(id, rack)) return true;
  }
  return false;
}

void TwinRegistry::ApplyMaintenance(const std::string& id, ServerSlot& slot, double now, Effects& out) {
  ServerTwin& twin = slot.twin;
  if (!twin.commissioned()) return;
  const bool on = InMaintenance(id, twin.rack());
  if (on == twin.maintenance()) return;
  const double heard = twin.last_heard();
  twin.SetMaintenance(on, now, out);
  NoteHeard(slot, heard);
  overdue_.erase(id);
  if (!on) Arm(id, slot);  // the heartbeat starts afresh
  MarkDirty(TwinAddress{Level::kServer, id});
}

void TwinRegistry::SetMaintenance(std::shared_ptr<const std::vector<Silence>> active, double now, Effects& out) {
  maintenance_ = std::move(active);
  for (auto& [id, slot] : servers_) ApplyMaintenance(id, slot, now, out);
}

void TwinRegistry::Forget(const TwinAddress& address) {
  switch (address.level) {
    case Level::kServer: {
      auto it = servers_.find(address.id);
      if (it == servers_.end()) break;
      if (it->second.sampled) --sampled_count_;
      servers_.erase(it);
      break;
    }
    case Level::kRack: racks_.erase(address.id); break;
    case Level::kGroup: groups_.erase(address.id); break;
    case Level::kDatacenter: datacenter_.reset(); break;
    case Level::kGateway: break;  // no twin
  }
}

void TwinRegistry::FinishRestore(double not_before, double now, double mono, Effects& out) {
  mono_ = mono;
  for (auto it = servers_.begin(); it != servers_.end();) {
    if (!it->second.twin.commissioned()) {
      it = servers_.erase(it);  // a decommissioned server's row should have been deleted
      continue;
    }
    it->second.armed = false;
    // The saved wall-clock time of the last sign of life, on the monotonic clock of this run.
    it->second.heard_mono = mono - std::max(0.0, now - it->second.twin.last_heard());
    Arm(it->first, it->second, mono + (not_before - now));
    // The rules may have been edited while the gateway was down.
    const size_t before = out.events.size();
    it->second.twin.BindRules(rules_, now, out);
    if (out.events.size() != before) MarkDirty(TwinAddress{Level::kServer, it->first});
    it->second.twin.RepublishHealth(now, out);
    ++it;
  }
  // Every start publishes every twin's health: the broker may hold an older one (a crash between
  // a commit and its release, a broker that lost its retained store), and the outbound queue
  // makes sure it ends up with these.
  for (auto& [id, rack] : racks_) {
    // A state saved before members had rows of their own: every member is saved as a row now.
    if (rack.TakeLegacyMembers()) MarkDirty(TwinAddress{Level::kRack, id});
    rack.RepublishHealth(now, out);
  }
  for (auto& [id, group] : groups_) group.RepublishHealth(now, out);
  if (datacenter_) {
    // A state saved before racks had rows of their own: every rack is saved as a row now.
    if (datacenter_->TakeLegacyRacks()) MarkDirty(TwinAddress{Level::kDatacenter, datacenter_->id()});
    datacenter_->RepublishHealth(now, out);
  }
  // The groups hear again what their racks have open (they may have missed the last change).
  for (const auto& [id, rack] : racks_) SyncRackGroups(id, now, out);
}

std::map<std::string, int64_t> TwinRegistry::OpenIncidentsByKind() const {
  std::map<std::string, int64_t> n;
  auto count = [&](Level level, const std::vector<Incident>& open) {
    for (const Incident& inc : open) ++n[std::string(LevelName(level)) + "/" + inc.kind];
  };
  if (datacenter_) count(Level::kDatacenter, datacenter_->open_incidents());
  for (const auto& [id, slot] : servers_) count(Level::kServer, slot.twin.open_incidents());
  for (const auto& [id, rack] : racks_) count(Level::kRack, rack.open_incidents());
  for (const auto& [id, group] : groups_) count(Level::kGroup, group.open_incidents());
  return n;
}

TwinRegistry::Outcome TwinRegistry::Handle(const Envelope& env, Effects& out) {
  mono_ = env.mono > 0 ? env.mono : env.now;
  if (auto* query = std::get_if<Query>(&env.msg)) return HandleQuery(env, *query, out);
  Outcome outcome = Outcome::kIgnored;
  switch (env.to.level) {
    case Level::kServer:
      outcome = HandleServer(env, out);
      break;
    case Level::kRack:
      HandleRack(env, out);
      outcome = Outcome::kApplied;
      break;
    case Level::kDatacenter:
      if (!datacenter_ || env.to.id != datacenter_->id()) break;
      if (auto* status = std::get_if<RackStatus>(&env.msg)) {
        datacenter_->OnRackStatus(*status, env.now, rules_.config(), out);
      } else if (auto* storm = std::get_if<SilenceStorm>(&env.msg)) {
        datacenter_->OnSilenceStorm(*storm, env.now, out);
      } else if (auto* pod = std::get_if<PodStatus>(&env.msg)) {
        datacenter_->OnPodStatus(*pod, env.now, env.mono > 0 ? env.mono : env.now, out);
      } else if (auto* conflict = std::get_if<RackConflict>(&env.msg)) {
        datacenter_->OnRackConflict(*conflict, env.now, out);
      }
      outcome = Outcome::kApplied;
      break;
    case Level::kGroup:
      HandleGroup(env, out);
      outcome = Outcome::kApplied;
      break;
    case Level::kGateway:
      break;  // no twin: the gateway's own incidents live in gateway/ops
  }
  // ApplyReport marks what a report changed; a part of a report waiting for the rest changes
  // nothing saved.
  if (outcome == Outcome::kApplied && !std::holds_alternative<Report>(env.msg)) MarkDirty(env.to);
  return outcome;
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
        view.foresight = s->Foresight(rules_);
        if (query.series) view.series = s->window().Series();
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
    case Level::kGroup:
      if (const GroupTwin* g = group(env.to.id)) {
        reply.view = g->View();
        reply.found = true;
      }
      break;
    case Level::kGateway:
      break;
  }
  if (!reply.found && !options_.answer_unknown) return Outcome::kIgnored;  // another gateway answers
  out.replies.push_back(std::move(reply));
  return Outcome::kApplied;
}

TwinRegistry::Outcome TwinRegistry::ApplyReport(std::unordered_map<std::string, ServerSlot>::iterator it,
                                                const std::string& id, const Report& report, double now,
                                                Effects& out) {
  if (it == servers_.end()) {
    if (!options_.auto_commission) return Outcome::kUncommissioned;
    Commission(id, options_.default_rack, now, out);
    out.provisioning.push_back({ProvisioningChange::Change::kCommissioned, id, options_.default_rack, {}, now});
    it = servers_.find(id);
  }
  const size_t events = out.events.size(), health = out.health.size(), sends = out.sends.size();
  const double heard = it->second.twin.last_heard();
  it->second.twin.OnReport(report, now, rules_, out);
  NoteHeard(it->second, heard);
  Arm(id, it->second);
  if (out.events.size() == events && out.health.size() == health && out.sends.size() == sends) {
    MarkSampled(id, it->second, now);  // only samples (and `for` progress) changed
  } else {
    MarkDirty(TwinAddress{Level::kServer, id}, &it->second.twin);
  }
  return out.rejected.empty() ? Outcome::kApplied : Outcome::kRejected;
}

TwinRegistry::ServerSlot& TwinRegistry::Commission(const std::string& id, const std::string& rack, double now,
                                                   Effects& out) {
  auto it = servers_.find(id);
  if (it == servers_.end()) {
    it = servers_.emplace(id, ServerSlot(ServerTwin(id, options_.datacenter, rules_.config()))).first;
    it->second.generation = ++next_generation_;
  }
  const double heard = it->second.twin.last_heard();
  it->second.twin.OnCommission(dctwin::Commission{rack}, now, out);
  NoteHeard(it->second, heard);
  Arm(id, it->second);
  ApplyMaintenance(id, it->second, now, out);
  return it->second;
}

TwinRegistry::Outcome TwinRegistry::HandleServer(const Envelope& env, Effects& out) {
  const std::string& id = env.to.id;
  auto it = servers_.find(id);
  if (auto* c = std::get_if<dctwin::Commission>(&env.msg)) {
    // The same commission again (a retained provisioning message, replayed at every subscribe)
    // changes nothing and writes nothing.
    if (it != servers_.end() && it->second.twin.commissioned() && it->second.twin.rack() == c->rack) {
      return Outcome::kIgnored;
    }
    const bool moved = it != servers_.end() && it->second.twin.commissioned();
    ProvisioningChange change{moved ? ProvisioningChange::Change::kMoved : ProvisioningChange::Change::kCommissioned, id,
                              c->rack, moved ? it->second.twin.rack() : std::string(), env.now};
    Commission(id, c->rack, env.now, out);
    out.provisioning.push_back(std::move(change));
    return Outcome::kApplied;
  }
  if (auto* report = std::get_if<Report>(&env.msg)) {
    if (it == servers_.end() && !options_.auto_commission) return Outcome::kUncommissioned;
    return ApplyReport(it, id, *report, env.now, out);
  }
  if (it == servers_.end()) return Outcome::kIgnored;  // decommission of an unknown server, a late notice
  if (std::holds_alternative<Decommission>(env.msg)) {
    out.provisioning.push_back({ProvisioningChange::Change::kDecommissioned, id, it->second.twin.rack(), {}, env.now});
    it->second.twin.OnDecommission(env.now, out);
    if (it->second.sampled) --sampled_count_;
    servers_.erase(it);
  } else if (auto* notice = std::get_if<RackIncidents>(&env.msg)) {
    it->second.twin.OnRackIncidents(*notice, env.now, out);
  } else if (auto* condition = std::get_if<ControlCondition>(&env.msg)) {
    if (!it->second.twin.OnControlCondition(*condition, env.now, rules_.config(), out)) return Outcome::kIgnored;
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
  } else if (auto* group = std::get_if<GroupIncidents>(&env.msg)) {
    if (it == racks_.end()) return;
    it->second.OnGroupIncidents(*group, env.now, out);
  }
  if (it != racks_.end() && it->second.Empty()) {
    for (std::string& server : it->second.TakeChangedMembers()) dropped_members_.emplace_back(id, std::move(server));
    racks_.erase(it);
  }
  SyncRackGroups(id, env.now, out);
}

void TwinRegistry::SyncRackGroups(const std::string& rack, double now, Effects& out) {
  const Topology* topology = rules_.config().topology.get();
  if (!options_.datacenter_twin || topology == nullptr) return;  // a pod: the site has the groups
  const std::vector<std::string>* groups = topology->GroupsOf(rack);
  if (groups == nullptr) return;
  auto it = racks_.find(rack);
  GroupMember member;
  if (it != racks_.end()) {
    member = it->second.BuildGroupMember();
  } else {
    member.rack = rack;
    member.exists = false;
  }
  auto sent = group_sent_.find(rack);
  if (sent != group_sent_.end() ? sent->second == member : !member.exists) return;
  for (const std::string& g : *groups) out.sends.push_back(Envelope{TwinAddress{Level::kGroup, g}, now, member});
  if (member.exists) {
    group_sent_[rack] = std::move(member);
  } else if (sent != group_sent_.end()) {
    group_sent_.erase(sent);
  }
}

void TwinRegistry::HandleGroup(const Envelope& env, Effects& out) {
  const std::string& id = env.to.id;
  auto it = groups_.find(id);
  if (auto* def = std::get_if<GroupDefinition>(&env.msg)) {
    if (it == groups_.end()) {
      if (def->racks.empty()) return;
      it = groups_.try_emplace(id, id, options_.datacenter).first;
    }
    it->second.OnDefinition(*def, env.now, rules_.config(), out);
  } else if (auto* member = std::get_if<GroupMember>(&env.msg)) {
    if (it == groups_.end()) {
      // Before its definition came (a start): the topology the shard has lists its racks.
      const Topology* topology = rules_.config().topology.get();
      const std::vector<std::string>* racks = topology != nullptr ? topology->RacksOf(id) : nullptr;
      if (racks == nullptr) return;
      it = groups_.try_emplace(id, id, options_.datacenter).first;
      it->second.OnDefinition(GroupDefinition{*racks}, env.now, rules_.config(), out);
    }
    it->second.OnMember(*member, env.now, rules_.config(), out);
  }
  if (it->second.Empty()) groups_.erase(it);
}

void TwinRegistry::Arm(const std::string& id, ServerSlot& slot, double not_before) {
  if (slot.armed || !slot.twin.commissioned()) return;
  slot.armed = true;
  timers_.push(TimerEntry{std::max(Deadline(slot), not_before), slot.generation, id});
}

void TwinRegistry::FireTimers(double now, double mono, bool hold, Effects& out) {
  mono_ = mono;
  if (datacenter_) {
    const size_t before = out.events.size();
    datacenter_->Tick(now, mono, out);
    if (out.events.size() != before) MarkDirty(TwinAddress{Level::kDatacenter, datacenter_->id()});
  }
  const double confirm = rules_.config().StormConfirmS();
  // A report does not move its server's heap entry; an entry that comes due while its twin's
  // deadline has moved on is pushed again. That keeps the per-report cost at one comparison.
  while (!timers_.empty() && timers_.top().deadline <= mono) {
    TimerEntry entry = timers_.top();
    timers_.pop();
    auto it = servers_.find(entry.server);
    if (it == servers_.end() || it->second.generation != entry.generation) continue;
    ServerSlot& slot = it->second;
    slot.armed = false;
    const double deadline = Deadline(slot);
    if (deadline > mono) {
      Arm(entry.server, slot);
      continue;
    }
    if (slot.twin.maintenance()) continue;  // re-armed when the maintenance ends
    overdue_.emplace(entry.server, deadline);
  }
  // Overdue servers are confirmed silent only after the confirmation time, and not at all while
  // held: the storm guard gets to see how many go quiet together.
  for (auto it = overdue_.begin(); it != overdue_.end();) {
    auto slot = servers_.find(it->first);
    if (slot == servers_.end() || Deadline(slot->second) > mono) {
      it = overdue_.erase(it);  // gone, or it reported (and a report re-armed it)
      continue;
    }
    if (hold || mono - it->second < confirm) {
      ++it;
      continue;
    }
    const size_t before = out.events.size();
    slot->second.twin.OnTimer(now, rules_.config(), out);  // silent now; the next report arms it again
    if (out.events.size() != before) MarkDirty(TwinAddress{Level::kServer, it->first});
    it = overdue_.erase(it);
  }
}

}  // namespace dctwin
