// Decoders for what arrives over MQTT: the native JSON report and provisioning events.
// Pure functions of their input; thread-safe (each thread keeps its own parser).
#pragma once

#include <string>
#include <string_view>

#include "gateway/dead_letters.h"
#include "twins/messages.h"

namespace dctwin {

struct DecodeError {
  RejectReason reason = RejectReason::kBadJson;
  std::string detail;
};

// {"ts": 1732442400.5, "cpu_util": 0.42, ...}: `ts` optional (receive_time then); every other
// member must be a number.
bool DecodeNativeReport(std::string_view payload, double receive_time, Report* out, DecodeError* err);

// {"action":"commission","rack":"<rack>"} or {"action":"decommission"}.
bool DecodeProvisioning(std::string_view payload, Message* out, DecodeError* err);

}  // namespace dctwin
