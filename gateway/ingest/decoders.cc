#include "gateway/ingest/decoders.h"

#include <simdjson.h>

#include <charconv>
#include <cmath>
#include <map>
#include <utility>

#include "config/config.h"

namespace dctwin {

namespace {

constexpr size_t kMaxMetricName = 255;
constexpr size_t kMaxMetricsPerReport = 1024;
// Values in one collectd message. types.db's widest types have a handful; a type missing from it
// is taken with at most this many (a 64 KB message could otherwise carry 30,000).
constexpr size_t kMaxCollectdValues = 64;

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
      return Fail(err, RejectReason::kBadMetric, "metric names must be 1 to 255 bytes");
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

namespace {

bool ParseDouble(std::string_view text, double* out) {
  if (text.empty()) return false;
  if (text.front() == '+') text.remove_prefix(1);
  const auto res = std::from_chars(text.data(), text.data() + text.size(), *out);
  return res.ec == std::errc() && res.ptr == text.data() + text.size();
}

}  // namespace

bool DecodeCollectd(std::string_view plugin, std::string_view type, std::string_view payload,
                    const CollectdTypes& types, double receive_time, Report* out, DecodeError* err) {
  out->metrics.clear();
  while (!payload.empty() && (payload.back() == '\0' || payload.back() == '\n' || payload.back() == '\r' ||
                              payload.back() == ' ')) {
    payload.remove_suffix(1);
  }
  const size_t first = payload.find(':');
  if (first == std::string_view::npos) {
    return Fail(err, RejectReason::kBadMetric, "collectd payload must be <time>:<value>[:<value>...]");
  }
  const std::string_view time = payload.substr(0, first);
  if (time == "N") {
    out->ts = receive_time;
  } else if (!ParseDouble(time, &out->ts) || !std::isfinite(out->ts) || out->ts < 0) {
    return Fail(err, RejectReason::kBadTimestamp, "collectd time must be epoch seconds or N");
  }
  std::vector<std::string_view> values;
  for (std::string_view rest = payload.substr(first + 1);;) {
    if (values.size() == kMaxCollectdValues) {
      return Fail(err, RejectReason::kBadMetric,
                  "a collectd message carries at most " + std::to_string(kMaxCollectdValues) + " values");
    }
    const size_t colon = rest.find(':');
    values.push_back(rest.substr(0, colon));
    if (colon == std::string_view::npos) break;
    rest = rest.substr(colon + 1);
  }
  const std::string_view base_type = type.substr(0, type.find('-'));
  const std::vector<std::string>* sources = types.Sources(base_type);
  if (sources != nullptr && sources->size() != values.size()) {
    return Fail(err, RejectReason::kBadMetric,
                "collectd type " + std::string(base_type) + " has " + std::to_string(sources->size()) +
                    " values, the message " + std::to_string(values.size()));
  }
  const std::string name = std::string(plugin) + "/" + std::string(type);
  for (size_t i = 0; i < values.size(); ++i) {
    const std::string_view v = values[i];
    double value = 0;
    if (v == "U" || v == "nan" || v == "-nan" || v == "NaN") continue;  // missing, not zero
    if (!ParseDouble(v, &value)) {
      return Fail(err, RejectReason::kBadMetric, "collectd value \"" + std::string(v.substr(0, 32)) + "\" is not a number");
    }
    if (!std::isfinite(value)) continue;
    if (values.size() == 1) {
      out->metrics.emplace_back(name, value);
    } else {
      out->metrics.emplace_back(name + "." + (sources != nullptr ? (*sources)[i] : std::to_string(i)), value);
    }
  }
  out->partial = true;
  return true;
}

namespace {

// Reads an element of the line protocol up to one of `stops` that is not escaped by a backslash;
// the escapes are removed. Leaves `in` at the stop character (or at the end).
std::string ReadEscaped(std::string_view& in, std::string_view stops) {
  std::string out;
  while (!in.empty() && stops.find(in.front()) == std::string_view::npos) {
    if (in.front() == '\\' && in.size() > 1) in.remove_prefix(1);
    out += in.front();
    in.remove_prefix(1);
  }
  return out;
}

bool ParseField(std::string_view text, double* out, bool* ignored) {
  *ignored = false;
  if (text == "t" || text == "T" || text == "true" || text == "True" || text == "TRUE") {
    *out = 1;
    return true;
  }
  if (text == "f" || text == "F" || text == "false" || text == "False" || text == "FALSE") {
    *out = 0;
    return true;
  }
  if (!text.empty() && (text.back() == 'i' || text.back() == 'u')) {
    const std::string_view digits = text.substr(0, text.size() - 1);
    if (text.back() == 'i') {
      int64_t v = 0;
      const auto res = std::from_chars(digits.data(), digits.data() + digits.size(), v);
      if (res.ec != std::errc() || res.ptr != digits.data() + digits.size()) return false;
      *out = static_cast<double>(v);
    } else {
      uint64_t v = 0;
      const auto res = std::from_chars(digits.data(), digits.data() + digits.size(), v);
      if (res.ec != std::errc() || res.ptr != digits.data() + digits.size()) return false;
      *out = static_cast<double>(v);
    }
    return true;
  }
  return ParseDouble(text, out) && std::isfinite(*out);
}

}  // namespace

bool DecodeLineProtocol(std::string_view payload, double receive_time, std::vector<Report>* out, DecodeError* err) {
  out->clear();
  std::map<int64_t, Report> by_time;  // ns -> report; lines without a timestamp use -1
  int line_no = 0;
  while (!payload.empty()) {
    const size_t eol = payload.find('\n');
    std::string_view line = payload.substr(0, eol);
    payload = eol == std::string_view::npos ? std::string_view() : payload.substr(eol + 1);
    ++line_no;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\0')) line.remove_suffix(1);
    while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    if (line.empty() || line.front() == '#') continue;
    const std::string where = "line " + std::to_string(line_no) + ": ";
    const std::string measurement = ReadEscaped(line, ", ");
    if (measurement.empty()) return Fail(err, RejectReason::kBadMetric, where + "missing measurement");
    while (!line.empty() && line.front() == ',') {  // tags: not part of the metric name
      line.remove_prefix(1);
      ReadEscaped(line, "=");
      if (line.empty()) return Fail(err, RejectReason::kBadMetric, where + "tag without a value");
      line.remove_prefix(1);
      ReadEscaped(line, ", ");
    }
    if (line.empty() || line.front() != ' ') return Fail(err, RejectReason::kBadMetric, where + "missing fields");
    line.remove_prefix(1);
    std::vector<std::pair<std::string, double>> fields;
    for (;;) {
      std::string key = ReadEscaped(line, "=, ");
      if (key.empty() || line.empty() || line.front() != '=') {
        return Fail(err, RejectReason::kBadMetric, where + "field must be <key>=<value>");
      }
      line.remove_prefix(1);
      if (!line.empty() && line.front() == '"') {  // a string field: skipped
        line.remove_prefix(1);
        bool closed = false;
        while (!line.empty()) {
          if (line.front() == '\\' && line.size() > 1) {
            line.remove_prefix(2);
            continue;
          }
          const char c = line.front();
          line.remove_prefix(1);
          if (c == '"') {
            closed = true;
            break;
          }
        }
        if (!closed) return Fail(err, RejectReason::kBadMetric, where + "unterminated string field");
      } else {
        const size_t end = line.find_first_of(", ");
        const std::string_view text = line.substr(0, end);
        line = end == std::string_view::npos ? std::string_view() : line.substr(end);
        double value = 0;
        bool ignored = false;
        if (!ParseField(text, &value, &ignored)) {
          return Fail(err, RejectReason::kBadMetric, where + "field " + key + " has no number: " + std::string(text.substr(0, 32)));
        }
        fields.emplace_back(measurement + "." + key, value);
      }
      if (line.empty() || line.front() == ' ') break;
      line.remove_prefix(1);  // ','
    }
    int64_t ns = -1;
    while (!line.empty() && line.front() == ' ') line.remove_prefix(1);
    if (!line.empty()) {
      const auto res = std::from_chars(line.data(), line.data() + line.size(), ns);
      if (res.ec != std::errc() || res.ptr != line.data() + line.size() || ns < 0) {
        return Fail(err, RejectReason::kBadTimestamp, where + "timestamp must be integer nanoseconds");
      }
    }
    Report& r = by_time[ns];
    r.ts = ns < 0 ? receive_time : static_cast<double>(ns) / 1e9;
    r.partial = true;
    for (auto& f : fields) {
      if (r.metrics.size() >= kMaxMetricsPerReport) return Fail(err, RejectReason::kBadMetric, "too many metrics");
      r.metrics.push_back(std::move(f));
    }
  }
  if (by_time.empty()) return Fail(err, RejectReason::kBadMetric, "no lines");
  for (auto& [ns, r] : by_time) out->push_back(std::move(r));
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
