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
  return keys;
}

}  // namespace dctwin
