// A MessageSink that keeps what it is given, and can be told to refuse (a full link buffer).
#pragma once

#include <mutex>
#include <vector>

#include "gateway/mqtt/message_sink.h"

namespace dctwin::testing {

class RecordingSink : public MessageSink {
 public:
  bool Publish(OutMessage msg) override {
    std::lock_guard<std::mutex> lock(mu);
    if (refuse) return false;
    messages.push_back(std::move(msg));
    return true;
  }
  std::mutex mu;
  std::vector<OutMessage> messages;
  bool refuse = false;
};

}  // namespace dctwin::testing
