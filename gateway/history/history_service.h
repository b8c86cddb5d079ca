// HistoryService: answers P/query/history on a thread and a database connection of its own, so
// that a long page never holds up a commit or the shards, and a busy writer never holds up a page.
// What a commit wrote is visible to the next request (the desk publishes an event only after its
// commit, so a client that saw an event finds it in the history).
//
// Threads: Submit() and the counters from any thread; everything else on the service's thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "base/thread_annotations.h"
#include "gateway/mqtt/message_sink.h"
#include "gateway/publish/dead_letters.h"
#include "storage/history_reader.h"
#include "storage/status.h"

namespace dctwin {

struct HistoryRequest {
  bool report = false;  // P/query/report; else P/query/history (or, with `server`, its rollups)
  std::string topic;    // where it was asked (for the dead letter of a bad one)
  std::string payload;
  std::string reply_topic;
  std::string correlation;
  std::string server;  // P/query/server/<id> with "series": "1m" | "1h"
};

class HistoryService {
 public:
  // `clock`: the gateway's wall clock (the end of a report's period defaults to it).
  HistoryService(std::string state_path, std::string datacenter, std::function<double()> clock, MessageSink& replies,
                 DeadLetters& dead_letters, size_t max_requests = 1000);
  ~HistoryService();
  // Opens the reader (after the store has created the schema) and starts the thread.
  Status Start();
  void Stop();
  // false: max_requests wait already (the asker is told it is busy).
  bool Submit(HistoryRequest request);

  uint64_t answered() const { return answered_.load(std::memory_order_relaxed); }
  uint64_t refused() const { return refused_.load(std::memory_order_relaxed); }

 private:
  void Run();
  void Answer(const HistoryRequest& request);
  void AnswerReport(const HistoryRequest& request);
  void AnswerSeries(const HistoryRequest& request);
  void Refuse(const HistoryRequest& request, const std::string& error);
  void Reply(const HistoryRequest& request, std::string payload);

  const std::string state_path_;
  const std::string datacenter_;
  const std::function<double()> clock_;
  MessageSink& replies_;
  DeadLetters& dead_letters_;
  const size_t max_requests_;
  std::unique_ptr<HistoryReader> reader_;  // the thread's

  Mutex mu_;
  std::condition_variable wake_;
  std::deque<HistoryRequest> requests_ GUARDED_BY(mu_);
  bool stop_ GUARDED_BY(mu_) = false;

  std::atomic<uint64_t> answered_{0};
  std::atomic<uint64_t> refused_{0};
  std::thread thread_;
};

}  // namespace dctwin
