#include "twins/datacenter_twin.h"

#include <algorithm>
#include <iterator>
#include <set>
#include <utility>

namespace dctwin {

DatacenterTwin::DatacenterTwin(std::string id) : id_(std::move(id)) {}

void DatacenterTwin::Start(double now, Effects& out) { PublishHealthIfChanged(now, out); }

void DatacenterTwin::OnRackStatus(const RackStatus& msg, double now, const ModelConfig& model, Effects& out) {
  if (model.topology != topology_) Recount(model.topology);
  std::vector<std::string> touched;  // kinds whose racks with a rack incident changed
  auto it = racks_.find(msg.rack);
  if (msg.exists) {
    PutRack(msg, &touched);
  } else if (it != racks_.end()) {
    DropRack(it, &touched);
  }
  if (Correlate(touched, false, now, model, out)) NotifyRacks(now, out);
  PublishHealthIfChanged(now, out);
}

void DatacenterTwin::Recorrelate(double now, const ModelConfig& model, Effects& out) {
  Recount(model.topology);
  if (Correlate({}, true, now, model, out)) NotifyRacks(now, out);
  PublishHealthIfChanged(now, out);
}

void DatacenterTwin::NotifyRacks(double now, Effects& out) {
  if (!notify_racks_) return;
  // O(racks), but only when a datacenter incident opens or resolves.
  DatacenterIncidents notice;
  for (const Incident& inc : open_) notice.open.push_back({inc.kind, inc.id, inc.severity, inc.opened_at});
  for (const auto& [rack, status] : racks_) out.sends.push_back(Envelope{TwinAddress{Level::kRack, rack}, now, notice});
}

namespace {

// The worst severity of each kind among a rack's own incidents.
std::map<std::string, Severity> WorstByKind(const RackStatus& status) {
  std::map<std::string, Severity> worst;
  for (const IncidentRef& r : status.incidents) {
    auto [it, inserted] = worst.emplace(r.kind, r.severity);
    if (!inserted) it->second = Worst(it->second, r.severity);
  }
  return worst;
}

}  // namespace

void DatacenterTwin::Count(const RackStatus& status, int sign, std::vector<std::string>* touched) {
  if (!status.kinds.empty()) {
    if (sign > 0) {
      unhealthy_.insert(status.rack);
    } else {
      unhealthy_.erase(status.rack);
    }
    if (status.worst == Severity::kCritical) critical_racks_ += sign;
    for (const std::string& k : status.kinds) {
      if ((open_kinds_[k] += sign) == 0) open_kinds_.erase(k);
    }
  }
  const std::vector<std::string>* groups = topology_ ? topology_->GroupsOf(status.rack) : nullptr;
  for (const auto& [kind, severity] : WorstByKind(status)) {
    KindTally& tally = rack_kinds_[kind];
    if (sign > 0) {
      tally.racks.insert(status.rack);
    } else {
      tally.racks.erase(status.rack);
    }
    tally.by_severity[severity == Severity::kCritical ? 1 : 0] += sign;
    if (groups != nullptr) {
      for (const std::string& g : *groups) {
        if (!GroupCauses(g, kind)) continue;
        if ((tally.groups[g] += sign) == 0) tally.groups.erase(g);
      }
    }
    if (tally.racks.empty()) rack_kinds_.erase(kind);
    if (touched != nullptr) touched->push_back(kind);
  }
}

void DatacenterTwin::PutRack(RackStatus status, std::vector<std::string>* touched) {
  auto [it, fresh] = racks_.try_emplace(status.rack);
  if (!fresh) Count(it->second, -1, touched);
  it->second = std::move(status);
  Count(it->second, +1, touched);
  changed_racks_.insert(it->first);
}

void DatacenterTwin::DropRack(std::map<std::string, RackStatus>::iterator it, std::vector<std::string>* touched) {
  Count(it->second, -1, touched);
  changed_racks_.insert(it->first);
  racks_.erase(it);
}

void DatacenterTwin::Recount(std::shared_ptr<const Topology> topology) {
  topology_ = std::move(topology);
  rack_kinds_.clear();
  open_kinds_.clear();
  unhealthy_.clear();
  critical_racks_ = 0;
  for (const auto& [rack, status] : racks_) Count(status, +1, nullptr);
}

std::vector<std::string> DatacenterTwin::TakeChangedRacks() {
  std::vector<std::string> out(changed_racks_.begin(), changed_racks_.end());
  changed_racks_.clear();
  return out;
}

void DatacenterTwin::RestoreRack(RackStatus status) {
  const std::string rack = status.rack;
  PutRack(std::move(status), nullptr);
  changed_racks_.erase(rack);  // what was loaded is what the store holds
}

bool DatacenterTwin::TakeLegacyRacks() {
  if (!legacy_racks_) return false;
  legacy_racks_ = false;
  for (const auto& [rack, status] : racks_) changed_racks_.insert(rack);
  return true;
}

bool DatacenterTwin::KeepSiteIncident(const std::string& kind, bool active, Severity severity,
                                      const std::string& summary, double now, Effects& out) {
  auto it = std::find_if(open_.begin(), open_.end(), [&](const Incident& i) { return i.kind == kind; });
  if (active && it == open_.end()) {
    Incident inc;
    inc.id = MakeIncidentId(Level::kDatacenter, id_, kind, now, ++seq_);
    inc.kind = kind;
    inc.severity = severity;
    inc.opened_at = now;
    inc.summary = summary;
    out.events.push_back(MakeEvent(inc, IncidentState::kOpen, now));
    open_.push_back(std::move(inc));
  } else if (!active && it != open_.end()) {
    Incident inc = std::move(*it);
    open_.erase(it);
    inc.summary = summary;
    out.events.push_back(MakeEvent(inc, IncidentState::kResolved, now));
  } else {
    return false;
  }
  PublishHealthIfChanged(now, out);
  return true;
}

void DatacenterTwin::OnPodStatus(const PodStatus& msg, double now, double mono, Effects& out) {
  if (msg.bridge && !msg.online) {
    if (offline_pods_.count(msg.pod + "/bridge") == 0) suspect_bridges_.emplace(msg.pod, mono);
    return;
  }
  if (msg.bridge) suspect_bridges_.erase(msg.pod);
  ApplyPodStatus(msg, now, out);
}

void DatacenterTwin::Tick(double now, double mono, Effects& out) {
  for (auto it = suspect_bridges_.begin(); it != suspect_bridges_.end();) {
    if (mono - it->second < kBridgeConfirmS) {
      ++it;
      continue;
    }
    const PodStatus down{it->first, false, true};
    it = suspect_bridges_.erase(it);
    ApplyPodStatus(down, now, out);
  }
}

void DatacenterTwin::ApplyPodStatus(const PodStatus& msg, double now, Effects& out) {
  // One entry per pod whose gateway is offline ("pod") and per pod whose bridge is down
  // ("pod/bridge": ids have no '/'); the site cannot see such a pod's racks either way.
  const std::string key = msg.bridge ? msg.pod + "/bridge" : msg.pod;
  const size_t before = offline_pods_.size();
  if (msg.online) {
    offline_pods_.erase(key);
  } else {
    offline_pods_.insert(key);
  }
  if (offline_pods_.size() == before) return;
  std::string gateways, bridges;
  for (const std::string& p : offline_pods_) {
    std::string& list = p.ends_with("/bridge") ? bridges : gateways;
    list += (list.empty() ? "" : ", ") + p.substr(0, p.find('/'));
  }
  std::string what;
  if (!gateways.empty()) what = "pod gateway " + gateways + " is offline";
  if (!bridges.empty()) what += (what.empty() ? "" : "; ") + ("the bridge from pod " + bridges + " is down");
  const bool active = !offline_pods_.empty();
  KeepSiteIncident("pod_offline", active, Severity::kCritical,
                   active ? what + ": the health of its racks is not being updated (look at the pod's gateway, its "
                                   "broker and the bridge to the site)"
                          : (msg.bridge ? "the bridge from pod " + msg.pod + " is connected again"
                                        : "pod gateway " + msg.pod + " is back online"),
                   now, out);
}

void DatacenterTwin::OnRackConflict(const RackConflict& msg, double now, Effects& out) {
  const std::string pods = msg.owner + " and " + msg.other;
  if (msg.active) {
    auto [it, fresh] = conflicts_.try_emplace(msg.rack, pods);
    if (!fresh) return;  // reported once
  } else {
    auto it = conflicts_.find(msg.rack);
    if (it == conflicts_.end() || !it->second.ends_with(" and " + msg.other)) return;
    conflicts_.erase(it);
  }
  std::string list;
  for (const auto& [rack, who] : conflicts_) list += (list.empty() ? "" : "; ") + ("rack " + rack + " by " + who);
  const bool active = !conflicts_.empty();
  KeepSiteIncident("config", active, Severity::kWarning,
                   active ? "two pods publish the same rack (" + list +
                                "): only the first pod's reports count; fix the pods' rack assignment"
                          : "no rack is published by two pods any more",
                   now, out);
}

void DatacenterTwin::OnSilenceStorm(const SilenceStorm& msg, double now, Effects& out) {
  const std::string counts = std::to_string(msg.silent) + " of " + std::to_string(msg.total);
  KeepSiteIncident("silent_storm", msg.active, Severity::kCritical,
                   msg.active ? counts + " servers went silent at once: the broker or the network between the servers "
                                         "and the gateway is the likely cause; per-server silent incidents are held "
                                         "back while this is open"
                              : "servers report again (" + counts + " still silent, each with its own incident)",
                   now, out);
}

std::string DatacenterTwin::CoveringGroup(const KindTally& tally, const ModelConfig& model) const {
  const size_t n = tally.racks.size();
  if (topology_ == nullptr || n == 0 || static_cast<int>(n) < model.group_min_racks) return {};
  // A group that serves every one of the racks serves the first: only its groups can.
  const std::vector<std::string>* groups = topology_->GroupsOf(*tally.racks.begin());
  if (groups == nullptr) return {};
  for (const std::string& g : *groups) {  // sorted, as the topology keeps them
    auto it = tally.groups.find(g);
    if (it != tally.groups.end() && static_cast<size_t>(it->second) == n) return g;
  }
  return {};
}

bool DatacenterTwin::Correlate(const std::vector<std::string>& kinds, bool all, double now, const ModelConfig& model,
                               Effects& out) {
  // Why a kind does not make a datacenter incident (empty: it does).
  auto why_not = [&](const std::string& kind) -> std::string {
    auto it = rack_kinds_.find(kind);
    const int n = it == rack_kinds_.end() ? 0 : static_cast<int>(it->second.racks.size());
    if (it == rack_kinds_.end() || n < model.datacenter_min_racks) {
      return std::to_string(n) + " rack(s) of datacenter " + id_ + " still have " + kind +
             " rack incidents, below the datacenter threshold of " + std::to_string(model.datacenter_min_racks);
    }
    const std::string group = CoveringGroup(it->second, model);
    if (!group.empty()) {
      return "the " + std::to_string(n) + " racks with " + kind + " rack incidents are all on " + group +
             ", whose own incident says so";
    }
    return std::string();
  };
  std::set<std::string> check(kinds.begin(), kinds.end());
  if (all) {
    for (const auto& [kind, tally] : rack_kinds_) check.insert(kind);
    for (const Incident& inc : open_) check.insert(inc.kind);
  }
  bool changed = false;
  for (const std::string& kind : check) {
    if (kind == "silent_storm" || kind == "pod_offline" || kind == "config") continue;  // the site's own
    auto open = std::find_if(open_.begin(), open_.end(), [&](const Incident& i) { return i.kind == kind; });
    std::string why = why_not(kind);
    if (open != open_.end() && !why.empty()) {
      Incident inc = std::move(*open);
      open_.erase(open);
      inc.summary = std::move(why);
      out.events.push_back(MakeEvent(inc, IncidentState::kResolved, now));
      changed = true;
    } else if (open == open_.end() && why.empty()) {
      const KindTally& tally = rack_kinds_.at(kind);
      Incident inc;
      inc.id = MakeIncidentId(Level::kDatacenter, id_, kind, now, ++seq_);
      inc.kind = kind;
      inc.severity = tally.worst();
      inc.opened_at = now;
      inc.summary = std::to_string(tally.racks.size()) + " racks of datacenter " + id_ + " have " + kind +
                    " rack incidents: likely a facility-wide cause (power, cooling or core network)";
      out.events.push_back(MakeEvent(inc, IncidentState::kOpen, now));
      open_.push_back(std::move(inc));
      changed = true;
    }
  }
  return changed;
}

std::vector<const RackStatus*> DatacenterTwin::UnhealthyRacks() const {
  std::vector<const RackStatus*> out;
  out.reserve(unhealthy_.size());
  for (const std::string& rack : unhealthy_) out.push_back(&racks_.at(rack));
  return out;
}

DatacenterView DatacenterTwin::View() const {
  DatacenterView v;
  v.status = status();
  v.open = open_;
  v.racks = racks_.size();
  for (const RackStatus* r : UnhealthyRacks()) v.unhealthy.push_back(*r);
  return v;
}

HealthStatus DatacenterTwin::status() const {
  bool critical = critical_racks_ > 0;
  for (const Incident& inc : open_) critical = critical || inc.severity == Severity::kCritical;
  if (critical) return HealthStatus::kCritical;
  return !open_.empty() || !unhealthy_.empty() ? HealthStatus::kWarning : HealthStatus::kOk;
}

void DatacenterTwin::PublishHealthIfChanged(double now, Effects& out) {
  HealthUpdate h;
  h.level = Level::kDatacenter;
  h.subject = id_;
  h.updated_at = now;
  h.status = status();
  for (const Incident& inc : open_) h.open.push_back(inc.id);
  for (const std::string& rack : unhealthy_) {
    if (h.unhealthy.size() == kMaxListedRacks) break;
    h.unhealthy.push_back(rack);
  }
  h.unhealthy_count = static_cast<int>(unhealthy_.size());
  h.by_kind = open_kinds_;
  h.members = static_cast<int>(racks_.size());
  if (health_.Changed(h)) out.health.push_back(std::move(h));
}

IncidentEvent DatacenterTwin::MakeEvent(const Incident& incident, IncidentState state, double at) const {
  return dctwin::MakeEvent(incident, Level::kDatacenter, id_, std::string(), id_, state, at);
}

}  // namespace dctwin
