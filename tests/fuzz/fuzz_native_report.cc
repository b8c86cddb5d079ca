// libFuzzer target: the native JSON report decoder.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "gateway/ingest/decoders.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  dctwin::Report report;
  dctwin::DecodeError err;
  dctwin::DecodeNativeReport(std::string_view(reinterpret_cast<const char*>(data), size), 1.7e9, &report, &err);
  return 0;
}
