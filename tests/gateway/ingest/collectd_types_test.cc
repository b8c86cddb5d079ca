#include "gateway/ingest/collectd_types.h"

#include <gtest/gtest.h>

namespace dctwin {
namespace {

TEST(CollectdTypesTest, ReadsTypesDbText) {
  CollectdTypes t;
  t.Parse("# comment\nif_octets\t\trx:DERIVE:0:U, tx:DERIVE:0:U\nvalue value:GAUGE:U:U\n\nbroken\n");
  ASSERT_NE(t.Sources("if_octets"), nullptr);
  EXPECT_EQ(*t.Sources("if_octets"), (std::vector<std::string>{"rx", "tx"}));
  EXPECT_EQ(t.Sources("nothing"), nullptr);
  std::string error;
  CollectdTypes loaded = CollectdTypes::Load("/nonexistent/types.db", &error);
  EXPECT_FALSE(error.empty());
  EXPECT_NE(loaded.Sources("load"), nullptr);  // the built-in table serves
}

}  // namespace
}  // namespace dctwin
