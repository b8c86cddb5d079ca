// ShardEvents: what a shard's twins decided that the desks must hear of, in the same commit as
// the twins' state (incident events, provisioning changes). A shard hands them over with its
// ShardBatch: the batch's `collected` step gives them to the EventsSink on the store writer's
// thread, in submission order, before the round's commit.
#pragma once

#include <functional>
#include <vector>

#include "twins/incident.h"
#include "twins/messages.h"

namespace dctwin {

struct ShardEvents {
  std::vector<IncidentEvent> incidents;
  std::vector<ProvisioningChange> provisioning;
  // Monotonic seconds when the earliest message behind `incidents` came from the broker (0: none
  // did, e.g. a timer's incidents). Rides along to the outbound queue, which measures the alert
  // latency.
  double received = 0;
  bool empty() const { return incidents.empty() && provisioning.empty(); }
};

// Runs on the store writer's thread (see above).
using EventsSink = std::function<void(ShardEvents& events)>;

}  // namespace dctwin
