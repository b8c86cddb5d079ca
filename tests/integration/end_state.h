// The end state of a fault test: every retained P/health/#, P/incidents/# and P/silences/# on
// the broker agrees with what the twins answer to queries, and every twin the gateway holds has
// its retained health. Read with real clients (mosquitto_sub --retained-only, mosquitto_rr).
#pragma once

#include <chrono>
#include <string>

namespace dctwin::testing {

// Each disagreement as one line; empty when the retained topics and the answers agree.
// `prefix` is the topic prefix (dctwin), `port` the broker's.
std::string RetainedDisagreements(int port, const std::string& prefix = "dctwin");

// Waits (up to `timeout`) until RetainedDisagreements() is empty; returns the last result.
std::string WaitForAgreement(int port, std::chrono::milliseconds timeout, const std::string& prefix = "dctwin");

}  // namespace dctwin::testing
