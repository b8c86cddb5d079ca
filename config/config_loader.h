// Reads the TOML config file into a Config and validates it. Every problem is reported with its
// key and line, so --check-config can print all of them at once.
//
// Threads: plain functions of their arguments; any thread (main reads and reloads).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "config/config.h"

namespace dctwin {

struct ConfigResult {
  Config config;
  std::vector<std::string> errors;  // empty: the config is usable
  std::map<std::string, int> lines;  // "section.key" -> the line it is on
  bool ok() const { return errors.empty(); }
  // "path:line: <error>" for an error of ValidateConfig that names a key found in the file.
  std::string Locate(const std::string& path, const std::string& error) const;
};

// Parses `path`; keys not in the file keep their defaults. A file without any [[rules]] gets the
// default model of the contract; `rules = []` means no threshold rules at all. The checks across
// keys (ValidateConfig) are left to the caller, to run after command-line overrides.
ConfigResult LoadConfigFile(const std::string& path);

// Checks the cross-field rules (ids, ranges) of a config that may have command-line overrides.
std::vector<std::string> ValidateConfig(const Config& config);

}  // namespace dctwin
