#include "gateway/incidents/request_fields.h"

#include <cmath>

#include "base/json_writer.h"

namespace dctwin {

// Reads a request payload as a JSON object; `error` says what is wrong for a person.
bool ParseObject(simdjson::dom::parser& parser, const std::string& payload, simdjson::dom::object* out,
                 std::string* error) {
  simdjson::dom::element e;
  if (auto err = parser.parse(payload).get(e)) {
    *error = std::string("the request is not valid JSON (") + simdjson::error_message(err) + ")";
    return false;
  }
  if (e.get_object().get(*out) != simdjson::SUCCESS) {
    *error = "the request must be a JSON object";
    return false;
  }
  return true;
}

// Optional string member: absent is fine; present and not a string is an error.
bool OptString(simdjson::dom::object o, const char* key, std::string* out, std::string* error) {
  simdjson::dom::element e;
  if (o[key].get(e) != simdjson::SUCCESS) return true;
  std::string_view v;
  if (e.get_string().get(v) != simdjson::SUCCESS) {
    *error = std::string("\"") + key + "\" must be a string";
    return false;
  }
  *out = std::string(v);
  return true;
}

bool ParsePage(const std::string& payload, Page* page, std::string* error) {
  simdjson::dom::parser parser;
  simdjson::dom::object o;
  if (payload.find('{') == std::string::npos || parser.parse(payload).get_object().get(o) != simdjson::SUCCESS) {
    return true;
  }
  simdjson::dom::element e;
  if (o["limit"].get(e) == simdjson::SUCCESS) {
    int64_t limit = 0;
    if (e.get_int64().get(limit) != simdjson::SUCCESS || limit < 1 || limit > 1000) {
      *error = "\"limit\" must be a whole number from 1 to 1000";
      return false;
    }
    page->limit = static_cast<size_t>(limit);
  }
  return OptString(o, "cursor", &page->cursor, error);
}

std::string NextCursorField(const std::string& last) {
  if (last.empty()) return ",\"next_cursor\":null";
  JsonWriter w;
  w.String(last);
  return ",\"next_cursor\":" + w.Take();
}

// Optional number member; *present tells whether it was there.
bool OptNumber(simdjson::dom::object o, const char* key, double* out, bool* present, std::string* error) {
  *present = false;
  simdjson::dom::element e;
  if (o[key].get(e) != simdjson::SUCCESS) return true;
  double v = 0;
  if (e.is_double() || e.is_int64() || e.is_uint64()) {
    v = e.is_double() ? e.get_double().value_unsafe()
                      : (e.is_int64() ? static_cast<double>(e.get_int64().value_unsafe())
                                      : static_cast<double>(e.get_uint64().value_unsafe()));
  } else {
    *error = std::string("\"") + key + "\" must be a number";
    return false;
  }
  if (!std::isfinite(v)) {
    *error = std::string("\"") + key + "\" must be a finite number";
    return false;
  }
  *out = v;
  *present = true;
  return true;
}

}  // namespace dctwin
