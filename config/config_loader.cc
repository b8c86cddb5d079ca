#include "config/config_loader.h"

#include <limits>
#include <set>
#include <utility>

#define TOML_EXCEPTIONS 1
#include <toml++/toml.h>

namespace dctwin {

namespace {

std::string Where(const std::string& file, const toml::source_region& src) {
  return file + ":" + std::to_string(src.begin.line);
}

// Reads the keys of one table, remembering which were used, so that unknown keys (usually typos)
// are reported instead of silently ignored.
class TableReader {
 public:
  TableReader(const toml::table& table, std::string name, std::string file, std::vector<std::string>* errors,
              std::map<std::string, int>* lines = nullptr)
      : table_(table), name_(std::move(name)), file_(std::move(file)), errors_(errors), lines_(lines) {}

  void String(const char* key, std::string* out) {
    const toml::node* n = Take(key);
    if (n == nullptr) return;
    if (auto v = n->value<std::string>()) {
      *out = *v;
    } else {
      Error(*n, key, "must be a string");
    }
  }

  template <class T>
  void Int(const char* key, T* out, long long min, long long max) {
    const toml::node* n = Take(key);
    if (n == nullptr) return;
    if (!n->is_integer()) {
      Error(*n, key, "must be an integer");
      return;
    }
    const long long v = n->as_integer()->get();
    if (v < min || v > max) {
      Error(*n, key, "must be between " + std::to_string(min) + " and " + std::to_string(max));
      return;
    }
    *out = static_cast<T>(v);
  }

  void Double(const char* key, double* out, double min, double max) {
    const toml::node* n = Take(key);
    if (n == nullptr) return;
    if (!n->is_number()) {
      Error(*n, key, "must be a number");
      return;
    }
    const double v = n->value<double>().value_or(0);
    if (!(v >= min && v <= max)) {
      Error(*n, key, "must be between " + Num(min) + " and " + Num(max));
      return;
    }
    *out = v;
  }

  // An array of strings; `example` shows the shape in the error.
  void StringList(const char* key, std::vector<std::string>* out, const char* example) {
    const toml::node* n = Take(key);
    if (n == nullptr) return;
    const toml::array* list = n->as_array();
    if (list == nullptr) {
      Error(*n, key, std::string("must be an array of strings (") + example + ")");
      return;
    }
    out->clear();
    for (const toml::node& item : *list) {
      if (auto v = item.value<std::string>()) {
        out->push_back(*v);
      } else {
        Error(item, key, "must hold strings only");
      }
    }
  }

  void Bool(const char* key, bool* out) {
    const toml::node* n = Take(key);
    if (n == nullptr) return;
    if (auto v = n->value<bool>()) {
      *out = *v;
    } else {
      Error(*n, key, "must be true or false");
    }
  }

  bool Has(const char* key) const { return table_.contains(key); }

  const toml::node* Take(const char* key) {
    used_.insert(key);
    const toml::node* n = table_.get(key);
    if (n != nullptr && lines_ != nullptr) (*lines_)[Qualified(key)] = static_cast<int>(n->source().begin.line);
    return n;
  }

  void Error(const toml::node& n, const std::string& key, const std::string& what) {
    errors_->push_back(Where(file_, n.source()) + ": " + Qualified(key) + " " + what);
  }

  // Reports the keys nobody asked for.
  void Finish() {
    for (const auto& [key, node] : table_) {
      if (used_.count(std::string(key.str())) == 0) {
        errors_->push_back(Where(file_, key.source()) + ": unknown key " + Qualified(std::string(key.str())));
      }
    }
  }

 private:
  std::string Qualified(const std::string& key) const { return name_.empty() ? key : name_ + "." + key; }
  static std::string Num(double v) {
    if (v == std::numeric_limits<double>::max()) return "any";
    std::string s = std::to_string(v);
    while (s.size() > 1 && s.back() == '0') s.pop_back();
    if (!s.empty() && s.back() == '.') s.pop_back();
    return s;
  }

  const toml::table& table_;
  const std::string name_;
  const std::string file_;
  std::vector<std::string>* errors_;
  std::map<std::string, int>* lines_;
  std::set<std::string> used_;
};

constexpr double kMaxDouble = std::numeric_limits<double>::max();

// [[control.keys]]: the keys of the desired state, their types and ranges.
void ReadControlKeys(const toml::node& n, const std::string& path, std::vector<ControlKeySpec>* out,
                     std::vector<std::string>* errors) {
  const toml::array* keys = n.as_array();
  if (keys == nullptr) {
    errors->push_back(Where(path, n.source()) + ": control.keys must be an array of tables ([[control.keys]])");
    return;
  }
  std::set<std::string> names;
  for (size_t i = 0; i < keys->size(); ++i) {
    const toml::node& kn = *keys->get(i);
    const std::string name = "control.keys[" + std::to_string(i) + "]";
    if (!kn.is_table()) {
      errors->push_back(Where(path, kn.source()) + ": " + name + " must be a table");
      continue;
    }
    TableReader r(*kn.as_table(), name, path, errors);
    ControlKeySpec spec;
    std::string type = "number";
    r.String("name", &spec.name);
    r.String("type", &type);
    const bool has_min = r.Has("min"), has_max = r.Has("max"), has_values = r.Has("values");
    double lo = 0, hi = 0;
    r.Double("min", &lo, -std::numeric_limits<double>::max(), std::numeric_limits<double>::max());
    r.Double("max", &hi, -std::numeric_limits<double>::max(), std::numeric_limits<double>::max());
    r.StringList("values", &spec.values, "[\"quiet\", \"balanced\", \"max\"]");
    r.Finish();
    const std::string where = Where(path, kn.source()) + ": " + name;
    if (!IsValidId(spec.name)) {
      errors->push_back(where + ".name is required and must match [A-Za-z0-9._-]{1,64}");
      continue;
    }
    if (!names.insert(spec.name).second) errors->push_back(where + ": key " + spec.name + " is declared twice");
    if (type == "number") {
      spec.type = ControlType::kNumber;
    } else if (type == "bool") {
      spec.type = ControlType::kBool;
    } else if (type == "string") {
      spec.type = ControlType::kString;
    } else {
      errors->push_back(where + ".type must be number, bool or string");
      continue;
    }
    if ((has_min || has_max) && spec.type != ControlType::kNumber) {
      errors->push_back(where + ": min and max apply to number keys only");
    }
    if (has_values && spec.type != ControlType::kString) errors->push_back(where + ": values apply to string keys only");
    if (has_min) spec.min = lo;
    if (has_max) spec.max = hi;
    if (has_min && has_max && lo > hi) errors->push_back(where + ": min is above max");
    out->push_back(std::move(spec));
  }
}

// [[automation]]: desired keys set when a server incident of a kind opens.
void ReadAutomation(const toml::node& n, const std::string& path, ControlOptions& control,
                    std::vector<std::string>* errors) {
  const toml::array* list = n.as_array();
  if (list == nullptr) {
    errors->push_back(Where(path, n.source()) + ": automation must be an array of tables ([[automation]])");
    return;
  }
  for (size_t i = 0; i < list->size(); ++i) {
    const toml::node& an = *list->get(i);
    const std::string name = "automation[" + std::to_string(i) + "]";
    if (!an.is_table()) {
      errors->push_back(Where(path, an.source()) + ": " + name + " must be a table");
      continue;
    }
    const toml::table& t = *an.as_table();
    TableReader r(t, name, path, errors);
    AutomationRule rule;
    std::string severity;
    r.String("kind", &rule.kind);
    r.String("severity", &severity);
    const toml::node* set = r.Take("set");
    r.Finish();
    const std::string where = Where(path, an.source()) + ": " + name;
    if (rule.kind.empty()) errors->push_back(where + ".kind is required (the server incident kind, e.g. disk)");
    if (!severity.empty()) {
      Severity s;
      if (!ParseSeverity(severity, &s)) {
        errors->push_back(where + ".severity must be warning or critical");
      } else {
        rule.severity = s;
      }
    }
    if (set == nullptr || !set->is_table() || set->as_table()->empty()) {
      errors->push_back(where + ".set is required: a table of desired keys, e.g. set = { drain = true }");
      continue;
    }
    for (const auto& [key, value] : *set->as_table()) {
      const std::string k(key.str());
      const ControlKeySpec* spec = control.Key(k);
      if (spec == nullptr) {
        errors->push_back(where + ".set." + k + " is not a declared control key ([[control.keys]])");
        continue;
      }
      ControlValue v;
      if (auto b = value.value_exact<bool>()) {
        v = *b;
      } else if (auto str = value.value_exact<std::string>()) {
        v = *str;
      } else if (value.is_number()) {
        v = value.value<double>().value_or(0);
      } else {
        errors->push_back(where + ".set." + k + " must be a number, true/false or a string");
        continue;
      }
      if (std::string why = CheckValue(*spec, v); !why.empty()) {
        errors->push_back(where + ".set: " + why);
        continue;
      }
      rule.set.emplace_back(k, std::move(v));
    }
    control.automation.push_back(std::move(rule));
  }
}

void ReadRule(const toml::table& t, const std::string& name, const std::string& file, Rule* rule,
              std::vector<std::string>* errors) {
  TableReader r(t, name, file, errors);
  r.String("kind", &rule->kind);
  r.String("metric", &rule->metric);
  std::string op = ">";
  r.String("op", &op);
  r.Double("threshold", &rule->threshold, -kMaxDouble, kMaxDouble);
  r.Int("for_reports", &rule->for_reports, 1, 1000000);
  r.Double("for_s", &rule->for_s, 0, 86400 * 30);
  r.Int("clear_reports", &rule->clear_reports, 1, 1000000);
  r.Bool("rate", &rule->rate);
  r.String("runbook", &rule->runbook);
  r.Double("forecast_s", &rule->forecast_s, 1, 86400 * 365);
  r.Double("lookback_s", &rule->lookback_s, 36, 86400 * 90);
  std::string change;
  r.String("change", &change);
  r.Double("shift", &rule->shift, 0.5, 1000);
  r.Double("change_accept_s", &rule->change_accept_s, 1, 86400 * 365);
  std::string severity = "warning";
  r.String("severity", &severity);
  const size_t before = errors->size();
  r.Finish();
  if (errors->size() != before) return;
  auto where = Where(file, t.source()) + ": " + name;
  // A change rule's incidents are of kind `change`; its own kind is optional.
  if (rule->kind.empty() && r.Has("change")) rule->kind = "change";
  if (rule->kind.empty() || !IsValidId(rule->kind)) errors->push_back(where + ".kind must be a word like \"thermal\"");
  if (rule->metric.empty()) errors->push_back(where + ".metric is required");
  if (r.Has("change") && !ParseChangeDirection(change, &rule->change)) {
    errors->push_back(where + ".change must be \"up\", \"down\" or \"both\"");
  }
  const bool forecast = r.Has("forecast_s");
  const bool watches_change = r.Has("change");
  if (!watches_change && !r.Has("threshold")) errors->push_back(where + ".threshold is required");
  if (r.Has("for_reports") && r.Has("for_s")) errors->push_back(where + ": give for_reports or for_s, not both");
  if (forecast && watches_change) errors->push_back(where + ": a rule forecasts (forecast_s) or watches for a change (change), not both");
  if ((forecast || watches_change) && (rule->rate || r.Has("for_reports") || r.Has("for_s") || r.Has("clear_reports"))) {
    errors->push_back(where + ": rate, for_reports, for_s and clear_reports apply to threshold rules, not to forecast or change rules");
  }
  if (!forecast && r.Has("lookback_s")) errors->push_back(where + ".lookback_s needs forecast_s");
  if (!watches_change && (r.Has("shift") || r.Has("change_accept_s"))) {
    errors->push_back(where + ".shift and .change_accept_s need change");
  }
  if (watches_change && (r.Has("threshold") || r.Has("op"))) {
    errors->push_back(where + ": a change rule has no threshold or op (it watches the metric's level for steps)");
  }
  if (!ParseCompareOp(op, &rule->op)) errors->push_back(where + ".op must be one of > >= < <=");
  if (!ParseSeverity(severity, &rule->severity)) errors->push_back(where + ".severity must be warning or critical");
}

}  // namespace

std::vector<std::string> ValidateConfig(const Config& c) {
  std::vector<std::string> errors;
  if (!IsValidId(c.gateway.id)) errors.push_back("gateway.id must match [A-Za-z0-9._-]{1,64}");
  if (c.gateway.role != "standalone" && c.gateway.role != "pod" && c.gateway.role != "site") {
    errors.push_back("gateway.role must be \"standalone\", \"pod\" or \"site\" (got \"" + c.gateway.role + "\")");
  }
  if (!IsValidId(c.gateway.datacenter)) errors.push_back("gateway.datacenter must match [A-Za-z0-9._-]{1,64}");
  if (!IsValidId(c.gateway.default_rack)) errors.push_back("gateway.default_rack must match [A-Za-z0-9._-]{1,64}");
  const std::string& p = c.gateway.prefix;
  if (p.empty() || p.find_first_of("+#") != std::string::npos || p.front() == '/' || p.back() == '/') {
    errors.push_back("gateway.prefix must be a topic prefix without wildcards or leading/trailing '/'");
  }
  for (const std::string* q : {&c.ingest.collectd_prefix, &c.ingest.telegraf_prefix}) {
    if (q->find_first_of("+#") != std::string::npos || (!q->empty() && (q->front() == '/' || q->back() == '/'))) {
      errors.push_back("collectd.prefix and telegraf.prefix must be topic prefixes without wildcards");
    }
  }
  for (const std::string& f : c.gateway.reply_topics) {
    const size_t hash = f.find('#');
    bool ok = !f.empty() && (hash == std::string::npos || (hash == f.size() - 1 && (hash == 0 || f[hash - 1] == '/')));
    for (size_t plus = f.find('+'); ok && plus != std::string::npos; plus = f.find('+', plus + 1)) {
      ok = (plus == 0 || f[plus - 1] == '/') && (plus + 1 == f.size() || f[plus + 1] == '/');
    }
    if (!ok) errors.push_back("gateway.reply_topics must hold MQTT topic filters (got \"" + f + "\")");
  }
  if (c.gateway.reply_topics.empty()) {
    errors.push_back("gateway.reply_topics must name at least one topic filter (\"#\" allows every topic)");
  }
  const std::string& uri = c.broker.uri;
  if (uri.rfind("tcp://", 0) != 0 && uri.rfind("ssl://", 0) != 0 && uri.rfind("mqtt://", 0) != 0 &&
      uri.rfind("mqtts://", 0) != 0) {
    errors.push_back("broker.uri must look like tcp://host:port or ssl://host:port (got \"" + uri + "\")");
  }
  const bool tls = uri.rfind("ssl://", 0) == 0 || uri.rfind("mqtts://", 0) == 0;
  if (!tls && (!c.broker.ca_file.empty() || !c.broker.cert_file.empty())) {
    errors.push_back("broker.ca_file/cert_file are for ssl:// URIs (broker.uri is \"" + uri + "\")");
  }
  if (c.broker.cert_file.empty() != c.broker.key_file.empty()) {
    errors.push_back("broker.cert_file and broker.key_file go together");
  }
  if (c.broker.reconnect_min_s > c.broker.reconnect_max_s) {
    errors.push_back("broker.reconnect_min_s must not exceed broker.reconnect_max_s");
  }
  if (c.state.path.empty()) errors.push_back("state.path must not be empty");
  if (c.state.synchronous != "normal" && c.state.synchronous != "full") {
    errors.push_back("state.synchronous must be \"normal\" or \"full\"");
  }
  for (const std::string& u : c.alertmanager.urls) {
    if (u.rfind("http://", 0) != 0 || u.size() <= 7) {
      errors.push_back("alertmanager.urls must be http://host:port URLs (got \"" + u + "\")");
    }
  }
  const std::string& ws = c.hmi.broker_ws_url;
  if (!ws.empty() && ws.rfind("ws://", 0) != 0 && ws.rfind("wss://", 0) != 0) {
    errors.push_back("hmi.broker_ws_url must be a ws:// or wss:// URL (got \"" + ws + "\")");
  }
  static const std::set<std::string> kLevels = {"trace", "debug", "info", "warn", "error", "critical", "off"};
  if (kLevels.count(c.log.level) == 0) {
    errors.push_back("log.level must be one of trace, debug, info, warn, error, critical, off");
  }
  return errors;
}

std::string ConfigResult::Locate(const std::string& path, const std::string& error) const {
  std::string best;
  for (const auto& [key, line] : lines) {
    if (error.rfind(key, 0) == 0 && key.size() > best.size()) best = key;
  }
  return best.empty() ? path + ": " + error : path + ":" + std::to_string(lines.at(best)) + ": " + error;
}

ConfigResult LoadConfigFile(const std::string& path) {
  ConfigResult result;
  Config& c = result.config;
  std::vector<std::string>& errors = result.errors;
  toml::table root;
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    const auto& src = e.source();
    if (src.begin.line == 0) {
      errors.push_back(path + ": cannot read the config file: " + std::string(e.description()));
    } else {
      errors.push_back(path + ":" + std::to_string(src.begin.line) + ": " + std::string(e.description()));
    }
    return result;
  }

  TableReader top(root, "", path, &errors);
  auto section = [&](const char* name) -> const toml::table* {
    const toml::node* n = top.Take(name);
    if (n == nullptr) return nullptr;
    if (!n->is_table()) {
      top.Error(*n, name, "must be a table ([" + std::string(name) + "])");
      return nullptr;
    }
    return n->as_table();
  };

  if (const toml::table* t = section("broker")) {
    TableReader r(*t, "broker", path, &errors, &result.lines);
    r.String("uri", &c.broker.uri);
    r.Int("session_expiry_s", &c.broker.session_expiry_s, 0, 0x7fffffff);
    r.Int("keepalive_s", &c.broker.keepalive_s, 1, 3600);
    r.Int("reconnect_min_s", &c.broker.reconnect_min_s, 1, 3600);
    r.Int("reconnect_max_s", &c.broker.reconnect_max_s, 1, 3600);
    r.Int("subscribe_qos", &c.broker.subscribe_qos, 0, 2);
    r.Int("max_inflight", &c.broker.max_inflight, 1, 65535);
    r.Int("ingest_connections", &c.broker.ingest_connections, 1, 16);
    r.String("ca_file", &c.broker.ca_file);
    r.String("cert_file", &c.broker.cert_file);
    r.String("key_file", &c.broker.key_file);
    r.String("credentials_file", &c.broker.credentials_file);
    r.Double("drop_quiet_s", &c.broker.drop_quiet_s, 1, 86400 * 7);
    r.Finish();
  }
  if (const toml::table* t = section("gateway")) {
    TableReader r(*t, "gateway", path, &errors, &result.lines);
    r.String("id", &c.gateway.id);
    r.String("role", &c.gateway.role);
    r.String("datacenter", &c.gateway.datacenter);
    r.String("prefix", &c.gateway.prefix);
    r.Double("stats_interval_s", &c.gateway.stats_interval_s, 0.1, 86400);
    r.Int("shards", &c.gateway.shards, 0, 256);
    r.Int("mailbox_capacity", &c.gateway.mailbox_capacity, 16, 1 << 24);
    r.Int("enqueue_timeout_ms", &c.gateway.enqueue_timeout_ms, 0, 600000);
    r.Int("publish_buffer", &c.gateway.publish_buffer, 100, 10000000);
    r.Bool("auto_commission", &c.gateway.auto_commission);
    r.String("default_rack", &c.gateway.default_rack);
    r.Double("deadletter_per_s", &c.gateway.deadletter_per_s, 0, 1e6);
    r.Int("max_payload_bytes", &c.gateway.max_payload_bytes, 256, 256 * 1024 * 1024);
    r.Int("max_servers", &c.gateway.max_servers, 1, 100000000);
    r.StringList("reply_topics", &c.gateway.reply_topics, "[\"dctwin/reply/#\"]");
    r.String("inventory", &c.gateway.inventory);
    r.String("inventory_token", &c.gateway.inventory_token);
    r.Finish();
  }
  if (const toml::table* t = section("state")) {
    TableReader r(*t, "state", path, &errors, &result.lines);
    r.String("path", &c.state.path);
    r.String("synchronous", &c.state.synchronous);
    r.Int("flush_interval_ms", &c.state.flush_interval_ms, 1, 60000);
    r.Int("flush_changes", &c.state.flush_changes, 1, 100000000);
    r.Int("outbox_max", &c.state.outbox_max, 1, 100000000);
    r.Double("restart_grace_s", &c.state.restart_grace_s, -1, 86400);
    r.Double("sample_flush_s", &c.state.sample_flush_s, 0, 3600);
    r.Finish();
  }
  if (const toml::table* t = section("collectd")) {
    TableReader r(*t, "collectd", path, &errors, &result.lines);
    r.String("prefix", &c.ingest.collectd_prefix);
    r.String("types_db", &c.ingest.collectd_types_db);
    r.Finish();
  }
  if (const toml::table* t = section("telegraf")) {
    TableReader r(*t, "telegraf", path, &errors, &result.lines);
    r.String("prefix", &c.ingest.telegraf_prefix);
    r.Finish();
  }
  if (const toml::table* t = section("metrics")) {
    TableReader r(*t, "metrics", path, &errors, &result.lines);
    r.String("listen", &c.metrics.listen);
    r.Finish();
  }
  if (const toml::table* t = section("alertmanager")) {
    TableReader r(*t, "alertmanager", path, &errors, &result.lines);
    r.StringList("urls", &c.alertmanager.urls, "[\"http://127.0.0.1:9093\"]");
    r.Double("resend_s", &c.alertmanager.resend_s, 1, 86400);
    r.Double("down_after_s", &c.alertmanager.down_after_s, 1, 86400 * 7);
    r.Double("timeout_s", &c.alertmanager.timeout_s, 0.1, 600);
    r.Finish();
  }
  if (const toml::table* t = section("hmi")) {
    TableReader r(*t, "hmi", path, &errors, &result.lines);
    r.String("broker_ws_url", &c.hmi.broker_ws_url);
    r.String("root", &c.hmi.root);
    r.Bool("enabled", &c.hmi.enabled);
    r.Finish();
  }
  if (const toml::table* t = section("silences")) {
    TableReader r(*t, "silences", path, &errors, &result.lines);
    r.Double("keep_expired_s", &c.silences.keep_expired_s, 0, 86400 * 365);
    r.Int("max_silences", &c.silences.max_silences, 1, 1000000);
    r.Finish();
  }
  if (const toml::table* t = section("history")) {
    TableReader r(*t, "history", path, &errors, &result.lines);
    r.Double("keep_days", &c.history.keep_days, 0, 36500);
    r.Int("max_rows", &c.history.max_rows, 0, 2000000000);
    r.Double("rollup_1m_days", &c.history.rollup_1m_days, 0, 3650);
    r.Double("rollup_1h_days", &c.history.rollup_1h_days, 0, 36500);
    r.Finish();
  }
  if (const toml::table* t = section("control")) {
    TableReader r(*t, "control", path, &errors, &result.lines);
    r.Double("ack_timeout_s", &c.control.ack_timeout_s, 1, 86400 * 7);
    r.Double("max_drained_per_rack", &c.control.max_drained_per_rack, 0, 1);
    r.Double("max_drained_per_datacenter", &c.control.max_drained_per_datacenter, 0, 1);
    r.Int("max_changes_per_min", &c.control.max_changes_per_min, 1, 10000000);
    if (const toml::node* n = r.Take("keys")) ReadControlKeys(*n, path, &c.control.keys, &errors);
    r.Finish();
  }
  if (const toml::node* n = top.Take("automation")) ReadAutomation(*n, path, c.control, &errors);
  if (const toml::table* t = section("log")) {
    TableReader r(*t, "log", path, &errors, &result.lines);
    r.String("level", &c.log.level);
    r.Finish();
  }
  if (const toml::table* t = section("model")) {
    TableReader r(*t, "model", path, &errors, &result.lines);
    r.Double("window_s", &c.model.window_s, 1, 86400);
    r.Double("heartbeat_timeout_s", &c.model.heartbeat_timeout_s, 1, 86400);
    r.Int("clear_reports", &c.model.clear_reports, 1, 1000000);
    r.Double("anomaly_z", &c.model.anomaly_z, 0, 1000);
    r.Int("anomaly_min_samples", &c.model.anomaly_min_samples, 2, 1000000);
    r.Int("anomaly_for_reports", &c.model.anomaly_for_reports, 1, 1000000);
    r.Double("anomaly_baseline_s", &c.model.anomaly_baseline_s, 60, 30 * 86400);
    r.Double("max_future_s", &c.model.max_future_s, 0, 86400 * 365);
    r.Int("max_window_rows", &c.model.max_window_rows, 1, 1000000);
    r.Int("max_metrics", &c.model.max_metrics, 1, 100000);
    r.Int("max_memory_mb", &c.model.max_memory_mb, 0, int64_t{1} << 30);
    r.Double("storm_fraction", &c.model.storm_fraction, 0, 1);
    r.Int("storm_min_servers", &c.model.storm_min_servers, 1, 100000000);
    r.Double("storm_window_s", &c.model.storm_window_s, 0, 3600);
    r.Double("assemble_s", &c.model.assemble_s, 0.01, 3600);
    r.Double("max_messages_per_s", &c.model.max_messages_per_s, 0, 1e9);
    r.Double("metric_stale_s", &c.model.metric_stale_s, 0, 86400 * 30);
    r.Int("clock_skew_reports", &c.model.clock_skew_reports, 1, 1000000);
    r.Int("flap_count", &c.model.flap_count, 0, 1000000);
    r.Double("flap_window_s", &c.model.flap_window_s, 1, 86400 * 30);
    r.Double("flap_stable_s", &c.model.flap_stable_s, 0, 86400 * 30);
    r.Finish();
  }
  if (const toml::table* t = section("rack")) {
    TableReader r(*t, "rack", path, &errors, &result.lines);
    r.Int("min_servers", &c.model.rack_min_servers, 1, 1000000);
    r.Finish();
  }
  if (const toml::table* t = section("datacenter")) {
    TableReader r(*t, "datacenter", path, &errors, &result.lines);
    r.Int("min_racks", &c.model.datacenter_min_racks, 1, 1000000);
    r.Finish();
  }
  if (const toml::table* t = section("group")) {
    TableReader r(*t, "group", path, &errors, &result.lines);
    r.Int("min_racks", &c.model.group_min_racks, 1, 1000000);
    r.Int("min_servers", &c.model.group_min_servers, 1, 1000000);
    r.Double("notify_hold_s", &c.model.group_notify_hold_s, 0, 3600);
    r.Finish();
  }
  if (const toml::node* n = top.Take("rules")) {
    c.model.rules.clear();
    const toml::array* rules = n->as_array();
    if (rules == nullptr) {
      top.Error(*n, "rules", "must be an array of tables ([[rules]])");
    } else {
      for (size_t i = 0; i < rules->size(); ++i) {
        const toml::node& rn = *rules->get(i);
        const std::string name = "rules[" + std::to_string(i) + "]";
        if (!rn.is_table()) {
          errors.push_back(Where(path, rn.source()) + ": " + name + " must be a table");
          continue;
        }
        Rule rule;
        ReadRule(*rn.as_table(), name, path, &rule, &errors);
        c.model.rules.push_back(std::move(rule));
      }
      if (c.model.rules.size() > 60000) errors.push_back(path + ": too many rules (at most 60000)");
    }
  }
  top.Finish();
  return result;
}

}  // namespace dctwin
