#include "gateway/publish/answer_topics.h"

#include <utility>

namespace dctwin {

AnswerTopics::AnswerTopics(const std::string& prefix, const std::string& collectd_prefix,
                           const std::string& telegraf_prefix, std::vector<std::string> filters)
    : filters_(std::move(filters)) {
  for (const char* tree : {"alerts", "health", "incidents", "silences", "gateway", "twin", "control", "metrics",
                           "provisioning", "reported"}) {
    forbidden_.push_back(prefix + "/" + tree + "/");
  }
  if (!collectd_prefix.empty()) forbidden_.push_back(collectd_prefix + "/");
  if (!telegraf_prefix.empty()) forbidden_.push_back(telegraf_prefix + "/");
}

std::string AnswerTopics::Refusal(std::string_view topic) const {
  if (topic.find_first_of("+#") != std::string_view::npos) return "a Response Topic must not contain a wildcard";
  if (!topic.empty() && topic.front() == '$') return "a Response Topic must not start with $";
  for (const std::string& f : forbidden_) {
    // Under the tree, or the tree's own name without the slash.
    if (topic.substr(0, f.size()) == f || topic == std::string_view(f).substr(0, f.size() - 1)) {
      return "a Response Topic must not be under " + f + " (the gateway's own topics)";
    }
  }
  for (const std::string& filter : filters_) {
    if (Matches(filter, topic)) return "";
  }
  return "the Response Topic is outside gateway.reply_topics";
}

bool AnswerTopics::Matches(std::string_view filter, std::string_view topic) {
  // Level by level; '#' matches the rest (also the parent level itself), '+' one level.
  for (;;) {
    const size_t fs = filter.find('/');
    const std::string_view flevel = filter.substr(0, fs);
    if (flevel == "#") return true;
    const size_t ts = topic.find('/');
    const std::string_view tlevel = topic.substr(0, ts);
    if (flevel != "+" && flevel != tlevel) return false;
    if (fs == std::string_view::npos || ts == std::string_view::npos) {
      // One of them ends here: a match only if both do, or the filter goes on with "/#".
      if (fs == std::string_view::npos && ts == std::string_view::npos) return true;
      return ts == std::string_view::npos && filter.substr(fs + 1) == "#";
    }
    filter.remove_prefix(fs + 1);
    topic.remove_prefix(ts + 1);
  }
}

}  // namespace dctwin
