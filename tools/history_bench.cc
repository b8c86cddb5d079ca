// dctwin-historybench: how long a page of the history takes, and how much disk a row costs, at a
// small size and at the target size (10,000,000 rows) in the same run; the small size is the
// floor the large one is judged against (a page must cost its own rows, not the history's).
//
//   dctwin-historybench --rows 10000000 --small 100000 --dir /var/tmp
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "gateway/history/report.h"
#include "storage/history_reader.h"
#include "storage/rollup_codec.h"
#include "storage/sqlite_state_store.h"

using namespace dctwin;

namespace {

const char* kKinds[] = {"thermal", "silent", "disk", "power", "fan", "memory", "cpu", "anomaly"};

// A site's history: incident events of 1,000,000 servers in 25,000 racks, with a silence or a
// provisioning change now and then, one row a second on average, ending now.
void Fill(const std::string& path, int64_t rows) {
  SqliteOptions o;
  o.path = path;
  o.history_keep_s = 0;
  o.history_max_rows = 0;
  // Back-to-back commits of 20,000 rows never leave the checkpoint thread a moment in which the
  // WAL could start over (it grew to 16 GB): the committing thread checkpoints, as SQLite does by
  // default.
  o.checkpoint_pages = 0;
  std::unique_ptr<SqliteStateStore> store;
  if (Status s = SqliteStateStore::Open(o, &store); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    std::exit(1);
  }
  std::mt19937_64 rng(7);
  const double start = static_cast<double>(time(nullptr)) - static_cast<double>(rows);
  const int64_t chunk = 20000;
  for (int64_t done = 0; done < rows;) {
    StoreBatch b;
    for (int64_t i = 0; i < chunk && done < rows; ++i, ++done) {
      const uint64_t server = rng() % 1000000;
      const std::string subject = "s" + std::to_string(server);
      const std::string rack = "r" + std::to_string(server / 40);
      const uint64_t pick = rng() % 100;
      const std::string type = pick < 97 ? "incident" : pick < 99 ? "provisioning" : "silence";
      const std::string kind = kKinds[rng() % 8];
      const char* state = pick % 3 == 0 ? "open" : pick % 3 == 1 ? "resolved" : "acknowledged";
      const double at = start + static_cast<double>(done);
      char body[400];
      std::snprintf(body, sizeof body,
                    "{\"at\":%.3f,\"id\":\"%016llx\",\"level\":\"server\",\"subject\":\"%s\",\"rack\":\"%s\","
                    "\"datacenter\":\"dc1\",\"kind\":\"%s\",\"severity\":\"critical\",\"state\":\"%s\","
                    "\"opened_at\":%.3f,\"summary\":\"%s on %s\"}",
                    at, static_cast<unsigned long long>(rng()), subject.c_str(), rack.c_str(), kind.c_str(), state, at,
                    kind.c_str(), subject.c_str());
      b.history.push_back(HistoryRecord{0, at, type, "server", subject, rack, kind, "critical", body});
    }
    if (Status s = store->Commit(b); !s.ok()) {
      std::fprintf(stderr, "%s\n", s.ToString().c_str());
      std::exit(1);
    }
  }
}

// A day of rollups of `servers` servers with `metrics` metrics each, written as the writer does
// (chunks of 4,096 rows); returns the bytes the database grew by.
double RollupBytesPerServerDay(const std::string& path, int servers, int metrics) {
  std::filesystem::remove(path);
  SqliteOptions o;
  o.path = path;
  o.checkpoint_pages = 0;
  o.rollup_1m_keep_s = 0;
  o.rollup_1h_keep_s = 0;
  std::unique_ptr<SqliteStateStore> store;
  if (Status s = SqliteStateStore::Open(o, &store); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    std::exit(1);
  }
  const auto empty = std::filesystem::file_size(path);
  std::mt19937_64 rng(11);
  std::normal_distribution<float> step(0, 0.5f);
  std::vector<uint32_t> ids;
  for (int m = 0; m < metrics; ++m) ids.push_back(store->metrics().Id("metric-" + std::to_string(m) + "/value"));
  const int64_t day = 1800000000 / 86400 * 86400;
  StoreBatch b;
  auto flush = [&] {
    if (Status s = store->Commit(b); !s.ok()) {
      std::fprintf(stderr, "%s\n", s.ToString().c_str());
      std::exit(1);
    }
    b = StoreBatch{};
  };
  for (int server = 0; server < servers; ++server) {
    std::vector<float> level(static_cast<size_t>(metrics), 50);
    for (int period : {60, 3600}) {
      for (int64_t t = day; t < day + 86400; t += period) {
        std::vector<RollupValue> values;
        for (int m = 0; m < metrics; ++m) {
          float& l = level[static_cast<size_t>(m)];
          l += step(rng);
          values.push_back(RollupValue{ids[static_cast<size_t>(m)], l - 1, l + 1, l, l + 0.5f,
                                       static_cast<uint32_t>(period / 10), static_cast<uint32_t>(period - 5)});
        }
        b.rollups.push_back(RollupRow{"server-" + std::to_string(server), period, t, EncodeRollup(values)});
        if (b.rollups.size() == 4096) flush();
      }
    }
  }
  flush();
  store.reset();  // checkpoints the WAL into the file
  return static_cast<double>(std::filesystem::file_size(path) - empty) / servers;
}

// 30 days of a site of `racks` racks of 40 servers: every server in its rack all along, about ten
// incidents a month each (a third of them critical, most acknowledged), and a maintenance a day.
// Returns the milliseconds of a report by server and by rack, read and computed as the gateway
// does (HistoryReader::Spans into a ReportBuilder).
std::pair<double, double> ReportMs(const std::string& path, int racks, size_t* spans_read) {
  std::filesystem::remove(path);
  SqliteOptions o;
  o.path = path;
  o.checkpoint_pages = 0;
  o.history_keep_s = 0;
  std::unique_ptr<SqliteStateStore> store;
  if (Status s = SqliteStateStore::Open(o, &store); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    std::exit(1);
  }
  const double until = static_cast<double>(time(nullptr)), since = until - 30 * 86400.0;
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> when(since, until);
  StoreBatch b;
  auto add = [&](SpanRecord r) {
    b.spans.push_back(SpanChange{false, false, std::move(r)});
    if (b.spans.size() == 20000) {
      store->Commit(b);
      b = StoreBatch{};
    }
  };
  int n = 0;
  for (int rack = 0; rack < racks; ++rack) {
    const std::string rid = "r" + std::to_string(rack);
    for (int k = 0; k < 40; ++k) {
      const std::string sid = "s" + std::to_string(rack * 40 + k);
      add(SpanRecord{"c:" + sid, "commissioned", "server", sid, rid, "", "", since - 86400, 0, 0, ""});
      for (int i = 0; i < 10; ++i) {
        const double at = when(rng);
        add(SpanRecord{"i" + std::to_string(n++), "incident", "server", sid, rid, kKinds[rng() % 8],
                       rng() % 3 == 0 ? "critical" : "warning", at, rng() % 4 != 0 ? at + 120 : 0,
                       std::min(until, at + 60 + static_cast<double>(rng() % 7200)), ""});
      }
    }
  }
  for (int d = 0; d < 30; ++d) {
    add(SpanRecord{"m:" + std::to_string(d), "maintenance", "", "", "", "", "", since + d * 86400.0,
                   0, since + d * 86400.0 + 3600, "{\"rack\":\"r" + std::to_string(d * 7 % racks) + "\"}"});
  }
  store->Commit(b);
  store.reset();
  std::unique_ptr<HistoryReader> reader;
  if (Status s = HistoryReader::Open(path, 1000, &reader); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    std::exit(1);
  }
  auto once = [&](const char* by, double from, size_t* count) {
    std::vector<double> ms;
    for (int r = 0; r < 3; ++r) {
      const auto t0 = std::chrono::steady_clock::now();
      ReportBuilder report(ReportQuery{from, until, by, ""}, until, "dc1");
      size_t read = 0;
      reader->Spans(from, until, "", [&](SpanRecord&& x) {
        report.Add(x);
        ++read;
      });
      if (std::getenv("DCTWIN_BENCH_SPLIT") != nullptr) {
        std::printf("  read and summed %zu spans in %.0f ms\n", read,
                    std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      }
      const std::string json = report.Json();
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
      *count = read;
      if (json.size() < 10) std::exit(1);
    }
    std::sort(ms.begin(), ms.end());
    return ms[1];
  };
  const auto result = std::make_pair(once("server", since, spans_read), once("rack", since, spans_read));
  // The last day of the month: read through the index on the spans' end, not the whole table.
  size_t day_spans = 0;
  const double day_ms = once("server", until - 86400, &day_spans);
  std::printf("report over the last day of the %d racks' month (%zu spans): by server %.0f ms\n", racks, day_spans,
              day_ms);
  if (std::getenv("DCTWIN_BENCH_KEEP") == nullptr) std::filesystem::remove(path);
  return result;
}

struct Case {
  const char* name;
  HistoryFilter filter;
  bool from_middle = false;  // continue from a cursor half way through
};

// The median of `repeat` reads of one 1,000-row page (or what the filter has), in ms.
double PageMs(HistoryReader& reader, const Case& c, int64_t rows, size_t* got) {
  std::vector<double> ms;
  for (int r = 0; r < 7; ++r) {
    std::vector<HistoryRecord> out;
    bool more = false;
    const auto t0 = std::chrono::steady_clock::now();
    reader.Read(c.filter, c.from_middle ? rows / 2 : 0, 1000, &out, &more);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    *got = out.size();
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  setvbuf(stdout, nullptr, _IOLBF, 0);  // each figure as soon as it is measured
  CLI::App app{"dctwin-historybench: history pages at two sizes"};
  int64_t rows = 10000000, small = 100000;
  std::string dir = "/var/tmp";
  bool keep = false;
  int rollup_servers = 200, rollup_metrics = 30, report_racks = 1000;
  app.add_option("--report-racks", report_racks, "racks of the 30-day report figure (0: skip it); 100 is its floor");
  app.add_option("--rollup-servers", rollup_servers, "servers of the rollup size figure (0: skip it)");
  app.add_option("--rollup-metrics", rollup_metrics, "metrics per server for it");
  app.add_option("--rows", rows, "rows of the large history");
  app.add_option("--small", small, "rows of the small one (the floor)");
  app.add_option("--dir", dir, "where the two databases are written");
  app.add_flag("--keep", keep, "keep the databases");
  CLI11_PARSE(app, argc, argv);

  if (rollup_servers > 0) {
    const std::string path = dir + "/dctwin-rollups.db";
    const double bytes = RollupBytesPerServerDay(path, rollup_servers, rollup_metrics);
    std::printf("rollups: %.0f bytes per server per day (%d metrics, 1,440 one-minute and 24 one-hour buckets; "
                "%.1f bytes per metric-minute)\n",
                bytes, rollup_metrics, bytes / (rollup_metrics * (1440.0 + 24)));
    if (!keep) std::filesystem::remove(path);
  }
  if (report_racks > 0) {
    size_t spans_small = 0, spans_large = 0;
    const auto small_ms = ReportMs(dir + "/dctwin-report.db", std::max(1, report_racks / 10), &spans_small);
    const auto large_ms = ReportMs(dir + "/dctwin-report.db", report_racks, &spans_large);
    std::printf("report over 30 days: %d racks (%zu spans): by server %.0f ms, by rack %.0f ms (target: 1000 ms); "
                "%d racks (%zu spans): %.0f / %.0f ms; ratio %.1f / %.1f for %.0fx the spans\n",
                report_racks, spans_large, large_ms.first, large_ms.second, std::max(1, report_racks / 10), spans_small,
                small_ms.first, small_ms.second, large_ms.first / small_ms.first, large_ms.second / small_ms.second,
                static_cast<double>(spans_large) / static_cast<double>(spans_small));
  }
  const double now = static_cast<double>(time(nullptr));
  std::vector<std::pair<int64_t, std::string>> sizes{{small, dir + "/dctwin-history-small.db"},
                                                     {rows, dir + "/dctwin-history-large.db"}};
  std::vector<std::vector<double>> results;
  std::vector<Case> cases;
  for (const auto& [n, path] : sizes) {
    std::filesystem::remove(path);
    std::filesystem::remove(path + "-wal");
    const auto t0 = std::chrono::steady_clock::now();
    Fill(path, n);
    const double fill_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const auto bytes = std::filesystem::file_size(path) +
                       (std::filesystem::exists(path + "-wal") ? std::filesystem::file_size(path + "-wal") : 0);
    std::printf("%lld rows: written in %.1f s (%.0f rows/s), %.1f MB, %.0f bytes per row\n", static_cast<long long>(n),
                fill_s, static_cast<double>(n) / fill_s, static_cast<double>(bytes) / 1e6,
                static_cast<double>(bytes) / static_cast<double>(n));
    cases.clear();
    Case c{"no filter (oldest 1000)", {}};
    cases.push_back(c);
    c = {"no filter, from a cursor half way", {}, true};
    cases.push_back(c);
    c = {"since 1 h ago", {}};
    c.filter.since = now - 3600;
    cases.push_back(c);
    c = {"since/until a day-old hour", {}};
    c.filter.since = now - 90000;
    c.filter.until = now - 86400;
    cases.push_back(c);
    c = {"kind thermal", {}};
    c.filter.kind = "thermal";
    cases.push_back(c);
    c = {"type silence", {}};
    c.filter.type = "silence";
    cases.push_back(c);
    c = {"rack r123 (its rows)", {}};
    c.filter.rack = "r123";
    cases.push_back(c);
    c = {"subject s4242 (its rows)", {}};
    c.filter.subject = "s4242";
    cases.push_back(c);
    c = {"severity critical, since 1 h", {}};
    c.filter.severity = "critical";
    c.filter.since = now - 3600;
    cases.push_back(c);
    std::unique_ptr<HistoryReader> reader;
    if (Status s = HistoryReader::Open(path, 1000, &reader); !s.ok()) {
      std::fprintf(stderr, "%s\n", s.ToString().c_str());
      return 1;
    }
    std::vector<double> r;
    for (const Case& k : cases) {
      size_t got = 0;
      r.push_back(PageMs(*reader, k, n, &got));
      std::printf("  %-36s %5zu rows  %8.2f ms\n", k.name, got, r.back());
    }
    results.push_back(r);
  }
  std::printf("\nlarge/small page time (1 = flat):\n");
  double worst = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    std::printf("  %-36s %6.2f   (%.2f ms at %lld rows)\n", cases[i].name, results[1][i] / results[0][i], results[1][i],
                static_cast<long long>(rows));
    worst = std::max(worst, results[1][i]);
  }
  std::printf("slowest page at %lld rows: %.2f ms (target: 50 ms)\n", static_cast<long long>(rows), worst);
  if (!keep) {
    for (const auto& [n, path] : sizes) {
      std::filesystem::remove(path);
      std::filesystem::remove(path + "-wal");
      std::filesystem::remove(path + "-shm");
    }
  }
  return worst <= 50 ? 0 : 1;
}
