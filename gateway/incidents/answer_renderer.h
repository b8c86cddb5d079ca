// AnswerRenderer: joins a long list answer (P/query/incidents with thousands of records) on a
// thread of its own, so that the store writer's thread only collects the page's records. Each
// record's JSON was rendered when the record last changed and is shared here, not copied; this
// thread concatenates and publishes. What waits is bounded: past max_jobs an answer is refused
// (the caller answers "busy").
//
// Threads: Submit() from any thread; joining and publishing on its own; Stop() (and the
// destructor) publish what waits, then join.
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "base/thread_annotations.h"
#include "gateway/mqtt/message_sink.h"

namespace dctwin {

struct RenderJob {
  std::string head;                                    // up to the first record
  std::vector<std::shared_ptr<const std::string>> parts;  // the records' JSON, joined by commas
  std::string tail;                                    // after the last record
  OutMessage reply;                                    // topic, correlation; the payload is built here

  // The whole answer (on whatever thread calls it).
  std::string Join() const;
};

class AnswerRenderer {
 public:
  AnswerRenderer(MessageSink& sink, size_t max_jobs);
  ~AnswerRenderer();
  // false: max_jobs wait already.
  bool Submit(RenderJob job);
  void Stop();

 private:
  void Run();

  MessageSink& sink_;
  const size_t max_jobs_;
  Mutex mu_;
  std::condition_variable cv_;
  std::deque<RenderJob> jobs_ GUARDED_BY(mu_);
  bool stop_ GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace dctwin
