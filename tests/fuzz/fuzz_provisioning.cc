// libFuzzer target: the provisioning event decoder.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "gateway/ingest/decoders.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  dctwin::Message msg;
  dctwin::DecodeError err;
  dctwin::DecodeProvisioning(std::string_view(reinterpret_cast<const char*>(data), size), &msg, &err);
  return 0;
}
