// RackTwin: which servers of one rack have which open incidents, a histogram by kind, and the
// correlation that turns several servers with the same kind of incident into one rack incident.
//
// Cost: a member's status costs O(log members) plus its kinds, whatever the rack's size (a
// default rack that auto_commission fills may hold every server): the twin keeps counts per kind
// by the difference each status makes, and correlates only the kinds that status touched. Each
// member is stored as a row of its own (TakeChangedMembers): a commit writes the members that
// changed, not the rack's whole list.
//
// Not thread-safe: owned by one shard, one message at a time.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "twins/incident.h"
#include "twins/messages.h"
#include "twins/model.h"

namespace dctwin {

class RackTwin {
 public:
  RackTwin(std::string id, std::string datacenter);

  void OnMemberStatus(const MemberStatus& msg, double now, const ModelConfig& model, Effects& out);
  void OnDatacenterIncidents(const DatacenterIncidents& msg, double now, Effects& out);
  // What a group of the rack (its feed, cooling unit, switch) has open: the rack's incidents of
  // those kinds are caused by it, and so are its servers' where the rack has none of the kind.
  void OnGroupIncidents(const GroupIncidents& msg, double now, Effects& out);
  // Correlates again (rack.min_servers changed): opens and resolves at once.
  void Recorrelate(double now, const ModelConfig& model, Effects& out);

  // No servers and nothing open: the owner drops the twin.
  bool Empty() const { return members_.empty() && open_.empty(); }
  const std::string& id() const { return id_; }
  const std::vector<Incident>& open_incidents() const { return open_; }
  const std::map<std::string, std::vector<IncidentRef>>& members() const { return members_; }
  // Servers per open kind (every member), and the same without members under maintenance, which
  // is what correlation counts.
  std::map<std::string, int> Histogram() const;
  std::map<std::string, int> CorrelationCounts() const;
  const std::set<std::string>& maintenance() const { return maintenance_; }
  HealthStatus status() const;
  RackView View() const;
  // What this rack tells the datacenter.
  RackStatus BuildStatus() const;
  // What this rack tells its groups.
  GroupMember BuildGroupMember() const;
  // The datacenter's open incidents, as it last told this rack.
  const std::vector<IncidentRef>& dc_incidents() const { return dc_incidents_; }
  // After a restore: publishes the health again.
  void RepublishHealth(double now, Effects& out) {
    health_ = HealthMemo();
    PublishHealthIfChanged(now, out);
  }

  // --- durability: each member is a row of its own ---
  // Members whose incidents or maintenance changed (or that left) since the last call.
  std::vector<std::string> TakeChangedMembers();
  // Restore: one member's saved row.
  void RestoreMember(const std::string& server, std::vector<IncidentRef> open, bool maintenance);
  // After a restore: true when the rack's state came from a format that kept its members inside;
  // every member is then due to be saved as a row of its own.
  bool TakeLegacyMembers();

  // Durable state without the members, for storage/twin_codec (defined in twins/twin_serialization.h).
  template <class Archive>
  void serialize(Archive& ar, std::uint32_t version);

 private:
  // Correlates the given kinds (every kind with `all`); true when an incident opened or resolved.
  bool Correlate(const std::set<std::string>& kinds, bool all, double now, const ModelConfig& model, Effects& out);
  // Adds (sign +1) or takes away (-1) what one member's incidents count; the kinds go to `touched`.
  void Tally(const std::string& server, const std::vector<IncidentRef>& open, int sign, std::set<std::string>* touched);
  // Counts again from members_ (after a load).
  void Retally();
  void Notify(const std::string& server, double now, Effects& out) const;
  void SendStatusIfChanged(double now, Effects& out);
  void PublishHealthIfChanged(double now, Effects& out);
  IncidentEvent MakeEvent(const Incident& incident, IncidentState state, double at) const;
  // The id of what causes a rack incident of `kind`: a group's incident before the datacenter's.
  std::string CauseOf(const std::string& kind) const;
  // Gives the rack incidents the causes known now; true if any changed.
  bool UpdateCauses(double now, Effects& out);

  // Constant after construction
  const std::string id_;
  const std::string datacenter_;

  std::map<std::string, std::vector<IncidentRef>> members_;  // server -> its open incidents
  std::set<std::string> maintenance_;                        // members under maintenance
  std::vector<Incident> open_;                               // rack-level incidents
  std::vector<IncidentRef> dc_incidents_;
  std::map<std::string, std::vector<IncidentRef>> group_incidents_;  // group -> its open incidents
  uint64_t seq_ = 0;
  bool status_sent_ = false;
  RackStatus sent_status_;
  HealthMemo health_;  // not durable: health goes out only when it says something new

  // Counts kept from members_ (not durable: Retally after a load).
  struct KindCount {
    int servers = 0;   // members with an incident of the kind
    int counted = 0;   // of those, not under maintenance (what correlation counts)
    int critical = 0;  // critical incidents of the kind among all members
  };
  std::map<std::string, KindCount> kinds_;
  std::multiset<double> member_opened_;  // opened_at of every member incident
  int member_critical_ = 0;              // critical member incidents
  std::set<std::string> changed_members_;  // not saved yet
  bool legacy_members_ = false;            // loaded from a format that kept the members inside
};

}  // namespace dctwin
