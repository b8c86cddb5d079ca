#include "twins/interned.h"

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <cereal/archives/binary.hpp>
#include <cereal/types/string.hpp>

namespace dctwin {
namespace {

TEST(InternedTest, EqualExactlyWhenTheStringsAreAndOneCopyPerString) {
  const Interned a("rack-17");
  const Interned b(std::string("rack-") + "17");
  const Interned c("rack-18");
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_EQ(&a.str(), &b.str());  // one copy, shared
  EXPECT_EQ(a.str(), "rack-17");
  EXPECT_TRUE(Interned().empty());
  EXPECT_EQ(Interned(), Interned(""));
  EXPECT_FALSE(a.empty());
}

TEST(InternedTest, StoredAsTheStringItself) {
  std::ostringstream with_interned, with_string;
  {
    cereal::BinaryOutputArchive ar(with_interned);
    ar(Interned("a rack name longer than fifteen"));
  }
  {
    cereal::BinaryOutputArchive ar(with_string);
    ar(std::string("a rack name longer than fifteen"));
  }
  EXPECT_EQ(with_interned.str(), with_string.str());
  std::istringstream in(with_string.str());
  cereal::BinaryInputArchive ar(in);
  Interned back;
  ar(back);
  EXPECT_EQ(back, Interned("a rack name longer than fifteen"));
}

TEST(InternedTest, ShardsMayInternAtTheSameTime) {
  std::vector<std::thread> threads;
  std::vector<const std::string*> seen(4);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 1000; ++i) Interned("rack-" + std::to_string(i));
      seen[static_cast<size_t>(t)] = &Interned("rack-999").str();
    });
  }
  for (auto& th : threads) th.join();
  for (const std::string* p : seen) EXPECT_EQ(p, seen[0]);
}

}  // namespace
}  // namespace dctwin
