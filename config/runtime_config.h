// What the gateway reads besides the configuration file, and what a reload can apply.
//
// Threads: plain functions; main's thread (start and reload).
#pragma once

#include <string>
#include <vector>

#include "config/config.h"

namespace dctwin {

struct Credentials {
  std::string username;
  std::string password;
};

// broker.credentials_file: the user name and the password on two lines. False with the reason in
// *error when it cannot be read or is malformed; *warning says when others than its owner may read it.
bool ReadCredentials(const std::string& path, Credentials* out, std::string* error, std::string* warning);

// The keys whose change takes a restart: a reload applies only the model.
std::vector<std::string> RestartKeys(const Config& running, const Config& next);

}  // namespace dctwin
