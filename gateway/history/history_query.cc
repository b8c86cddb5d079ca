#include "gateway/history/history_query.h"

#include <simdjson.h>

#include <cinttypes>
#include <cstdio>

#include "base/json_writer.h"

namespace dctwin {

namespace {

uint64_t Fnv1a(std::string_view s, uint64_t h = 14695981039346656037ULL) {
  for (const char c : s) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ULL;
  }
  return h;
}

// What a cursor is bound to: every filter, in a fixed order, each with its length.
uint64_t FilterHash(const HistoryFilter& f, int64_t seq) {
  char numbers[96];
  std::snprintf(numbers, sizeof numbers, "%.6f|%.6f|%" PRId64, f.since, f.until, seq);
  uint64_t h = Fnv1a("dctwin-history-1");
  h = Fnv1a(numbers, h);
  for (const std::string* s : {&f.type, &f.level, &f.subject, &f.rack, &f.kind, &f.severity}) {
    h = Fnv1a(std::to_string(s->size()) + ":" + *s, h);
  }
  return h;
}

bool OneOf(const std::string& v, std::initializer_list<const char*> allowed) {
  for (const char* a : allowed) {
    if (v == a) return true;
  }
  return false;
}

}  // namespace

std::string HistoryCursor(const HistoryFilter& filter, int64_t seq) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "h1.%" PRIx64 ".%016" PRIx64, static_cast<uint64_t>(seq), FilterHash(filter, seq));
  return buf;
}

bool ParseHistoryQuery(std::string_view payload, HistoryQuery* out, std::string* error) {
  HistoryQuery q;
  std::string cursor;
  if (payload.find_first_not_of(" \t\r\n") != std::string_view::npos) {
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    if (auto err = parser.parse(payload.data(), payload.size()).get(root); err) {
      *error = std::string("the request is not valid JSON (") + simdjson::error_message(err) + ")";
      return false;
    }
    simdjson::dom::object o;
    if (root.get_object().get(o) != simdjson::SUCCESS) {
      *error = "the request must be a JSON object such as {\"since\": 1764700000, \"rack\": \"r07\"}";
      return false;
    }
    for (auto field : o) {
      const std::string key(field.key);
      std::string* text = key == "type"       ? &q.filter.type
                          : key == "level"    ? &q.filter.level
                          : key == "subject"  ? &q.filter.subject
                          : key == "rack"     ? &q.filter.rack
                          : key == "kind"     ? &q.filter.kind
                          : key == "severity" ? &q.filter.severity
                          : key == "cursor"   ? &cursor
                                              : nullptr;
      if (text != nullptr) {
        std::string_view v;
        if (field.value.get_string().get(v) != simdjson::SUCCESS || v.size() > 256) {
          *error = "\"" + key + "\" must be a string";
          return false;
        }
        *text = std::string(v);
      } else if (key == "since" || key == "until") {
        double v = 0;
        if (field.value.get_double().get(v) != simdjson::SUCCESS || !(v >= 0 && v < 1e11)) {
          *error = "\"" + key + "\" must be a time in seconds since the epoch";
          return false;
        }
        (key == "since" ? q.filter.since : q.filter.until) = v;
      } else if (key == "limit") {
        int64_t v = 0;
        if (field.value.get_int64().get(v) != simdjson::SUCCESS || v < 1 || v > static_cast<int64_t>(HistoryQuery::kMaxLimit)) {
          *error = "\"limit\" must be an integer from 1 to 1000";
          return false;
        }
        q.limit = static_cast<size_t>(v);
      } else {
        *error = "unknown member \"" + key +
                 "\"; a history query takes since, until, level, subject, rack, kind, severity, type, limit, cursor";
        return false;
      }
    }
  }
  if (q.filter.since > 0 && q.filter.until > 0 && q.filter.since > q.filter.until) {
    *error = "\"since\" is after \"until\"";
    return false;
  }
  if (!q.filter.type.empty() && !OneOf(q.filter.type, {"incident", "silence", "provisioning", "control"})) {
    *error = "\"type\" must be incident, silence, provisioning or control";
    return false;
  }
  if (!q.filter.level.empty() && !OneOf(q.filter.level, {"server", "rack", "datacenter", "gateway"})) {
    *error = "\"level\" must be server, rack, datacenter or gateway";
    return false;
  }
  if (!q.filter.severity.empty() && !OneOf(q.filter.severity, {"warning", "critical"})) {
    *error = "\"severity\" must be warning or critical";
    return false;
  }
  if (!cursor.empty()) {
    unsigned long long seq = 0;
    char check[17] = {};
    int used = 0;
    if (std::sscanf(cursor.c_str(), "h1.%llx.%16[0-9a-f]%n", &seq, check, &used) != 2 ||
        static_cast<size_t>(used) != cursor.size() || HistoryCursor(q.filter, static_cast<int64_t>(seq)) != cursor) {
      *error = "\"cursor\" is not one this gateway gave for these filters; ask again without it";
      return false;
    }
    q.after = static_cast<int64_t>(seq);
  }
  *out = std::move(q);
  return true;
}

bool AsksForRollups(std::string_view payload) {
  if (payload.find("\"series\"") == std::string_view::npos) return false;
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  std::string_view v;
  return parser.parse(payload.data(), payload.size()).get(root) == simdjson::SUCCESS &&
         root["series"].get_string().get(v) == simdjson::SUCCESS;
}

bool ParseSeriesQuery(std::string_view payload, double now, SeriesQuery* out, std::string* error) {
  SeriesQuery q;
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  simdjson::dom::object o;
  if (parser.parse(payload.data(), payload.size()).get(root) != simdjson::SUCCESS ||
      root.get_object().get(o) != simdjson::SUCCESS) {
    *error = "the request must be a JSON object such as {\"series\": \"1m\", \"metric\": \"temp_c\"}";
    return false;
  }
  for (auto field : o) {
    const std::string key(field.key);
    std::string_view v;
    double d = 0;
    if (key == "series") {
      if (field.value.get_string().get(v) != simdjson::SUCCESS || (v != "1m" && v != "1h")) {
        *error = "\"series\" must be \"1m\" or \"1h\" (or true for the window's samples)";
        return false;
      }
      q.period_s = v == "1m" ? 60 : 3600;
    } else if (key == "metric") {
      if (field.value.get_string().get(v) != simdjson::SUCCESS || v.empty() || v.size() > 256) {
        *error = "\"metric\" must be a metric name or a glob such as \"df-*\"";
        return false;
      }
      q.metric = std::string(v);
    } else if (key == "since" || key == "until") {
      if (field.value.get_double().get(d) != simdjson::SUCCESS || !(d >= 0 && d < 1e11)) {
        *error = "\"" + key + "\" must be a time in seconds since the epoch";
        return false;
      }
      (key == "since" ? q.since : q.until) = d;
    } else {
      *error = "unknown member \"" + key + "\"; a series query takes series, metric, since, until";
      return false;
    }
  }
  if (q.until <= 0) q.until = now;
  if (q.since <= 0) q.since = q.until - (q.period_s == 60 ? 7200 : 2 * 86400);
  if (q.since > q.until) {
    *error = "\"since\" is after \"until\"";
    return false;
  }
  *out = std::move(q);
  return true;
}

std::string HistoryAnswerJson(const std::vector<HistoryRecord>& rows, const std::string& next_cursor) {
  std::string out = "{\"events\":[";
  bool first = true;
  for (const HistoryRecord& r : rows) {
    if (!first) out += ',';
    first = false;
    // The body is the event's own object, with its "at"; seq and type come first.
    JsonWriter w;
    w.BeginObject().IntField("seq", r.seq).Field("type", r.type).EndObject();
    std::string head = w.Take();
    head.pop_back();  // '}'
    out += head;
    if (r.body.size() > 2 && r.body.front() == '{') {
      out += ',';
      out.append(r.body, 1, std::string::npos);
    } else {
      out += '}';
    }
  }
  out += "],\"next_cursor\":";
  if (next_cursor.empty()) {
    out += "null";
  } else {
    JsonWriter w;
    w.String(next_cursor);
    out += w.Take();
  }
  out += '}';
  return out;
}

}  // namespace dctwin
