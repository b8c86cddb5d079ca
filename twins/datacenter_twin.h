// DatacenterTwin: which racks are unhealthy and why, the datacenter incidents that several racks
// with the same kind of rack incident make, and the single health value of the site.
//
// Cost: a site holds up to 25,000 racks, so one rack's status costs O(log racks) plus the kinds
// it changes, whatever the site's size. The twin keeps counts (racks per kind, per severity,
// per group) and updates them by the difference a status makes; only the kinds that status
// touched are correlated again. Its health names the first kMaxListedRacks unhealthy racks and
// counts them all (P/query/unhealthy-racks lists every one). Each rack's status is stored as a
// row of its own (TakeChangedRacks): a commit writes the racks that changed, not the whole map.
//
// Not thread-safe: owned by one shard, one message at a time.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "twins/incident.h"
#include "twins/messages.h"
#include "twins/model.h"

namespace dctwin {

class DatacenterTwin {
 public:
  // The health names at most this many unhealthy racks (the first in id order).
  static constexpr size_t kMaxListedRacks = 100;

  explicit DatacenterTwin(std::string id);

  // Publishes the first health value (ok, no racks).
  void Start(double now, Effects& out);
  void OnRackStatus(const RackStatus& msg, double now, const ModelConfig& model, Effects& out);
  // Correlates every kind again (datacenter.min_racks or the topology changed): opens and
  // resolves at once.
  void Recorrelate(double now, const ModelConfig& model, Effects& out);
  // Whether a change of correlation is told to every rack (DatacenterIncidents). A site holds no
  // rack twins: nobody would hear it.
  void set_notify_racks(bool notify) { notify_racks_ = notify; }
  // A site: one `pod_offline` incident while any pod gateway is offline (instead of a storm of
  // silent servers that nobody watches any more), or any pod's bridge is down.
  //
  // A bridge's "0" is only believed once nothing came from the pod for kBridgeConfirmS: the
  // pod's own broker publishes "0" too each time its bridge drops or fails to connect, and the
  // bridge carries those copies up once it is back, after the site broker's "1". A message from
  // the pod (the ingest posts it as "1") clears the suspicion.
  static constexpr double kBridgeConfirmS = 10;
  // `mono`: the monotonic clock, which the confirmation runs on.
  void OnPodStatus(const PodStatus& msg, double now, double mono, Effects& out);
  // Timers: a bridge suspected down for kBridgeConfirmS (monotonic) is down.
  void Tick(double now, double mono, Effects& out);
  // One `config` incident while any rack is claimed by two pods.
  void OnRackConflict(const RackConflict& msg, double now, Effects& out);
  // Opens one `silent_storm` incident while the storm guard holds back per-server silence.
  void OnSilenceStorm(const SilenceStorm& msg, double now, Effects& out);

  const std::string& id() const { return id_; }
  const std::vector<Incident>& open_incidents() const { return open_; }
  // After a restore: publishes the health again.
  void RepublishHealth(double now, Effects& out) {
    health_ = HealthMemo();
    PublishHealthIfChanged(now, out);
  }
  // The racks as their last status said.
  const std::map<std::string, RackStatus>& racks() const { return racks_; }
  const RackStatus* rack(const std::string& id) const {
    auto it = racks_.find(id);
    return it == racks_.end() ? nullptr : &it->second;
  }
  // Racks with anything open, by rack id.
  std::vector<const RackStatus*> UnhealthyRacks() const;
  size_t unhealthy_count() const { return unhealthy_.size(); }
  HealthStatus status() const;
  DatacenterView View() const;
  size_t rack_count() const { return racks_.size(); }

  // --- durability: each rack's status is a row of its own ---
  // Racks whose status changed (or that are gone) since the last call.
  std::vector<std::string> TakeChangedRacks();
  // Restore: one rack's saved status.
  void RestoreRack(RackStatus status);
  // After a restore: true when the twin's state came from a format that kept the racks inside it.
  // Every rack is then due to be saved as a row of its own.
  bool TakeLegacyRacks();

  // Durable state without the racks, for storage/twin_codec (defined in twins/twin_serialization.h).
  template <class Archive>
  void serialize(Archive& ar, std::uint32_t version);

 private:
  // What the racks with a rack-level incident of one kind add up to.
  struct KindTally {
    std::set<std::string> racks;
    std::array<int, 2> by_severity{};  // racks per worst severity of their incidents of this kind
    // Groups (of the topology) that serve these racks and can cause the kind: racks per group.
    std::unordered_map<std::string, int> groups;
    Severity worst() const { return by_severity[1] > 0 ? Severity::kCritical : Severity::kWarning; }
  };

  // Every change of racks_ goes through these two, which keep the counts below.
  void PutRack(RackStatus status, std::vector<std::string>* touched);
  void DropRack(std::map<std::string, RackStatus>::iterator it, std::vector<std::string>* touched);
  void Count(const RackStatus& status, int sign, std::vector<std::string>* touched);
  // Counts again from racks_ (after a load, or when the topology changed).
  void Recount(std::shared_ptr<const Topology> topology);
  // Correlates the given kinds (and every kind with `all`); true when an incident opened or resolved.
  bool Correlate(const std::vector<std::string>& kinds, bool all, double now, const ModelConfig& model, Effects& out);
  void NotifyRacks(double now, Effects& out);
  // The group that serves every rack of `tally` and can cause its kind (tally.groups counts only
  // such groups); empty if none.
  std::string CoveringGroup(const KindTally& tally, const ModelConfig& model) const;
  void PublishHealthIfChanged(double now, Effects& out);
  // The one site-wide incident of `kind` (pod_offline, config, silent_storm): opened when `active`
  // and none is open, resolved when not; `summary` says why. True when it opened or resolved.
  bool KeepSiteIncident(const std::string& kind, bool active, Severity severity, const std::string& summary,
                        double now, Effects& out);
  IncidentEvent MakeEvent(const Incident& incident, IncidentState state, double at) const;
  void ApplyPodStatus(const PodStatus& msg, double now, Effects& out);

  // Constant after construction
  const std::string id_;

  std::map<std::string, RackStatus> racks_;
  std::vector<Incident> open_;
  std::set<std::string> offline_pods_;
  std::map<std::string, std::string> conflicts_;  // rack -> "owner and other"

  uint64_t seq_ = 0;
  HealthMemo health_;  // not durable: health goes out only when it says something new
  bool notify_racks_ = true;
  std::map<std::string, double> suspect_bridges_;  // pod -> when (monotonic) its bridge said "0"; not durable

  // Counts kept from racks_ (not durable: rebuilt when the racks are restored).
  std::map<std::string, KindTally> rack_kinds_;  // rack-level incident kinds
  std::map<std::string, int> open_kinds_;        // every kind open in a rack: racks per kind
  std::set<std::string> unhealthy_;              // racks with anything open
  int64_t critical_racks_ = 0;                   // of those, racks whose worst is critical
  std::shared_ptr<const Topology> topology_;     // the topology the group counts were made with
  std::set<std::string> changed_racks_;          // not saved yet
  bool legacy_racks_ = false;                    // loaded from a format that kept the racks inside
};

}  // namespace dctwin
