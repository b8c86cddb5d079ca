#include "config/runtime_config.h"

#include <sys/stat.h>

#include <fstream>

namespace dctwin {

bool ReadCredentials(const std::string& path, Credentials* out, std::string* error, std::string* warning) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    *error = "broker.credentials_file " + path + " cannot be read";
    return false;
  }
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    *warning = "broker.credentials_file " + path + " is readable by others than its owner; chmod 600 it";
  }
  std::ifstream in(path);
  if (!in || !std::getline(in, out->username) || !std::getline(in, out->password) || out->username.empty()) {
    *error = "broker.credentials_file " + path + " must hold the username and the password on two lines";
    return false;
  }
  return true;
}

std::vector<std::string> RestartKeys(const Config& running, const Config& next) {
  std::vector<std::string> keys;
  auto check = [&](bool changed, const char* key) {
    if (changed) keys.emplace_back(key);
  };
  check(next.broker.uri != running.broker.uri, "broker.uri");
  check(next.broker.ingest_connections != running.broker.ingest_connections, "broker.ingest_connections");
  check(next.broker.credentials_file != running.broker.credentials_file, "broker.credentials_file");
  check(next.gateway.id != running.gateway.id, "gateway.id");
  check(next.gateway.role != running.gateway.role, "gateway.role");
  check(next.gateway.prefix != running.gateway.prefix, "gateway.prefix");
  check(next.gateway.datacenter != running.gateway.datacenter, "gateway.datacenter");
  check(next.gateway.shards != running.gateway.shards, "gateway.shards");
  check(next.state.path != running.state.path, "state.path");
  check(next.ingest.collectd_prefix != running.ingest.collectd_prefix, "ingest.collectd_prefix");
  check(next.ingest.telegraf_prefix != running.ingest.telegraf_prefix, "ingest.telegraf_prefix");
  check(next.alertmanager.urls != running.alertmanager.urls, "alertmanager.urls");
  check(next.model.group_notify_hold_s != running.model.group_notify_hold_s, "group.notify_hold_s");
  auto control_differs = [](const ControlOptions& a, const ControlOptions& b) {
    if (a.ack_timeout_s != b.ack_timeout_s || a.max_drained_per_rack != b.max_drained_per_rack ||
        a.max_drained_per_datacenter != b.max_drained_per_datacenter || a.max_changes_per_min != b.max_changes_per_min ||
        a.keys.size() != b.keys.size() || a.automation.size() != b.automation.size()) {
      return true;
    }
    for (size_t i = 0; i < a.keys.size(); ++i) {
      const ControlKeySpec &x = a.keys[i], &y = b.keys[i];
      if (x.name != y.name || x.type != y.type || x.min != y.min || x.max != y.max || x.values != y.values) return true;
    }
    for (size_t i = 0; i < a.automation.size(); ++i) {
      const AutomationRule &x = a.automation[i], &y = b.automation[i];
      if (x.kind != y.kind || x.severity != y.severity || x.set != y.set) return true;
    }
    return false;
  };
  check(control_differs(next.control, running.control), "control (keys, interlocks, automations)");
  return keys;
}

}  // namespace dctwin
