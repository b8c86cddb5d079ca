// dctwin-sim: a datacenter in a box. Commissions D racks x S servers and publishes their reports
// (native JSON) every interval with realistic noise, and plays failure scenarios on a timeline:
//
//   dctwin-sim --racks 4 --servers-per-rack 10 --interval 2
//     --scenario "10 overheat r01-s03; 20 tor-degrade r02; 40 tor-die r03; 60 power-sag 2; 90 recover-all"
//
// Events: overheat <server>, disk-fail <server>, server-die <server>, decommission <server>,
// tor-degrade <rack> (packet drops on every server of the rack), tor-die <rack> (the rack goes
// silent), power-sag <n> (psu_volts down across the first n racks), recover <server|rack>,
// recover-all. --scenario-file reads the same, one event per line ("#" comments).
//
// With --inventory FILE (the gateway's inventory, contract v3 "Topology") the racks and servers
// are the inventory's (a rack it lists without servers gets --servers-per-rack of them, named
// <rack>-sNN and commissioned over MQTT), and three more events play on its groups:
// feed-trip <feed> (psu_volts down on every server of the racks the feed feeds), cooling-fail
// <unit> (its racks heat up by --heat-rate degrees per minute), switch-fail <tor> (its racks go
// silent). recover feed:<feed>, cooling:<unit> or tor:<switch> ends one.
//
// --format collectd publishes what collectd's mqtt write plugin would instead, one message per
// value list on collectd/<server>/<plugin>[-<instance>]/<type>[-<instance>] with "<epoch>:<v>..."
// payloads: ipmi/temperature-CPU, ipmi/voltage-PSU12V, cpu/percent-active,
// interface-eth0/if_dropped (rx, tx per second), smart-sda/smart_badsectors and load/load. The
// shipped config/dctwin.toml has rules for those names.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <unistd.h>
#include <chrono>
#include <cstdio>
#include <deque>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <mqtt/async_client.h>

#include "config/inventory.h"
#include "tools/windowed_publisher.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Event {
  double at = 0;
  std::string what;
  std::string target;
};

struct Server {
  std::string id;
  std::string rack;
  std::vector<std::string> groups;  // the rack's feeds, cooling unit and switch (--inventory)
  bool hot = false, disk = false, dead = false, decommissioned = false, drops = false, sag = false;
  double heating_since = -1;  // cooling failed at this time (s into the run); -1: cooled
  double disk_errors = 0;
  bool In(const std::string& group) const { return std::find(groups.begin(), groups.end(), group) != groups.end(); }
};

std::vector<Event> ParseScenario(const std::string& text) {
  std::vector<Event> events;
  std::stringstream lines(text);
  std::string line;
  const char separator = text.find(';') != std::string::npos ? ';' : '\n';
  while (std::getline(lines, line, separator)) {
    for (char& c : line) c = c == '\n' ? ' ' : c;
    if (line.find('#') != std::string::npos) line = line.substr(0, line.find('#'));
    std::stringstream ss(line);
    Event e;
    if (!(ss >> e.at >> e.what)) continue;
    ss >> e.target;
    events.push_back(e);
  }
  std::stable_sort(events.begin(), events.end(), [](const Event& a, const Event& b) { return a.at < b.at; });
  return events;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"dctwin-sim: simulated servers, racks and failures for a dctwin gateway"};
  std::string broker = "tcp://127.0.0.1:1883", prefix = "dctwin", scenario, scenario_file;
  int racks = 4, per_rack = 10, first_rack = 1;
  double interval = 10, duration = 0;
  unsigned seed = 1;
  std::string format = "native", collectd_prefix = "collectd", inventory_file;
  double heat_rate = 10;
  app.add_option("--broker", broker);
  app.add_option("--prefix", prefix);
  app.add_option("--racks", racks);
  app.add_option("--first-rack", first_rack, "number of the first rack (r01 by default): pods of one site serve different racks");
  app.add_option("--servers-per-rack", per_rack);
  app.add_option("--interval", interval, "seconds between two reports of a server");
  app.add_option("--duration", duration, "seconds to run; 0 = until killed");
  app.add_option("--scenario", scenario, "events: \"<t> <event> [target]; ...\"");
  app.add_option("--scenario-file", scenario_file);
  app.add_option("--seed", seed);
  app.add_option("--format", format, "native (JSON) or collectd (collectd's mqtt plugin text format)")
      ->check(CLI::IsMember({"native", "collectd"}));
  app.add_option("--collectd-prefix", collectd_prefix, "topic prefix of --format collectd");
  app.add_option("--inventory", inventory_file, "the gateway's inventory (JSON): its racks and servers, and its feeds, "
                                                "cooling units and switches for feed-trip, cooling-fail and switch-fail");
  app.add_option("--heat-rate", heat_rate, "degrees per minute the racks of a failed cooling unit heat up");
  CLI11_PARSE(app, argc, argv);
  if (!scenario_file.empty()) {
    std::ifstream in(scenario_file);
    std::stringstream ss;
    ss << in.rdbuf();
    scenario = ss.str();
  }
  std::deque<Event> events;
  for (const Event& e : ParseScenario(scenario)) events.push_back(e);

  mqtt::async_client client(broker, "dctwin-sim-" + std::to_string(getpid()), mqtt::create_options(MQTTVERSION_5));
  mqtt::connect_options opts;
  opts.set_mqtt_version(MQTTVERSION_5);
  try {
    client.connect(opts)->wait();
  } catch (const mqtt::exception& e) {
    std::fprintf(stderr, "cannot connect to %s: %s\n", broker.c_str(), e.what());
    return 1;
  }
  dctwin::tools::WindowedPublisher pub(client, 16);
  std::vector<Server> servers;
  char id[32];
  if (!inventory_file.empty()) {
    dctwin::Inventory inventory;
    std::vector<std::string> problems;
    if (!dctwin::LoadInventory(inventory_file, "", &inventory, &problems)) {
      for (const std::string& p : problems) std::fprintf(stderr, "inventory: %s\n", p.c_str());
      return 2;
    }
    std::map<std::string, std::vector<std::string>> groups;
    for (const dctwin::InventoryRack& r : inventory.racks) {
      for (const std::string& f : r.feeds) groups[r.name].push_back("feed:" + f);
      if (!r.cooling.empty()) groups[r.name].push_back("cooling:" + r.cooling);
      if (!r.tor.empty()) groups[r.name].push_back("tor:" + r.tor);
    }
    std::set<std::string> listed;
    for (const dctwin::InventoryServer& is : inventory.servers) {
      Server srv;
      srv.id = is.name;
      srv.rack = is.rack;
      srv.groups = groups[is.rack];
      listed.insert(is.rack);
      servers.push_back(srv);  // the gateway commissions it from the inventory
    }
    for (const dctwin::InventoryRack& r : inventory.racks) {
      if (listed.count(r.name) != 0) continue;
      for (int n = 1; n <= per_rack; ++n) {
        std::snprintf(id, sizeof id, "-s%02d", n);
        Server srv;
        srv.id = r.name + id;
        srv.rack = r.name;
        srv.groups = groups[r.name];
        pub.Publish(prefix + "/provisioning/" + srv.id, "{\"action\":\"commission\",\"rack\":\"" + srv.rack + "\"}",
                    true);
        servers.push_back(srv);
      }
    }
    racks = static_cast<int>(inventory.racks.size());
    first_rack = 1;
    per_rack = 0;  // taken: no numbered racks below
  }
  for (int r = first_rack; per_rack > 0 && r < first_rack + racks; ++r) {
    for (int s = 1; s <= per_rack; ++s) {
      std::snprintf(id, sizeof id, "r%02d-s%02d", r, s);
      Server srv;
      srv.id = id;
      std::snprintf(id, sizeof id, "r%02d", r);
      srv.rack = id;
      // Retained, as a provisioning service should: the gateway reads it again at every
      // subscribe, so a commission it acknowledged but lost in a crash comes back.
      pub.Publish(prefix + "/provisioning/" + srv.id, "{\"action\":\"commission\",\"rack\":\"" + srv.rack + "\"}",
                  true);
      servers.push_back(srv);
    }
  }
  pub.Drain();
  std::printf("sim: %zu servers in %d racks, a %s report every %g s\n", servers.size(), racks, format.c_str(),
              interval);
  std::fflush(stdout);

  std::mt19937 rng(seed);
  std::normal_distribution<double> noise(0, 1);
  const auto start = Clock::now();
  for (long tick = 0;; ++tick) {
    const double t = std::chrono::duration<double>(Clock::now() - start).count();
    if (duration > 0 && t >= duration) break;
    while (!events.empty() && events.front().at <= t) {
      const Event e = events.front();
      events.pop_front();
      std::printf("sim: t=%.0f s %s %s\n", t, e.what.c_str(), e.target.c_str());
      std::fflush(stdout);
      int n_racks = e.what == "power-sag" ? std::atoi(e.target.c_str()) : 0;
      for (Server& s : servers) {
        const bool me = s.id == e.target, my_rack = s.rack == e.target;
        if (e.what == "overheat" && me) s.hot = true;
        if (e.what == "disk-fail" && me) s.disk = true;
        if (e.what == "server-die" && me) s.dead = true;
        if (e.what == "tor-degrade" && my_rack) s.drops = true;
        if (e.what == "tor-die" && my_rack) s.dead = true;
        if (e.what == "power-sag" && std::atoi(s.rack.c_str() + 1) <= n_racks) s.sag = true;
        if (e.what == "decommission" && me && !s.decommissioned) {
          s.decommissioned = true;
          pub.Publish(prefix + "/provisioning/" + s.id, R"({"action":"decommission"})", true);
        }
        // The groups of the inventory: a feed, a cooling unit or a switch, by its name.
        if (e.what == "feed-trip" && s.In("feed:" + e.target)) s.sag = true;
        if (e.what == "cooling-fail" && s.In("cooling:" + e.target) && s.heating_since < 0) s.heating_since = t;
        if (e.what == "switch-fail" && s.In("tor:" + e.target)) s.dead = true;
        if (e.what == "recover" && s.In(e.target)) {  // feed:<name>, cooling:<name>, tor:<name>
          if (e.target.starts_with("feed:")) s.sag = false;
          if (e.target.starts_with("cooling:")) s.heating_since = -1;
          if (e.target.starts_with("tor:")) s.dead = false;
        }
        if ((e.what == "recover" && (me || my_rack)) || e.what == "recover-all") {
          s.hot = s.disk = s.dead = s.drops = s.sag = false;
          s.heating_since = -1;
        }
      }
    }
    const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    char payload[256];
    for (Server& s : servers) {
      if (s.dead || s.decommissioned) continue;
      if (s.disk) s.disk_errors += 1 + std::abs(noise(rng));
      // A failed cooling unit: its racks warm by heat_rate degrees a minute, up to 40 more.
      const double warming = s.heating_since < 0 ? 0 : std::min(40.0, (t - s.heating_since) * heat_rate / 60);
      const double temp = (s.hot ? 92.0 : 55.0) + warming + 1.5 * noise(rng);
      const double cpu = std::clamp(0.4 + 0.1 * noise(rng), 0.0, 1.0);
      const double drops = s.drops ? 0.05 + 0.01 * std::abs(noise(rng)) : 0.0005 * std::abs(noise(rng));
      const double volts = (s.sag ? 11.0 : 12.1) + 0.03 * noise(rng);
      if (format == "collectd") {
        // Drops as packets per second at ~1000 packets/s: the rate the plugin reports.
        const std::string base = collectd_prefix + "/" + s.id + "/";
        auto part = [&](const std::string& what, const char* fmt, auto... values) {
          const int n = std::snprintf(payload, sizeof payload, fmt, now, values...);
          pub.Publish(base + what, payload, static_cast<size_t>(n), 1);
        };
        part("ipmi/temperature-CPU", "%.3f:%.1f", temp);
        part("ipmi/voltage-PSU12V", "%.3f:%.2f", volts);
        part("cpu/percent-active", "%.3f:%.1f", cpu * 100);
        part("interface-eth0/if_dropped", "%.3f:%.2f:%.2f", drops * 1000, drops * 100);
        part("smart-sda/smart_badsectors", "%.3f:%.0f", s.disk_errors);
        part("load/load", "%.3f:%.2f:%.2f:%.2f", cpu * 16, cpu * 15, cpu * 14);
        continue;
      }
      std::snprintf(payload, sizeof payload,
                    R"({"ts":%.3f,"temp_c":%.1f,"cpu_util":%.3f,"net_drop_rate":%.4f,"psu_volts":%.2f,"disk_errors":%.0f,"fan_rpm":%.0f})",
                    now, temp, cpu, drops, volts, s.disk_errors, 3000 + 50 * noise(rng));
      pub.Publish(prefix + "/metrics/" + s.id, payload);
    }
    pub.Drain();
    std::this_thread::sleep_until(start + std::chrono::duration<double>((tick + 1) * interval));
  }
  client.disconnect()->wait();
  return 0;
}
