#include "gateway/runtime/twin_host.h"

#include <limits>
#include <optional>
#include <utility>
#include <variant>

#include "storage/twin_codec.h"

namespace dctwin {

TwinHost::TwinHost(size_t shard, const ModelConfig& model, RegistryOptions options, std::string prefix,
                   ShardPool<Envelope>& pool, AlertPublisher& alerts, ReplyBook& replies, DeadLetters& dead_letters,
                   StoreWriter& writer,
                   SilenceCensus& census, std::chrono::milliseconds flush_interval, size_t flush_changes,
                   TwinLimits& limits)
    : shard_(shard), datacenter_(options.datacenter), auto_commission_(options.auto_commission),
      prefix_(std::move(prefix)), pool_(pool), replies_(replies),
      dead_letters_(dead_letters), writer_(writer), census_(census), limits_(limits),
      flush_interval_s_(std::chrono::duration<double>(flush_interval).count()), flush_changes_(flush_changes),
      registry_(model, std::move(options)), assembler_(model.assemble_s), limiter_(model.max_messages_per_s),
      effects_(pool, alerts, replies) {}

Status TwinHost::Restore(const TwinRecord& record) {
  if (record.version > kTwinFormat) {
    return Status::NotSupported("format " + std::to_string(record.version) + " is newer than this gateway's");
  }
  Status s;
  const TwinAddress address{LevelOfKind(record.key.kind), record.key.id};
  switch (static_cast<TwinKind>(record.key.kind)) {
    case TwinKind::kServer:
      s = DecodeTwin(record.state, registry_.RestoreServer(record.key.id));
      break;
    case TwinKind::kRack:
      s = DecodeTwin(record.state, registry_.RestoreRack(record.key.id));
      break;
    case TwinKind::kDatacenter:
      if (record.key.id != datacenter_) return Status::Invalid("state of another datacenter (" + record.key.id + ")");
      s = DecodeTwin(record.state, registry_.RestoreDatacenter());
      break;
    case TwinKind::kGroup:
      s = DecodeTwin(record.state, registry_.RestoreGroup(record.key.id));
      break;
    case TwinKind::kRackMember: {
      const size_t slash = record.key.id.find('/');
      if (slash == std::string::npos) return Status::Corruption("a rack member's row is keyed <rack>/<server>");
      RackMemberRow row;
      s = DecodeRackMember(record.state, &row);
      if (!s.ok()) return s;  // that member only: its server tells its rack again with its next change
      registry_.RestoreRackMember(record.key.id.substr(0, slash), record.key.id.substr(slash + 1), std::move(row.open),
                                  row.maintenance);
      return s;
    }
    case TwinKind::kDatacenterRack: {
      // A bad row loses that rack's status only: the pod publishes it again with its next change.
      RackStatus status;
      s = DecodeRackStatus(record.state, &status);
      if (!s.ok()) return s;
      if (status.rack != record.key.id) return Status::Corruption("rack row " + record.key.id + " holds " + status.rack);
      registry_.RestoreDatacenterRack(std::move(status));
      return s;
    }
    default:
      return Status::Corruption("unknown twin kind " + std::to_string(record.key.kind));
  }
  if (!s.ok()) registry_.Forget(address);
  return s;
}

std::map<std::string, int64_t> TwinHost::OpenByKind() const {
  MutexLock lock(open_mu_);
  return open_by_kind_;
}

namespace {
// The monotonic clock, in seconds: silence deadlines run on it.
// How an event changes the count of open incidents.
int OpenDelta(IncidentState s) {
  return s == IncidentState::kOpen ? 1 : s == IncidentState::kResolved ? -1 : 0;
}

double MonoNow() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
}  // namespace

std::vector<std::string> TwinHost::FinishRestore(double not_before, double now) {
  registry_.TakeDirty(0, true);  // what was just loaded is what the store holds
  // Conditions bound to rules edited while the gateway was down may resolve incidents: those
  // events, and the twins they changed, are committed like any others.
  Effects out;
  registry_.FinishRestore(not_before, now, MonoNow(), out);
  std::vector<std::string> resolved;
  for (const IncidentEvent& e : out.events) {
    if (e.state == IncidentState::kResolved) resolved.push_back(e.id);
  }
  Apply(out);
  limits_.servers.fetch_add(static_cast<int64_t>(registry_.server_count()), std::memory_order_relaxed);
  int64_t bytes = 0;
  registry_.ForEachServer([&](const ServerTwin& twin) { bytes += static_cast<int64_t>(twin.ApproxBytes()); });
  limits_.bytes.fetch_add(bytes, std::memory_order_relaxed);
  {
    MutexLock lock(open_mu_);
    open_by_kind_ = registry_.OpenIncidentsByKind();
    int64_t open = 0;
    for (const auto& [kind, n] : open_by_kind_) open += n;
    counters_.open_incidents.store(open, std::memory_order_relaxed);
  }
  counters_.datacenters.store(registry_.datacenter() ? 1 : 0, std::memory_order_relaxed);
  UpdateCounts();
  return resolved;
}

void TwinHost::UpdateModel(const ModelConfig& model) {
  {
    MutexLock lock(model_mu_);
    next_model_ = std::make_unique<ModelConfig>(model);
  }
  model_waiting_.store(true, std::memory_order_release);
}

void TwinHost::SetMaintenance(std::shared_ptr<const std::vector<Silence>> active) {
  {
    MutexLock lock(model_mu_);
    next_maintenance_ = std::move(active);
  }
  maintenance_waiting_.store(true, std::memory_order_release);
}

void TwinHost::ApplyPendingMaintenance(double now) {
  if (!maintenance_waiting_.load(std::memory_order_acquire) || !maintenance_waiting_.exchange(false)) return;
  std::shared_ptr<const std::vector<Silence>> active;
  {
    MutexLock lock(model_mu_);
    active = std::move(next_maintenance_);
  }
  Effects out;
  registry_.SetMaintenance(std::move(active), now, out);
  Apply(out);
}

void TwinHost::ApplyPendingModel(double now) {
  ApplyPendingMaintenance(now);
  if (!model_waiting_.load(std::memory_order_acquire) || !model_waiting_.exchange(false)) return;
  std::unique_ptr<ModelConfig> model;
  {
    MutexLock lock(model_mu_);
    model = std::move(next_model_);
  }
  if (!model) return;
  assembler_.set_assemble_s(model->assemble_s);
  limiter_.set_rate(model->max_messages_per_s);
  Effects out;
  registry_.UpdateModel(*model, now, out);
  Apply(out);
}

void TwinHost::AfterBatch(double now) { Seal(now, false); }

void TwinHost::Seal(double now, bool force) {
  if (!force && events_.empty() && !effects_.holding() &&
      !samples_due_ && now - last_seal_ < flush_interval_s_ && registry_.dirty_count() < flush_changes_ &&
      !RoundFull()) {
    return;
  }
  last_seal_ = now;
  if (rollups_) {
    if (force) rollups_->Close(std::numeric_limits<double>::infinity());  // at stop: the parts so far
    std::vector<RollupRow> rows = rollups_->Take();
    pending_.rollups.insert(pending_.rollups.end(), std::make_move_iterator(rows.begin()),
                            std::make_move_iterator(rows.end()));
  }
  // Twins with only new samples come due in waves (servers that began reporting together): a
  // few hundred per round keep a wave from holding up the reports behind it.
  constexpr size_t kSampledPerRound = 256;
  TwinRegistry::Dirty dirty = registry_.TakeDirty(now, force, force ? SIZE_MAX : kSampledPerRound);
  samples_due_ = dirty.more_sampled;
  auto encode = [&](const TwinAddress& a, std::vector<TwinRecord>& upserts) {
    TwinKey key;
    key.id = a.id;
    key.kind = KindOf(a.level);
    std::string state;
    switch (a.level) {
      case Level::kServer:
        if (const ServerTwin* t = registry_.server(a.id)) state = EncodeTwin(*t);
        break;
      case Level::kRack:
        if (const RackTwin* t = registry_.rack(a.id)) state = EncodeTwin(*t);
        break;
      case Level::kDatacenter:
        if (const DatacenterTwin* t = registry_.datacenter()) state = EncodeTwin(*t);
        break;
      case Level::kGroup:
        if (const GroupTwin* t = registry_.group(a.id)) state = EncodeTwin(*t);
        break;
      case Level::kGateway:
        break;  // never a twin
    }
    if (state.empty()) {
      pending_.deletes.push_back(std::move(key));
    } else {
      upserts.push_back(TwinRecord{std::move(key), kTwinFormat, std::move(state)});
    }
  };
  for (const TwinAddress& a : dirty.changed) encode(a, pending_.upserts);
  for (const TwinAddress& a : dirty.sampled) encode(a, pending_.sample_upserts);
  for (const auto& [rack, server] : dirty.rack_members) {
    TwinKey key{static_cast<uint8_t>(TwinKind::kRackMember), rack + "/" + server};
    std::optional<RackMemberRow> row;
    if (const RackTwin* twin = registry_.rack(rack)) {
      auto m = twin->members().find(server);
      if (m != twin->members().end()) row = RackMemberRow{m->second, twin->maintenance().count(server) > 0};
    }
    if (row) {
      pending_.upserts.push_back(TwinRecord{std::move(key), kTwinFormat, EncodeRackMember(*row)});
    } else {
      pending_.deletes.push_back(std::move(key));
    }
  }
  for (const std::string& rack : dirty.datacenter_racks) {
    TwinKey key{static_cast<uint8_t>(TwinKind::kDatacenterRack), rack};
    const DatacenterTwin* dc = registry_.datacenter();
    if (const RackStatus* status = dc != nullptr ? dc->rack(rack) : nullptr) {
      pending_.upserts.push_back(TwinRecord{std::move(key), kTwinFormat, EncodeRackStatus(*status)});
    } else {
      pending_.deletes.push_back(std::move(key));
    }
  }
  if (!events_.empty() && events_sink_) {
    pending_.collected = [sink = events_sink_, events = std::exchange(events_, ShardEvents{})]() mutable {
      sink(events);
    };
  }
  events_ = ShardEvents{};
  pending_.released = effects_.Seal();
  if (!pending_.empty()) writer_.Submit(std::exchange(pending_, ShardBatch{}));
}

void TwinHost::UpdateCounts() {
  counters_.servers.store(static_cast<int64_t>(registry_.server_count()), std::memory_order_relaxed);
  counters_.racks.store(static_cast<int64_t>(registry_.rack_count()), std::memory_order_relaxed);
}

void TwinHost::OnStart(double now) {
  if (pool_.ShardOf(TwinAddress{Level::kDatacenter, datacenter_}.Hash()) != shard_) return;
  Effects out;
  registry_.StartDatacenter(now, out);
  counters_.datacenters.store(1, std::memory_order_relaxed);
  Apply(out);
}

void TwinHost::Handle(Envelope& env) {
  ApplyPendingModel(env.now);  // a reload applies before the next message, not after its batch
  env.mono = MonoNow();
  const bool known = env.to.level == Level::kServer && registry_.server(env.to.id) != nullptr;
  if (auto* report = std::get_if<Report>(&env.msg); report && (known || auto_commission_)) {
    // Parts from unknown servers wait in the assembler until their report is whole, and only then
    // take a slot (Deliver): while no slot is left, they are not kept at all.
    if (!known && report->partial &&
        (limits_.servers.load(std::memory_order_relaxed) >= limits_.max_servers || limits_.over_memory())) {
      RefuseServer(env, limits_.over_memory());
      return;
    }
    // The budget counts reports: collectd sends one message per plugin and type instance, hundreds
    // per interval on a big host, and all the parts of one report take one token.
    if (known && (!report->partial || assembler_.StartsReport(env.to.id, *report)) &&
        !limiter_.Take(env.to.id, env.mono)) {
      dead_letters_.Reject(RejectReason::kRateLimited, prefix_ + "/metrics/" + env.to.id,
                           "server " + env.to.id + " sends more than max_messages_per_s", "");
      return;
    }
    if (report->partial) {
      Report done;
      if (assembler_.Add(env.to.id, *report, env.mono, &done)) {
        // Whole with this part: its receipt is the report's.
        Deliver(Envelope{env.to, env.now, std::move(done), env.mono, env.received});
      }
      return;
    }
  }
  Deliver(env);
  if (std::holds_alternative<Decommission>(env.msg)) {
    assembler_.Forget(env.to.id);
    limiter_.Forget(env.to.id);
  }
}

namespace {
std::string BudgetMiB(const TwinLimits& limits) {
  return std::to_string(limits.max_bytes.load(std::memory_order_relaxed) >> 20) + " MiB";
}
}  // namespace

void TwinHost::RefuseServer(const Envelope& env, bool memory) {
  (memory ? counters_.memory_refused : counters_.servers_refused).fetch_add(1, std::memory_order_relaxed);
  dead_letters_.Reject(RejectReason::kLimit,
                       prefix_ + (std::holds_alternative<Commission>(env.msg) ? "/provisioning/" : "/metrics/") + env.to.id,
                       memory ? "server " + env.to.id + " not created: the server twins hold model.max_memory_mb (" +
                                    BudgetMiB(limits_) + ")"
                              : "the gateway holds max_servers (" + std::to_string(limits_.max_servers) + ") servers",
                       "");
}

bool TwinHost::StripNewMetrics(const std::string& server, const ServerTwin& twin, const Report& report, Report* kept) {
  std::string refused;
  for (const auto& metric : report.metrics) {
    if (twin.window().Has(metric.first)) continue;
    if (refused.empty()) *kept = Report{report.ts, {}, report.partial};
    refused += (refused.empty() ? "" : ", ") + metric.first;
  }
  if (refused.empty()) return false;
  for (const auto& metric : report.metrics) {
    if (twin.window().Has(metric.first)) kept->metrics.push_back(metric);
  }
  counters_.memory_refused.fetch_add(1, std::memory_order_relaxed);
  dead_letters_.Reject(RejectReason::kLimit, prefix_ + "/metrics/" + server,
                       "metrics new to server " + server + " not kept (" + refused +
                           "): the server twins hold model.max_memory_mb (" + BudgetMiB(limits_) +
                           "); the report's other metrics were applied",
                       "");
  return true;
}

bool TwinHost::ReserveServerSlot() {
  int64_t held = limits_.servers.load(std::memory_order_relaxed);
  do {
    if (held >= limits_.max_servers) return false;
  } while (!limits_.servers.compare_exchange_weak(held, held + 1, std::memory_order_relaxed));
  return true;
}

void TwinHost::Deliver(const Envelope& env) {
  // A commission, or a whole report from an unknown server when auto_commission is on, creates a
  // server: it takes one of max_servers' slots first, counted across all shards, so shards racing
  // at the limit cannot pass it. A slot the registry did not use goes back below.
  const bool creates = env.to.level == Level::kServer && registry_.server(env.to.id) == nullptr &&
                       (std::holds_alternative<Commission>(env.msg) ||
                        (auto_commission_ && std::holds_alternative<Report>(env.msg)));
  if (creates && limits_.over_memory()) {
    RefuseServer(env, true);
    return;
  }
  if (creates && !ReserveServerSlot()) {
    RefuseServer(env);
    return;
  }
  const ServerTwin* twin = env.to.level == Level::kServer ? registry_.server(env.to.id) : nullptr;
  if (const auto* report = std::get_if<Report>(&env.msg); report && twin != nullptr && limits_.over_memory()) {
    Report kept;
    if (StripNewMetrics(env.to.id, *twin, *report, &kept)) {
      Deliver(Envelope{env.to, env.now, std::move(kept), env.mono, env.received});
      return;
    }
  }
  const int64_t bytes_before = twin != nullptr ? static_cast<int64_t>(twin->ApproxBytes()) : 0;
  Effects out;
  const size_t servers_before = registry_.server_count();
  const TwinRegistry::Outcome outcome = registry_.Handle(env, out);
  if (rollups_ && outcome == TwinRegistry::Outcome::kApplied) {
    if (const auto* report = std::get_if<Report>(&env.msg)) {
      // What the window took (a refused timestamp is not a sample).
      if (out.reports_applied + out.reports_late > 0) rollups_->Add(env.to.id, report->ts, report->metrics);
    } else if (std::holds_alternative<Decommission>(env.msg)) {
      rollups_->Forget(env.to.id);
    }
  }
  if (!out.events.empty() && env.received > 0 &&
      (events_.received == 0 || env.received < events_.received)) {
    events_.received = env.received;
  }
  if (const auto* query = std::get_if<Query>(&env.msg); query && outcome == TwinRegistry::Outcome::kIgnored) {
    replies_.Forget(query->reply_token);  // another gateway holds the subject and answers
  }
  if (outcome == TwinRegistry::Outcome::kUncommissioned) {
    dead_letters_.Reject(RejectReason::kUncommissioned, prefix_ + "/metrics/" + env.to.id,
                         "server " + env.to.id + " is not commissioned; report dropped", "");
  }
  const int64_t change = static_cast<int64_t>(registry_.server_count()) - static_cast<int64_t>(servers_before);
  if (const int64_t unreserved = change - (creates ? 1 : 0); unreserved != 0) {
    limits_.servers.fetch_add(unreserved, std::memory_order_relaxed);
  }
  if (env.to.level == Level::kServer) {
    const ServerTwin* now_twin = registry_.server(env.to.id);
    const int64_t bytes_after = now_twin != nullptr ? static_cast<int64_t>(now_twin->ApproxBytes()) : 0;
    if (bytes_after != bytes_before) limits_.bytes.fetch_add(bytes_after - bytes_before, std::memory_order_relaxed);
  }
  Apply(out);
}

void TwinHost::Tick(double now) {
  ApplyPendingModel(now);
  const double mono = MonoNow();
  // Reports assembled from parts are applied once no part has come for assemble_s.
  for (auto& [server, report] : assembler_.Expire(mono)) {
    Deliver(Envelope{TwinAddress{Level::kServer, server}, now, std::move(report), mono});
  }
  if (mono - last_prune_ > 60) {
    last_prune_ = mono;
    limiter_.Prune(mono);  // the budget refills on the monotonic clock: a clock step changes nothing
  }
  if (rollups_) {
    // Once a minute: what a minute (or an hour) ago was goes out; every ten minutes also the
    // hours so far, so that a crash costs an hour's rollup at most ten minutes. A slice of the
    // servers per tick (a twentieth, at least 2,000), not all of them at once: the pass packs a
    // row per server, and the shard's reports wait while it runs.
    const auto minute = static_cast<int64_t>(now / 60);
    if (minute != rollup_minute_ && !rollups_->closing()) {
      const bool hours = rollup_minute_ != 0 && minute / 10 != rollup_minute_ / 10;
      rollup_minute_ = minute;
      rollups_->BeginClose(hours);
    }
    if (rollups_->closing()) rollups_->CloseSome(now, std::max<size_t>(2000, rollups_->servers() / 20));
  }
  Effects out;
  registry_.FireTimers(now, mono, census_.hold(), out);
  census_.Report(shard_, static_cast<int64_t>(registry_.overdue_count()),
                 static_cast<int64_t>(registry_.server_count()));
  Apply(out);
}

void TwinHost::Apply(Effects& out) {
  if (!out.rejected.empty()) {
    dead_letters_.Reject(RejectReason::kBadTimestamp, "(report of a server on shard " + std::to_string(shard_) + ")",
                         out.rejected, "");
  }
  // Incident events wait for the commit of the state that produced them (see StoreWriter).
  if (!out.events.empty()) {
    MutexLock lock(open_mu_);
    for (const IncidentEvent& e : out.events) {
      open_by_kind_[std::string(LevelName(e.level)) + "/" + e.kind] += OpenDelta(e.state);
    }
  }
  for (IncidentEvent& e : out.events) {
    counters_.open_incidents.fetch_add(OpenDelta(e.state), std::memory_order_relaxed);
    events_.incidents.push_back(std::move(e));
  }
  for (auto& c : out.provisioning) events_.provisioning.push_back(std::move(c));
  // Health, replies and messages to other twins wait for the commit of what produced them.
  effects_.Hold(out);
  if (out.reports_applied > 0) counters_.messages_in.fetch_add(out.reports_applied, std::memory_order_relaxed);
  if (out.reports_late > 0) counters_.reports_late.fetch_add(static_cast<uint64_t>(out.reports_late), std::memory_order_relaxed);
  if (out.metrics_ignored > 0) counters_.metrics_ignored.fetch_add(out.metrics_ignored, std::memory_order_relaxed);
  UpdateCounts();
}

}  // namespace dctwin
