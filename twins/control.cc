#include "twins/control.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace dctwin {

namespace {
constexpr const char* kDrain = "drain";

std::string Number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.15g", v);
  return buf;
}

std::string DeltaText(const ControlMap& delta, const ControlMap& reported) {
  std::string out;
  for (const auto& [key, want] : delta) {
    if (!out.empty()) out += ", ";
    auto r = reported.find(key);
    out += key + " is " + (r == reported.end() ? std::string("not reported") : ControlValueText(r->second)) +
           ", desired " + ControlValueText(want);
  }
  return out;
}
}  // namespace

const char* ControlTypeName(ControlType t) {
  switch (t) {
    case ControlType::kNumber: return "number";
    case ControlType::kBool: return "bool";
    case ControlType::kString: return "string";
  }
  return "?";
}

const char* ControlStateName(ControlState s) {
  switch (s) {
    case ControlState::kInSync: return "in_sync";
    case ControlState::kPending: return "pending";
    case ControlState::kRejected: return "rejected";
    case ControlState::kFailed: return "failed";
    case ControlState::kTimeout: return "timeout";
  }
  return "?";
}

bool SameValue(const ControlValue& a, const ControlValue& b) { return a == b; }

std::string ControlValueText(const ControlValue& v) {
  if (const double* d = std::get_if<double>(&v)) return Number(*d);
  if (const bool* b = std::get_if<bool>(&v)) return *b ? "true" : "false";
  return std::get<std::string>(v);
}

const ControlKeySpec* ControlOptions::Key(const std::string& name) const {
  for (const ControlKeySpec& k : keys) {
    if (k.name == name) return &k;
  }
  return nullptr;
}

std::string CheckValue(const ControlKeySpec& spec, const ControlValue& v) {
  switch (spec.type) {
    case ControlType::kNumber: {
      const double* d = std::get_if<double>(&v);
      if (d == nullptr || !std::isfinite(*d)) return spec.name + " must be a number";
      if (spec.min && *d < *spec.min) return spec.name + " must be at least " + Number(*spec.min) + " (got " + Number(*d) + ")";
      if (spec.max && *d > *spec.max) return spec.name + " must be at most " + Number(*spec.max) + " (got " + Number(*d) + ")";
      return {};
    }
    case ControlType::kBool:
      if (!std::holds_alternative<bool>(v)) return spec.name + " must be true or false";
      return {};
    case ControlType::kString: {
      const std::string* s = std::get_if<std::string>(&v);
      if (s == nullptr) return spec.name + " must be a string";
      if (!spec.values.empty() && std::find(spec.values.begin(), spec.values.end(), *s) == spec.values.end()) {
        std::string allowed;
        for (const std::string& a : spec.values) allowed += (allowed.empty() ? "" : ", ") + a;
        return spec.name + " must be one of " + allowed + " (got " + *s + ")";
      }
      return {};
    }
  }
  return {};
}

ControlMap ServerControl::Delta() const {
  ControlMap delta;
  for (const auto& [key, want] : desired) {
    auto r = reported.find(key);
    if (r == reported.end() || !SameValue(r->second, want)) delta.emplace(key, want);
  }
  return delta;
}

bool ServerControl::Waiting() const {
  return version > 0 && (reported_version < version || ac == 0 || ac == kAckInProgress);
}

ControlState ServerControl::State() const {
  if (version == 0) return ControlState::kInSync;
  if (Waiting()) return timed_out ? ControlState::kTimeout : ControlState::kPending;
  if (ac == kAckRefused) return ControlState::kRejected;
  if (ac == kAckFailed) return ControlState::kFailed;
  // Applied: in sync unless a value left its desired one (drift), which waits to be set again.
  return Delta().empty() ? ControlState::kInSync : ControlState::kPending;
}

bool ServerControl::Drained() const {
  auto is_true = [](const ControlMap& m) {
    auto it = m.find(kDrain);
    return it != m.end() && std::holds_alternative<bool>(it->second) && std::get<bool>(it->second);
  };
  return is_true(desired) || is_true(reported);
}

void ControlBook::Commission(const std::string& server, const std::string& rack) {
  auto it = rack_of_.find(server);
  if (it != rack_of_.end()) {
    if (it->second == rack) return;
    // A move: the server's drained state goes with it.
    const bool drained = Find(server) != nullptr && Find(server)->Drained();
    RackCount& old = racks_[it->second];
    old.servers.erase(server);
    if (drained) --old.drained;
    if (old.servers.empty()) racks_.erase(it->second);
    it->second = rack;
    RackCount& now = racks_[rack];
    now.servers.insert(server);
    if (drained) ++now.drained;
    return;
  }
  rack_of_.emplace(server, rack);
  RackCount& rc = racks_[rack];
  rc.servers.insert(server);
  if (const ServerControl* s = Find(server); s != nullptr && s->Drained()) {
    ++rc.drained;
    ++drained_total_;
  }
}

void ControlBook::Decommission(const std::string& server) {
  auto it = rack_of_.find(server);
  auto st = state_.find(server);
  const bool drained = st != state_.end() && st->second.Drained();
  if (it != rack_of_.end()) {
    auto rc = racks_.find(it->second);
    if (rc != racks_.end()) {
      rc->second.servers.erase(server);
      if (drained) --rc->second.drained;
      if (rc->second.servers.empty()) racks_.erase(rc);
    }
    if (drained) --drained_total_;
    rack_of_.erase(it);
  }
  if (st != state_.end()) {
    ClearDeadline(server);
    state_.erase(st);
  }
}

const std::string* ControlBook::RackOf(const std::string& server) const {
  auto it = rack_of_.find(server);
  return it == rack_of_.end() ? nullptr : &it->second;
}

const ServerControl* ControlBook::Find(const std::string& server) const {
  auto it = state_.find(server);
  return it == state_.end() ? nullptr : &it->second;
}

int ControlBook::drained_in_rack(const std::string& rack) const {
  auto it = racks_.find(rack);
  return it == racks_.end() ? 0 : it->second.drained;
}

int ControlBook::rack_size(const std::string& rack) const {
  auto it = racks_.find(rack);
  return it == racks_.end() ? 0 : static_cast<int>(it->second.servers.size());
}

std::vector<std::string> ControlBook::RackServers(const std::string& rack) const {
  auto it = racks_.find(rack);
  if (it == racks_.end()) return {};
  return {it->second.servers.begin(), it->second.servers.end()};
}

int ControlBook::Allowed(double fraction, int n) {
  if (fraction <= 0 || n <= 0) return 0;
  return std::max(1, static_cast<int>(std::floor(fraction * n + 1e-9)));
}

std::vector<std::string> ControlBook::ServersWithState() const {
  std::vector<std::string> out;
  out.reserve(state_.size());
  for (const auto& [server, s] : state_) out.push_back(server);
  std::sort(out.begin(), out.end());
  return out;
}

void ControlBook::Recount(const std::string& server, bool was_drained) {
  const ServerControl* s = Find(server);
  const bool drained = s != nullptr && s->Drained();
  if (drained == was_drained) return;
  const int d = drained ? 1 : -1;
  drained_total_ += d;
  auto r = rack_of_.find(server);
  if (r != rack_of_.end()) racks_[r->second].drained += d;
}

void ControlBook::Restore(const std::string& server, ServerControl state, double now, double mono) {
  const bool was = Find(server) != nullptr && Find(server)->Drained();
  if (state.Waiting() && !state.timed_out) {
    const double left = std::max(0.0, options_.ack_timeout_s - std::max(0.0, now - state.changed_at));
    SetDeadline(server, mono + left, state.version);
  }
  state_[server] = std::move(state);
  Recount(server, was);
}

std::string ControlBook::CheckKeys(const ControlChange& change) const {
  if (change.set.empty()) return "\"set\" is required: the keys to change, e.g. {\"drain\": true}";
  for (const auto& [key, value] : change.set) {
    const ControlKeySpec* spec = options_.Key(key);
    if (spec == nullptr) {
      std::string known;
      for (const ControlKeySpec& k : options_.keys) known += (known.empty() ? "" : ", ") + k.name;
      return "unknown key " + key + (known.empty() ? std::string("; no control keys are configured ([[control.keys]])")
                                                    : "; the keys are " + known);
    }
    if (value) {
      if (std::string why = CheckValue(*spec, *value); !why.empty()) return why;
    }
  }
  return {};
}

ControlDecision ControlBook::Change(const ControlChange& change, double now, double mono, bool apply) {
  ControlDecision d;
  // Which servers (first: a pod says nothing about a server or rack another pod holds).
  std::vector<std::string> targets;
  if (!change.server.empty()) {
    if (!Known(change.server)) {
      d.error = "unknown server " + change.server + " (not commissioned)";
      d.unknown = true;
      return d;
    }
    targets.push_back(change.server);
  } else {
    auto it = racks_.find(change.rack);
    if (it == racks_.end() || it->second.servers.empty()) {
      d.error = "unknown rack " + change.rack + " (no commissioned servers)";
      d.unknown = true;
      return d;
    }
    targets.assign(it->second.servers.begin(), it->second.servers.end());
  }
  if (std::string why = CheckKeys(change); !why.empty()) {
    d.error = why;
    d.interlock = why.rfind("unknown key", 0) == 0 ? "" : "range";
    return d;
  }
  if (change.version) {
    const ServerControl* s = Find(targets.front());
    const uint64_t current = s == nullptr ? 0 : s->version;
    if (*change.version != current) {
      d.error = "version " + std::to_string(*change.version) + " is not the current version of server " +
                targets.front() + " (" + std::to_string(current) + "): someone changed it meanwhile";
      d.interlock = "version";
      return d;
    }
  }
  // The rate of changes for the site.
  while (!changes_.empty() && changes_.front() <= mono - 60) changes_.pop_front();
  if (static_cast<int>(changes_.size() + targets.size()) > options_.max_changes_per_min) {
    d.error = "interlock max_changes_per_min: " + std::to_string(changes_.size()) + " changes in the last minute, " +
              std::to_string(targets.size()) + " more would pass the site's limit of " +
              std::to_string(options_.max_changes_per_min);
    d.interlock = "max_changes_per_min";
    return d;
  }
  // The desired state each target would have.
  std::vector<ServerControl> next;
  next.reserve(targets.size());
  std::map<std::string, int> drained_after;  // rack -> drained count after the change
  int total_after = drained_total_;
  for (const std::string& server : targets) {
    const ServerControl* cur = Find(server);
    ServerControl n = cur == nullptr ? ServerControl{} : *cur;
    const bool was = n.Drained();
    for (const auto& [key, value] : change.set) {
      if (value) {
        n.desired[key] = *value;
      } else {
        n.desired.erase(key);
      }
    }
    const bool is = n.Drained();
    const std::string& rack = rack_of_.at(server);
    auto [it, fresh] = drained_after.emplace(rack, drained_in_rack(rack));
    it->second += (is ? 1 : 0) - (was ? 1 : 0);
    total_after += (is ? 1 : 0) - (was ? 1 : 0);
    next.push_back(std::move(n));
  }
  for (const auto& [rack, drained] : drained_after) {
    const int size = rack_size(rack);
    const int allowed = Allowed(options_.max_drained_per_rack, size);
    if (drained > drained_in_rack(rack) && drained > allowed) {
      d.error = "interlock max_drained_per_rack: " + std::to_string(drained) + " of the " + std::to_string(size) +
                " servers of rack " + rack + " would be drained; at most " + std::to_string(allowed) + " (" +
                Number(options_.max_drained_per_rack) + ") may be";
      d.interlock = "max_drained_per_rack";
      return d;
    }
  }
  const int site = static_cast<int>(rack_of_.size());
  const int site_allowed = Allowed(options_.max_drained_per_datacenter, site);
  if (total_after > drained_total_ && total_after > site_allowed) {
    d.error = "interlock max_drained_per_datacenter: " + std::to_string(total_after) + " of the " +
              std::to_string(site) + " servers would be drained; at most " + std::to_string(site_allowed) + " (" +
              Number(options_.max_drained_per_datacenter) + ") may be";
    d.interlock = "max_drained_per_datacenter";
    return d;
  }
  for (size_t i = 0; i < targets.size(); ++i) {
    d.servers.emplace_back(targets[i], next[i].version + 1);
  }
  if (!apply) return d;
  for (size_t i = 0; i < targets.size(); ++i) {
    const std::string& server = targets[i];
    const bool was = Find(server) != nullptr && Find(server)->Drained();
    ServerControl& n = next[i];
    n.version += 1;
    n.changed_at = now;
    n.by = change.by;
    n.comment = change.comment;
    n.applied = false;
    n.timed_out = false;
    SetDeadline(server, mono + options_.ack_timeout_s, n.version);
    state_[server] = std::move(n);
    Recount(server, was);
    changes_.push_back(mono);
  }
  return d;
}

ReportOutcome ControlBook::Report(const std::string& server, uint64_t version, const ControlMap& reported,
                                  const std::vector<std::string>& removed, int ac, const std::string& ad,
                                  double now) {
  ReportOutcome out;
  if (!Known(server)) {
    out.why = "server " + server + " is not commissioned";
    return out;
  }
  const ServerControl* cur = Find(server);
  const uint64_t issued = cur == nullptr ? 0 : cur->version;
  if (version > issued) {
    out.why = "reports version " + std::to_string(version) + ", but the newest version of server " + server +
              " is " + std::to_string(issued);
    return out;
  }
  if (cur != nullptr && (version < cur->reported_version ||
                         (version == cur->reported_version && ac == kAckInProgress && cur->ac != 0 &&
                          cur->ac != kAckInProgress))) {
    out.kind = ReportOutcome::Kind::kStale;
    out.why = "version " + std::to_string(version) + " (ac " + std::to_string(ac) + ") arrived after version " +
              std::to_string(cur->reported_version) + " (ac " + std::to_string(cur->ac) + ")";
    return out;
  }
  ServerControl n = cur == nullptr ? ServerControl{} : *cur;
  const bool was = n.Drained();
  for (const auto& [key, value] : reported) n.reported[key] = value;
  for (const std::string& key : removed) n.reported.erase(key);
  n.reported_version = version;
  n.ac = ac;
  n.ad = ad;
  if (version == n.version && ac == kAckApplied) n.applied = true;
  if (cur != nullptr && n.reported == cur->reported && n.reported_version == cur->reported_version &&
      n.ac == cur->ac && n.ad == cur->ad) {
    out.kind = ReportOutcome::Kind::kUnchanged;
    return out;
  }
  n.reported_at = now;
  if (!n.Waiting()) ClearDeadline(server);
  state_[server] = std::move(n);
  Recount(server, was);
  out.kind = ReportOutcome::Kind::kApplied;
  return out;
}

void ControlBook::SetDeadline(const std::string& server, double mono, uint64_t version) {
  ClearDeadline(server);
  deadlines_[{mono, server}] = version;
  deadline_of_[server] = mono;
}

void ControlBook::ClearDeadline(const std::string& server) {
  auto it = deadline_of_.find(server);
  if (it == deadline_of_.end()) return;
  deadlines_.erase({it->second, server});
  deadline_of_.erase(it);
}

std::vector<std::string> ControlBook::CheckTimeouts(double mono) {
  std::vector<std::string> out;
  while (!deadlines_.empty() && deadlines_.begin()->first.first <= mono) {
    auto node = deadlines_.extract(deadlines_.begin());
    const std::string& server = node.key().second;
    deadline_of_.erase(server);
    auto it = state_.find(server);
    if (it == state_.end() || it->second.version != node.mapped() || !it->second.Waiting()) continue;
    it->second.timed_out = true;
    out.push_back(server);
  }
  return out;
}

bool ControlBook::Incidents(const std::string& server, ControlIncidents* out, bool force) {
  auto it = state_.find(server);
  if (it == state_.end()) return false;
  ServerControl& s = it->second;
  const ControlState state = s.State();
  const ControlMap delta = s.Delta();
  bool control = s.control_open;
  if (state == ControlState::kTimeout || state == ControlState::kRejected || state == ControlState::kFailed) {
    control = true;
  } else if (state == ControlState::kInSync) {
    control = false;  // it resolves once reported matches desired
  }
  const bool drift = s.applied && s.reported_version == s.version && s.ac == kAckApplied && !delta.empty();
  *out = ControlIncidents{};
  out->server = server;
  out->control = control;
  out->drift = drift;
  const std::string* rack = RackOf(server);
  const std::string where = "server " + server + (rack != nullptr ? " in rack " + *rack : std::string());
  const std::string v = "version " + std::to_string(s.version);
  if (control) {
    switch (state) {
      case ControlState::kTimeout:
        out->control_summary = v + " of the desired state was not applied by " + where + " within " +
                               Number(options_.ack_timeout_s) + " s (" + DeltaText(delta, s.reported) + ")";
        break;
      case ControlState::kRejected:
        out->control_summary = where + " refused " + v + " of the desired state" + (s.ad.empty() ? "" : ": " + s.ad);
        break;
      case ControlState::kFailed:
        out->control_summary = where + " failed to apply " + v + " of the desired state" +
                               (s.ad.empty() ? "" : ": " + s.ad);
        break;
      default:
        out->control_summary = where + " has not reached its desired state (" + DeltaText(delta, s.reported) + ")";
    }
  }
  if (drift) {
    out->drift_summary = where + " left its desired state after applying " + v + ": " + DeltaText(delta, s.reported);
  }
  const bool changed = control != s.control_open || drift != s.drift_open;
  s.control_open = control;
  s.drift_open = drift;
  return changed || force;
}

}  // namespace dctwin
