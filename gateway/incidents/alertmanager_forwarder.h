// AlertmanagerForwarder: posts the incidents the IncidentDesk says Alertmanager should hold to
// /api/v2/alerts of every configured URL: firing ones at least every resend_s (with an endsAt
// three resends ahead, so a gateway that dies leaves nothing firing for ever), resolved ones with
// their endsAt until that URL has accepted them. What is owed is kept per URL: a resolve is
// handed back to the desk (which then forgets it) once every URL that is up took it; a URL that
// has failed for down_after_s is down: the resolves it still lacks wait here for it (at most
// max_owed_per_url, the oldest dropped and counted: its firing alerts end by their endsAt
// anyway), and the on_down handler hears of it (the gateway opens alertmanager_down). The desk
// keeps its list in the state database, so after a crash or an Alertmanager outage the gateway
// posts again what is open and what resolved meanwhile. A muted incident never reaches the list.
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
    double down_after_s = 300;       // a URL failing this long is down (alertmanager.down_after_s)
    size_t max_owed_per_url = 10000; // resolves kept for a URL that is down
  };
  // Called on the forwarder's thread with the URLs that are down now, whenever that set changes.
  using DownHandler = std::function<void(const std::vector<std::string>& down)>;
  using Clock = std::function<double()>;
  // Ids of resolved incidents every URL has accepted.
  using Delivered = std::function<void(std::vector<std::string>)>;

  AlertmanagerForwarder(Options options, Delivered delivered, Clock clock);
  ~AlertmanagerForwarder();

  // Before Start().
  void SetDownHandler(DownHandler handler) { on_down_ = std::move(handler); }
  void Start();
  // Idempotent.
  void Stop();
  // The complete list Alertmanager should hold now (at start).
  void Update(std::vector<Notification> notifications);
  // What changed in that list (after each commit that changed it): O(changes) for the caller,
  // the desk's writer thread.
  void Apply(std::vector<NotificationChange> changes);

  // The alerts of one POST, as Alertmanager's API v2 takes them.
  static std::string Body(const std::vector<Notification>& notifications, const std::string& gateway_id,
                          double now, double resend_s);

  uint64_t posts_ok() const { return posts_ok_.load(std::memory_order_relaxed); }
  uint64_t posts_failed() const { return posts_failed_.load(std::memory_order_relaxed); }
  uint64_t resolves_dropped() const { return resolves_dropped_.load(std::memory_order_relaxed); }

 private:
  // What one URL is owed and how it has fared.
  struct Target {
    std::string url;
    std::map<std::string, bool> accepted;       // id -> resolved, as this URL last accepted it
    std::map<std::string, Notification> owed;   // resolves the desk forgot, kept while it is down
    double failing_since = 0;                   // 0: its last post succeeded
    bool down = false;
  };
  void Run();
  // Posts to each URL what it is owed; true when every URL took it.
  bool PostAll(const std::vector<Notification>& snapshot, double now);
  bool Post(Target& target, const std::vector<Notification>& alerts, double now);

  // Constant after construction
  const Options options_;
  const Delivered delivered_;
  const Clock clock_;

  Mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Notification> current_ GUARDED_BY(mu_);  // by incident id
  bool changed_ GUARDED_BY(mu_) = false;  // current_ has something not posted yet
  bool stop_ GUARDED_BY(mu_) = false;

  std::atomic<uint64_t> posts_ok_{0};
  std::atomic<uint64_t> posts_failed_{0};
  std::atomic<uint64_t> resolves_dropped_{0};
  DownHandler on_down_;

  // Owned by the forwarder thread.
  std::vector<Target> targets_;
  std::thread thread_;
};

}  // namespace dctwin
