#include "gateway/mqtt/outbound_queue.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>
#include <vector>

#include "base/histogram.h"
#include "base/thread_name.h"

namespace dctwin {

class OutboundQueue::Listener : public mqtt::iaction_listener {
 public:
  explicit Listener(OutboundQueue& queue) : queue_(queue) {}
  // The outbox seq travels as the token's user context.
  void on_success(const mqtt::token& tok) override {
    const auto* delivery = dynamic_cast<const mqtt::delivery_token*>(&tok);
    queue_.Acknowledged(delivery != nullptr ? delivery->get_message().get() : nullptr, SeqOf(tok));
  }
  void on_failure(const mqtt::token& tok) override {
    const auto* delivery = dynamic_cast<const mqtt::delivery_token*>(&tok);
    queue_.Failed(delivery != nullptr ? delivery->get_message() : nullptr, SeqOf(tok),
                  static_cast<int>(tok.get_reason_code()));
  }
  static int64_t SeqOf(const mqtt::token& tok) {
    return static_cast<int64_t>(reinterpret_cast<intptr_t>(tok.get_user_context()));
  }

 private:
  OutboundQueue& queue_;
};

OutboundQueue::OutboundQueue(MqttLink& link, size_t capacity, int window)
    : link_(link), capacity_(capacity), window_(static_cast<uint64_t>(std::max(1, window))),
      listener_(std::make_unique<Listener>(*this)) {}

OutboundQueue::~OutboundQueue() { Stop(); }

bool OutboundQueue::Publish(OutMessage out) {
  const bool table = out.qos != 0 && out.outbox_seq == 0 && out.retained;
  mqtt::message_ptr msg;
  if (!table) {
    msg = mqtt::make_message(out.topic, out.payload, out.qos, out.retained);
    if (!out.correlation_data.empty()) {
      mqtt::properties props;
      props.add(mqtt::property(mqtt::property::CORRELATION_DATA, out.correlation_data));
      msg->set_properties(props);
    }
  }
  {
    MutexLock lock(mu_);
    if (table) {
      SetRetained(out.topic, std::move(out.payload), false);
    } else if (out.qos != 0 && (out.outbox_seq > 0 || out.essential)) {
      // Committed outbox rows: bounded by the outbox itself, never refused here; essential events
      // are few (the gateway's own incidents).
      Pending p{std::move(msg), out.outbox_seq, ++next_order_, 0, out.received};
      p.essential = true;
      urgent_.push_back(std::move(p));
    } else {
      if (BoundedLocked() >= capacity_) {
        const uint64_t n = ++refused_;
        if ((n & (n - 1)) == 0) {
          spdlog::critical("outbound queue full ({} answers and best-effort messages waiting for the broker): {} "
                           "message(s) lost so far",
                           capacity_, n);
        }
        return false;
      }
      if (out.qos == 0) {
        best_effort_.push_back(Pending{std::move(msg), 0});
      } else {
        reliable_.push_back(Pending{std::move(msg), 0, ++next_order_, 0, out.received});
        ++answers_waiting_;
      }
    }
  }
  wake_.notify_one();
  return true;
}

void OutboundQueue::QueueRetained(const std::string& topic, RetainedEntry& e) {
  e.waiting = true;
  Pending p;
  p.retained_topic = &topic;  // the table's key: stable while the entry lives
  if (e.announcement) {
    p.order = 0;  // before every other message of the urgent lane, also when put back
    p.essential = true;
    urgent_.push_front(std::move(p));
    return;
  }
  p.order = ++next_order_;
  reliable_.push_back(std::move(p));
}

void OutboundQueue::SetRetained(const std::string& topic, std::string payload, bool announcement) {
  // Level-triggered: the table holds the topic's latest value; never refused for room.
  auto [it, added] = retained_.try_emplace(topic);
  RetainedEntry& e = it->second;
  e.announcement = e.announcement || announcement;
  e.latest = std::move(payload);
  ++e.version;
  if (e.waiting) {
    ++superseded_;  // the waiting marker sends the newer value
  } else {
    QueueRetained(it->first, e);
  }
}

void OutboundQueue::Announce(const std::string& topic, std::string payload) {
  {
    MutexLock lock(mu_);
    SetRetained(topic, std::move(payload), true);
  }
  wake_.notify_one();
}

void OutboundQueue::Reconnected() {
  {
    MutexLock lock(mu_);
    size_t again = 0;
    for (auto& [topic, e] : retained_) {
      if (e.waiting || e.flying > 0) continue;  // on its way already
      e.acked_version = 0;
      QueueRetained(topic, e);
      ++again;
    }
    resent_ += again;
    if (again > 0) spdlog::info("connected: sending the {} retained topic(s) of this gateway again", again);
  }
  wake_.notify_one();
}

bool OutboundQueue::TakeNext(Pending* out) {
  Lane& lane = !urgent_.empty() ? urgent_ : reliable_;
  if (lane.empty()) return false;
  *out = std::move(lane.front());
  lane.pop_front();
  if (out->retained_topic != nullptr) {
    RetainedEntry& e = retained_.at(*out->retained_topic);
    e.waiting = false;
    ++e.flying;
    out->msg = mqtt::make_message(*out->retained_topic, e.latest, 1, true);
    out->version = e.version;
  } else if (!out->essential) {
    --answers_waiting_;
  }
  return true;
}

void OutboundQueue::RetainedDone(const Pending& p, bool acked) {
  auto it = retained_.find(*p.retained_topic);
  if (it == retained_.end()) return;
  RetainedEntry& e = it->second;
  --e.flying;
  if (acked) e.acked_version = std::max(e.acked_version, p.version);
  // A cleared topic leaves the table once the broker has the clear.
  if (e.acked_version == e.version && !e.waiting && e.flying == 0 && e.latest.empty()) {
    retained_.erase(it);
  }
}

void OutboundQueue::Start() {
  thread_ = std::thread([this] {
    NameThisThread("dctwin-outbound");
    Run();
  });
}

void OutboundQueue::Run() {
  MutexLock lock(mu_);
  std::deque<Pending> batch_best_effort;
  std::vector<Pending> batch_reliable;
  while (!stop_) {
    // Polls the connection state a few times a second; everything else wakes us directly.
    const auto poll = std::chrono::steady_clock::now() + std::chrono::milliseconds(100);
    while (!(stop_ || (link_.connected() && (!best_effort_.empty() ||
                                             ((!urgent_.empty() || !reliable_.empty()) && in_flight_ < window_))))) {
      if (wake_.wait_until(lock.native(), poll) == std::cv_status::timeout) break;
    }
    if (stop_) break;
    if (!link_.connected()) continue;
    batch_best_effort.swap(best_effort_);
    for (Pending p; in_flight_ < window_ && TakeNext(&p);) {
      batch_reliable.push_back(std::move(p));
      ++in_flight_;
    }
    lock.Unlock();
    for (auto& p : batch_best_effort) {
      try {
        link_.client().publish(p.msg);
      } catch (const mqtt::exception&) {
        // QoS 0 is best effort: a stats or dead-letter message lost while reconnecting is fine.
      }
    }
    size_t handed = 0;
    for (; handed < batch_reliable.size(); ++handed) {
      const Pending& p = batch_reliable[handed];
      {
        // Recorded before the hand-over: its acknowledgement may come back at once.
        MutexLock meta(mu_);
        in_flight_messages_[p.msg.get()] = p;
      }
      try {
        // The outbox seq rides along as the token's user context.
        link_.client().publish(p.msg, reinterpret_cast<void*>(static_cast<intptr_t>(p.seq)), *listener_);
        if (p.received > 0 && p.attempts == 0) NoteAlertLatency(p.received);
      } catch (const mqtt::exception& e) {
        MutexLock meta(mu_);
        in_flight_messages_.erase(p.msg.get());
        spdlog::debug("publish refused by the client ({}); will retry", e.what());
        break;
      }
    }
    lock.Lock();
    sent_ += batch_best_effort.size();
    batch_best_effort.clear();
    // What the client refused goes back, at its place.
    for (size_t i = batch_reliable.size(); i > handed; --i) {
      PutBack(std::move(batch_reliable[i - 1]));
      --in_flight_;
    }
    batch_reliable.clear();
    if (IdleLocked()) idle_.notify_all();
  }
}

void OutboundQueue::NoteAlertLatency(double received) {
  const double s =
      std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count() - received;
  const size_t b = BucketOf(kAlertLatencyBuckets, s);
  MutexLock lock(mu_);
  ++alert_latency_[b];
  alert_latency_sum_s_ += s;
}

void OutboundQueue::Acknowledged(const mqtt::message* msg, int64_t seq) {
  if (seq > 0 && ack_handler_) ack_handler_(seq);
  {
    MutexLock lock(mu_);
    if (msg != nullptr) {
      if (auto it = in_flight_messages_.find(msg); it != in_flight_messages_.end()) {
        if (it->second.retained_topic != nullptr) RetainedDone(it->second, true);
        in_flight_messages_.erase(it);
      }
    }
    --in_flight_;
    ++sent_;
    if (IdleLocked()) idle_.notify_all();
  }
  wake_.notify_one();
}

void OutboundQueue::PutBack(Pending p) {
  if (p.retained_topic != nullptr) {
    const std::string topic = *p.retained_topic;  // RetainedDone may end the entry that holds it
    RetainedDone(p, false);
    auto it = retained_.find(topic);
    if (it == retained_.end()) return;
    RetainedEntry& e = it->second;
    if (e.waiting || e.acked_version == e.version) {
      ++superseded_;  // a newer value waits already, or the broker has the latest
      return;
    }
    e.waiting = true;
  } else if (!p.essential) {
    ++answers_waiting_;
  }
  Lane& lane = p.essential ? urgent_ : reliable_;
  auto at = std::upper_bound(lane.begin(), lane.end(), p.order,
                             [](uint64_t order, const Pending& x) { return order < x.order; });
  lane.insert(at, std::move(p));
}

void OutboundQueue::Failed(mqtt::const_message_ptr msg, int64_t seq, int reason_code) {
  bool give_up = false;
  std::string topic;
  {
    MutexLock lock(mu_);
    --in_flight_;
    if (msg) {
      Pending p{msg, seq, 0, 0};
      auto it = in_flight_messages_.find(msg.get());
      if (it != in_flight_messages_.end()) {
        p = std::move(it->second);
        in_flight_messages_.erase(it);
      }
      ++p.attempts;
      // 0x80 and up are the broker's "no" (not authorized, topic name invalid, ...); quota
      // exceeded (0x97) and server busy (0x89) pass.
      const bool refused = reason_code >= 0x80 && reason_code != 0x97 && reason_code != 0x89;
      // Only an answer is given up for failing often: its requester stopped waiting long ago.
      const bool answer = !p.essential && p.retained_topic == nullptr;
      if (refused || (answer && p.attempts >= kMaxAttempts)) {
        give_up = true;
        topic = p.msg->get_topic();
        ++dropped_;
        // A refused retained value is sent again after the next reconnect.
        if (p.retained_topic != nullptr) RetainedDone(p, false);
      } else {
        PutBack(std::move(p));
        ++retried_;
      }
    }
    if (IdleLocked()) idle_.notify_all();
  }
  if (give_up) {
    spdlog::error("gave up publishing to {}: {}", topic,
                  reason_code >= 0x80 ? "the broker refused it (reason code " + std::to_string(reason_code) + ")"
                                      : std::to_string(kMaxAttempts) + " attempts failed");
    if (seq > 0 && ack_handler_) ack_handler_(seq);  // it will not come back at every restart
  }
  wake_.notify_one();
}

bool OutboundQueue::Flush(std::chrono::milliseconds timeout) {
  MutexLock lock(mu_);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!IdleLocked()) {
    if (idle_.wait_until(lock.native(), deadline) == std::cv_status::timeout) return IdleLocked();
  }
  return true;
}

void OutboundQueue::Stop() {
  {
    MutexLock lock(mu_);
    if (stop_) return;
    stop_ = true;
    if (const size_t left = urgent_.size() + reliable_.size(); left > 0) {
      spdlog::warn("{} QoS 1 message(s) were never delivered", left);
    }
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

OutboundStats OutboundQueue::Stats() const {
  MutexLock lock(mu_);
  OutboundStats s;
  s.queued = WaitingLocked();
  s.in_flight = in_flight_;
  s.sent = sent_;
  s.refused = refused_;
  s.retried = retried_;
  s.dropped = dropped_;
  s.superseded = superseded_;
  s.retained_topics = retained_.size();
  s.resent = resent_;
  std::copy(std::begin(alert_latency_), std::end(alert_latency_), std::begin(s.alert_latency));
  s.alert_latency_sum_s = alert_latency_sum_s_;
  return s;
}

}  // namespace dctwin
