// libFuzzer target: decoding stored twin state (a damaged database row must be an error, never a
// crash or a huge allocation).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "storage/twin_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const dctwin::ModelConfig model;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  dctwin::ServerTwin server("s", "dc1", model);
  if (dctwin::DecodeTwin(bytes, &server).ok()) {
    // A window the decoder accepts must work: read it, add to it, late and in order.
    (void)server.window().Series();
    dctwin::MetricWindow window = server.window();
    window.Add(window.newest_ts() + 10, {{"x", 1.5}}, nullptr);
    window.Add(window.newest_ts() - 5, {{"x", 2.5}, {"y", 1e30}}, nullptr);
    (void)window.LastSeenAll();
  }
  dctwin::RackTwin rack("r", "dc1");
  dctwin::DecodeTwin(bytes, &rack);
  dctwin::DatacenterTwin dc("dc1");
  dctwin::DecodeTwin(bytes, &dc);
  return 0;
}
