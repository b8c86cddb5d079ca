// libFuzzer target: the whole ingest path without a broker. Input: "<topic>\n<payload>". The
// router decodes and routes (native, collectd, Telegraf, provisioning, queries with a Response
// Topic); a one-shard pool hands every message to a real TwinRegistry, whose effects go nowhere.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <spdlog/spdlog.h>

#include "gateway/publish/dead_letters.h"
#include "gateway/ingest/ingest_router.h"
#include "gateway/runtime/shard_pool.h"
#include "twins/twin_registry.h"

namespace {

class NullSink : public dctwin::MessageSink {
 public:
  bool Publish(dctwin::OutMessage) override { return true; }
};

class RegistryHandler : public dctwin::ShardHandler<dctwin::Envelope> {
 public:
  RegistryHandler() : registry_(Model(), dctwin::RegistryOptions{}) {}
  void OnStart(double now) override {
    dctwin::Effects out;
    registry_.StartDatacenter(now, out);
  }
  void Handle(dctwin::Envelope& env) override {
    dctwin::Effects out;
    registry_.Handle(env, out);
  }
  void Tick(double now) override {
    dctwin::Effects out;
    registry_.FireTimers(now, false, out);
  }

 private:
  static dctwin::ModelConfig Model() {
    dctwin::ModelConfig m;
    m.rules = dctwin::DefaultRules();
    return m;
  }
  dctwin::TwinRegistry registry_;
};

struct Rig {
  Rig()
      : pool(1, 1 << 16, std::chrono::seconds(5), std::chrono::milliseconds(10), [] { return 1.7e9; }),
        dead_letters("dctwin", sink, 1e9),
        router(dctwin::IngestOptions{}, dctwin::CollectdTypes::BuiltIn(), pool, dead_letters, sink, replies, [] { return 1.7e9; }) {
    spdlog::set_level(spdlog::level::off);  // every rejection would be a log line
    pool.Start({&handler});
    // Some twins to hit: commissioned servers in two racks.
    for (const char* s : {"s1", "s2", "s3"}) {
      router.OnMessage(std::string("dctwin/provisioning/") + s, R"({"action":"commission","rack":"r1"})");
    }
  }
  NullSink sink;
  RegistryHandler handler;
  dctwin::ShardPool<dctwin::Envelope> pool;
  dctwin::DeadLetters dead_letters;
  dctwin::ReplyBook replies;
  dctwin::IngestRouter router;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Rig* rig = new Rig();  // lives for the whole run
  std::string_view in(reinterpret_cast<const char*>(data), size);
  const size_t nl = in.find('\n');
  if (nl == std::string_view::npos) return 0;
  rig->router.OnMessage(in.substr(0, nl), in.substr(nl + 1), "fuzz/reply", "c");
  return 0;
}
