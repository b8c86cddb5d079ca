// MetricsServer: the gateway's HTTP listener (cpp-httplib), on its own threads: its own metrics
// in the Prometheus text format at GET /metrics, and the operators' page (static files from a
// folder) at / with its settings at /config.json. `render` is called per scrape and must be
// thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>

namespace httplib {
class Server;
}

namespace dctwin {

// The folder of the operators' page: the configured one, else the one installed beside this
// binary, else the compiled-in install folder, else the one the build assembled; "" when none.
std::string FindPageRoot(const std::string& configured);

class MetricsServer {
 public:
  explicit MetricsServer(std::function<std::string()> render);
  // Before Start(): serve the files under `root` at / and `config_json` at /config.json.
  void ServePage(std::string root, std::string config_json);
  // Before Start(): also serve what `topology` returns at /topology.json (the floor plan; too big
  // for one MQTT message over mosquitto's WebSockets). Called per request; must be thread-safe.
  void ServeTopology(std::function<std::string()> topology) { topology_ = std::move(topology); }
  ~MetricsServer();

  // listen: "host:port". Returns false (with the reason in *error) when it cannot bind.
  bool Start(const std::string& listen, std::string* error);
  void Stop();
  int port() const { return port_; }

 private:
  std::function<std::string()> render_;
  std::string page_root_;
  std::string page_config_;
  std::function<std::string()> topology_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace dctwin
