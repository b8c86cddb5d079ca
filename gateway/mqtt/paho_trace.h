// QuietPahoTrace: Paho C's in-memory trace, down to errors.
//
// At its default level Paho C formats trace lines into a buffer in memory, under a process-wide
// lock, for every packet it handles (and more). In a profile of the gateway under a flood of
// reports, that formatting (vfprintf and its helpers) and the lock were a visible share of Paho's
// receive thread, and with the trace at errors the gateway's CPU per report fell by about a fifth
// (docs/performance.md). Nobody reads that buffer unless MQTT_C_CLIENT_TRACE asks Paho to write
// the trace out; then this leaves the level alone.
//
// Call after the first Paho client of the process was created (creating it initializes the
// library's trace settings). Thread-safe; only the first call does anything.
#pragma once

#include <MQTTAsync.h>

#include <cstdlib>
#include <mutex>

namespace dctwin {

inline void QuietPahoTrace() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (std::getenv("MQTT_C_CLIENT_TRACE") == nullptr) MQTTAsync_setTraceLevel(MQTTASYNC_TRACE_ERROR);
  });
}

}  // namespace dctwin
