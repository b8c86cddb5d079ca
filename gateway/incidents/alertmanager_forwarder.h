// AlertmanagerForwarder: posts the incidents the IncidentDesk says Alertmanager should hold to
// /api/v2/alerts of every configured URL: the whole list every resend_s (firing ones with an
// endsAt three resends ahead, so a gateway that dies leaves nothing firing for ever), and between
// resends only what changed (a new open, a resolve), so that a change costs O(changes) however
// many incidents are open; resolved ones go with their endsAt until that URL has accepted them.
// A post that fails makes the next one, soon after, a whole one. What is owed is kept per URL: a resolve is
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
#include <set>
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
  // Alerts in all posts so far (one alert posted to two URLs counts twice).
  uint64_t alerts_posted() const { return alerts_posted_.load(std::memory_order_relaxed); }

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
  // Posts to each URL what it is owed of `alerts` (the whole list, or what changed); true when
  // every URL took it.
  bool PostAll(const std::vector<Notification>& alerts, double now);
  // Resolves every URL that is up took go back to the desk; a URL that is down keeps its own copy.
  std::vector<std::string> TakenByAll(const std::vector<Notification>& alerts);
  // After a whole post: owed resolves bounded, and what the desk no longer lists forgotten.
  void Tidy(const std::vector<Notification>& whole);
  bool Post(Target& target, const std::vector<Notification>& alerts, double now);

  // Constant after construction
  const Options options_;
  const Delivered delivered_;
  const Clock clock_;

  Mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Notification> current_ GUARDED_BY(mu_);  // by incident id
  std::set<std::string> changed_ GUARDED_BY(mu_);  // ids of current_ (or gone from it) not posted since
  bool whole_ GUARDED_BY(mu_) = true;  // the next post is the whole list (Update(), a failure)
  bool stop_ GUARDED_BY(mu_) = false;

  std::atomic<uint64_t> posts_ok_{0};
  std::atomic<uint64_t> posts_failed_{0};
  std::atomic<uint64_t> resolves_dropped_{0};
  std::atomic<uint64_t> alerts_posted_{0};
  DownHandler on_down_;

  // Owned by the forwarder thread.
  std::vector<Target> targets_;
  std::thread thread_;
};

}  // namespace dctwin
