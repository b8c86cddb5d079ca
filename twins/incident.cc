#include "twins/incident.h"

#include <cmath>
#include <cstdio>

namespace dctwin {

std::string_view LevelName(Level level) {
  switch (level) {
    case Level::kServer: return "server";
    case Level::kRack: return "rack";
    case Level::kDatacenter: return "datacenter";
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
  return e;
}

Severity Worst(Severity a, Severity b) {
  return (a == Severity::kCritical || b == Severity::kCritical) ? Severity::kCritical : Severity::kWarning;
}

}  // namespace dctwin
