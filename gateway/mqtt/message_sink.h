// Where outgoing MQTT messages go. The MQTT link implements it; tests put in a recorder or a
// sink that fails. Implementations are thread-safe.
#pragma once

#include <cstdint>
#include <string>

namespace dctwin {

struct OutMessage {
  std::string topic;
  std::string payload;
  int qos = 1;
  bool retained = false;
  std::string correlation_data;  // MQTT 5 Correlation Data of a reply; empty for none
  int64_t outbox_seq = 0;        // > 0: the outbox row to delete once the broker acknowledged it
  // > 0: an alert caused by a report the gateway took from the broker at this monotonic time
  // (seconds); the queue measures the alert latency when it hands the alert to the client.
  double received = 0;
  // An event that is not an outbox row but must not be lost either (the gateway's own incidents,
  // published while the store may be failing): never refused for room, in order with the outbox
  // rows, retried until the broker acknowledges it.
  bool essential = false;
};

class MessageSink {
 public:
  virtual ~MessageSink() = default;
  // Hands the message over for delivery. Returns false when it could not be accepted (the link's
  // buffer is full); the caller counts that.
  virtual bool Publish(OutMessage msg) = 0;
};

}  // namespace dctwin
