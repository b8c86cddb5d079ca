// ControlDesk: the twins' desired state, as operators and automations change it and servers report
// it (contract v3, "Control"). It owns the ControlBook (twins/control.h) and is a commit stage of
// the store writer, like the IncidentDesk: a change, its history row, its documents and its
// P/control/<server> and P/twin/server/<id> messages go into one transaction, and the answer
// waits for that commit. A kill -9 loses no answered change, and a version is never handed out
// twice: the version counter is committed with the change.
//
// What the control state keeps open on a server (`control`, `drift`, `automation`) is told to its
// twin after the commit (ControlCondition), so that it is an incident like any other: in the
// server's health, its rack's correlation, the alerts and Alertmanager.
//
// Threads: Submit() and the counters from any thread; everything else on the store writer's
// thread (or before it starts: Restore()).
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>
#include <string>
#include <utility>
#include <vector>

#include <simdjson.h>

#include "base/thread_annotations.h"
#include "gateway/mqtt/message_sink.h"
#include "gateway/publish/dead_letters.h"
#include "base/json_writer.h"
#include "storage/state_store.h"
#include "storage/status.h"
#include "storage/store_writer.h"
#include "twins/control.h"
#include "twins/messages.h"

namespace dctwin {

struct ControlRequest {
  // kQueryRack: P/query/twin/rack/<rack>, every server of a rack in short (the page's rack view).
  enum class Type : uint8_t { kDesired, kReported, kQueryTwin, kQueryRack };
  Type type = Type::kQueryTwin;
  std::string server;  // kReported, kQueryTwin: from the topic; kQueryRack: the rack
  std::string payload;
  std::string reply_topic;  // empty: nobody waits for an answer
  std::string correlation;
};

class ControlDesk : public CommitStage {
 public:
  struct Options {
    std::string prefix = "dctwin";
    size_t max_requests = 100000;  // waiting for the writer thread; more are refused
    // false on pods: a request about a server another pod holds is that pod's to answer.
    bool answer_unknown = true;
  };
  using Clock = std::function<double()>;
  // A condition for a server twin, posted once the change behind it is committed.
  using ConditionSink = std::function<void(const std::string& server, ControlCondition)>;
  // Refusals of bad reports (dead letters).
  using RejectSink = std::function<void(RejectReason reason, const std::string& topic, const std::string& detail,
                                        const std::string& payload)>;

  ControlDesk(Options options, ControlOptions control, MessageSink& replies, Clock clock, Clock mono);

  void SetWake(std::function<void()> wake) { wake_ = std::move(wake); }
  void SetConditionSink(ConditionSink sink) { conditions_ = std::move(sink); }
  void SetRejectSink(RejectSink sink) { reject_ = std::move(sink); }
  // Stamps a history row's time: shared with the incident desk, so that times never step back.
  void SetHistoryStamp(std::function<double(double)> stamp) { stamp_ = std::move(stamp); }

  // Before the writer starts: the documents of the last run and the commissioned servers
  // (server, rack). Every server with control state is told its conditions again at the first
  // commit (a crash may have come between the desk's commit and the twin's).
  Status Restore(StateStore& store, const std::vector<std::pair<std::string, std::string>>& servers);

  // Any thread. false: too many requests wait (refused and counted). Changes and queries wake the
  // writer; servers' reports wait for its next round (state.flush_interval_ms).
  bool Submit(ControlRequest request);

  uint64_t changes_accepted() const { return accepted_.load(std::memory_order_relaxed); }
  uint64_t changes_refused() const { return refused_.load(std::memory_order_relaxed); }
  uint64_t reports_applied() const { return reports_applied_.load(std::memory_order_relaxed); }
  uint64_t reports_unchanged() const { return reports_unchanged_.load(std::memory_order_relaxed); }
  uint64_t reports_stale() const { return reports_stale_.load(std::memory_order_relaxed); }
  uint64_t reports_refused() const { return reports_refused_.load(std::memory_order_relaxed); }
  uint64_t requests_refused() const { return requests_refused_.load(std::memory_order_relaxed); }
  int64_t pending() const { return pending_.load(std::memory_order_relaxed); }
  int64_t drained() const { return drained_.load(std::memory_order_relaxed); }

  // Writer thread: the shards' events of one batch, in order (automation and the drained set
  // follow them).
  void OnIncidents(std::vector<IncidentEvent>& events, const std::vector<ProvisioningChange>& provisioning,
                   double now, double received);
  // CommitStage (writer thread).
  void Poll(double now) override;
  void Contribute(StoreBatch& batch) override;
  void Committed(double now) override;

 private:
  void Handle(ControlRequest& r, double now);
  void HandleDesired(const ControlRequest& r, double now);
  void HandleReported(const ControlRequest& r, double now);
  // Applies an accepted change's consequences: documents, messages, history.
  void Changed(const std::string& server, const ControlChange& change, double now);
  // The server's state changed: its document, P/twin/server/<id>, and P/control/<id> when what the
  // server must do changed; its incidents when they changed.
  void Publish(const std::string& server);
  void Automate(const IncidentEvent& e, double now);
  // A history row of type control about `server`: {"at", "level", "subject", "server", "rack",
  // "change": kind, ...what `fields` writes}.
  void Remember(const std::string& server, const std::string& kind, const std::function<void(JsonWriter&)>& fields,
                double now);
  void Reply(const ControlRequest& r, std::string payload);
  void ReplyError(const ControlRequest& r, const std::string& error, const std::string& interlock = {});
  void Outbox(std::string topic, std::string payload);
  void UpdateCounts();

  std::string TwinJson(const std::string& server, const ServerControl* s) const;
  std::string RackJson(const std::string& rack) const;
  std::string ControlJson(const ServerControl& s) const;

  // Constant after construction
  const Options options_;
  MessageSink& replies_sink_;
  const Clock clock_;
  const Clock mono_;
  std::function<void()> wake_;
  ConditionSink conditions_;
  RejectSink reject_;
  std::function<double(double)> stamp_;

  Mutex mu_;
  std::vector<ControlRequest> requests_ GUARDED_BY(mu_);

  std::atomic<uint64_t> accepted_{0}, refused_{0}, reports_applied_{0}, reports_unchanged_{0}, reports_stale_{0},
      reports_refused_{0}, requests_refused_{0};
  std::atomic<int64_t> pending_{0}, drained_{0};

  // Owned by the writer thread.
  ControlBook book_;
  std::map<std::string, std::string> published_control_;  // server -> the P/control payload last committed
  simdjson::dom::parser parser_;  // one for every request: its buffers are kept
  // The hash of each server's last report that was applied or changed nothing: the same bytes
  // again (an agent repeating its state) change nothing, without being parsed.
  std::unordered_map<std::string, size_t> last_report_;
  // Automations an interlock refused: server -> the incident ids that asked (their automation
  // incident resolves when they have all resolved).
  std::map<std::string, std::set<std::string>> refused_automation_;
  // Waiting for the next commit.
  std::vector<OutboxRecord> outbox_;
  std::map<std::string, std::optional<std::string>> docs_;  // server -> body (nullopt: delete)
  std::vector<HistoryRecord> history_;
  std::vector<OutMessage> replies_;
  std::vector<std::pair<std::string, ControlCondition>> told_;  // conditions for the twins
};

}  // namespace dctwin
