// libFuzzer target: the InfluxDB line protocol decoder (Telegraf).
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

#include "gateway/ingest/decoders.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<dctwin::Report> reports;
  dctwin::DecodeError err;
  dctwin::DecodeLineProtocol(std::string_view(reinterpret_cast<const char*>(data), size), 1.7e9, &reports, &err);
  return 0;
}
