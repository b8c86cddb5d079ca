// libFuzzer target: the collectd decoder. Input: "<plugin>/<type>\n<payload>".
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "gateway/ingest/decoders.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const dctwin::CollectdTypes types = dctwin::CollectdTypes::BuiltIn();
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const size_t nl = in.find('\n');
  const std::string_view head = in.substr(0, nl);
  const std::string_view payload = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
  const size_t slash = head.find('/');
  dctwin::Report report;
  dctwin::DecodeError err;
  dctwin::DecodeCollectd(head.substr(0, slash), slash == std::string_view::npos ? head : head.substr(slash + 1),
                         payload, types, 1.7e9, &report, &err);
  return 0;
}
