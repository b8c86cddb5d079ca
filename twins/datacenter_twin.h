// DatacenterTwin: which racks are unhealthy and why, the datacenter incidents that several racks
// with the same kind of rack incident make, and the single health value of the site.
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

class DatacenterTwin {
 public:
  explicit DatacenterTwin(std::string id);

  // Publishes the first health value (ok, no racks).
  void Start(double now, Effects& out);
  void OnRackStatus(const RackStatus& msg, double now, const ModelConfig& model, Effects& out);
  // Correlates again (datacenter.min_racks changed): opens and resolves at once.
  void Recorrelate(double now, const ModelConfig& model, Effects& out);
  // A site: one `pod_offline` incident while any pod gateway is offline (instead of a storm of
  // silent servers that nobody watches any more).
  void OnPodStatus(const PodStatus& msg, double now, Effects& out);
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
  // Racks with anything open, by rack id.
  std::vector<const RackStatus*> UnhealthyRacks() const;
  HealthStatus status() const;
  DatacenterView View() const;
  size_t rack_count() const { return racks_.size(); }

  // Durable state, for storage/twin_codec (defined in twins/twin_serialization.h).
  template <class Archive>
  void serialize(Archive& ar, std::uint32_t version);

 private:
  bool Correlate(double now, const ModelConfig& model, Effects& out);
  void PublishHealthIfChanged(double now, Effects& out);
  // The one site-wide incident of `kind` (pod_offline, config, silent_storm): opened when `active`
  // and none is open, resolved when not; `summary` says why. True when it opened or resolved.
  bool KeepSiteIncident(const std::string& kind, bool active, Severity severity, const std::string& summary,
                        double now, Effects& out);
  IncidentEvent MakeEvent(const Incident& incident, IncidentState state, double at) const;

  // Constant after construction
  const std::string id_;

  std::map<std::string, RackStatus> racks_;
  std::vector<Incident> open_;
  std::set<std::string> offline_pods_;
  std::map<std::string, std::string> conflicts_;  // rack -> "owner and other"

  uint64_t seq_ = 0;
  HealthMemo health_;  // not durable: health goes out only when it says something new
};

}  // namespace dctwin
