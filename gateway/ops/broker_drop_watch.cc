#include "gateway/ops/broker_drop_watch.h"

#include <charconv>
#include <string>

namespace dctwin {

void BrokerDropWatch::OnCount(std::string_view payload, double now) {
  uint64_t count = 0;
  const auto [end, ec] = std::from_chars(payload.data(), payload.data() + payload.size(), count);
  if (ec != std::errc() || end != payload.data() + payload.size()) return;  // not a count: not ours to judge
  std::string summary;
  {
    MutexLock lock(mu_);
    if (!baseline_ || count < last_) {
      baseline_ = true;
      last_ = count;
      return;
    }
    if (count == last_) return;
    const uint64_t rise = count - last_;
    last_ = count;
    open_dropped_ = open_ ? open_dropped_ + rise : rise;
    open_ = true;
    last_rise_ = now;
    summary = "the broker dropped " + std::to_string(open_dropped_) +
              " message(s) for clients whose queue was full (" + kBrokerDroppedTopic + " is " +
              std::to_string(count) + "); reports or alerts may be lost before they reach anyone: check "
              "max_queued_messages and slow subscribers";
  }
  incidents_.Set(kBrokerDropping, true, Severity::kWarning, summary);
}

void BrokerDropWatch::Check(double now) {
  std::string summary;
  {
    MutexLock lock(mu_);
    if (!open_ || now - last_rise_ < quiet_s_) return;
    open_ = false;
    summary = "the broker has dropped nothing for " + std::to_string(static_cast<int64_t>(quiet_s_)) + " s (" +
              std::to_string(open_dropped_) + " dropped in all)";
  }
  incidents_.Set(kBrokerDropping, false, Severity::kWarning, summary);
}

}  // namespace dctwin
