// CommitStageChain: several commit stages run by one store writer, in the order given: each
// polls, contributes to the same transaction and hears of its commit.
// Each stage stamps its history rows from one shared clock that never steps back, in the order it
// makes them; the rows of one transaction are put in the order of those times (a stable merge of
// the stages' rows), so that the history's seq order is its time order.
//
// Threads: the store writer's, like the stages.
#pragma once

#include <algorithm>
#include <cstddef>
#include <utility>
#include <vector>

#include "storage/store_writer.h"

namespace dctwin {

class CommitStageChain : public CommitStage {
 public:
  explicit CommitStageChain(std::vector<CommitStage*> stages) : stages_(std::move(stages)) {}

  void SetOutboxFull(bool full) override {
    for (CommitStage* s : stages_) s->SetOutboxFull(full);
  }
  void Poll(double now) override {
    for (CommitStage* s : stages_) s->Poll(now);
  }
  void Contribute(StoreBatch& batch) override {
    const size_t from = batch.history.size();
    for (CommitStage* s : stages_) s->Contribute(batch);
    std::stable_sort(batch.history.begin() + static_cast<std::ptrdiff_t>(from), batch.history.end(),
                     [](const HistoryRecord& a, const HistoryRecord& b) { return a.at < b.at; });
  }
  void Committed(double now) override {
    for (CommitStage* s : stages_) s->Committed(now);
  }

 private:
  const std::vector<CommitStage*> stages_;
};

}  // namespace dctwin
