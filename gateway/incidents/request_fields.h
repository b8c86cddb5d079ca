// The members of an operator's request (silence, expire, ack, a list query's page), read with the
// error a person can act on.
#pragma once

#include <simdjson.h>

#include <cstddef>
#include <string>

namespace dctwin {

// Reads a request payload as a JSON object; `error` says what is wrong.
bool ParseObject(simdjson::dom::parser& parser, const std::string& payload, simdjson::dom::object* out,
                 std::string* error);
// Optional string member: absent is fine; present and not a string is an error.
bool OptString(simdjson::dom::object o, const char* key, std::string* out, std::string* error);
// Optional number member; *present tells whether it was there.
bool OptNumber(simdjson::dom::object o, const char* key, double* out, bool* present, std::string* error);

// A list query's page: {"limit": 1..1000, "cursor": "<next_cursor of the last page>"}, both
// optional. Without a limit the whole list is answered, as the contract's v2 "anything" request
// always was: a payload that is not a JSON object asks for everything.
struct Page {
  size_t limit = 0;  // 0: everything
  std::string cursor;
};
bool ParsePage(const std::string& payload, Page* page, std::string* error);
// `"next_cursor": ...` of a page that ended after `last` (empty: the list ended), with its comma.
std::string NextCursorField(const std::string& last);

}  // namespace dctwin
