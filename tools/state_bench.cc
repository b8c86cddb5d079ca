// dctwin-statebench: builds a state database of N commissioned servers, each with a full
// 15-minute window (10 s interval, --metrics metrics), and prints how fast twins are committed and
// how many bytes each server takes on disk. --values collector (the default) gives each server
// random walks at the resolution collectors print (0.01 degC, 0.0001 of a CPU, whole watts and
// rpm, 0.01 V, a drop counter mostly 0); --values constant the same value at every report.
// Beyond --built servers (default 100,000) the twins are copies of the first ones' state under
// their own names (and members of the same racks), so that a million twins take minutes, not an
// hour, to build. The database is left at --state for a start-up timing
// (scripts/bench-state.sh starts a gateway on it and times READY).
// --memory-floor-mib N instead measures the floor of a restore on this machine: the time to
// allocate N MiB in blocks of a twin's size and write to them, on --threads threads.
#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "storage/sqlite_state_store.h"
#include "storage/twin_codec.h"
#include "twins/twin_registry.h"

namespace {

// Allocates `mib` MiB in blocks of `block` bytes on `threads` threads, writing every byte, and
// returns the seconds it took (the blocks are freed afterwards, outside the time).
double MemoryFloor(size_t mib, size_t block, int threads) {
  const size_t per_thread = (mib << 20) / block / static_cast<size_t>(threads);
  std::vector<std::vector<void*>> blocks(static_cast<size_t>(threads));
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      std::vector<void*>& mine = blocks[static_cast<size_t>(t)];
      mine.reserve(per_thread);
      for (size_t i = 0; i < per_thread; ++i) {
        void* p = std::malloc(block);
        if (p == nullptr) return;
        std::memset(p, 1, block);
        mine.push_back(p);
      }
    });
  }
  for (std::thread& w : workers) w.join();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  for (auto& mine : blocks) {
    for (void* p : mine) std::free(p);
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"dctwin-statebench: state store throughput and size"};
  std::string path = "statebench.db";
  int servers = 100000;
  int per_rack = 40;
  int batch = 1000;
  bool full = false;
  int metrics = 8;
  int built = 100000;
  std::string values = "collector";
  app.add_option("--state", path);
  app.add_option("--metrics", metrics, "metrics per report (1-8)")->check(CLI::Range(1, 8));
  app.add_option("--values", values, "collector or constant")->check(CLI::IsMember({"collector", "constant"}));
  app.add_option("--built", built, "servers built through the domain; the others copy their state");
  app.add_option("--servers", servers);
  app.add_option("--servers-per-rack", per_rack);
  app.add_option("--batch", batch, "twins per transaction");
  app.add_flag("--synchronous-full", full);
  size_t floor_mib = 0;
  int threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  app.add_option("--memory-floor-mib", floor_mib, "measure only: allocate and write this much memory");
  app.add_option("--threads", threads, "threads for --memory-floor-mib")->check(CLI::Range(1, 256));
  CLI11_PARSE(app, argc, argv);
  if (floor_mib > 0) {
    std::printf("memory floor            %zu MiB in 5,000-byte blocks on %d threads: %.2f s\n", floor_mib, threads,
                MemoryFloor(floor_mib, 5000, threads));
    return 0;
  }
  std::remove(path.c_str());
  std::remove((path + "-wal").c_str());
  std::remove((path + "-shm").c_str());

  using dctwin::Level;
  dctwin::ModelConfig model;
  model.rules = dctwin::DefaultRules();
  dctwin::TwinRegistry registry(model, dctwin::RegistryOptions{});
  const double t_start = 1.8e9;
  // Build the twins through the domain, as the gateway would: commission, then 91 reports each;
  // messages between twins are delivered, so racks and the datacenter agree with their servers.
  std::vector<dctwin::Envelope> queue;
  auto handle = [&](const dctwin::Envelope& env) {
    dctwin::Effects out;
    registry.Handle(env, out);
    for (auto& e : out.sends) queue.push_back(std::move(e));
    while (!queue.empty()) {
      dctwin::Envelope next = std::move(queue.back());
      queue.pop_back();
      dctwin::Effects more;
      registry.Handle(next, more);
      for (auto& e : more.sends) queue.push_back(std::move(e));
    }
  };
  {
    dctwin::Effects out;
    registry.StartDatacenter(t_start, out);
  }
  const int domain = std::min(servers, built);
  for (int s = 0; s < domain; ++s) {
    const std::string id = "srv-" + std::to_string(s);
    handle(dctwin::Envelope{{Level::kServer, id}, t_start, dctwin::Commission{"rack-" + std::to_string(s / per_rack)}});
  }
  static const char* const kNames[] = {"temp_c", "cpu_util", "power_w", "fan_rpm", "psu_volts", "net_drop_rate", "mem_used", "disk_errors"};
  struct Walk {
    double temp, util, watts, rpm, mem;
  };
  std::vector<Walk> walks(static_cast<size_t>(domain));
  std::mt19937 rng(1);
  std::normal_distribution<double> noise(0, 1);
  for (int s = 0; s < domain; ++s) walks[static_cast<size_t>(s)] = Walk{40.0 + s % 15, 0.3 + (s % 5) * 0.1, 250.0 + s % 90, 8000.0 + s % 2000, 0.5};
  for (int t = 0; t <= 900; t += 10) {
    for (int s = 0; s < domain; ++s) {
      dctwin::Report r;
      r.ts = t_start + t;
      double v[8];
      if (values == "constant") {
        const double c[8] = {50.0 + s % 7, 0.4, 250, 3000, 12.1, 0.0, 0.6, 0};
        std::copy(c, c + 8, v);
      } else {
        Walk& w = walks[static_cast<size_t>(s)];
        w.temp += 0.05 * noise(rng);
        w.util = std::clamp(w.util + 0.02 * noise(rng), 0.0, 1.0);
        w.watts += 2 * noise(rng);
        w.rpm += 30 * noise(rng);
        w.mem = std::clamp(w.mem + 0.002 * noise(rng), 0.0, 1.0);
        const double c[8] = {std::round(w.temp * 100) / 100, std::round(w.util * 10000) / 10000, std::round(w.watts),
                             std::round(w.rpm), std::round((12 + 0.05 * noise(rng)) * 100) / 100,
                             rng() % 50 == 0 ? 1.0 : 0.0, std::round(w.mem * 10000) / 10000, 0};
        std::copy(c, c + 8, v);
      }
      for (int m = 0; m < metrics; ++m) r.metrics.emplace_back(kNames[m], v[m]);
      handle(dctwin::Envelope{{Level::kServer, "srv-" + std::to_string(s)}, r.ts, std::move(r)});
    }
  }

  std::vector<dctwin::TwinRecord> records;
  const auto te0 = std::chrono::steady_clock::now();
  for (int s = 0; s < domain; ++s) {
    const std::string id = "srv-" + std::to_string(s);
    const dctwin::ServerTwin* twin = registry.server(id);
    if (twin == nullptr) continue;
    records.push_back(dctwin::TwinRecord{{dctwin::KindOf(Level::kServer), id}, dctwin::kTwinFormat,
                                         dctwin::EncodeTwin(*twin)});
  }
  // The copies: the state of server s % domain under the name srv-s, a member of that server's
  // rack (the state names the rack).
  for (int s = domain; s < servers; ++s) {
    const dctwin::TwinRecord& original = records[static_cast<size_t>(s % domain)];
    const std::string id = "srv-" + std::to_string(s);
    const std::string rack = "rack-" + std::to_string((s % domain) / per_rack);
    // Its row says what the original's says (the incidents its state holds).
    dctwin::RackMemberRow row;
    if (const dctwin::RackTwin* twin = registry.rack(rack)) {
      auto m = twin->members().find(original.key.id);
      if (m != twin->members().end()) row.open = m->second;
    }
    records.push_back(dctwin::TwinRecord{{dctwin::KindOf(Level::kServer), id}, dctwin::kTwinFormat, original.state});
    records.push_back(dctwin::TwinRecord{{static_cast<uint8_t>(dctwin::TwinKind::kRackMember), rack + "/" + id},
                                         dctwin::kTwinFormat, dctwin::EncodeRackMember(row)});
  }
  const double encode_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - te0).count();
  // Decoding alone, as restore does it for each server row.
  const auto td0 = std::chrono::steady_clock::now();
  size_t decoded = 0;
  for (int s = 0; s < domain; ++s) {
    dctwin::ServerTwin twin(records[static_cast<size_t>(s)].key.id, "dc1", model);
    decoded += dctwin::DecodeTwin(records[static_cast<size_t>(s)].state, &twin).ok() ? 1 : 0;
  }
  const double decode_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - td0).count();
  size_t state_bytes = 0;
  for (int s = 0; s < domain; ++s) state_bytes += records[static_cast<size_t>(s)].state.size();
  // The racks with a row per member, and the datacenter with a row per rack, as a gateway saves
  // them: a database without those rows has every membership corrected (and every twin written
  // again) at the first start, which is not what a restart costs.
  registry.ForEachRack([&](const dctwin::RackTwin& rack) {
    records.push_back(dctwin::TwinRecord{{dctwin::KindOf(Level::kRack), rack.id()}, dctwin::kTwinFormat,
                                         dctwin::EncodeTwin(rack)});
    for (const auto& [server, open] : rack.members()) {
      const dctwin::RackMemberRow row{open, rack.maintenance().count(server) > 0};
      records.push_back(dctwin::TwinRecord{{static_cast<uint8_t>(dctwin::TwinKind::kRackMember), rack.id() + "/" + server},
                                           dctwin::kTwinFormat, dctwin::EncodeRackMember(row)});
    }
  });
  if (const dctwin::DatacenterTwin* dc = registry.datacenter()) {
    records.push_back(dctwin::TwinRecord{{dctwin::KindOf(Level::kDatacenter), dc->id()}, dctwin::kTwinFormat,
                                         dctwin::EncodeTwin(*dc)});
    for (const auto& [rack, status] : dc->racks()) {
      records.push_back(dctwin::TwinRecord{{static_cast<uint8_t>(dctwin::TwinKind::kDatacenterRack), rack},
                                           dctwin::kTwinFormat, dctwin::EncodeRackStatus(status)});
    }
  }

  std::unique_ptr<dctwin::SqliteStateStore> store;
  dctwin::Status st = dctwin::SqliteStateStore::Open(dctwin::SqliteOptions{path, full, 5000}, &store);
  if (!st.ok()) {
    std::fprintf(stderr, "%s\n", st.ToString().c_str());
    return 1;
  }
  const auto t0 = std::chrono::steady_clock::now();
  for (size_t i = 0; i < records.size(); i += static_cast<size_t>(batch)) {
    dctwin::StoreBatch b;
    for (size_t j = i; j < std::min(records.size(), i + static_cast<size_t>(batch)); ++j) b.upserts.push_back(records[j]);
    st = store->Commit(b);
    if (!st.ok()) {
      std::fprintf(stderr, "%s\n", st.ToString().c_str());
      return 1;
    }
  }
  const double commit_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  store.reset();  // checkpoints the WAL into the database file

  struct stat sb {};
  stat(path.c_str(), &sb);
  std::printf("servers                 %d (full 15-minute windows: 91 reports x %d metrics, %s values; %d built, the others copies)\n",
              servers, metrics, values.c_str(), domain);
  std::printf("encoded state           %.0f bytes per server (cereal binary)\n",
              static_cast<double>(state_bytes) / domain);
  std::printf("encode                  %.0f twins/s\n", domain / encode_s);
  std::printf("decode                  %.0f twins/s (%zu of %d decoded)\n", domain / decode_s, decoded, domain);
  std::printf("commit (batches of %d)  %.0f twins/s (synchronous=%s)\n", batch, servers / commit_s,
              full ? "FULL" : "NORMAL");
  std::printf("database file           %.1f MB, %.0f bytes per server\n", static_cast<double>(sb.st_size) / 1e6,
              static_cast<double>(sb.st_size) / servers);
  return 0;
}
