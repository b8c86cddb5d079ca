#include "gateway/history/report.h"

#include <simdjson.h>

#include <algorithm>
#include <map>
#include <utility>

#include "gateway/publish/json_writer.h"
#include "twins/silence.h"

namespace dctwin {

namespace {

using Intervals = std::vector<std::pair<double, double>>;

// Sorted, disjoint.
Intervals Union(Intervals v) {
  std::sort(v.begin(), v.end());
  Intervals out;
  for (const auto& [a, b] : v) {
    if (b <= a) continue;
    if (!out.empty() && a <= out.back().second) {
      out.back().second = std::max(out.back().second, b);
    } else {
      out.emplace_back(a, b);
    }
  }
  return out;
}

double Length(const Intervals& u) {
  double s = 0;
  for (const auto& [a, b] : u) s += b - a;
  return s;
}

// `a` minus `b`, both sorted and disjoint.
Intervals Minus(const Intervals& a, const Intervals& b) {
  Intervals out;
  size_t j = 0;
  for (auto [x, y] : a) {
    while (j < b.size() && b[j].second <= x) ++j;
    for (size_t k = j; k < b.size() && b[k].first < y; ++k) {
      if (b[k].first > x) out.emplace_back(x, b[k].first);
      x = std::max(x, b[k].second);
    }
    if (x < y) out.emplace_back(x, y);
  }
  return out;
}

Intervals Intersect(const Intervals& a, const Intervals& b) { return Minus(a, Minus(a, b)); }

struct Maintenance {
  Silence silence;
  std::pair<double, double> when;
};

// One row being summed up.
struct Row {
  std::string level, subject;
  Intervals commissioned, critical, warning, maintenance;
  Intervals critical_counted;  // critical time outside its own subject's maintenance
  int incidents = 0;
  std::map<std::string, int> by_kind;
  double ack_sum = 0, resolve_sum = 0;
  int acked = 0, resolved = 0;
};

}  // namespace

bool ParseReportQuery(std::string_view payload, double now, ReportQuery* out, std::string* error) {
  ReportQuery q;
  if (payload.find_first_not_of(" \t\r\n") != std::string_view::npos) {
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    simdjson::dom::object o;
    if (parser.parse(payload.data(), payload.size()).get(root) != simdjson::SUCCESS ||
        root.get_object().get(o) != simdjson::SUCCESS) {
      *error = "the request must be a JSON object such as {\"since\": 1764700000, \"by\": \"rack\"}";
      return false;
    }
    for (auto field : o) {
      const std::string key(field.key);
      if (key == "since" || key == "until") {
        double v = 0;
        if (field.value.get_double().get(v) != simdjson::SUCCESS || !(v >= 0 && v < 1e11)) {
          *error = "\"" + key + "\" must be a time in seconds since the epoch";
          return false;
        }
        (key == "since" ? q.since : q.until) = v;
      } else if (key == "by" || key == "rack") {
        std::string_view v;
        if (field.value.get_string().get(v) != simdjson::SUCCESS || v.size() > 64) {
          *error = "\"" + key + "\" must be a string";
          return false;
        }
        (key == "by" ? q.by : q.rack) = std::string(v);
      } else {
        *error = "unknown member \"" + key + "\"; a report takes since, until, by, rack";
        return false;
      }
    }
  }
  if (q.by != "server" && q.by != "rack" && q.by != "datacenter") {
    *error = "\"by\" must be server, rack or datacenter";
    return false;
  }
  if (q.until <= 0) q.until = now;
  if (q.since <= 0) q.since = q.until - 86400;
  if (q.since >= q.until) {
    *error = "\"since\" is not before \"until\"";
    return false;
  }
  *out = std::move(q);
  return true;
}

std::string ReportJson(const ReportQuery& q, const std::vector<SpanRecord>& spans, double now,
                       const std::string& datacenter) {
  const double since = q.since, until = std::min(q.until, now);
  auto clip = [&](const SpanRecord& s) {
    const double end = s.ended_at > 0 ? s.ended_at : now;
    return std::make_pair(std::max(s.started_at, since), std::min(end, until));
  };
  std::vector<Maintenance> maintenance;
  for (const SpanRecord& s : spans) {
    if (s.type != "maintenance") continue;
    Maintenance m;
    m.silence.maintenance = true;
    simdjson::dom::parser parser;
    simdjson::dom::object o;
    if (parser.parse(s.matchers).get_object().get(o) != simdjson::SUCCESS) continue;
    for (auto field : o) {
      std::string_view v;
      if (field.value.get_string().get(v) == simdjson::SUCCESS) m.silence.matchers.emplace_back(field.key, v);
    }
    m.when = clip(s);
    maintenance.push_back(std::move(m));
  }
  // The maintenance intervals that cover a server (or, with server empty, a whole rack).
  auto maintained = [&](const std::string& server, const std::string& rack) {
    Intervals v;
    for (const Maintenance& m : maintenance) {
      if (m.silence.CoversServer(server, rack)) v.push_back(m.when);
    }
    return Union(std::move(v));
  };

  std::map<std::string, Row> rows;
  auto row_of = [&](const SpanRecord& s) -> Row* {
    std::string key;
    if (q.by == "datacenter") {
      key = datacenter;
    } else if (q.by == "rack") {
      key = s.level == "rack" ? s.subject : s.rack;
    } else {
      if (s.level != "server") return nullptr;
      key = s.subject;
    }
    if (key.empty() || (!q.rack.empty() && s.rack != q.rack && !(s.level == "rack" && s.subject == q.rack))) {
      return nullptr;
    }
    Row& r = rows[key];
    r.level = q.by;
    r.subject = key;
    return &r;
  };
  for (const SpanRecord& s : spans) {
    if (s.type == "maintenance") continue;
    Row* r = row_of(s);
    if (r == nullptr) continue;
    const auto when = clip(s);
    if (s.type == "commissioned") {
      r->commissioned.push_back(when);
      if (q.by == "server") {
        // The maintenance of the server in this rack, while it was there.
        for (const auto& m : Intersect(maintained(s.subject, s.rack), Intervals{when})) r->maintenance.push_back(m);
      }
      continue;
    }
    (s.severity == "critical" ? r->critical : r->warning).push_back(when);
    if (s.severity == "critical" && when.second > when.first) {
      // Counted against availability only outside the maintenance of what it is about.
      const Intervals mine = s.level == "server" ? maintained(s.subject, s.rack) : maintained("", s.subject);
      for (const auto& c : Minus(Intervals{when}, mine)) r->critical_counted.push_back(c);
    }
    if (s.started_at >= since && s.started_at <= until) {
      ++r->incidents;
      ++r->by_kind[s.kind];
      if (s.acked_at > 0) {
        r->ack_sum += s.acked_at - s.started_at;
        ++r->acked;
      }
      if (s.ended_at > 0 && s.ended_at <= until) {
        r->resolve_sum += s.ended_at - s.started_at;
        ++r->resolved;
      }
    }
  }
  if (q.by == "rack") {
    for (auto& [id, r] : rows) r.maintenance = maintained("", id);
  }

  JsonWriter w;
  w.BeginObject().Field("since", since).Field("until", until).Key("rows").BeginArray();
  for (auto& [key, r] : rows) {
    Intervals commissioned = Union(std::move(r.commissioned));
    // Without a record of its servers' time (a rack incident only, the datacenter before any
    // commission was recorded), the subject counts as there for the whole period.
    if (commissioned.empty() || q.by == "datacenter") commissioned = {{since, until}};
    const double present = Length(commissioned);
    const double counted = Length(Intersect(Union(std::move(r.critical_counted)), commissioned));
    w.BeginObject()
        .Field("level", r.level)
        .Field("subject", r.subject)
        .Field("availability", present > 0 ? std::clamp(1.0 - counted / present, 0.0, 1.0) : 1.0)
        .Field("critical_s", Length(Union(std::move(r.critical))))
        .Field("warning_s", Length(Union(std::move(r.warning))))
        .Field("maintenance_s", Length(Intersect(Union(std::move(r.maintenance)), commissioned)))
        .IntField("incidents", r.incidents)
        .Key("by_kind")
        .BeginObject();
    for (const auto& [kind, n] : r.by_kind) w.IntField(kind, n);
    w.EndObject().Key("mtta_s");
    if (r.acked > 0) {
      w.Number(r.ack_sum / r.acked);
    } else {
      w.Null();
    }
    w.Key("mttr_s");
    if (r.resolved > 0) {
      w.Number(r.resolve_sum / r.resolved);
    } else {
      w.Null();
    }
    w.EndObject();
  }
  w.EndArray().EndObject();
  return w.Take();
}

}  // namespace dctwin
