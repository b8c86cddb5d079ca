// RestoreLanes: the rows a restore reads, handed to one thread per lane as they are read. Decoding
// a twin and the fresh memory its state fills are most of a restore (a profile of 100,000 twins:
// 41 % of the samples in the kernel zeroing new pages, then decoding), and both go as fast as the
// threads that do them: with one lane per core they overlap with each other and with the reading.
//
// Each lane has its own thread and handles its rows in the order they were posted; the caller
// chooses the lane, so everything of one owner (a shard's TwinHost) goes to one lane and is never
// touched by two threads. Rows are handed over in bundles, and a lane holds at most a few
// bundles: the reader waits for a lane that falls behind, so memory stays bounded.
//
// Threads: Post and Finish from the reading thread; `work` runs on the lanes' threads.
#pragma once

#include <algorithm>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "base/thread_annotations.h"
#include "base/thread_name.h"

namespace dctwin {

template <typename Row>
class RestoreLanes {
 public:
  // work(lane, row): on lane's own thread.
  RestoreLanes(size_t lanes, std::function<void(size_t, Row&&)> work) : work_(std::move(work)) {
    for (size_t i = 0; i < std::max<size_t>(lanes, 1); ++i) lanes_.push_back(std::make_unique<Lane>());
    for (size_t i = 0; i < lanes_.size(); ++i) {
      lanes_[i]->thread = std::thread([this, i] {
        NameThisThread("dctwin-restore-" + std::to_string(i));
        Run(i);
      });
    }
  }
  RestoreLanes(const RestoreLanes&) = delete;
  RestoreLanes& operator=(const RestoreLanes&) = delete;
  ~RestoreLanes() { Finish(); }

  size_t size() const { return lanes_.size(); }

  void Post(size_t lane, Row&& row) {
    Lane& l = *lanes_[lane % lanes_.size()];
    l.filling.push_back(std::move(row));
    if (l.filling.size() >= kBundle) Hand(l);
  }

  // Hands over what is left and waits until every lane has handled all of it.
  void Finish() {
    if (finished_) return;
    finished_ = true;
    for (auto& l : lanes_) {
      if (!l->filling.empty()) Hand(*l);
      {
        MutexLock lock(l->mu);
        l->done = true;
      }
      l->cv.notify_all();
    }
    for (auto& l : lanes_) l->thread.join();
  }

 private:
  static constexpr size_t kBundle = 256;
  static constexpr size_t kMaxBundles = 8;

  struct Lane {
    Mutex mu;
    std::condition_variable cv;
    std::deque<std::vector<Row>> bundles GUARDED_BY(mu);
    bool done GUARDED_BY(mu) = false;
    std::vector<Row> filling;  // the reader's only
    std::thread thread;
  };

  void Hand(Lane& l) {
    {
      MutexLock lock(l.mu);
      while (l.bundles.size() >= kMaxBundles) l.cv.wait(lock.native());
      l.bundles.push_back(std::move(l.filling));
    }
    l.filling = {};
    l.cv.notify_all();
  }

  void Run(size_t i) {
    Lane& l = *lanes_[i];
    for (;;) {
      std::vector<Row> bundle;
      {
        MutexLock lock(l.mu);
        while (l.bundles.empty() && !l.done) l.cv.wait(lock.native());
        if (l.bundles.empty()) return;
        bundle = std::move(l.bundles.front());
        l.bundles.pop_front();
      }
      l.cv.notify_all();
      for (Row& row : bundle) work_(i, std::move(row));
    }
  }

  const std::function<void(size_t, Row&&)> work_;
  std::vector<std::unique_ptr<Lane>> lanes_;
  bool finished_ = false;
};

}  // namespace dctwin
