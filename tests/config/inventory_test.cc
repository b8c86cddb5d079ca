#include "config/inventory.h"

#include <gtest/gtest.h>

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
  EXPECT_FALSE(LoadInventory("/nonexistent/inventory.json", &inv, &problems));
  EXPECT_TRUE(Has(problems, "cannot be read"));
}

}  // namespace
}  // namespace dctwin
