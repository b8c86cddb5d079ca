#include "gateway/incidents/alertmanager_forwarder.h"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cmath>
#include <ctime>
#include <algorithm>
#include <set>

#include "base/json_writer.h"
#include "base/thread_name.h"

namespace dctwin {

namespace {

// RFC 3339 in UTC with milliseconds, as Alertmanager reads it.
std::string Rfc3339(double t) {
  const auto secs = static_cast<time_t>(std::floor(t));
  const int ms = static_cast<int>(std::lround((t - std::floor(t)) * 1000)) % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
  return buf;
}

}  // namespace

AlertmanagerForwarder::AlertmanagerForwarder(Options options, Delivered delivered, Clock clock)
    : options_(std::move(options)), delivered_(std::move(delivered)), clock_(std::move(clock)) {
  for (const std::string& url : options_.urls) targets_.push_back(Target{url, {}, {}, 0, false});
}

AlertmanagerForwarder::~AlertmanagerForwarder() { Stop(); }

void AlertmanagerForwarder::Start() {
  thread_ = std::thread([this] {
    NameThisThread("dctwin-alertmgr");
    Run();
  });
}

void AlertmanagerForwarder::Stop() {
  {
    MutexLock lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void AlertmanagerForwarder::Update(std::vector<Notification> notifications) {
  {
    MutexLock lock(mu_);
    current_.clear();
    for (Notification& n : notifications) {
      std::string id = n.incident.id;
      current_.insert_or_assign(std::move(id), std::move(n));
    }
    whole_ = true;
  }
  cv_.notify_all();
}

void AlertmanagerForwarder::Apply(std::vector<NotificationChange> changes) {
  {
    MutexLock lock(mu_);
    for (NotificationChange& c : changes) {
      changed_.insert(c.id);
      if (c.notification) {
        current_.insert_or_assign(std::move(c.id), std::move(*c.notification));
      } else {
        current_.erase(c.id);
      }
    }
  }
  cv_.notify_all();
}

std::string AlertmanagerForwarder::Body(const std::vector<Notification>& notifications,
                                        const std::string& gateway_id, double now, double resend_s) {
  JsonWriter w;
  w.BeginArray();
  for (const Notification& n : notifications) {
    const IncidentEvent& e = n.incident;
    w.BeginObject();
    w.Key("labels").BeginObject();
    w.Field("alertname", e.kind).Field("level", LevelName(e.level)).Field("subject", e.subject);
    if (!e.rack.empty()) w.Field("rack", e.rack);
    w.Field("datacenter", e.datacenter).Field("severity", SeverityName(e.severity)).Field("gateway", gateway_id);
    if (e.level == Level::kServer) w.Field("server", e.subject);
    w.EndObject();
    w.Key("annotations").BeginObject();
    w.Field("summary", e.summary).Field("incident_id", e.id);
    if (!e.runbook.empty()) w.Field("runbook_url", e.runbook);
    w.EndObject();
    w.Field("startsAt", Rfc3339(e.opened_at));
    // Firing: valid for three resends, so an alert whose gateway died resolves by itself.
    w.Field("endsAt", Rfc3339(n.resolved_at > 0 ? n.resolved_at : now + 3 * resend_s));
    w.EndObject();
  }
  w.EndArray();
  return w.Take();
}

bool AlertmanagerForwarder::Post(Target& t, const std::vector<Notification>& alerts, double now) {
  httplib::Client client(t.url);
  const auto timeout = std::chrono::duration<double>(options_.timeout_s);
  client.set_connection_timeout(std::chrono::duration_cast<std::chrono::microseconds>(timeout));
  client.set_read_timeout(std::chrono::duration_cast<std::chrono::microseconds>(timeout));
  client.set_write_timeout(std::chrono::duration_cast<std::chrono::microseconds>(timeout));
  auto res = client.Post("/api/v2/alerts", Body(alerts, options_.gateway_id, now, options_.resend_s), "application/json");
  alerts_posted_.fetch_add(alerts.size(), std::memory_order_relaxed);
  if (res && res->status == 200) {
    posts_ok_.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  const uint64_t n = posts_failed_.fetch_add(1, std::memory_order_relaxed) + 1;
  // One line per power of two: an Alertmanager outage must not flood the log.
  if ((n & (n - 1)) == 0) {
    spdlog::error("Alertmanager {}: posting {} alert(s) failed ({}); retrying ({} failures so far)", t.url,
                  alerts.size(),
                  res ? "HTTP " + std::to_string(res->status) + ": " + res->body : httplib::to_string(res.error()), n);
  }
  return false;
}

bool AlertmanagerForwarder::PostAll(const std::vector<Notification>& snapshot, double now) {
  bool all = true;
  bool down_changed = false;
  for (Target& t : targets_) {
    // Firing ones always (a whole post renews them); resolves this URL has not taken yet.
    std::vector<Notification> alerts;
    for (const Notification& n : snapshot) {
      auto it = t.accepted.find(n.incident.id);
      if (n.resolved_at > 0 && it != t.accepted.end() && it->second) continue;
      alerts.push_back(n);
    }
    for (const auto& [id, n] : t.owed) alerts.push_back(n);
    if (alerts.empty()) continue;
    if (Post(t, alerts, now)) {
      for (const Notification& n : alerts) t.accepted[n.incident.id] = n.resolved_at > 0;
      t.owed.clear();
      t.failing_since = 0;
      if (t.down) {
        t.down = false;
        down_changed = true;
        spdlog::warn("Alertmanager {} takes alerts again", t.url);
      }
      continue;
    }
    all = false;
    if (t.failing_since == 0) t.failing_since = now;
    if (!t.down && now - t.failing_since >= options_.down_after_s) {
      t.down = true;
      down_changed = true;
      spdlog::error("Alertmanager {} has failed for {:.0f} s: it is down; the others are not kept waiting for it",
                    t.url, now - t.failing_since);
    }
  }
  if (down_changed && on_down_) {
    std::vector<std::string> down;
    for (const Target& t : targets_) {
      if (t.down) down.push_back(t.url);
    }
    on_down_(down);
  }
  return all;
}

void AlertmanagerForwarder::Run() {
  double next_resend = 0;
  double retry_s = 1;
  MutexLock lock(mu_);
  while (!stop_) {
    const double now = clock_();
    // The whole list when a resend is due (or a post failed); else what changed, if anything.
    const bool whole = whole_ || now >= next_resend;
    if (!whole && changed_.empty()) {
      cv_.wait_for(lock.native(), std::chrono::duration<double>(std::min(next_resend - now, 1.0)));
      continue;
    }
    // O(what is posted) on this thread, never on the desk's.
    std::vector<Notification> alerts;
    if (whole) {
      alerts.reserve(current_.size());
      for (const auto& [id, n] : current_) alerts.push_back(n);
    } else {
      for (const std::string& id : changed_) {
        if (auto it = current_.find(id); it != current_.end()) alerts.push_back(it->second);
      }
    }
    changed_.clear();
    whole_ = false;
    lock.Unlock();
    bool ok = true;
    if (!alerts.empty() || std::any_of(targets_.begin(), targets_.end(), [](const Target& t) { return !t.owed.empty(); })) {
      ok = PostAll(alerts, now);
    }
    std::vector<std::string> delivered = TakenByAll(alerts);
    if (whole) Tidy(alerts);
    if (!ok) {
      // The whole list goes again after a backoff (what failed, and what that URL may have lost);
      // changes meanwhile still go at once to the URLs that take them.
      next_resend = clock_() + std::min(retry_s, options_.resend_s);
      retry_s = std::min(retry_s * 2, 30.0);
    } else if (whole) {
      next_resend = clock_() + options_.resend_s;
      retry_s = 1;
    }
    if (!delivered.empty()) delivered_(std::move(delivered));
    lock.Lock();
  }
}

std::vector<std::string> AlertmanagerForwarder::TakenByAll(const std::vector<Notification>& alerts) {
  std::vector<std::string> delivered;
  for (const Notification& n : alerts) {
    if (n.resolved_at <= 0) continue;
    bool taken = true;
    for (const Target& t : targets_) {
      auto it = t.accepted.find(n.incident.id);
      if (!t.down && (it == t.accepted.end() || !it->second)) taken = false;
    }
    if (!taken) continue;
    delivered.push_back(n.incident.id);
    for (Target& t : targets_) {
      auto it = t.accepted.find(n.incident.id);
      if (t.down && (it == t.accepted.end() || !it->second)) t.owed.emplace(n.incident.id, n);
    }
  }
  for (Target& t : targets_) {
    while (t.owed.size() > options_.max_owed_per_url) {
      auto oldest = std::min_element(t.owed.begin(), t.owed.end(), [](const auto& a, const auto& b) {
        return a.second.resolved_at < b.second.resolved_at;
      });
      t.owed.erase(oldest);
      resolves_dropped_.fetch_add(1, std::memory_order_relaxed);
    }
  }
  return delivered;
}

void AlertmanagerForwarder::Tidy(const std::vector<Notification>& whole) {
  std::set<std::string> listed;
  for (const Notification& n : whole) listed.insert(n.incident.id);
  // What the desk no longer lists and this URL is not owed is forgotten.
  for (Target& t : targets_) {
    for (auto it = t.accepted.begin(); it != t.accepted.end();) {
      it = listed.count(it->first) > 0 ? std::next(it) : t.accepted.erase(it);
    }
  }
}

}  // namespace dctwin
