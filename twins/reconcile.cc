#include "twins/reconcile.h"

#include <string_view>
#include <unordered_map>
#include <utility>

namespace dctwin {

namespace {

// Whether two lists name the same incidents (id, kind, severity) in the same order: a twin's open
// incidents (Incident) or another twin's copy of them (IncidentRef).
template <class A, class B>
bool SameRefs(const std::vector<A>& a, const std::vector<B>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].id != b[i].id || a[i].kind != b[i].kind || a[i].severity != b[i].severity) return false;
  }
  return true;
}

bool SameStatus(const RackStatus& a, const RackStatus& b) {
  return a.exists == b.exists && a.kinds == b.kinds && a.since == b.since && a.worst == b.worst &&
         SameRefs(a.incidents, b.incidents);
}

}  // namespace

std::vector<Envelope> ReconcileMembershipOf(const TwinRegistry& owner, const std::vector<const TwinRegistry*>& owners,
                                            const std::string& datacenter, bool with_datacenter, double now) {
  // Pointers only, and no map of the servers: at restore there may be a million of them, each
  // found in its own registry (a handful) instead.
  std::unordered_map<std::string_view, const RackTwin*> racks;
  const DatacenterTwin* dc = nullptr;
  for (const TwinRegistry* r : owners) {
    r->ForEachRack([&](const RackTwin& rack) { racks.emplace(rack.id(), &rack); });
    if (r->datacenter() != nullptr && r->datacenter()->id() == datacenter) dc = r->datacenter();
  }
  auto find_server = [&](const std::string& id) -> const ServerTwin* {
    for (const TwinRegistry* r : owners) {
      if (const ServerTwin* s = r->server(id)) return s->commissioned() ? s : nullptr;
    }
    return nullptr;
  };

  std::vector<Envelope> out;
  auto tell_rack = [&](const std::string& rack, MemberStatus status) {
    out.push_back(Envelope{TwinAddress{Level::kRack, rack}, now, std::move(status)});
  };
  // What each of its racks lists: ghosts leave, stale members are told again.
  owner.ForEachRack([&](const RackTwin& r) {
    const RackTwin* rack = &r;
    for (const auto& [member, refs] : rack->members()) {
      const ServerTwin* s = find_server(member);
      if (s == nullptr || s->rack() != rack->id()) {
        MemberStatus gone;
        gone.server = member;
        gone.member = false;
        tell_rack(rack->id(), std::move(gone));  // a ghost: the server is gone, or in another rack now
        continue;
      }
      if (!SameRefs(s->open_incidents(), refs) || (rack->maintenance().count(member) > 0) != s->maintenance()) {
        tell_rack(rack->id(), s->Membership());
      }
    }
  });
  // Each of its servers: its rack lists it, and it hears its rack's open incidents again where
  // its copy differs (caused_by).
  static const std::vector<Incident> kNone;
  owner.ForEachServer([&](const ServerTwin& s) {
    if (!s.commissioned()) return;
    auto rack = racks.find(s.rack());
    if (rack == racks.end() || rack->second->members().count(s.id()) == 0) tell_rack(s.rack(), s.Membership());
    const std::vector<Incident>& open = rack != racks.end() ? rack->second->open_incidents() : kNone;
    if (SameRefs(open, s.rack_incidents())) return;
    RackIncidents notice;
    notice.rack = s.rack();
    for (const Incident& inc : open) notice.open.push_back({inc.kind, inc.id, inc.severity, inc.opened_at});
    out.push_back(Envelope{TwinAddress{Level::kServer, s.id()}, now, std::move(notice)});
  });

  if (with_datacenter && dc != nullptr && dc == owner.datacenter()) {
    const TwinAddress to{Level::kDatacenter, datacenter};
    for (const auto& [id, status] : dc->racks()) {
      auto rack = racks.find(id);
      if (rack == racks.end()) {
        RackStatus gone;
        gone.rack = id;
        gone.exists = false;
        out.push_back(Envelope{to, now, std::move(gone)});
      } else if (RackStatus present = rack->second->BuildStatus(); !SameStatus(present, status)) {
        out.push_back(Envelope{to, now, std::move(present)});
      }
    }
    for (const auto& [id, rack] : racks) {
      if (dc->racks().count(rack->id()) == 0 && !rack->BuildStatus().kinds.empty()) {
        out.push_back(Envelope{to, now, rack->BuildStatus()});
      }
    }
    // Each rack hears the datacenter's open incidents again where its copy differs.
    DatacenterIncidents notice;
    for (const Incident& inc : dc->open_incidents()) notice.open.push_back({inc.kind, inc.id, inc.severity, inc.opened_at});
    for (const auto& [id, rack] : racks) {
      if (!SameRefs(notice.open, rack->dc_incidents())) {
        out.push_back(Envelope{TwinAddress{Level::kRack, rack->id()}, now, notice});
      }
    }
  }
  return out;
}

std::vector<Envelope> ReconcileMembership(const std::vector<const TwinRegistry*>& owners, const std::string& datacenter,
                                          bool with_datacenter, double now) {
  std::vector<Envelope> out;
  for (const TwinRegistry* owner : owners) {
    std::vector<Envelope> part = ReconcileMembershipOf(*owner, owners, datacenter, with_datacenter, now);
    out.insert(out.end(), std::make_move_iterator(part.begin()), std::make_move_iterator(part.end()));
  }
  return out;
}

}  // namespace dctwin
