// OutboxDelivery: committed outbox rows (incident events, records, silences, answers to
// commands) into the outbound queue, each carrying its row's seq so that the broker's PUBACK
// deletes the row. Thread-safe as its sink is.
#pragma once

#include "gateway/mqtt/message_sink.h"
#include "storage/store_writer.h"

namespace dctwin {

class OutboxDelivery : public OutboxSink {
 public:
  explicit OutboxDelivery(MessageSink& sink) : sink_(sink) {}
  void Deliver(const OutboxRecord& r) override {
    OutMessage m;
    m.topic = r.topic;
    m.payload = r.payload;
    m.qos = r.qos;
    m.retained = r.retained;
    m.outbox_seq = r.seq;
    m.received = r.received;
    sink_.Publish(std::move(m));  // the outbound queue never refuses an outbox row
  }

 private:
  MessageSink& sink_;
};

}  // namespace dctwin
