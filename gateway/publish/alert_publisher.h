// AlertPublisher: turns health updates and query answers into the contract's JSON and topics.
// (Incident events, records and silences are the IncidentDesk's, after their commit.)
// Thread-safe (stateless apart from counters).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "gateway/mqtt/message_sink.h"
#include "twins/incident.h"
#include "twins/messages.h"

namespace dctwin {

class AlertPublisher {
 public:
  // `rack_copies` (a pod): each rack's health also goes to P/gateway/<gateway_id>/health/rack/<rack>,
  // first, which the site takes as coming over this pod's bridge (only that bridge may write it).
  AlertPublisher(std::string prefix, std::string datacenter, MessageSink& sink, std::string gateway_id = "",
                 bool rack_copies = false);

  void PublishHealth(const HealthUpdate& health);
  // The answer to an MQTT 5 request, to its Response Topic with its Correlation Data.
  void PublishReply(const QueryReply& reply, const std::string& response_topic, const std::string& correlation);

  static std::string HealthJson(const HealthUpdate& health, const std::string& gateway_id = "");
  static std::string ReplyJson(const QueryReply& reply, const std::string& datacenter);

  uint64_t failed() const { return failed_.load(std::memory_order_relaxed); }

 private:
  void Send(OutMessage msg);

  // Constant after construction
  const std::string prefix_;
  const std::string datacenter_;
  MessageSink& sink_;
  const std::string gateway_id_;
  const bool rack_copies_;

  std::atomic<uint64_t> failed_{0};
};

}  // namespace dctwin
