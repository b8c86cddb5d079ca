#include "gateway/history/report.h"

#include <simdjson.h>

#include <algorithm>
#include <map>
#include <utility>

#include "base/json_writer.h"

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

}  // namespace

// One row being summed up. What needs the maintenance spans (which may come after the spans they
// cover) is kept aside in `deferred` and worked out when the answer is written.
struct ReportBuilder::Row {
  std::string level, subject;
  Intervals commissioned, critical, warning, maintenance;
  struct Deferred {
    bool critical;       // a critical incident's time (else: a server's time in a rack)
    std::string server;  // empty: the rack itself
    std::string rack;
    std::pair<double, double> when;
  };
  std::vector<Deferred> deferred;
  int incidents = 0;
  std::map<std::string, int> by_kind;
  double ack_sum = 0, resolve_sum = 0;
  int acked = 0, resolved = 0;
};

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

ReportBuilder::ReportBuilder(ReportQuery query, double now, std::string datacenter)
    : q_(std::move(query)), now_(now), until_(std::min(q_.until, now)), datacenter_(std::move(datacenter)) {}

ReportBuilder::~ReportBuilder() = default;

std::pair<double, double> ReportBuilder::Clip(const SpanRecord& s) const {
  const double end = s.ended_at > 0 ? s.ended_at : now_;
  return {std::max(s.started_at, q_.since), std::min(end, until_)};
}

ReportBuilder::Row* ReportBuilder::RowOf(const SpanRecord& s) {
  // The gateway's own incidents are trouble in the monitoring, not in the site.
  if (s.level == "gateway") return nullptr;
  std::string key;
  if (q_.by == "datacenter") {
    key = datacenter_;
  } else if (q_.by == "rack") {
    key = s.level == "rack" ? s.subject : s.rack;
  } else {
    if (s.level != "server") return nullptr;
    key = s.subject;
  }
  if (key.empty() || (!q_.rack.empty() && s.rack != q_.rack && !(s.level == "rack" && s.subject == q_.rack))) {
    return nullptr;
  }
  std::unique_ptr<Row>& r = rows_[key];
  if (!r) {
    r = std::make_unique<Row>();
    r->level = q_.by;
    r->subject = std::move(key);
  }
  return r.get();
}

void ReportBuilder::Add(const SpanRecord& s) {
  if (s.type == "maintenance") {
    Silence silence;
    silence.maintenance = true;
    simdjson::dom::parser parser;
    simdjson::dom::object o;
    if (parser.parse(s.matchers).get_object().get(o) != simdjson::SUCCESS) return;
    for (auto field : o) {
      std::string_view v;
      if (field.value.get_string().get(v) == simdjson::SUCCESS) silence.matchers.emplace_back(field.key, v);
    }
    maintenance_.emplace_back(std::move(silence), Clip(s));
    return;
  }
  Row* r = RowOf(s);
  if (r == nullptr) return;
  const auto when = Clip(s);
  if (s.type == "commissioned") {
    r->commissioned.push_back(when);
    // The maintenance of the server in this rack, while it was there.
    if (q_.by == "server") r->deferred.push_back(Row::Deferred{false, s.subject, s.rack, when});
    return;
  }
  (s.severity == "critical" ? r->critical : r->warning).push_back(when);
  if (s.severity == "critical" && when.second > when.first) {
    // Counted against availability only outside the maintenance of what it is about.
    if (s.level == "server") {
      r->deferred.push_back(Row::Deferred{true, s.subject, s.rack, when});
    } else {
      r->deferred.push_back(Row::Deferred{true, "", s.subject, when});
    }
  }
  if (s.started_at >= q_.since && s.started_at <= until_) {
    ++r->incidents;
    ++r->by_kind[s.kind];
    if (s.acked_at > 0) {
      r->ack_sum += s.acked_at - s.started_at;
      ++r->acked;
    }
    if (s.ended_at > 0 && s.ended_at <= until_) {
      r->resolve_sum += s.ended_at - s.started_at;
      ++r->resolved;
    }
  }
}

const ReportBuilder::Intervals& ReportBuilder::Maintained(const std::string& server, const std::string& rack) {
  auto [it, fresh] = maintained_.try_emplace(server + '\n' + rack);
  if (fresh) {
    Intervals v;
    for (const auto& [silence, when] : maintenance_) {
      if (silence.CoversServer(server, rack)) v.push_back(when);
    }
    it->second = Union(std::move(v));
  }
  return it->second;
}

std::string ReportBuilder::Json() {
  const double since = q_.since, until = until_;
  std::vector<Row*> rows;
  rows.reserve(rows_.size());
  for (auto& [key, r] : rows_) rows.push_back(r.get());
  std::sort(rows.begin(), rows.end(), [](const Row* a, const Row* b) { return a->subject < b->subject; });

  JsonWriter w;
  w.BeginObject().Field("since", since).Field("until", until).Key("rows").BeginArray();
  for (Row* r : rows) {
    Intervals critical_counted;  // critical time outside its own subject's maintenance
    for (const Row::Deferred& d : r->deferred) {
      const Intervals& mine = Maintained(d.server, d.rack);
      if (d.critical) {
        for (const auto& c : Minus(Intervals{d.when}, mine)) critical_counted.push_back(c);
      } else {
        for (const auto& m : Intersect(mine, Intervals{d.when})) r->maintenance.push_back(m);
      }
    }
    if (q_.by == "rack") r->maintenance = Maintained("", r->subject);
    Intervals commissioned = Union(std::move(r->commissioned));
    // Without a record of its servers' time (a rack incident only, the datacenter before any
    // commission was recorded), the subject counts as there for the whole period.
    if (commissioned.empty() || q_.by == "datacenter") commissioned = {{since, until}};
    const double present = Length(commissioned);
    const double counted = Length(Intersect(Union(std::move(critical_counted)), commissioned));
    w.BeginObject()
        .Field("level", r->level)
        .Field("subject", r->subject)
        .Field("availability", present > 0 ? std::clamp(1.0 - counted / present, 0.0, 1.0) : 1.0)
        .Field("critical_s", Length(Union(std::move(r->critical))))
        .Field("warning_s", Length(Union(std::move(r->warning))))
        .Field("maintenance_s", Length(Intersect(Union(std::move(r->maintenance)), commissioned)))
        .IntField("incidents", r->incidents)
        .Key("by_kind")
        .BeginObject();
    for (const auto& [kind, n] : r->by_kind) w.IntField(kind, n);
    w.EndObject().Key("mtta_s");
    if (r->acked > 0) {
      w.Number(r->ack_sum / r->acked);
    } else {
      w.Null();
    }
    w.Key("mttr_s");
    if (r->resolved > 0) {
      w.Number(r->resolve_sum / r->resolved);
    } else {
      w.Null();
    }
    w.EndObject();
  }
  w.EndArray().EndObject();
  return w.Take();
}

std::string ReportJson(const ReportQuery& query, const std::vector<SpanRecord>& spans, double now,
                       const std::string& datacenter) {
  ReportBuilder b(query, now, datacenter);
  for (const SpanRecord& s : spans) b.Add(s);
  return b.Json();
}

}  // namespace dctwin
