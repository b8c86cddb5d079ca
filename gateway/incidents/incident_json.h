// The JSON of the operator-facing records: incident events and records, silences. Written for
// MQTT and for the state database, and read back from the database at restore.
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "twins/incident.h"
#include "twins/silence.h"

namespace dctwin {

// An incident event on P/alerts/...: the contract's fields, plus runbook, flapping and
// silenced_by; an acknowledgement adds acked_by, acked_at and ack_comment.
std::string IncidentEventJson(const IncidentEvent& event);
// The retained record on P/incidents/...: the open incident with its ack, silence, flapping and
// runbook fields (silenced_by is [] when nothing mutes it).
std::string IncidentRecordJson(const IncidentEvent& record);
// Reads what IncidentRecordJson wrote. False with `error` set for anything else.
bool ParseIncidentRecord(std::string_view json, IncidentEvent* out, std::string* error);

// The record of a silence as P/query/silences lists it and P/silences/<id> holds it.
std::string SilenceJson(const Silence& silence, double now);
// What P/silences/<id> holds once the silence has expired: {"id", "state": "expired", "expired_at"}.
std::string SilenceTombstoneJson(const Silence& silence);
// Whether `json` is such a tombstone (then *expired_at is its time, when it has one).
bool IsSilenceTombstone(std::string_view json, double* expired_at);
// What the database keeps of a silence (SilenceJson plus what only the gateway needs).
std::string SilenceDocJson(const Silence& silence);
bool ParseSilenceDoc(std::string_view json, Silence* out, std::string* error);

}  // namespace dctwin
