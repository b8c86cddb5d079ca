#include "gateway/ops/metrics_server.h"

#include <sys/stat.h>
#include <unistd.h>

#ifndef DCTWIN_HMI_INSTALL_DIR
#define DCTWIN_HMI_INSTALL_DIR "/usr/share/dctwin/hmi"
#endif
#ifndef DCTWIN_HMI_BUILD_DIR
#define DCTWIN_HMI_BUILD_DIR ""
#endif

#include <httplib.h>

#include <utility>

namespace dctwin {

// The folder of the operators' page: the configured one, else the one installed beside this
// binary (<prefix>/bin/../share/dctwin/hmi), else the compiled-in install folder, else the one the
// build assembled; "" when there is none.
std::string FindPageRoot(const std::string& configured) {
  if (!configured.empty()) return configured;
  std::vector<std::string> candidates;
  char exe[4096];
  const ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n > 0) {
    std::string dir(exe, static_cast<size_t>(n));
    dir = dir.substr(0, dir.rfind('/'));
    candidates.push_back(dir.substr(0, dir.rfind('/')) + "/share/dctwin/hmi");
  }
  candidates.emplace_back(DCTWIN_HMI_INSTALL_DIR);
  candidates.emplace_back(DCTWIN_HMI_BUILD_DIR);
  for (const std::string& dir : candidates) {
    struct stat st {};
    if (!dir.empty() && stat((dir + "/index.html").c_str(), &st) == 0) return dir;
  }
  return std::string();
}


MetricsServer::MetricsServer(std::function<std::string()> render) : render_(std::move(render)) {}

MetricsServer::~MetricsServer() { Stop(); }

void MetricsServer::ServePage(std::string root, std::string config_json) {
  page_root_ = std::move(root);
  page_config_ = std::move(config_json);
}

bool MetricsServer::Start(const std::string& listen, std::string* error) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos) {
    *error = "metrics.listen must be host:port (got \"" + listen + "\")";
    return false;
  }
  const std::string host = listen.substr(0, colon);
  const int port = std::atoi(listen.c_str() + colon + 1);
  server_ = std::make_unique<httplib::Server>();
  server_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(render_(), "text/plain; version=0.0.4; charset=utf-8");
  });
  if (!page_config_.empty()) {
    server_->Get("/config.json", [this](const httplib::Request&, httplib::Response& res) {
      res.set_header("Cache-Control", "no-store");
      res.set_content(page_config_, "application/json");
    });
  }
  if (topology_) {
    server_->Get("/topology.json", [this](const httplib::Request&, httplib::Response& res) {
      res.set_header("Cache-Control", "no-store");
      std::string body = topology_();
      // With the charset named, httplib leaves the body uncompressed: brotli at its default level
      // took about half a second for a plan of 2,500 racks (340 KB), on every request.
      res.set_content(body.empty() ? std::string("{\"racks\":[],\"groups\":{}}") : std::move(body),
                      "application/json; charset=utf-8");
    });
  }
  if (!page_root_.empty() && !server_->set_mount_point("/", page_root_)) {
    *error = "the operators' page folder " + page_root_ + " cannot be served";
    server_.reset();
    return false;
  }
  // The page's modules must be served as JavaScript for the browser to run them.
  server_->set_file_extension_and_mimetype_mapping("js", "text/javascript");
  server_->set_file_extension_and_mimetype_mapping("mjs", "text/javascript");
  port_ = port == 0 ? server_->bind_to_any_port(host) : (server_->bind_to_port(host, port) ? port : -1);
  if (port_ <= 0) {
    *error = "cannot listen on " + listen;
    server_.reset();
    return false;
  }
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  return true;
}

void MetricsServer::Stop() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
  server_.reset();
}

}  // namespace dctwin
