#include "twins/group_twin.h"

#include <algorithm>
#include <iterator>
#include <utility>

#include "twins/topology.h"

namespace dctwin {

namespace {

// What a datacenter engineer should look at first.
std::string LikelyCause(std::string_view type, const std::string& kind) {
  if (type == "feed") {
    return kind == "silent" ? "likely the feed lost power (check its breaker, PDU and UPS)"
                            : "likely the feed itself (check its breaker, PDU and UPS)";
  }
  if (type == "cooling") return "likely the cooling unit (check its fans, valves and alarms)";
  if (type == "tor") {
    return kind == "silent" ? "likely the switch is down (check its power and uplinks)"
                            : "likely the switch or its uplinks";
  }
  return "likely a cause the racks share";
}

std::string JoinFirst(const std::vector<std::string>& names, size_t most) {
  std::string out;
  for (size_t i = 0; i < names.size() && i < most; ++i) out += (i == 0 ? "" : ", ") + names[i];
  if (names.size() > most) out += ", ...";
  return out;
}

}  // namespace

GroupTwin::GroupTwin(std::string id, std::string datacenter) : id_(std::move(id)), datacenter_(std::move(datacenter)) {}

void GroupTwin::OnDefinition(const GroupDefinition& msg, double now, const ModelConfig& model, Effects& out) {
  std::vector<std::string> left;
  std::set_difference(racks_.begin(), racks_.end(), msg.racks.begin(), msg.racks.end(), std::back_inserter(left));
  racks_ = msg.racks;
  for (const std::string& r : left) members_.erase(r);
  if (racks_.empty()) {
    Retire(now, out);
    NotifyRacks(now, left, out);
    return;
  }
  const bool changed = Correlate(now, model, out);
  // Racks that joined hear of what is open; racks that left hear that it no longer concerns them.
  if (changed || !left.empty() || !open_.empty()) NotifyRacks(now, left, out);
  PublishHealthIfChanged(now, out);
}

void GroupTwin::OnMember(const GroupMember& msg, double now, const ModelConfig& model, Effects& out) {
  // A rack the inventory does not list for this group (a message from before a reload) is not
  // counted.
  if (!std::binary_search(racks_.begin(), racks_.end(), msg.rack)) return;
  if (msg.exists) {
    members_[msg.rack] = msg;
  } else {
    members_.erase(msg.rack);
  }
  if (Correlate(now, model, out)) NotifyRacks(now, {}, out);
  PublishHealthIfChanged(now, out);
}

void GroupTwin::Recorrelate(double now, const ModelConfig& model, Effects& out) {
  if (Correlate(now, model, out)) NotifyRacks(now, {}, out);
  PublishHealthIfChanged(now, out);
}

void GroupTwin::Retire(double now, Effects& out) {
  racks_.clear();
  members_.clear();
  for (Incident& inc : open_) {
    inc.summary = id_ + " is no longer listed in the inventory";
    out.events.push_back(MakeEvent(inc, IncidentState::kResolved, now));
  }
  open_.clear();
  HealthUpdate h;
  h.level = Level::kGroup;
  h.subject = id_;
  h.updated_at = now;
  h.cleared = true;
  out.health.push_back(std::move(h));
}

bool GroupTwin::Correlate(double now, const ModelConfig& model, Effects& out) {
  const std::string_view type = GroupType(id_);
  bool changed = false;
  for (const std::string& kind : GroupKinds(id_)) {
    std::vector<std::string> racks;  // with a rack incident of the kind
    int servers = 0;
    int racks_with_servers = 0;  // racks with servers with incidents of the kind
    Severity worst = kind == "silent" || kind == "power" ? Severity::kCritical : Severity::kWarning;
    bool rack_severity = false;
    for (const auto& [rack, m] : members_) {
      auto n = m.by_kind.find(kind);
      if (n != m.by_kind.end() && n->second > 0) {
        servers += n->second;
        ++racks_with_servers;
      }
      for (const IncidentRef& r : m.incidents) {
        if (r.kind != kind) continue;
        racks.push_back(rack);
        worst = rack_severity ? Worst(worst, r.severity) : r.severity;
        rack_severity = true;
        break;
      }
    }
    // Servers count when their trouble spans racks of the group (or the group has one rack): in one
    // rack of several, that rack (or its own switch) is the likelier cause.
    const bool spread = racks_with_servers >= 2 || racks_.size() == 1;
    const bool active = static_cast<int>(racks.size()) >= model.group_min_racks ||
                        (spread && servers >= model.group_min_servers);
    auto it = std::find_if(open_.begin(), open_.end(), [&](const Incident& i) { return i.kind == kind; });
    if (active && it == open_.end()) {
      Incident inc;
      inc.id = MakeIncidentId(Level::kGroup, id_, kind, now, ++seq_);
      inc.kind = kind;
      inc.severity = worst;
      inc.opened_at = now;
      inc.summary = std::to_string(racks.size()) + " of " + std::to_string(racks_.size()) + " racks on " + id_ +
                    (racks.empty() ? "" : " (" + JoinFirst(racks, 8) + ")") + " have " + kind +
                    " rack incidents and " + std::to_string(servers) + " of their servers " + kind +
                    " incidents: " + LikelyCause(type, kind);
      out.events.push_back(MakeEvent(inc, IncidentState::kOpen, now));
      open_.push_back(std::move(inc));
      changed = true;
    } else if (!active && it != open_.end()) {
      Incident inc = std::move(*it);
      open_.erase(it);
      inc.summary = std::to_string(racks.size()) + " rack(s) and " + std::to_string(servers) + " server(s) on " + id_ +
                    " still have " + kind + " incidents, below the group thresholds of " +
                    std::to_string(model.group_min_racks) + " racks and " + std::to_string(model.group_min_servers) +
                    " servers";
      out.events.push_back(MakeEvent(inc, IncidentState::kResolved, now));
      changed = true;
    }
  }
  return changed;
}

void GroupTwin::NotifyRacks(double now, const std::vector<std::string>& extra, Effects& out) const {
  GroupIncidents notice;
  notice.group = id_;
  for (const Incident& inc : open_) notice.open.push_back({inc.kind, inc.id, inc.severity, inc.opened_at});
  for (const std::string& rack : racks_) out.sends.push_back(Envelope{TwinAddress{Level::kRack, rack}, now, notice});
  GroupIncidents none;
  none.group = id_;
  for (const std::string& rack : extra) out.sends.push_back(Envelope{TwinAddress{Level::kRack, rack}, now, none});
}

HealthStatus GroupTwin::status() const {
  if (open_.empty()) return HealthStatus::kOk;
  bool critical = false;
  for (const Incident& inc : open_) critical = critical || inc.severity == Severity::kCritical;
  return critical ? HealthStatus::kCritical : HealthStatus::kWarning;
}

GroupView GroupTwin::View() const {
  GroupView v;
  v.status = status();
  v.open = open_;
  v.racks = racks_;
  for (const auto& [rack, m] : members_) {
    if (!m.incidents.empty() || !m.by_kind.empty()) v.troubled.push_back(m);
  }
  return v;
}

void GroupTwin::PublishHealthIfChanged(double now, Effects& out) {
  if (racks_.empty()) return;  // retired: cleared once
  HealthUpdate h;
  h.level = Level::kGroup;
  h.subject = id_;
  h.updated_at = now;
  h.status = status();
  for (const Incident& inc : open_) h.open.push_back(inc.id);
  h.members = static_cast<int>(racks_.size());
  for (const auto& [rack, m] : members_) {
    bool counted = false;
    for (const auto& [kind, n] : m.by_kind) {
      if (!GroupCauses(id_, kind)) continue;
      ++h.by_kind[kind];
      counted = true;
    }
    for (const IncidentRef& r : m.incidents) {
      if (!GroupCauses(id_, r.kind) || m.by_kind.count(r.kind) != 0) continue;
      ++h.by_kind[r.kind];
      counted = true;
    }
    if (counted) h.unhealthy.push_back(rack);
  }
  if (health_.Changed(h)) out.health.push_back(std::move(h));
}

IncidentEvent GroupTwin::MakeEvent(const Incident& incident, IncidentState state, double at) const {
  return dctwin::MakeEvent(incident, Level::kGroup, id_, std::string(), datacenter_, state, at);
}

}  // namespace dctwin
