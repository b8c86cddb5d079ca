// dctwin-statebench: builds a state database of N commissioned servers, each with a full
// 15-minute window (10 s interval, 8 metrics), and prints how fast twins are committed and how
// many bytes each server takes on disk. The database is left at --state for a start-up timing
// (scripts/bench-state.sh starts a gateway on it and times READY).
#include <sys/stat.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "storage/sqlite_state_store.h"
#include "storage/twin_codec.h"
#include "twins/twin_registry.h"

int main(int argc, char** argv) {
  CLI::App app{"dctwin-statebench: state store throughput and size"};
  std::string path = "statebench.db";
  int servers = 100000;
  int per_rack = 40;
  int batch = 1000;
  bool full = false;
  app.add_option("--state", path);
  app.add_option("--servers", servers);
  app.add_option("--servers-per-rack", per_rack);
  app.add_option("--batch", batch, "twins per transaction");
  app.add_flag("--synchronous-full", full);
  CLI11_PARSE(app, argc, argv);
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
  for (int s = 0; s < servers; ++s) {
    const std::string id = "srv-" + std::to_string(s);
    handle(dctwin::Envelope{{Level::kServer, id}, t_start, dctwin::Commission{"rack-" + std::to_string(s / per_rack)}});
  }
  for (int t = 0; t <= 900; t += 10) {
    for (int s = 0; s < servers; ++s) {
      dctwin::Report r;
      r.ts = t_start + t;
      r.metrics = {{"temp_c", 50.0 + s % 7}, {"cpu_util", 0.4}, {"net_drop_rate", 0.0}, {"psu_volts", 12.1},
                   {"disk_errors", 0}, {"mem_used", 0.6}, {"fan_rpm", 3000}, {"power_w", 250}};
      handle(dctwin::Envelope{{Level::kServer, "srv-" + std::to_string(s)}, r.ts, std::move(r)});
    }
  }

  std::vector<dctwin::TwinRecord> records;
  const auto te0 = std::chrono::steady_clock::now();
  for (int s = 0; s < servers; ++s) {
    const std::string id = "srv-" + std::to_string(s);
    const dctwin::ServerTwin* twin = registry.server(id);
    if (twin == nullptr) continue;
    records.push_back(dctwin::TwinRecord{{dctwin::KindOf(Level::kServer), id}, dctwin::kTwinFormat,
                                         dctwin::EncodeTwin(*twin)});
  }
  const double encode_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - te0).count();
  size_t state_bytes = 0;
  for (const auto& r : records) state_bytes += r.state.size();
  registry.ForEachRack([&](const dctwin::RackTwin& rack) {
    records.push_back(dctwin::TwinRecord{{dctwin::KindOf(Level::kRack), rack.id()}, dctwin::kTwinFormat,
                                         dctwin::EncodeTwin(rack)});
  });
  if (const dctwin::DatacenterTwin* dc = registry.datacenter()) {
    records.push_back(dctwin::TwinRecord{{dctwin::KindOf(Level::kDatacenter), dc->id()}, dctwin::kTwinFormat,
                                         dctwin::EncodeTwin(*dc)});
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
  std::printf("servers                 %d (full 15-minute windows: 91 reports x 8 metrics)\n", servers);
  std::printf("encoded state           %.0f bytes per server (cereal binary)\n",
              static_cast<double>(state_bytes) / servers);
  std::printf("encode                  %.0f twins/s\n", servers / encode_s);
  std::printf("commit (batches of %d)  %.0f twins/s (synchronous=%s)\n", batch, servers / commit_s,
              full ? "FULL" : "NORMAL");
  std::printf("database file           %.1f MB, %.0f bytes per server\n", static_cast<double>(sb.st_size) / 1e6,
              static_cast<double>(sb.st_size) / servers);
  return 0;
}
