// EffectsStage: one per shard. What the shard's twins produce besides their incident events
// (health, answers to queries, messages to other twins) is held here until the state that
// produced it is committed, then released in the order it was produced:
//
//   twin -> Hold -> [seal: goes with the shard's batch to the StoreWriter] -> commit
//        -> events (the commit stage, from the outbox) -> Release: health, replies, sends
//
// so nothing the outside world or another twin sees can get ahead of its commit: after a crash,
// no retained health names an incident that was never committed, and no rack holds a member
// incident its server lost.
//
// Threads: Hold/holding/Seal on the shard's thread; the closure Seal returns runs on the store
// writer's thread (after the commit), or on the caller's after the writer stopped.
#pragma once

#include <cstddef>
#include <functional>
#include <variant>
#include <vector>

#include "gateway/publish/alert_publisher.h"
#include "gateway/publish/reply_book.h"
#include "gateway/runtime/shard_pool.h"
#include "twins/messages.h"

namespace dctwin {

class EffectsStage {
 public:
  EffectsStage(ShardPool<Envelope>& pool, AlertPublisher& alerts, ReplyBook& replies)
      : pool_(pool), alerts_(alerts), replies_(replies) {}

  // Takes the health updates, replies and sends of one handled message, in order.
  void Hold(Effects& out);
  bool holding() const { return !held_.empty(); }
  // Everything held so far, as one step to run after its commit (empty when nothing is held).
  std::function<void()> Seal();

 private:
  using Effect = std::variant<HealthUpdate, QueryReply, Envelope>;
  void Release(std::vector<Effect>& effects, size_t sends) const;

  // Constant after construction
  ShardPool<Envelope>& pool_;
  AlertPublisher& alerts_;
  ReplyBook& replies_;

  // Owned by the shard's thread
  std::vector<Effect> held_;
  size_t held_sends_ = 0;
};

}  // namespace dctwin
