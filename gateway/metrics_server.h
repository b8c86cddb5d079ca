// MetricsServer: the gateway's own metrics in the Prometheus text format over HTTP
// (cpp-httplib), on its own thread, at GET /metrics. `render` is called per scrape and must be
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

class MetricsServer {
 public:
  explicit MetricsServer(std::function<std::string()> render);
  ~MetricsServer();

  // listen: "host:port". Returns false (with the reason in *error) when it cannot bind.
  bool Start(const std::string& listen, std::string* error);
  void Stop();
  int port() const { return port_; }

 private:
  std::function<std::string()> render_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace dctwin
