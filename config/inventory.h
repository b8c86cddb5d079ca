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

// Reads the inventory `source` names: a JSON file of the shape above, a folder of NetBox API pages,
// or NetBox's API at a URL (LoadNetboxInventory); `token`: NetBox's API token.
bool LoadInventory(const std::string& source, const std::string& token, Inventory* out,
                   std::vector<std::string>* problems);

// NetBox (config/netbox.cc): the pages of dcim/racks, dcim/devices and dcim/power-feeds
// ({"count", "next", "results"}), from a folder of saved pages (files racks*.json, devices*.json,
// power-feeds*.json, each one page, read in name order) or from the API's base URL
// ("https://netbox.example/api/": every page, following "next", with "Authorization: Token
// <token>"). How NetBox's objects become the inventory:
// - a rack: its name; row and position from its custom fields "row" and "position" (the row
//   falls back to its location's name); its cooling unit from the custom field "cooling";
// - a power feed assigned to a rack feeds it from its power panel: the rack's feed is the panel's
//   name (the feeds of one panel trip together), or the feed's own name when it has no panel;
// - a device in a rack whose role (slug or name) says tor, leaf or switch is that rack's ToR
//   switch; one whose role says server, compute, storage, host or node (or that has no role) is a
//   server in that rack at its position; other devices (PDUs, patch panels) are left out.
bool LoadNetboxInventory(const std::string& source, const std::string& token, Inventory* out,
                         std::vector<std::string>* problems);

}  // namespace dctwin
