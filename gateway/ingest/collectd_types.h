// CollectdTypes: the data-source names of collectd's types (types.db), so that a multi-value
// type's values get their names: "interface-eth0/if_octets" "<t>:<rx>:<tx>" becomes the metrics
// interface-eth0/if_octets.rx and .tx. Reads the types.db of the installed collectd; falls back
// to the common multi-value types built in when that file is missing.
//
// Thread-safe after construction (read-only).
#pragma once

#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace dctwin {

class CollectdTypes {
 public:
  // Loads `path` if it can be read; `*error` says why not (the built-in table then serves).
  static CollectdTypes Load(const std::string& path, std::string* error);
  static CollectdTypes BuiltIn();

  // Data-source names of `type`; nullptr for an unknown type.
  const std::vector<std::string>* Sources(std::string_view type) const;
  size_t size() const { return types_.size(); }

  // Parses types.db text: "<type> <ds>:<kind>:<min>:<max>[, <ds>:...]" per line, # comments.
  void Parse(std::string_view text);

 private:
  std::unordered_map<std::string, std::vector<std::string>> types_;
};

}  // namespace dctwin
