#include "twins/reconcile.h"

#include <map>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace dctwin {

namespace {

bool SameRefs(const std::vector<IncidentRef>& a, const std::vector<IncidentRef>& b) {
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

std::vector<Envelope> ReconcileMembership(const std::vector<const TwinRegistry*>& owners, const std::string& datacenter,
                                          bool with_datacenter, double now) {
  // Pointers only: at restore there may be a million servers, and these maps live only here.
  std::unordered_map<std::string_view, const ServerTwin*> servers;
  std::map<std::string, const RackTwin*> racks;
  const DatacenterTwin* dc = nullptr;
  size_t count = 0;
  for (const TwinRegistry* r : owners) count += r->server_count();
  servers.reserve(count);
  for (const TwinRegistry* r : owners) {
    r->ForEachServer([&](const ServerTwin& s) {
      if (s.commissioned()) servers.emplace(s.id(), &s);
    });
    r->ForEachRack([&](const RackTwin& rack) { racks.emplace(rack.id(), &rack); });
    if (r->datacenter() != nullptr && r->datacenter()->id() == datacenter) dc = r->datacenter();
  }

  std::vector<Envelope> out;
  auto tell_rack = [&](const std::string& rack, MemberStatus status) {
    out.push_back(Envelope{TwinAddress{Level::kRack, rack}, now, std::move(status)});
  };
  for (const auto& [id, rack] : racks) {
    for (const auto& [member, refs] : rack->members()) {
      auto s = servers.find(member);
      if (s == servers.end() || s->second->rack() != id) {
        MemberStatus gone;
        gone.server = member;
        gone.member = false;
        tell_rack(id, std::move(gone));  // a ghost: the server is gone, or in another rack now
        continue;
      }
      MemberStatus truth = s->second->Membership();
      if (!SameRefs(refs, truth.open) || (rack->maintenance().count(member) > 0) != truth.maintenance) {
        tell_rack(id, std::move(truth));
      }
    }
  }
  for (const auto& [id, server] : servers) {
    auto rack = racks.find(server->rack());
    if (rack == racks.end() || rack->second->members().count(server->id()) == 0) {
      tell_rack(server->rack(), server->Membership());
    }
  }
  // Each server hears its rack's open incidents again where its copy differs (caused_by).
  for (const TwinRegistry* r : owners) {
    r->ForEachServer([&](const ServerTwin& s) {
      if (!s.commissioned()) return;
      auto rack = racks.find(s.rack());
      RackIncidents notice;
      notice.rack = s.rack();
      if (rack != racks.end()) {
        for (const Incident& inc : rack->second->open_incidents()) {
          notice.open.push_back({inc.kind, inc.id, inc.severity, inc.opened_at});
        }
      }
      if (!SameRefs(notice.open, s.rack_incidents())) {
        out.push_back(Envelope{TwinAddress{Level::kServer, s.id()}, now, std::move(notice)});
      }
    });
  }

  if (with_datacenter && dc != nullptr) {
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
      if (dc->racks().count(id) == 0 && !rack->BuildStatus().kinds.empty()) {
        out.push_back(Envelope{to, now, rack->BuildStatus()});
      }
    }
    // Each rack hears the datacenter's open incidents again where its copy differs.
    DatacenterIncidents notice;
    for (const Incident& inc : dc->open_incidents()) notice.open.push_back({inc.kind, inc.id, inc.severity, inc.opened_at});
    for (const auto& [id, rack] : racks) {
      if (!SameRefs(notice.open, rack->dc_incidents())) out.push_back(Envelope{TwinAddress{Level::kRack, id}, now, notice});
    }
  }
  return out;
}

}  // namespace dctwin
