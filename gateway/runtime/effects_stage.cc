#include "gateway/runtime/effects_stage.h"

#include <memory>
#include <utility>

namespace dctwin {

void EffectsStage::Hold(Effects& out) {
  // Within one message the twins produce health before their messages to other twins; replies
  // come from queries, which produce nothing else.
  for (HealthUpdate& h : out.health) held_.emplace_back(std::move(h));
  for (QueryReply& r : out.replies) held_.emplace_back(std::move(r));
  // A held message to another twin is still in flight: the pool's drain waits for it.
  pool_.Retain(out.sends.size());
  held_sends_ += out.sends.size();
  for (Envelope& e : out.sends) held_.emplace_back(std::move(e));
  out.health.clear();
  out.replies.clear();
  out.sends.clear();
}

std::function<void()> EffectsStage::Seal() {
  if (held_.empty()) return nullptr;
  // std::function needs a copyable closure: the effects travel in a shared_ptr.
  auto effects = std::make_shared<std::vector<Effect>>(std::exchange(held_, {}));
  const size_t sends = std::exchange(held_sends_, 0);
  return [this, effects, sends] { Release(*effects, sends); };
}

void EffectsStage::Release(std::vector<Effect>& effects, size_t sends) const {
  for (Effect& e : effects) {
    if (auto* h = std::get_if<HealthUpdate>(&e)) {
      alerts_.PublishHealth(*h);
    } else if (auto* r = std::get_if<QueryReply>(&e)) {
      if (auto to = replies_.Take(r->query.reply_token)) alerts_.PublishReply(*r, to->topic, to->correlation);
    } else {
      Envelope& env = std::get<Envelope>(e);
      const size_t hash = env.to.Hash();
      pool_.PostInternal(hash, std::move(env));
    }
  }
  pool_.Release(sends);  // each post counted itself
  effects.clear();
}

}  // namespace dctwin
