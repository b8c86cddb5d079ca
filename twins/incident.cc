#include "twins/incident.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace dctwin {

namespace {
// FNV-1a, 64 bits: a health document has a few dozen fields, and a collision would have to fall
// between two consecutive healths of one twin.
class Fnv {
 public:
  void Bytes(const void* data, size_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < n; ++i) h_ = (h_ ^ p[i]) * 1099511628211ull;
  }
  template <class T>
  void Value(const T& v) {
    Bytes(&v, sizeof v);
  }
  void String(const std::string& s) {
    Value(s.size());
    Bytes(s.data(), s.size());
  }
  uint64_t value() const { return h_; }

 private:
  uint64_t h_ = 14695981039346656037ull;
};
}  // namespace

bool HealthMemo::Changed(const HealthUpdate& h) {
  Fnv f;
  f.Value(h.level);
  f.String(h.subject);
  f.Value(h.cleared);
  f.Value(h.status);
  f.Value(h.open.size());
  for (const std::string& id : h.open) f.String(id);
  f.String(h.rack);
  f.Value(h.by_kind.size());
  for (const auto& [kind, n] : h.by_kind) {
    f.String(kind);
    f.Value(n);
  }
  f.Value(h.members);
  f.Value(h.unhealthy.size());
  for (const std::string& r : h.unhealthy) f.String(r);
  f.Value(h.unhealthy_count);
  f.Value(h.maintenance);
  f.Value(h.since);
  f.Value(h.worst);
  f.Value(h.incidents.size());
  for (const IncidentRef& r : h.incidents) {
    f.String(r.kind);
    f.String(r.id);
    f.Value(r.severity);
    f.Value(r.opened_at);
  }
  if (seen_ && f.value() == fingerprint_) return false;
  seen_ = true;
  fingerprint_ = f.value();
  return true;
}

std::string_view LevelName(Level level) {
  switch (level) {
    case Level::kServer: return "server";
    case Level::kRack: return "rack";
    case Level::kDatacenter: return "datacenter";
    case Level::kGateway: return "gateway";
    case Level::kGroup: return "group";
  }
  return "server";
}

std::string_view SeverityName(Severity severity) {
  return severity == Severity::kCritical ? "critical" : "warning";
}

std::string_view StateName(IncidentState state) {
  switch (state) {
    case IncidentState::kOpen: return "open";
    case IncidentState::kResolved: return "resolved";
    case IncidentState::kAcknowledged: return "acknowledged";
    case IncidentState::kUpdated: return "updated";
  }
  return "open";
}

std::string_view HealthStatusName(HealthStatus status) {
  switch (status) {
    case HealthStatus::kOk: return "ok";
    case HealthStatus::kWarning: return "warning";
    case HealthStatus::kCritical: return "critical";
    case HealthStatus::kSilent: return "silent";
    case HealthStatus::kUnknown: return "unknown";
  }
  return "unknown";
}

bool ParseSeverity(std::string_view text, Severity* out) {
  if (text == "warning") {
    *out = Severity::kWarning;
    return true;
  }
  if (text == "critical") {
    *out = Severity::kCritical;
    return true;
  }
  return false;
}

std::string MakeIncidentId(Level level, std::string_view subject, std::string_view kind, double now,
                           uint64_t seq) {
  std::string id;
  id.reserve(subject.size() + kind.size() + 40);
  id.append(LevelName(level)).append(":").append(subject).append(":").append(kind).append(":");
  char buf[48];
  std::snprintf(buf, sizeof buf, "%lld.%llu", static_cast<long long>(std::llround(now * 1000.0)),
                static_cast<unsigned long long>(seq));
  id.append(buf);
  return id;
}

IncidentEvent MakeEvent(const Incident& incident, Level level, const std::string& subject, const std::string& rack,
                        const std::string& datacenter, IncidentState state, double at) {
  IncidentEvent e;
  e.id = incident.id;
  e.level = level;
  e.subject = subject;
  e.rack = rack;
  e.datacenter = datacenter;
  e.kind = incident.kind;
  e.severity = incident.severity;
  e.state = state;
  e.opened_at = incident.opened_at;
  e.at = at;
  e.summary = incident.summary;
  e.caused_by = incident.caused_by;
  e.runbook = incident.runbook;
  e.flapping = incident.flapping;
  e.metric = incident.metric;
  e.figures = incident.figures;
  // Durations are counted from the event's time.
  for (Figure& f : e.figures) {
    if (f.name.size() > 2 && f.name.compare(f.name.size() - 2, 2, "_s") == 0 && incident.figures_at > 0) {
      f.value = std::max(0.0, f.value - (at - incident.figures_at));
    }
  }
  return e;
}

Severity Worst(Severity a, Severity b) {
  return (a == Severity::kCritical || b == Severity::kCritical) ? Severity::kCritical : Severity::kWarning;
}

}  // namespace dctwin
