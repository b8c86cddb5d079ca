// TwinHost: what one shard does. Owns the twins whose address hashes to this shard, hands each
// message to its twin, runs the shard's silence timers, and turns the twins' effects into
// publications and messages to other twins (through the pool, never by direct calls).
//
// Not thread-safe: every method runs on the shard's own thread. counters() may be read from
// any thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <queue>
#include <string>
#include <unordered_map>
#include <vector>

#include "gateway/alert_publisher.h"
#include "gateway/dead_letters.h"
#include "gateway/shard_pool.h"
#include "twins/datacenter_twin.h"
#include "twins/messages.h"
#include "twins/model.h"
#include "twins/rack_twin.h"
#include "twins/server_twin.h"

namespace dctwin {

struct HostCounters {
  std::atomic<uint64_t> messages_in{0};      // reports fully applied to a twin
  std::atomic<int64_t> servers{0};
  std::atomic<int64_t> racks{0};
  std::atomic<int64_t> datacenters{0};
  std::atomic<int64_t> open_incidents{0};
};

struct HostOptions {
  std::string prefix;
  std::string datacenter;
  bool auto_commission = false;
  std::string default_rack;
};

class TwinHost : public ShardHandler<Envelope> {
 public:
  TwinHost(size_t shard, const ModelConfig& model, HostOptions options, ShardPool<Envelope>& pool,
           AlertPublisher& alerts, DeadLetters& dead_letters);

  void OnStart(double now) override;
  void Handle(Envelope& env) override;
  void Tick(double now) override;

  const HostCounters& counters() const { return counters_; }

 private:
  struct ServerSlot {
    explicit ServerSlot(ServerTwin t) : twin(std::move(t)) {}
    ServerTwin twin;
    uint64_t generation = 0;
    bool armed = false;  // a timer entry for this generation is in the heap
  };
  struct TimerEntry {
    double deadline;
    uint64_t generation;
    std::string server;
    bool operator>(const TimerEntry& o) const { return deadline > o.deadline; }
  };

  void HandleServer(Envelope& env, Effects& out);
  void HandleRack(Envelope& env, Effects& out);
  void HandleDatacenter(Envelope& env, Effects& out);
  ServerSlot& CommissionSlot(const std::string& id, const std::string& rack, double now, Effects& out);
  void Arm(const std::string& id, ServerSlot& slot);
  void Apply(Effects& out);
  bool Owns(const TwinAddress& address) const { return pool_.ShardOf(address.Hash()) == shard_; }

  // Constant after construction
  const size_t shard_;
  const HostOptions options_;
  ShardPool<Envelope>& pool_;
  AlertPublisher& alerts_;
  DeadLetters& dead_letters_;

  RuleSet rules_;
  std::unordered_map<std::string, ServerSlot> servers_;
  std::unordered_map<std::string, RackTwin> racks_;
  std::unique_ptr<DatacenterTwin> datacenter_;  // only on the shard that owns the datacenter's address
  std::priority_queue<TimerEntry, std::vector<TimerEntry>, std::greater<TimerEntry>> timers_;
  uint64_t next_generation_ = 0;
  HostCounters counters_;
};

}  // namespace dctwin
