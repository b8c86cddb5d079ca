// CommitStageChain: several commit stages run by one store writer, in the order given: each sees
// every batch's events, polls, contributes to the same transaction and hears of its commit.
// History rows keep their order of contribution; their times are made non-decreasing across the
// stages (each stamps its own rows in the same round, a moment apart).
//
// Threads: the store writer's, like the stages.
#pragma once

#include <algorithm>
#include <utility>
#include <vector>

#include "storage/store_writer.h"

namespace dctwin {

class CommitStageChain : public CommitStage {
 public:
  explicit CommitStageChain(std::vector<CommitStage*> stages) : stages_(std::move(stages)) {}

  void OnIncidents(std::vector<IncidentEvent>& events, const std::vector<ProvisioningChange>& provisioning,
                   double now, double received) override {
    for (CommitStage* s : stages_) s->OnIncidents(events, provisioning, now, received);
  }
  void SetOutboxFull(bool full) override {
    for (CommitStage* s : stages_) s->SetOutboxFull(full);
  }
  void Poll(double now) override {
    for (CommitStage* s : stages_) s->Poll(now);
  }
  void Contribute(StoreBatch& batch) override {
    const size_t from = batch.history.size();
    for (CommitStage* s : stages_) s->Contribute(batch);
    for (size_t i = std::max<size_t>(from, 1); i < batch.history.size(); ++i) {
      batch.history[i].at = std::max(batch.history[i].at, batch.history[i - 1].at);
    }
  }
  void Committed(double now) override {
    for (CommitStage* s : stages_) s->Committed(now);
  }

 private:
  const std::vector<CommitStage*> stages_;
};

}  // namespace dctwin
