// The inventory (contract v3, "Topology and dependencies"): which racks exist, where they stand
// on the floor, what feeds, cools and switches them, and which servers are in which rack.
// `gateway.inventory` names a JSON file of the shape
//   {"racks": [{"name", "row", "position", "feeds": ["A-12"], "cooling": "crah-3", "tor": "sw-r07"}],
//    "servers": [{"name", "rack", "position_u"}]}
// (unknown fields are fine). Read at start and on SIGHUP; the gateway commissions what it lists,
// moves what changed and decommissions what it no longer lists (gateway/inventory_sync.h).
//
// Threads: plain functions.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "twins/topology.h"

namespace dctwin {

struct InventoryRack {
  std::string name;
  std::string row;       // as given: a number or a name
  std::string position;  // likewise
  std::vector<std::string> feeds;
  std::string cooling;
  std::string tor;
};

struct InventoryServer {
  std::string name;
  std::string rack;
  int position_u = 0;  // 0: not given
};

struct Inventory {
  std::vector<InventoryRack> racks;
  std::vector<InventoryServer> servers;
};

// Parses and checks an inventory document; false with every problem found (each naming where,
// e.g. "servers[3] (s12): rack r99 is not listed in racks"), and *out untouched.
bool ParseInventory(std::string_view json, const std::string& source, Inventory* out, std::vector<std::string>* problems);

// The groups the inventory names (each rack's feeds, cooling unit and switch) and their racks.
std::shared_ptr<const Topology> BuildTopology(const Inventory& inventory);

// Reads the file `path` and parses it (a URL is not read here: "unsupported source").
bool LoadInventory(const std::string& path, Inventory* out, std::vector<std::string>* problems);

}  // namespace dctwin
