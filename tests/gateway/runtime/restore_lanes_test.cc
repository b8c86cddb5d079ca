#include "gateway/runtime/restore_lanes.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <set>
#include <thread>
#include <utility>
#include <vector>

namespace dctwin {
namespace {

// What each lane saw, in order, and on which thread: written by that lane only.
struct Seen {
  std::vector<int> rows;
  std::set<std::thread::id> threads;
};

TEST(RestoreLanesTest, EachLaneHandlesItsRowsInOrderOnOneThreadAndFinishWaitsForAll) {
  constexpr int kRows = 10000;
  std::vector<Seen> seen(3);
  {
    RestoreLanes<int> lanes(3, [&](size_t lane, int&& row) {
      seen[lane].rows.push_back(row);
      seen[lane].threads.insert(std::this_thread::get_id());
    });
    ASSERT_EQ(lanes.size(), 3u);
    for (int r = 0; r < kRows; ++r) lanes.Post(static_cast<size_t>(r % 3), int{r});
    lanes.Finish();
    std::set<std::thread::id> all;
    size_t handled = 0;
    for (size_t lane = 0; lane < 3; ++lane) {
      ASSERT_EQ(seen[lane].threads.size(), 1u) << lane;
      EXPECT_NE(*seen[lane].threads.begin(), std::this_thread::get_id()) << "not on the reader's thread";
      all.insert(*seen[lane].threads.begin());
      for (size_t i = 0; i < seen[lane].rows.size(); ++i) {
        ASSERT_EQ(seen[lane].rows[i], static_cast<int>(lane + 3 * i)) << "lane " << lane << " row " << i;
      }
      handled += seen[lane].rows.size();
    }
    EXPECT_EQ(all.size(), 3u) << "a thread per lane";
    EXPECT_EQ(handled, static_cast<size_t>(kRows)) << "Finish returns once every row is handled";
  }
}

TEST(RestoreLanesTest, AReaderAheadOfASlowLaneWaitsInsteadOfPilingRowsUp) {
  std::atomic<int> waiting{0};  // posted and not handled yet
  std::atomic<int> most{0};
  RestoreLanes<int> lanes(1, [&](size_t, int&&) {
    std::this_thread::sleep_for(std::chrono::microseconds(20));
    waiting.fetch_sub(1);
  });
  for (int r = 0; r < 4000; ++r) {
    most.store(std::max(most.load(), waiting.fetch_add(1) + 1));
    lanes.Post(0, int{r});
  }
  lanes.Finish();
  EXPECT_EQ(waiting.load(), 0);
  // A lane holds at most 8 bundles of 256 and the reader fills one more.
  EXPECT_LE(most.load(), 10 * 256);
}

}  // namespace
}  // namespace dctwin
