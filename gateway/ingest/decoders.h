// Decoders for what arrives over MQTT: the native JSON report and provisioning events.
// Pure functions of their input; thread-safe (each thread keeps its own parser).
#pragma once

#include <string>
#include <string_view>

#include "gateway/ingest/collectd_types.h"
#include "gateway/publish/dead_letters.h"
#include "twins/messages.h"

namespace dctwin {

struct DecodeError {
  RejectReason reason = RejectReason::kBadJson;
  std::string detail;
};

// {"ts": 1732442400.5, "cpu_util": 0.42, ...}: `ts` optional (receive_time then); every other
// member must be a number.
bool DecodeNativeReport(std::string_view payload, double receive_time, Report* out, DecodeError* err);

// collectd's mqtt write plugin: topic collectd/<host>/<plugin>[-<pinst>]/<type>[-<tinst>], payload
// "<epoch>:<v1>[:<v2>...]" (collectd 5.12 sends a trailing NUL). `nan` and `U` are missing values,
// not zeros. Metric names are "<plugin part>/<type part>", with ".<ds>" per value for multi-value
// types (names from types.db).
bool DecodeCollectd(std::string_view plugin, std::string_view type, std::string_view payload,
                    const CollectdTypes& types, double receive_time, Report* out, DecodeError* err);

// InfluxDB line protocol as Telegraf's outputs.mqtt sends it: one or more lines of
// "<measurement>[,<tag>=<v>...] <field>=<value>[,...] [<ns timestamp>]". Metric names are
// "<measurement>.<field>"; floats, integers (i), unsigned (u) and booleans (as 1/0) count, strings
// are ignored. Lines with different timestamps become different reports.
bool DecodeLineProtocol(std::string_view payload, double receive_time, std::vector<Report>* out, DecodeError* err);

// {"action":"commission","rack":"<rack>"} or {"action":"decommission"}.
bool DecodeProvisioning(std::string_view payload, Message* out, DecodeError* err);

}  // namespace dctwin
