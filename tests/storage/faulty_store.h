// FaultyStore: a real SQLite store whose commits can be made to fail, as a full disk, a busy
// database or an I/O error would; it remembers which twins each committed transaction held.
#pragma once

#include <atomic>
#include <mutex>
#include <string>
#include <vector>

#include "storage/state_store.h"

namespace dctwin::testing {

class FaultyStore : public StateStore {
 public:
  explicit FaultyStore(StateStore& real) : real_(real) {}
  Status Commit(StoreBatch& batch) override {
    ++attempts;
    if (failures_left.load() > 0) {
      --failures_left;
      return fault;
    }
    Status s = real_.Commit(batch);
    std::lock_guard<std::mutex> lock(mu);
    std::vector<std::string> ids;
    for (const TwinRecord& r : batch.upserts) ids.push_back(r.key.id);
    committed.push_back(std::move(ids));
    return s;
  }
  Status LoadTwins(const std::function<void(TwinRecord&&)>& each) override { return real_.LoadTwins(each); }
  Status LoadOutbox(const std::function<void(OutboxRecord&&)>& each) override { return real_.LoadOutbox(each); }
  Status LoadOutboxFrom(int64_t from, size_t limit, const std::function<void(OutboxRecord&&)>& each) override {
    return real_.LoadOutboxFrom(from, limit, each);
  }
  Status LoadDocs(const std::string& collection, const std::function<void(DocRecord&&)>& each) override {
    return real_.LoadDocs(collection, each);
  }
  Status Quarantine(const TwinRecord& r, const std::string& reason) override { return real_.Quarantine(r, reason); }
  int64_t OutboxSize() const override { return real_.OutboxSize(); }

  std::atomic<int> failures_left{0};
  std::atomic<int> attempts{0};
  std::mutex mu;
  std::vector<std::vector<std::string>> committed;  // the twins of each committed transaction
  Status fault = Status::IoError("database or disk is full");

 private:
  StateStore& real_;
};

}  // namespace dctwin::testing
