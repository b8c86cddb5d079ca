#include "gateway/decoders.h"

#include <simdjson.h>

#include <cmath>
#include <utility>

#include "config/config.h"

namespace dctwin {

namespace {

constexpr size_t kMaxMetricName = 256;
constexpr size_t kMaxMetricsPerReport = 1024;

// simdjson reads a few bytes past the end of its input; keep one padded copy per thread.
simdjson::padded_string_view Padded(std::string_view payload) {
  thread_local std::string buffer;
  buffer.assign(payload);
  buffer.append(simdjson::SIMDJSON_PADDING, '\0');
  return simdjson::padded_string_view(buffer.data(), payload.size(), buffer.size());
}

simdjson::ondemand::parser& Parser() {
  thread_local simdjson::ondemand::parser parser;
  return parser;
}

bool Fail(DecodeError* err, RejectReason reason, std::string detail) {
  err->reason = reason;
  err->detail = std::move(detail);
  return false;
}

std::string JsonError(simdjson::error_code code) { return std::string("invalid JSON: ") + simdjson::error_message(code); }

}  // namespace

bool DecodeNativeReport(std::string_view payload, double receive_time, Report* out, DecodeError* err) {
  out->ts = receive_time;
  out->metrics.clear();
  simdjson::ondemand::document doc;
  if (auto code = Parser().iterate(Padded(payload)).get(doc)) return Fail(err, RejectReason::kBadJson, JsonError(code));
  simdjson::ondemand::object obj;
  if (auto code = doc.get_object().get(obj)) {
    return Fail(err, RejectReason::kBadJson,
                code == simdjson::INCORRECT_TYPE ? "a report must be a JSON object" : JsonError(code));
  }
  for (auto field : obj) {
    std::string_view key;
    if (auto code = field.unescaped_key().get(key)) return Fail(err, RejectReason::kBadJson, JsonError(code));
    simdjson::ondemand::value value;
    if (auto code = field.value().get(value)) return Fail(err, RejectReason::kBadJson, JsonError(code));
    simdjson::ondemand::json_type type;
    if (auto code = value.type().get(type)) return Fail(err, RejectReason::kBadJson, JsonError(code));
    if (key == "ts") {
      double ts = 0;
      if (type != simdjson::ondemand::json_type::number || value.get_double().get(ts) || !std::isfinite(ts) ||
          ts < 0) {
        return Fail(err, RejectReason::kBadTimestamp, "\"ts\" must be epoch seconds (a non-negative number)");
      }
      out->ts = ts;
      continue;
    }
    if (key.empty() || key.size() > kMaxMetricName) {
      return Fail(err, RejectReason::kBadMetric, "metric names must be 1 to 256 bytes");
    }
    if (type != simdjson::ondemand::json_type::number) {
      return Fail(err, RejectReason::kBadMetric, "metric \"" + std::string(key) + "\" is not a number");
    }
    double v = 0;
    if (auto code = value.get_double().get(v); code || !std::isfinite(v)) {
      return Fail(err, RejectReason::kBadMetric, "metric \"" + std::string(key) + "\" is not a finite number");
    }
    if (out->metrics.size() >= kMaxMetricsPerReport) {
      return Fail(err, RejectReason::kBadMetric, "more than 1024 metrics in one report");
    }
    out->metrics.emplace_back(std::string(key), v);
  }
  if (!doc.current_location().error()) return Fail(err, RejectReason::kBadJson, "trailing content after the JSON object");
  return true;
}

bool DecodeProvisioning(std::string_view payload, Message* out, DecodeError* err) {
  simdjson::ondemand::document doc;
  if (auto code = Parser().iterate(Padded(payload)).get(doc)) return Fail(err, RejectReason::kBadJson, JsonError(code));
  simdjson::ondemand::object obj;
  if (auto code = doc.get_object().get(obj)) {
    return Fail(err, RejectReason::kBadJson,
                code == simdjson::INCORRECT_TYPE ? "a provisioning event must be a JSON object" : JsonError(code));
  }
  std::string action;
  std::string rack;
  bool has_rack = false;
  for (auto field : obj) {
    std::string_view key;
    if (auto code = field.unescaped_key().get(key)) return Fail(err, RejectReason::kBadJson, JsonError(code));
    if (key != "action" && key != "rack") {
      continue;  // a provisioning service's own annotations are allowed; the iterator skips them
    }
    std::string_view text;
    if (field.value().get_string().get(text)) {
      return Fail(err, RejectReason::kBadProvisioning, "\"" + std::string(key) + "\" must be a string");
    }
    if (key == "action") {
      action = text;
    } else {
      rack = text;
      has_rack = true;
    }
  }
  if (!doc.current_location().error()) return Fail(err, RejectReason::kBadJson, "trailing content after the JSON object");
  if (action == "commission") {
    if (!has_rack) return Fail(err, RejectReason::kBadProvisioning, "commission needs \"rack\"");
    if (!IsValidId(rack)) return Fail(err, RejectReason::kBadId, "rack id must match [A-Za-z0-9._-]{1,64}");
    *out = Commission{std::move(rack)};
    return true;
  }
  if (action == "decommission") {
    *out = Decommission{};
    return true;
  }
  return Fail(err, RejectReason::kBadProvisioning,
              action.empty() ? "missing \"action\"" : "unknown action \"" + action + "\"");
}

}  // namespace dctwin
