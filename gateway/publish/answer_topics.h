// AnswerTopics: where the gateway may publish the answer to a request (contract v3, "Where
// answers may go"). A request names its own Response Topic, and the gateway publishes there with
// its own rights; a viewer allowed to ask could otherwise have a query answer published onto a
// retained health topic, which a site would take as that rack's health. So an answer goes only to
// a topic that
//  - contains no wildcard and does not start with '$',
//  - is not under the gateway's own outputs (P/alerts/, P/health/, P/incidents/, P/silences/,
//    P/gateway/, P/twin/, P/control/) nor its inputs (P/metrics/, P/provisioning/, P/reported/,
//    the collectd and Telegraf prefixes),
//  - and matches one of gateway.reply_topics (MQTT topic filters, default "#").
// Constant after construction: thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace dctwin {

class AnswerTopics {
 public:
  AnswerTopics(const std::string& prefix, const std::string& collectd_prefix, const std::string& telegraf_prefix,
               std::vector<std::string> filters);

  // Empty when `topic` may carry an answer; otherwise why not, for a person.
  std::string Refusal(std::string_view topic) const;

  // Whether an MQTT topic filter (with + and #) matches a topic name.
  static bool Matches(std::string_view filter, std::string_view topic);

 private:
  std::vector<std::string> forbidden_;  // topic prefixes ending in '/'
  std::vector<std::string> filters_;
};

}  // namespace dctwin
