// OutboundQueue: everything the gateway publishes goes through here, with flow control.
//  - QoS 1 messages are handed to the MQTT client only while fewer than `window` are
//    unacknowledged. The broker's Receive Maximum (mosquitto: max_inflight_messages, default 20)
//    caps what it accepts in flight; past it, the Paho C 1.3.12 send thread stalls for up to a
//    second per message (eclipse-paho/paho.mqtt.c#1457), so the window is kept here, where an
//    acknowledgement immediately releases the next message.
//  - Two QoS 1 lanes, each in publication order. Committed outbox rows (incident events, incident
//    records, silences, answers to commands: whatever carries an outbox seq) take the window first;
//    health, query answers and the gateway's status follow. An alert never waits behind a burst of
//    health (100,000 servers' first reports make 100,000 health updates).
//  - Retained state that is not an outbox row (health, the gateway's status) is level-triggered:
//    the queue owns a table, one entry per retained topic, holding the topic's latest value and
//    whether the broker has acknowledged that value. A topic whose latest value the broker does
//    not have waits in the reliable lane once (a newer value takes the waiting one's place, counted
//    as `superseded`), is never refused for room, is retried however often its delivery fails, and
//    after every reconnect every topic of the table is sent again (the broker may have restarted
//    without its retained store; a value it already holds costs one message). An empty value (a
//    cleared topic) leaves the table once the broker has it. The twins therefore need not remember
//    what they published: whatever reaches Publish last is what the broker ends up holding.
//  - Committed outbox rows are never refused for room either: the outbox bounds them
//    (state.outbox_max, where the incident desk holds new opens back). They are retried until the
//    broker acknowledges them; only a broker's final "no" (an MQTT 5 PUBACK reason code of 0x80 or
//    more other than quota exceeded and server busy, such as "not authorized") gives one up, with
//    an error line and the `dropped` counter, and reports it as acknowledged so that it does not
//    come back at every restart.
//  - The gateway's status is the announcement: a retained topic of the table whose value goes out
//    before anything else queued, at its first publication and again after every reconnect (the
//    broker may hold the will's `online: false` by then). Like any retained topic it is retried
//    until the broker has its latest value.
//  - QoS 0 messages (stats, dead letters) bypass both lanes.
//  - Query answers (QoS 1, not retained, not outbox rows) and QoS 0 messages wait here while the
//    broker is unreachable, up to `capacity` of them; past that a new one is refused (the caller
//    counts it) and a critical line is logged. An answer is given up after kMaxAttempts failed
//    deliveries (its requester has long stopped waiting).
//  - A QoS 1 message whose delivery fails (the connection dropped) goes back into its lane at its
//    place: however many fail, and in whatever order their failures are reported, they go out
//    again in the order they were first published (an open before its resolve).
//  - A message that carries an outbox seq reports that seq to the ack handler once acknowledged.
//
// Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>

#include <mqtt/async_client.h>

#include "base/thread_annotations.h"
#include "gateway/mqtt/message_sink.h"
#include "gateway/mqtt/mqtt_link.h"

namespace dctwin {

// Upper bounds (seconds) of the alert-latency histogram buckets; the last bucket is +Inf.
inline constexpr double kAlertLatencyBuckets[] = {0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1, 10};
inline constexpr size_t kAlertLatencyBucketCount = sizeof(kAlertLatencyBuckets) / sizeof(kAlertLatencyBuckets[0]) + 1;

struct OutboundStats {
  uint64_t queued = 0;     // waiting, both lanes
  uint64_t in_flight = 0;  // handed to the client, not yet acknowledged
  uint64_t sent = 0;       // acknowledged (QoS 1) or handed over (QoS 0)
  uint64_t refused = 0;    // refused because the queue was full
  uint64_t retried = 0;    // QoS 1 deliveries that failed and were queued again
  uint64_t dropped = 0;    // refused by the broker for good, or failed too often: given up
  uint64_t superseded = 0; // retained values replaced by a newer one for the same topic before they went out
  uint64_t retained_topics = 0;  // entries of the retained table
  uint64_t resent = 0;     // retained values sent again after a reconnect
  // Alerts caused by a report: from the report's receipt to the alert's first hand-over to the
  // MQTT client, after its commit (messages per bucket, not cumulative).
  uint64_t alert_latency[kAlertLatencyBucketCount] = {};
  double alert_latency_sum_s = 0;
};

class OutboundQueue : public MessageSink {
 public:
  OutboundQueue(MqttLink& link, size_t capacity, int window);
  ~OutboundQueue() override;

  bool Publish(OutMessage msg) override;
  // Sets the announcement (retained, QoS 1): `payload` goes out on `topic` before anything else
  // queued, and again first after every reconnect. One topic per queue; never refused.
  void Announce(const std::string& topic, std::string payload);

  // Called (on Paho's thread) with the outbox seq of every acknowledged message that has one.
  // Set before Start().
  void SetAckHandler(std::function<void(int64_t)> handler) { ack_handler_ = std::move(handler); }
  void Start();
  // The output connection is (again) ready: every retained topic is sent again. Call it from the
  // link's on_ready.
  void Reconnected();
  // Waits until everything queued has been acknowledged, or the timeout passes.
  bool Flush(std::chrono::milliseconds timeout);
  // Stops the sender thread; what is still queued is dropped (and logged). Idempotent.
  void Stop();

  OutboundStats Stats() const;

 private:
  class Listener;
  static constexpr int kMaxAttempts = 10;
  struct Pending {
    mqtt::const_message_ptr msg;  // for a retained topic: filled from the table when it is taken
    int64_t seq = 0;     // > 0: an outbox row (the urgent lane)
    uint64_t order = 0;  // publication order of the QoS 1 lanes
    int attempts = 0;
    double received = 0;  // OutMessage::received
    bool essential = false;  // an outbox row or an essential event: the urgent lane, never given up
    const std::string* retained_topic = nullptr;  // a retained topic of the table (its key)
    uint64_t version = 0;                         // which of its values is in flight
  };
  // One retained topic: its latest value and what the broker has of it.
  struct RetainedEntry {
    std::string latest;          // the payload (the message is made when it is sent)
    uint64_t version = 0;        // bumps with every new value
    uint64_t acked_version = 0;  // the newest value the broker acknowledged (0: none)
    bool waiting = false;        // its marker waits in reliable_ (the announcement's: first in urgent_)
    bool announcement = false;   // the gateway's status: before anything else
    int flying = 0;              // how many of its values are in flight
  };
  using Lane = std::deque<Pending>;  // sorted by order
  void Run();
  void Acknowledged(const mqtt::message* msg, int64_t seq);
  // An alert caused by a report went to the client: one alert-latency sample.
  void NoteAlertLatency(double received) EXCLUDES(mu_);
  void Failed(mqtt::const_message_ptr msg, int64_t seq, int reason_code);
  // The topic's latest value is `payload`: its marker is queued unless one waits already.
  void SetRetained(const std::string& topic, std::string payload, bool announcement) REQUIRES(mu_);
  // Queues the topic's marker in the reliable lane (the announcement's at the head of the urgent
  // lane).
  void QueueRetained(const std::string& topic, RetainedEntry& e) REQUIRES(mu_);
  // A retained topic's value is no longer in flight: acknowledged (`acked`) or not.
  void RetainedDone(const Pending& p, bool acked) REQUIRES(mu_);
  // Takes the next QoS 1 message for the window: the urgent lane first.
  bool TakeNext(Pending* out) REQUIRES(mu_);
  // Puts a message whose delivery failed back at its place in its lane (sorted by order); a
  // retained topic only when the broker lacks its latest value and no newer one waits.
  void PutBack(Pending p) REQUIRES(mu_);
  size_t WaitingLocked() const REQUIRES(mu_) { return urgent_.size() + reliable_.size() + best_effort_.size(); }
  // What `capacity` bounds: query answers and QoS 0 messages.
  size_t BoundedLocked() const REQUIRES(mu_) { return answers_waiting_ + best_effort_.size(); }
  bool IdleLocked() const REQUIRES(mu_) { return WaitingLocked() == 0 && in_flight_ == 0; }

  // Constant after construction
  MqttLink& link_;
  const size_t capacity_;
  const uint64_t window_;
  std::unique_ptr<Listener> listener_;
  std::function<void(int64_t)> ack_handler_;

  mutable Mutex mu_;
  std::condition_variable wake_;  // sender: something to send or room in the window
  std::condition_variable idle_;  // Flush: nothing queued and nothing in flight
  Lane urgent_ GUARDED_BY(mu_);
  Lane reliable_ GUARDED_BY(mu_);
  std::deque<Pending> best_effort_ GUARDED_BY(mu_);
  // The retained table: topic -> latest value and what the broker has of it.
  std::unordered_map<std::string, RetainedEntry> retained_ GUARDED_BY(mu_);
  size_t answers_waiting_ GUARDED_BY(mu_) = 0;  // query answers in reliable_
  uint64_t resent_ GUARDED_BY(mu_) = 0;
  uint64_t in_flight_ GUARDED_BY(mu_) = 0;
  uint64_t sent_ GUARDED_BY(mu_) = 0;
  uint64_t refused_ GUARDED_BY(mu_) = 0;
  uint64_t retried_ GUARDED_BY(mu_) = 0;
  uint64_t dropped_ GUARDED_BY(mu_) = 0;
  uint64_t superseded_ GUARDED_BY(mu_) = 0;
  uint64_t next_order_ GUARDED_BY(mu_) = 0;
  uint64_t alert_latency_[kAlertLatencyBucketCount] GUARDED_BY(mu_) = {};
  double alert_latency_sum_s_ GUARDED_BY(mu_) = 0;
  std::unordered_map<const mqtt::message*, Pending> in_flight_messages_ GUARDED_BY(mu_);
  bool stop_ GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace dctwin
