// GroupTwin: one power feed, cooling unit or top-of-rack switch (twins/topology.h), the racks it
// feeds, cools or switches, what those racks have open, and the correlation that turns several of
// them with the same kind of incident (one the group can cause) into one group incident: "feed
// A-12 tripped" instead of forty server incidents.
//
// Its own incidents decide its health; the racks' incidents of kinds it cannot cause (a disk) do
// not make a feed unhealthy.
//
// Not thread-safe: owned by one shard, one message at a time.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "twins/incident.h"
#include "twins/messages.h"
#include "twins/model.h"

namespace dctwin {

class GroupTwin {
 public:
  GroupTwin(std::string id, std::string datacenter);

  // The inventory's racks of the group; what racks no longer listed said is forgotten.
  void OnDefinition(const GroupDefinition& msg, double now, const ModelConfig& model, Effects& out);
  void OnMember(const GroupMember& msg, double now, const ModelConfig& model, Effects& out);
  // Correlates again (group.min_racks or group.min_servers changed): opens and resolves at once.
  void Recorrelate(double now, const ModelConfig& model, Effects& out);
  // No longer listed: resolves what is open and clears the health; the owner drops the twin.
  void Retire(double now, Effects& out);

  // Listed by no inventory and nothing open: the owner drops the twin.
  bool Empty() const { return racks_.empty() && open_.empty(); }
  const std::string& id() const { return id_; }
  const std::vector<Incident>& open_incidents() const { return open_; }
  const std::vector<std::string>& racks() const { return racks_; }
  HealthStatus status() const;
  GroupView View() const;
  // After a restore: publishes the health again.
  void RepublishHealth(double now, Effects& out) {
    health_ = HealthMemo();
    PublishHealthIfChanged(now, out);
  }

  // Durable state, for storage/twin_codec (defined in twins/twin_serialization.h).
  template <class Archive>
  void serialize(Archive& ar, std::uint32_t version);

 private:
  bool Correlate(double now, const ModelConfig& model, Effects& out);
  // Tells every rack of the group what the group has open (and `extra`, racks that just left).
  void NotifyRacks(double now, const std::vector<std::string>& extra, Effects& out) const;
  void PublishHealthIfChanged(double now, Effects& out);
  IncidentEvent MakeEvent(const Incident& incident, IncidentState state, double at) const;

  // Constant after construction
  const std::string id_;
  const std::string datacenter_;

  std::vector<std::string> racks_;              // sorted, as the inventory lists them
  std::map<std::string, GroupMember> members_;  // what each listed rack last said
  std::vector<Incident> open_;
  uint64_t seq_ = 0;
  HealthMemo health_;  // not durable: health goes out only when it says something new
};

}  // namespace dctwin
