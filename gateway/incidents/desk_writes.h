// DeskWrites: what the incident desk's parts decided and what waits for the store writer's next
// commit: outbox rows (in the order they were made), documents (the last body per key, or its
// deletion), history rows and the report's spans, and the answers to publish once it committed.
// Everything goes into one transaction with the twin state that caused it (CommitStage).
//
// Threads: the store writer's (like the desk).
#pragma once

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "gateway/mqtt/message_sink.h"
#include "storage/state_store.h"

namespace dctwin {

class DeskWrites {
 public:
  // `received`: see OutboxRecord::received (0: not an alert caused by a report).
  void Outbox(std::string topic, std::string payload, bool retained, double received = 0) {
    outbox_.push_back(OutboxRecord{0, std::move(topic), std::move(payload), 1, retained, received});
  }
  void PutDoc(const std::string& collection, const std::string& id, std::string body) {
    docs_[{collection, id}] = std::move(body);
  }
  void DeleteDoc(const std::string& collection, const std::string& id) { docs_[{collection, id}] = std::nullopt; }

  // History rows go into the transaction of the change they record. Their times never step back,
  // so that the history's `at` index maps a time onto a seq range: Stamp() gives the time for a
  // row made at `at`.
  double Stamp(double at) {
    last_history_at_ = std::max(at, last_history_at_);
    return last_history_at_;
  }
  double last_history_at() const { return last_history_at_; }
  void Remember(HistoryRecord row) {
    row.at = Stamp(row.at);
    history_.push_back(std::move(row));
  }
  void Span(SpanChange change) { spans_.push_back(std::move(change)); }
  // Published once the transaction committed: an answered command survives kill -9.
  void Reply(OutMessage answer) { replies_.push_back(std::move(answer)); }

  // Adds everything to the transaction; again, unchanged, after a failed commit.
  void Contribute(StoreBatch& batch) const {
    batch.outbox.insert(batch.outbox.end(), outbox_.begin(), outbox_.end());
    batch.history.insert(batch.history.end(), history_.begin(), history_.end());
    batch.spans.insert(batch.spans.end(), spans_.begin(), spans_.end());
    for (const auto& [key, body] : docs_) {
      if (body) {
        batch.doc_upserts.push_back(DocRecord{{key.first, key.second}, *body});
      } else {
        batch.doc_deletes.push_back(DocKey{key.first, key.second});
      }
    }
  }
  // The transaction committed: everything is forgotten; the answers are the caller's to publish.
  std::vector<OutMessage> Committed() {
    outbox_.clear();
    history_.clear();
    spans_.clear();
    docs_.clear();
    return std::exchange(replies_, {});
  }

 private:
  std::vector<OutboxRecord> outbox_;
  std::map<std::pair<std::string, std::string>, std::optional<std::string>> docs_;  // (collection, id) -> body
  std::vector<HistoryRecord> history_;
  std::vector<SpanChange> spans_;
  std::vector<OutMessage> replies_;
  double last_history_at_ = 0;
};

}  // namespace dctwin
