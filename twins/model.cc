#include "twins/model.h"

#include <fnmatch.h>

#include <utility>

namespace dctwin {

bool ParseCompareOp(std::string_view text, CompareOp* out) {
  if (text == ">") *out = CompareOp::kGreater;
  else if (text == ">=") *out = CompareOp::kGreaterEqual;
  else if (text == "<") *out = CompareOp::kLess;
  else if (text == "<=") *out = CompareOp::kLessEqual;
  else return false;
  return true;
}

std::string_view CompareOpName(CompareOp op) {
  switch (op) {
    case CompareOp::kGreater: return ">";
    case CompareOp::kGreaterEqual: return ">=";
    case CompareOp::kLess: return "<";
    case CompareOp::kLessEqual: return "<=";
  }
  return ">";
}

bool ParseChangeDirection(std::string_view text, ChangeDirection* out) {
  if (text == "up") *out = ChangeDirection::kUp;
  else if (text == "down") *out = ChangeDirection::kDown;
  else if (text == "both") *out = ChangeDirection::kBoth;
  else return false;
  return true;
}

std::string_view ChangeDirectionName(ChangeDirection direction) {
  switch (direction) {
    case ChangeDirection::kNone: return "";
    case ChangeDirection::kUp: return "up";
    case ChangeDirection::kDown: return "down";
    case ChangeDirection::kBoth: return "both";
  }
  return "";
}

bool Compare(double value, CompareOp op, double threshold) {
  switch (op) {
    case CompareOp::kGreater: return value > threshold;
    case CompareOp::kGreaterEqual: return value >= threshold;
    case CompareOp::kLess: return value < threshold;
    case CompareOp::kLessEqual: return value <= threshold;
  }
  return false;
}

bool Rule::Holds(double value) const { return Compare(value, op, threshold); }

RuleSet::RuleSet(ModelConfig config) : config_(std::move(config)) {
  for (size_t i = 0; i < config_.rules.size(); ++i) identities_.emplace(Identity(config_.rules[i]), static_cast<int>(i));
}

std::string RuleSet::Identity(const Rule& rule) {
  std::string id = rule.kind + '\x1f' + rule.metric + '\x1f' + std::string(CompareOpName(rule.op)) + (rule.rate ? "\x1frate" : "");
  // A forecast and a change rule watch something else than a threshold rule on the same metric.
  if (rule.forecast()) id += "\x1f" "forecast";
  if (rule.watches_change()) id += "\x1f" "change:" + std::string(ChangeDirectionName(rule.change));
  return id;
}

int RuleSet::IndexOf(const std::string& identity) const {
  auto it = identities_.find(identity);
  return it == identities_.end() ? -1 : it->second;
}

int RuleSet::ClearReports(size_t index) const {
  int n = config_.rules[index].clear_reports;
  return n > 0 ? n : config_.clear_reports;
}

const std::vector<uint16_t>& RuleSet::RulesFor(std::string_view metric) {
  auto it = cache_.find(metric);
  if (it != cache_.end()) return it->second;
  std::vector<uint16_t> matches;
  std::string name(metric);
  for (size_t i = 0; i < config_.rules.size(); ++i) {
    const std::string& pattern = config_.rules[i].metric;
    if (pattern == name || fnmatch(pattern.c_str(), name.c_str(), 0) == 0) {
      matches.push_back(static_cast<uint16_t>(i));
    }
  }
  // A flood of distinct metric names must not grow the cache without bound.
  if (cache_.size() > 4096) cache_.clear();
  return cache_.emplace(std::move(name), std::move(matches)).first->second;
}

std::vector<Rule> DefaultRules() {
  std::vector<Rule> rules;
  auto add = [&](const char* kind, const char* metric, CompareOp op, double threshold, int for_reports,
                 double for_s, Severity severity) {
    Rule r;
    r.kind = kind;
    r.metric = metric;
    r.op = op;
    r.threshold = threshold;
    r.for_reports = for_reports;
    r.for_s = for_s;
    r.severity = severity;
    rules.push_back(std::move(r));
  };
  add("thermal", "temp_c", CompareOp::kGreater, 85.0, 3, 0, Severity::kCritical);
  add("disk", "disk_errors", CompareOp::kGreater, 0.0, 1, 0, Severity::kWarning);
  add("network", "net_drop_rate", CompareOp::kGreater, 0.01, 3, 0, Severity::kWarning);
  add("cpu", "cpu_util", CompareOp::kGreater, 0.95, 1, 300, Severity::kWarning);
  add("power", "psu_volts", CompareOp::kLess, 11.4, 3, 0, Severity::kCritical);
  return rules;
}

}  // namespace dctwin
