// IngestRouter: the only thing an MQTT message callback does. Parses the topic, decodes the
// payload, and posts the message to the owner shard of its twin. Rejections go to DeadLetters.
// No I/O and no waiting apart from the pool's backpressure.
//
// Thread-safe: any number of MQTT connections may feed one router.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gateway/dead_letters.h"
#include "gateway/message_sink.h"
#include "gateway/shard_pool.h"
#include "twins/messages.h"

namespace dctwin {

class IngestRouter {
 public:
  using Clock = std::function<double()>;

  IngestRouter(std::string prefix, std::string datacenter, size_t max_payload, ShardPool<Envelope>& pool,
               DeadLetters& dead_letters, MessageSink& replies, Clock clock);

  // Topic filters the gateway subscribes to.
  static std::vector<std::string> Subscriptions(const std::string& prefix);

  // `response_topic` and `correlation` are the MQTT 5 properties of a request (empty if none).
  void OnMessage(std::string_view topic, std::string_view payload, std::string_view response_topic = {},
                 std::string_view correlation = {});

 private:
  void RouteQuery(std::string_view topic, std::string_view what, std::string_view payload,
                  std::string_view response_topic, std::string_view correlation);
  void Post(TwinAddress to, double now, Message msg, std::string_view topic, std::string_view payload);

  // Constant after construction
  const std::string prefix_;
  const std::string datacenter_;
  const size_t max_payload_;
  ShardPool<Envelope>& pool_;
  DeadLetters& dead_letters_;
  MessageSink& replies_;
  const Clock clock_;
};

}  // namespace dctwin
