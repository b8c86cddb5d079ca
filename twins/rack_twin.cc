#include "twins/rack_twin.h"

#include <algorithm>
#include <set>
#include <utility>

namespace dctwin {

namespace {

// What a datacenter engineer should look at first when many servers of one rack share a kind.
std::string LikelyCause(const std::string& kind) {
  if (kind == "silent") return "likely ToR switch or rack power failure";
  if (kind == "network") return "likely ToR switch degradation";
  if (kind == "thermal") return "likely rack cooling or airflow problem";
  if (kind == "power") return "likely rack PDU or power feed problem";
  return "likely a cause shared by the rack";
}

bool SameRefs(const std::vector<IncidentRef>& a, const std::vector<IncidentRef>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].id != b[i].id || a[i].severity != b[i].severity) return false;
  }
  return true;
}

}  // namespace

RackTwin::RackTwin(std::string id, std::string datacenter) : id_(std::move(id)), datacenter_(std::move(datacenter)) {}

std::map<std::string, int> RackTwin::CorrelationCounts() const {
  std::map<std::string, int> counts;
  for (const auto& [kind, c] : kinds_) {
    if (c.counted > 0) counts.emplace(kind, c.counted);
  }
  return counts;
}

std::map<std::string, int> RackTwin::Histogram() const {
  std::map<std::string, int> counts;
  for (const auto& [kind, c] : kinds_) counts.emplace(kind, c.servers);
  return counts;
}

void RackTwin::Tally(const std::string& server, const std::vector<IncidentRef>& open, int sign,
                     std::set<std::string>* touched) {
  const bool counted = maintenance_.count(server) == 0;
  std::set<std::string> kinds;
  for (const IncidentRef& r : open) {
    kinds.insert(r.kind);
    if (sign > 0) {
      member_opened_.insert(r.opened_at);
    } else if (auto it = member_opened_.find(r.opened_at); it != member_opened_.end()) {
      member_opened_.erase(it);
    }
    if (r.severity == Severity::kCritical) {
      kinds_[r.kind].critical += sign;
      member_critical_ += sign;
    }
  }
  for (const std::string& k : kinds) {
    KindCount& c = kinds_[k];
    c.servers += sign;
    if (counted) c.counted += sign;
    if (c.servers == 0) kinds_.erase(k);
    if (touched != nullptr) touched->insert(k);
  }
}

std::vector<std::string> RackTwin::TakeChangedMembers() {
  std::vector<std::string> out(changed_members_.begin(), changed_members_.end());
  changed_members_.clear();
  return out;
}

void RackTwin::RestoreMember(const std::string& server, std::vector<IncidentRef> open, bool maintenance) {
  auto it = members_.find(server);
  if (it != members_.end()) Tally(server, it->second, -1, nullptr);
  if (maintenance) {
    maintenance_.insert(server);
  } else {
    maintenance_.erase(server);
  }
  std::vector<IncidentRef>& mine = members_[server];
  mine = std::move(open);
  Tally(server, mine, +1, nullptr);
}

bool RackTwin::TakeLegacyMembers() {
  if (!legacy_members_) return false;
  legacy_members_ = false;
  for (const auto& [server, open] : members_) changed_members_.insert(server);
  return true;
}

void RackTwin::Retally() {
  kinds_.clear();
  member_opened_.clear();
  member_critical_ = 0;
  for (const auto& [server, open] : members_) Tally(server, open, +1, nullptr);
}

HealthStatus RackTwin::status() const {
  const RackStatus s = BuildStatus();
  if (s.kinds.empty()) return HealthStatus::kOk;
  return s.worst == Severity::kCritical ? HealthStatus::kCritical : HealthStatus::kWarning;
}

RackView RackTwin::View() const {
  RackView v;
  v.status = status();
  v.open = open_;
  v.servers = static_cast<int>(members_.size());
  v.by_kind = Histogram();
  for (const auto& [server, open] : members_) {
    if (!open.empty()) v.troubled[server] = open;
    v.members.emplace_back(server, maintenance_.count(server) != 0);
  }
  return v;
}

void RackTwin::OnMemberStatus(const MemberStatus& msg, double now, const ModelConfig& model, Effects& out) {
  std::set<std::string> touched;  // kinds whose counts this status changed
  changed_members_.insert(msg.server);
  auto it = members_.find(msg.server);
  const bool joined = msg.member && it == members_.end();
  if (it != members_.end()) {
    Tally(msg.server, it->second, -1, &touched);
    if (!msg.member) members_.erase(it);
  }
  if (msg.member) {
    if (msg.maintenance) {
      maintenance_.insert(msg.server);
    } else {
      maintenance_.erase(msg.server);
    }
    std::vector<IncidentRef>& open = members_[msg.server];
    open = msg.open;
    Tally(msg.server, open, +1, &touched);
  } else {
    maintenance_.erase(msg.server);
  }
  if (Correlate(touched, false, now, model, out)) {
    for (const auto& [server, open] : members_) Notify(server, now, out);
  } else if (joined) {
    Notify(msg.server, now, out);
  }
  SendStatusIfChanged(now, out);
  PublishHealthIfChanged(now, out);
}

void RackTwin::Recorrelate(double now, const ModelConfig& model, Effects& out) {
  if (Correlate({}, true, now, model, out)) {
    for (const auto& [server, open] : members_) Notify(server, now, out);
  }
  SendStatusIfChanged(now, out);
  PublishHealthIfChanged(now, out);
}

void RackTwin::OnDatacenterIncidents(const DatacenterIncidents& msg, double now, Effects& out) {
  dc_incidents_ = msg.open;
  UpdateCauses(now, out);
  PublishHealthIfChanged(now, out);
}

void RackTwin::OnGroupIncidents(const GroupIncidents& msg, double now, Effects& out) {
  auto it = group_incidents_.find(msg.group);
  if (it != group_incidents_.end() && it->second == msg.open) return;
  if (msg.open.empty()) {
    if (it == group_incidents_.end()) return;
    group_incidents_.erase(it);
  } else {
    group_incidents_[msg.group] = msg.open;
  }
  UpdateCauses(now, out);
  // The servers hear of it too: theirs are caused by the group where the rack has none of the kind.
  for (const auto& [server, open] : members_) Notify(server, now, out);
}

std::string RackTwin::CauseOf(const std::string& kind) const {
  for (const auto& [group, open] : group_incidents_) {
    for (const IncidentRef& r : open) {
      if (r.kind == kind) return r.id;
    }
  }
  std::string cause;
  for (const IncidentRef& r : dc_incidents_) {
    if (r.kind == kind) cause = r.id;
  }
  return cause;
}

bool RackTwin::UpdateCauses(double now, Effects& out) {
  bool changed = false;
  for (Incident& inc : open_) {
    // Once correlated an incident keeps its cause, except that a group (the feed, the switch)
    // says more than the datacenter does.
    const std::string cause = CauseOf(inc.kind);
    if (cause.empty() || cause == inc.caused_by) continue;
    const bool better = inc.caused_by.empty() || (!inc.caused_by.starts_with("group:") && cause.starts_with("group:"));
    if (!better) continue;
    inc.caused_by = cause;
    out.events.push_back(MakeEvent(inc, IncidentState::kUpdated, now));
    changed = true;
  }
  return changed;
}

bool RackTwin::Correlate(const std::set<std::string>& kinds, bool all, double now, const ModelConfig& model,
                         Effects& out) {
  std::set<std::string> check = kinds;
  if (all) {
    for (const auto& [kind, c] : kinds_) check.insert(kind);
    for (const Incident& inc : open_) check.insert(inc.kind);
  }
  bool changed = false;
  for (const std::string& kind : check) {
    auto count = kinds_.find(kind);
    const int n = count == kinds_.end() ? 0 : count->second.counted;
    auto open = std::find_if(open_.begin(), open_.end(), [&](const Incident& i) { return i.kind == kind; });
    if (open != open_.end() && n < model.rack_min_servers) {
      Incident inc = std::move(*open);
      open_.erase(open);
      inc.summary = std::to_string(n) + " server(s) in rack " + id_ + " still have " + inc.kind +
                    " incidents" + (maintenance_.empty() ? "" : " (servers under maintenance not counted)") +
                    ", below the rack threshold of " + std::to_string(model.rack_min_servers);
      out.events.push_back(MakeEvent(inc, IncidentState::kResolved, now));
      changed = true;
    } else if (open == open_.end() && count != kinds_.end() && n >= model.rack_min_servers) {
      Incident inc;
      inc.id = MakeIncidentId(Level::kRack, id_, kind, now, ++seq_);
      inc.kind = kind;
      inc.opened_at = now;
      inc.severity = count->second.critical > 0 ? Severity::kCritical : Severity::kWarning;
      inc.summary = std::to_string(n) + " of " + std::to_string(members_.size()) + " servers in rack " + id_ +
                    " have " + kind + " incidents: " + LikelyCause(kind);
      inc.caused_by = CauseOf(kind);
      out.events.push_back(MakeEvent(inc, IncidentState::kOpen, now));
      open_.push_back(std::move(inc));
      changed = true;
    }
  }
  return changed;
}

void RackTwin::Notify(const std::string& server, double now, Effects& out) const {
  RackIncidents msg;
  msg.rack = id_;
  for (const Incident& inc : open_) msg.open.push_back({inc.kind, inc.id, inc.severity, inc.opened_at});
  // Kinds the rack has no incident of: a group's incident is the cause of its servers'.
  for (const auto& [group, open] : group_incidents_) {
    for (const IncidentRef& r : open) {
      const auto same = [&](const IncidentRef& x) { return x.kind == r.kind; };
      if (std::none_of(msg.open.begin(), msg.open.end(), same)) msg.open.push_back(r);
    }
  }
  out.sends.push_back(Envelope{TwinAddress{Level::kServer, server}, now, std::move(msg)});
}

GroupMember RackTwin::BuildGroupMember() const {
  GroupMember m;
  m.rack = id_;
  m.exists = !Empty();
  for (const Incident& inc : open_) m.incidents.push_back({inc.kind, inc.id, inc.severity, inc.opened_at});
  m.by_kind = Histogram();
  m.worst = BuildStatus().worst;
  return m;
}

RackStatus RackTwin::BuildStatus() const {
  RackStatus s;
  s.rack = id_;
  s.exists = !Empty();
  std::set<std::string> kinds;
  bool any = false;
  auto consider = [&](Severity sev, double opened_at) {
    s.worst = any ? Worst(s.worst, sev) : sev;
    s.since = any ? std::min(s.since, opened_at) : opened_at;
    any = true;
  };
  for (const Incident& inc : open_) {
    s.incidents.push_back({inc.kind, inc.id, inc.severity, inc.opened_at});
    kinds.insert(inc.kind);
    consider(inc.severity, inc.opened_at);
  }
  if (!member_opened_.empty()) {
    for (const auto& [kind, c] : kinds_) kinds.insert(kind);
    consider(member_critical_ > 0 ? Severity::kCritical : Severity::kWarning, *member_opened_.begin());
  }
  s.kinds.assign(kinds.begin(), kinds.end());
  return s;
}

void RackTwin::SendStatusIfChanged(double now, Effects& out) {
  RackStatus s = BuildStatus();
  if (status_sent_ && s.exists == sent_status_.exists && s.kinds == sent_status_.kinds &&
      s.since == sent_status_.since && s.worst == sent_status_.worst && SameRefs(s.incidents, sent_status_.incidents)) {
    return;
  }
  status_sent_ = true;
  sent_status_ = s;
  out.sends.push_back(Envelope{TwinAddress{Level::kDatacenter, datacenter_}, now, std::move(s)});
}

void RackTwin::PublishHealthIfChanged(double now, Effects& out) {
  HealthUpdate h;
  h.level = Level::kRack;
  h.subject = id_;
  h.updated_at = now;
  if (Empty()) {
    h.cleared = true;
  } else {
    h.status = status();
    for (const Incident& inc : open_) h.open.push_back(inc.id);
    h.by_kind = Histogram();
    h.members = static_cast<int>(members_.size());
    const RackStatus st = BuildStatus();
    h.since = st.since;
    h.worst = st.worst;
    h.incidents = st.incidents;
  }
  if (health_.Changed(h)) out.health.push_back(std::move(h));
}

IncidentEvent RackTwin::MakeEvent(const Incident& incident, IncidentState state, double at) const {
  return dctwin::MakeEvent(incident, Level::kRack, id_, id_, datacenter_, state, at);
}

}  // namespace dctwin
