#include "config/config.h"

namespace dctwin {

ModelConfig Config::DefaultModel() {
  ModelConfig model;
  model.rules = DefaultRules();
  return model;
}

bool IsValidId(std::string_view id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                    c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace dctwin
