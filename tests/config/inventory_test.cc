#include "config/inventory.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

namespace dctwin {
namespace {

bool Has(const std::vector<std::string>& problems, const std::string& needle) {
  for (const std::string& p : problems) {
    if (p.find(needle) != std::string::npos) return true;
  }
  return false;
}

TEST(InventoryTest, TheContractShapeIsReadWithUnknownFieldsLeftAlone) {
  Inventory inv;
  std::vector<std::string> problems;
  ASSERT_TRUE(ParseInventory(R"({"site": "x", "racks": [
      {"name": "r07", "row": 3, "position": "B", "feeds": ["A-12", "B-12"], "cooling": "crah-3", "tor": "sw-r07", "u": 42}],
    "servers": [{"name": "s1", "rack": "r07", "position_u": 12, "serial": "z"}, {"name": "s2", "rack": "r07"}]})",
                             "inv", &inv, &problems))
      << problems.at(0);
  ASSERT_EQ(inv.racks.size(), 1u);
  EXPECT_EQ(inv.racks[0].row, "3");
  EXPECT_EQ(inv.racks[0].position, "B");
  EXPECT_EQ(inv.racks[0].feeds, (std::vector<std::string>{"A-12", "B-12"}));
  EXPECT_EQ(inv.racks[0].cooling, "crah-3");
  EXPECT_EQ(inv.racks[0].tor, "sw-r07");
  ASSERT_EQ(inv.servers.size(), 2u);
  EXPECT_EQ(inv.servers[0].position_u, 12);
  EXPECT_EQ(inv.servers[1].position_u, 0);
}

TEST(InventoryTest, EveryProblemIsListedAndNothingIsTaken) {
  Inventory inv;
  inv.racks.push_back(InventoryRack{"kept", "", "", {}, "", ""});
  std::vector<std::string> problems;
  EXPECT_FALSE(ParseInventory(R"({"racks": [{"name": "r1", "feeds": "A-12"}, {"row": 2}, {"name": "r1"}, {"name": "r2", "tor": ["sw"]}],
    "servers": [{"name": "s1", "rack": "r9"}, {"name": "s1", "rack": "r1"}, {"name": "bad name", "rack": "r1"},
                {"name": "s3"}, {"name": "s4", "rack": "r1", "position_u": -1}]})",
                              "inv", &inv, &problems));
  EXPECT_TRUE(Has(problems, "racks[0] (r1): \"feeds\" must be an array")) << problems.at(0);
  EXPECT_TRUE(Has(problems, "racks[1]: \"name\" is required"));
  EXPECT_TRUE(Has(problems, "racks[2] (r1): rack r1 is listed twice"));
  EXPECT_TRUE(Has(problems, "racks[3] (r2): \"tor\" must be a name"));
  EXPECT_TRUE(Has(problems, "servers[0] (s1): rack r9 is not listed"));
  EXPECT_TRUE(Has(problems, "servers[1] (s1): server s1 is listed twice"));
  EXPECT_TRUE(Has(problems, "servers[2]: \"name\" is required"));
  EXPECT_TRUE(Has(problems, "servers[3] (s3): \"rack\" is required"));
  EXPECT_TRUE(Has(problems, "servers[4] (s4): \"position_u\" must be a whole number"));
  EXPECT_EQ(problems.size(), 9u);
  EXPECT_EQ(inv.racks.at(0).name, "kept");  // untouched
  problems.clear();
  EXPECT_FALSE(ParseInventory("[1, 2]", "inv", &inv, &problems));
  EXPECT_TRUE(Has(problems, "inv: not a JSON object"));
  problems.clear();
  EXPECT_FALSE(LoadInventory("/nonexistent/inventory.json", "", &inv, &problems));
  EXPECT_TRUE(Has(problems, "cannot be read"));
}


// NetBox's API pages, saved in a folder (tests/data/netbox: racks, two pages of devices, power
// feeds, in the shape NetBox's API returns them).
TEST(NetboxInventoryTest, SavedPagesBecomeRacksWithTheirPanelsCoolingAndSwitchesAndTheirServers) {
  Inventory inv;
  std::vector<std::string> problems;
  ASSERT_TRUE(LoadInventory(std::string(DCTWIN_SOURCE_DIR) + "/tests/data/netbox", "", &inv, &problems))
      << ::testing::PrintToString(problems);
  ASSERT_EQ(inv.racks.size(), 3u);
  const InventoryRack& r01 = inv.racks[0];
  EXPECT_EQ(r01.name, "r01");
  EXPECT_EQ(r01.row, "1");
  EXPECT_EQ(r01.position, "1");
  EXPECT_EQ(r01.feeds, (std::vector<std::string>{"A-12"}));  // the feed's panel
  EXPECT_EQ(r01.cooling, "crah-1");
  EXPECT_EQ(r01.tor, "sw-r01");
  EXPECT_EQ(inv.racks[1].tor, "leaf-r02");
  EXPECT_EQ(inv.racks[1].feeds, (std::vector<std::string>{"A-12"}));
  EXPECT_EQ(inv.racks[2].row, "Row 2");  // no custom field: its location
  EXPECT_EQ(inv.racks[2].cooling, "");
  std::vector<std::string> servers;
  for (const InventoryServer& s : inv.servers) servers.push_back(s.name + "@" + s.rack + ":" + std::to_string(s.position_u));
  // Switches, the PDU and the unracked spare are not servers.
  EXPECT_EQ(servers, (std::vector<std::string>{"s0101@r01:10", "s0102@r01:12", "s0201@r02:20", "s0301@r03:5"}));
  const auto topology = BuildTopology(inv);
  EXPECT_EQ(*topology->RacksOf("feed:A-12"), (std::vector<std::string>{"r01", "r02"}));
  EXPECT_EQ(*topology->RacksOf("cooling:crah-1"), (std::vector<std::string>{"r01", "r02"}));
  EXPECT_EQ(*topology->RacksOf("tor:leaf-r02"), (std::vector<std::string>{"r02"}));
}

TEST(NetboxInventoryTest, AFolderWithoutAnEndpointsPagesOrWithAServerInAnUnknownRackIsRefused) {
  char tmpl[] = "/tmp/dctwin-netbox-XXXXXX";
  const std::string dir = mkdtemp(tmpl);
  const std::string data = std::string(DCTWIN_SOURCE_DIR) + "/tests/data/netbox/";
  std::filesystem::copy_file(data + "racks.json", dir + "/racks.json");
  std::filesystem::copy_file(data + "devices-1.json", dir + "/devices-1.json");
  Inventory inv;
  std::vector<std::string> problems;
  EXPECT_FALSE(LoadInventory(dir, "", &inv, &problems));
  EXPECT_TRUE(Has(problems, "no page of dcim/power-feeds (a file power-feeds*.json)")) << ::testing::PrintToString(problems);
  // A server in a rack the racks' pages do not list.
  std::ofstream(dir + "/power-feeds.json") << R"({"count": 0, "next": null, "results": []})";
  std::ofstream(dir + "/devices-3.json") << R"({"count": 1, "next": null, "results": [
    {"id": 9, "name": "lost", "role": {"slug": "server", "name": "Server"}, "rack": {"id": 99, "name": "r99"}, "position": 1.0}]})";
  problems.clear();
  EXPECT_FALSE(LoadInventory(dir, "", &inv, &problems));
  EXPECT_TRUE(Has(problems, "rack r99 is not listed")) << ::testing::PrintToString(problems);
  // Roles are read word by word: "storage" is a server (not a "tor"), "ToR switch" a switch.
  std::ofstream(dir + "/devices-3.json") << R"({"count": 3, "next": null, "results": [
    {"id": 7, "name": "st1", "role": {"slug": "storage", "name": "Storage"}, "rack": {"id": 1, "name": "r01"}, "position": 3.0},
    {"id": 8, "name": "mon1", "role": {"slug": "monitor", "name": "Monitor"}, "rack": {"id": 1, "name": "r01"}, "position": 4.0},
    {"id": 9, "name": "top1", "role": {"name": "ToR switch"}, "rack": {"id": 2, "name": "r02"}, "position": 42.0}]})";
  problems.clear();
  ASSERT_TRUE(LoadInventory(dir, "", &inv, &problems)) << ::testing::PrintToString(problems);
  EXPECT_EQ(inv.racks[0].tor, "sw-r01");
  EXPECT_EQ(inv.racks[1].tor, "top1");
  std::vector<std::string> names;
  for (const InventoryServer& s : inv.servers) names.push_back(s.name);
  EXPECT_NE(std::find(names.begin(), names.end(), "st1"), names.end());
  EXPECT_EQ(std::find(names.begin(), names.end(), "mon1"), names.end()) << "a monitor is no server";
  std::ofstream(dir + "/devices-3.json") << "not json";
  problems.clear();
  EXPECT_FALSE(LoadInventory(dir, "", &inv, &problems));
  EXPECT_TRUE(Has(problems, "devices-3.json: not a NetBox API page")) << ::testing::PrintToString(problems);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace dctwin
