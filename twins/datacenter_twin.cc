#include "twins/datacenter_twin.h"

#include <algorithm>
#include <iterator>
#include <set>
#include <utility>

namespace dctwin {

DatacenterTwin::DatacenterTwin(std::string id) : id_(std::move(id)) {}

void DatacenterTwin::Start(double now, Effects& out) { PublishHealthIfChanged(now, out); }

void DatacenterTwin::OnRackStatus(const RackStatus& msg, double now, const ModelConfig& model, Effects& out) {
  if (msg.exists) {
    racks_[msg.rack] = msg;
  } else {
    racks_.erase(msg.rack);
  }
  Recorrelate(now, model, out);
}

void DatacenterTwin::Recorrelate(double now, const ModelConfig& model, Effects& out) {
  if (Correlate(now, model, out)) {
    DatacenterIncidents notice;
    for (const Incident& inc : open_) notice.open.push_back({inc.kind, inc.id, inc.severity, inc.opened_at});
    for (const auto& [rack, status] : racks_) {
      out.sends.push_back(Envelope{TwinAddress{Level::kRack, rack}, now, notice});
    }
  }
  PublishHealthIfChanged(now, out);
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

void DatacenterTwin::OnPodStatus(const PodStatus& msg, double now, Effects& out) {
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

namespace {

// The group (a feed, a cooling unit, a switch) that serves every one of `racks` and can cause
// `kind`: its own incident explains them, and the datacenter has nothing to add. Empty if none.
std::string CoveringGroup(const std::string& kind, const std::vector<std::string>& racks, const ModelConfig& model) {
  const Topology* topology = model.topology.get();
  if (topology == nullptr || racks.empty() || static_cast<int>(racks.size()) < model.group_min_racks) return {};
  std::vector<std::string> common;
  for (size_t i = 0; i < racks.size(); ++i) {
    std::vector<std::string> mine;
    if (const std::vector<std::string>* groups = topology->GroupsOf(racks[i])) {
      for (const std::string& g : *groups) {
        if (GroupCauses(g, kind)) mine.push_back(g);  // sorted, as the topology keeps them
      }
    }
    if (i == 0) {
      common = std::move(mine);
    } else {
      std::vector<std::string> both;
      std::set_intersection(common.begin(), common.end(), mine.begin(), mine.end(), std::back_inserter(both));
      common = std::move(both);
    }
    if (common.empty()) return {};
  }
  return common.front();
}

}  // namespace

bool DatacenterTwin::Correlate(double now, const ModelConfig& model, Effects& out) {
  std::map<std::string, std::vector<std::string>> racks_with;  // racks with a rack-level incident of each kind
  std::map<std::string, Severity> worst;
  for (const auto& [rack, status] : racks_) {
    for (const IncidentRef& r : status.incidents) {
      std::vector<std::string>& racks = racks_with[r.kind];
      if (racks.empty() || racks.back() != rack) racks.push_back(rack);
      auto [it, inserted] = worst.emplace(r.kind, r.severity);
      if (!inserted) it->second = Worst(it->second, r.severity);
    }
  }
  // Why a kind does not make a datacenter incident (empty: it does).
  auto why_not = [&](const std::string& kind) -> std::string {
    auto it = racks_with.find(kind);
    const int n = it == racks_with.end() ? 0 : static_cast<int>(it->second.size());
    if (n < model.datacenter_min_racks) {
      return std::to_string(n) + " rack(s) of datacenter " + id_ + " still have " + kind +
             " rack incidents, below the datacenter threshold of " + std::to_string(model.datacenter_min_racks);
    }
    const std::string group = CoveringGroup(kind, it->second, model);
    if (!group.empty()) {
      return "the " + std::to_string(n) + " racks with " + kind + " rack incidents are all on " + group +
             ", whose own incident says so";
    }
    return std::string();
  };
  bool changed = false;
  for (size_t i = 0; i < open_.size();) {
    if (open_[i].kind == "silent_storm") {  // the storm guard's, not correlation's
      ++i;
      continue;
    }
    std::string why = why_not(open_[i].kind);
    if (why.empty()) {
      ++i;
      continue;
    }
    Incident inc = std::move(open_[i]);
    open_.erase(open_.begin() + static_cast<std::ptrdiff_t>(i));
    inc.summary = std::move(why);
    out.events.push_back(MakeEvent(inc, IncidentState::kResolved, now));
    changed = true;
  }
  for (const auto& [kind, racks] : racks_with) {
    const std::string& k = kind;  // a plain name: the lambda below captures it
    if (!why_not(k).empty()) continue;
    if (std::any_of(open_.begin(), open_.end(), [&](const Incident& i) { return i.kind == k; })) continue;
    Incident inc;
    inc.id = MakeIncidentId(Level::kDatacenter, id_, k, now, ++seq_);
    inc.kind = k;
    inc.severity = worst[k];
    inc.opened_at = now;
    inc.summary = std::to_string(racks.size()) + " racks of datacenter " + id_ + " have " + k +
                  " rack incidents: likely a facility-wide cause (power, cooling or core network)";
    out.events.push_back(MakeEvent(inc, IncidentState::kOpen, now));
    open_.push_back(std::move(inc));
    changed = true;
  }
  return changed;
}

std::vector<const RackStatus*> DatacenterTwin::UnhealthyRacks() const {
  std::vector<const RackStatus*> out;
  for (const auto& [rack, status] : racks_) {
    if (!status.kinds.empty()) out.push_back(&status);
  }
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
  bool any = !open_.empty();
  bool critical = false;
  for (const Incident& inc : open_) critical = critical || inc.severity == Severity::kCritical;
  for (const auto& [rack, status] : racks_) {
    if (status.kinds.empty()) continue;
    any = true;
    critical = critical || status.worst == Severity::kCritical;
  }
  if (critical) return HealthStatus::kCritical;
  return any ? HealthStatus::kWarning : HealthStatus::kOk;
}

void DatacenterTwin::PublishHealthIfChanged(double now, Effects& out) {
  HealthUpdate h;
  h.level = Level::kDatacenter;
  h.subject = id_;
  h.updated_at = now;
  h.status = status();
  for (const Incident& inc : open_) h.open.push_back(inc.id);
  for (const RackStatus* r : UnhealthyRacks()) {
    h.unhealthy.push_back(r->rack);
    for (const std::string& k : r->kinds) ++h.by_kind[k];
  }
  h.members = static_cast<int>(racks_.size());
  if (health_.Changed(h)) out.health.push_back(std::move(h));
}

IncidentEvent DatacenterTwin::MakeEvent(const Incident& incident, IncidentState state, double at) const {
  return dctwin::MakeEvent(incident, Level::kDatacenter, id_, std::string(), id_, state, at);
}

}  // namespace dctwin
