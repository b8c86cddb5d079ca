// The Alertmanager forwarder against a loopback HTTP server that records each POST: between
// resends it posts only what changed, so a change costs O(changes) with thousands open.
#include "gateway/incidents/alertmanager_forwarder.h"

#include <gtest/gtest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace dctwin {
namespace {

using namespace std::chrono_literals;

class RecordingAlertmanager {
 public:
  RecordingAlertmanager() {
    server_.Post("/api/v2/alerts", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard<std::mutex> lock(mu_);
      bodies_.push_back(req.body);
      res.status = 200;
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~RecordingAlertmanager() {
    server_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::vector<std::string> bodies() {
    std::lock_guard<std::mutex> lock(mu_);
    return bodies_;
  }
  // Waits (up to 5 s) for the n-th POST; its body, or empty.
  std::string WaitForPost(size_t n) {
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (std::chrono::steady_clock::now() < deadline) {
      if (auto b = bodies(); b.size() >= n) return b[n - 1];
      std::this_thread::sleep_for(5ms);
    }
    return std::string();
  }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::mutex mu_;
  std::vector<std::string> bodies_;
  std::thread thread_;
};

Notification Firing(int i) {
  Notification n;
  n.incident.id = "server:s" + std::to_string(i) + ":thermal:1";
  n.incident.level = Level::kServer;
  n.incident.subject = "s" + std::to_string(i);
  n.incident.kind = "thermal";
  n.incident.opened_at = 1000;
  return n;
}

size_t Alerts(const std::string& body) {
  size_t n = 0;
  for (size_t at = body.find("\"incident_id\""); at != std::string::npos; at = body.find("\"incident_id\"", at + 1)) ++n;
  return n;
}

TEST(AlertmanagerForwarderTest, BetweenResendsOnlyWhatChangedIsPosted) {
  RecordingAlertmanager am;
  std::vector<std::vector<std::string>> delivered;
  std::mutex delivered_mu;
  AlertmanagerForwarder::Options options;
  options.urls = {am.url()};
  options.resend_s = 3600;  // no resend during the test
  options.gateway_id = "gw";
  AlertmanagerForwarder forwarder(
      options,
      [&](std::vector<std::string> ids) {
        std::lock_guard<std::mutex> lock(delivered_mu);
        delivered.push_back(std::move(ids));
      },
      [] { return 2000.0; });
  std::vector<Notification> all;
  for (int i = 0; i < 2000; ++i) all.push_back(Firing(i));
  forwarder.Update(all);
  forwarder.Start();
  EXPECT_EQ(Alerts(am.WaitForPost(1)), 2000u) << "the first post is the whole list";

  // One new open: one alert posted, not 2,001.
  Notification fresh = Firing(5000);
  forwarder.Apply({NotificationChange{fresh.incident.id, fresh}});
  const std::string second = am.WaitForPost(2);
  EXPECT_EQ(Alerts(second), 1u);
  EXPECT_NE(second.find("s5000"), std::string::npos) << second;

  // One resolve: one alert, with its end; once taken it goes back to the desk.
  Notification resolved = Firing(7);
  resolved.resolved_at = 1990;
  forwarder.Apply({NotificationChange{resolved.incident.id, resolved}});
  const std::string third = am.WaitForPost(3);
  EXPECT_EQ(Alerts(third), 1u);
  EXPECT_NE(third.find("s7"), std::string::npos) << third;
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  auto any_delivered = [&] {
    std::lock_guard<std::mutex> lock(delivered_mu);
    return !delivered.empty();
  };
  while (!any_delivered() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(5ms);
  {
    std::lock_guard<std::mutex> lock(delivered_mu);
    ASSERT_EQ(delivered.size(), 1u);
    EXPECT_EQ(delivered[0], std::vector<std::string>{resolved.incident.id});
  }
  // The desk then forgets it: nothing more to post.
  forwarder.Apply({NotificationChange{resolved.incident.id, std::nullopt}});
  std::this_thread::sleep_for(200ms);  // an absence: nothing may come
  EXPECT_EQ(am.bodies().size(), 3u);
  EXPECT_EQ(forwarder.alerts_posted(), 2002u);
  forwarder.Stop();
}

}  // namespace
}  // namespace dctwin
