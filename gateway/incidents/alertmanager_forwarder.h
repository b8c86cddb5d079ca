// AlertmanagerForwarder: posts the incidents the IncidentDesk says Alertmanager should hold to
// /api/v2/alerts of every configured URL: firing ones at least every resend_s (with an endsAt
// three resends ahead, so a gateway that dies leaves nothing firing for ever), resolved ones with
// their endsAt until every URL has accepted them; then the desk forgets them. The desk keeps the
// list in the state database, so after a crash or an Alertmanager outage the gateway posts again
// what is open and what resolved meanwhile. A muted incident never reaches the list.
//
// Threads: Update() and the counters from any thread; posting runs on the forwarder's own thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/thread_annotations.h"
#include "gateway/incidents/incident_desk.h"

namespace dctwin {

class AlertmanagerForwarder {
 public:
  struct Options {
    std::vector<std::string> urls;  // http://host:port
    double resend_s = 60;
    double timeout_s = 5;
    std::string gateway_id;
  };
  using Clock = std::function<double()>;
  // Ids of resolved incidents every URL has accepted.
  using Delivered = std::function<void(std::vector<std::string>)>;

  AlertmanagerForwarder(Options options, Delivered delivered, Clock clock);
  ~AlertmanagerForwarder();

  void Start();
  // Idempotent.
  void Stop();
  // The complete list Alertmanager should hold now.
  void Update(std::vector<Notification> notifications);

  // The alerts of one POST, as Alertmanager's API v2 takes them.
  static std::string Body(const std::vector<Notification>& notifications, const std::string& gateway_id,
                          double now, double resend_s);

  uint64_t posts_ok() const { return posts_ok_.load(std::memory_order_relaxed); }
  uint64_t posts_failed() const { return posts_failed_.load(std::memory_order_relaxed); }

 private:
  void Run();
  bool PostAll(const std::vector<Notification>& snapshot, double now);

  // Constant after construction
  const Options options_;
  const Delivered delivered_;
  const Clock clock_;

  Mutex mu_;
  std::condition_variable cv_;
  std::vector<Notification> current_ GUARDED_BY(mu_);
  bool changed_ GUARDED_BY(mu_) = false;  // current_ has something not posted yet
  bool stop_ GUARDED_BY(mu_) = false;

  std::atomic<uint64_t> posts_ok_{0};
  std::atomic<uint64_t> posts_failed_{0};

  // Owned by the forwarder thread.
  std::map<std::string, bool> posted_;  // id -> resolved, as last accepted by every URL
  std::thread thread_;
};

}  // namespace dctwin
