#include "gateway/twin_host.h"

#include <utility>

namespace dctwin {

TwinHost::TwinHost(size_t shard, const ModelConfig& model, RegistryOptions options, std::string prefix,
                   ShardPool<Envelope>& pool, AlertPublisher& alerts, DeadLetters& dead_letters)
    : shard_(shard), datacenter_(options.datacenter), prefix_(std::move(prefix)), pool_(pool), alerts_(alerts),
      dead_letters_(dead_letters), registry_(model, std::move(options)) {}

void TwinHost::OnStart(double now) {
  if (pool_.ShardOf(TwinAddress{Level::kDatacenter, datacenter_}.Hash()) != shard_) return;
  Effects out;
  registry_.StartDatacenter(now, out);
  counters_.datacenters.store(1, std::memory_order_relaxed);
  Apply(out);
}

void TwinHost::Handle(Envelope& env) {
  Effects out;
  switch (registry_.Handle(env, out)) {
    case TwinRegistry::Outcome::kUncommissioned:
      dead_letters_.Reject(RejectReason::kUncommissioned, prefix_ + "/metrics/" + env.to.id,
                           "server " + env.to.id + " is not commissioned; report dropped", "");
      break;
    case TwinRegistry::Outcome::kRejected:
      dead_letters_.Reject(RejectReason::kBadTimestamp, prefix_ + "/metrics/" + env.to.id, out.rejected, "");
      break;
    case TwinRegistry::Outcome::kApplied:
    case TwinRegistry::Outcome::kIgnored:
      break;
  }
  Apply(out);
}

void TwinHost::Tick(double now) {
  Effects out;
  registry_.FireTimers(now, out);
  Apply(out);
}

void TwinHost::Apply(Effects& out) {
  for (const IncidentEvent& e : out.events) {
    counters_.open_incidents.fetch_add(e.state == IncidentState::kOpen ? 1 : -1, std::memory_order_relaxed);
    alerts_.PublishEvent(e);
  }
  for (const HealthUpdate& h : out.health) alerts_.PublishHealth(h);
  for (const QueryReply& r : out.replies) alerts_.PublishReply(r);
  for (Envelope& s : out.sends) {
    const size_t hash = s.to.Hash();
    pool_.PostInternal(hash, std::move(s));
  }
  if (out.report_applied) counters_.messages_in.fetch_add(1, std::memory_order_relaxed);
  counters_.servers.store(static_cast<int64_t>(registry_.server_count()), std::memory_order_relaxed);
  counters_.racks.store(static_cast<int64_t>(registry_.rack_count()), std::memory_order_relaxed);
}

}  // namespace dctwin
