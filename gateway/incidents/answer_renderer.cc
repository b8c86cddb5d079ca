#include "gateway/incidents/answer_renderer.h"

#include <utility>

namespace dctwin {

std::string RenderJob::Join() const {
  size_t size = head.size() + tail.size() + parts.size();
  for (const auto& p : parts) size += p->size();
  std::string out;
  out.reserve(size);
  out += head;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out += ',';
    out += *parts[i];
  }
  out += tail;
  return out;
}

AnswerRenderer::AnswerRenderer(MessageSink& sink, size_t max_jobs)
    : sink_(sink), max_jobs_(max_jobs), thread_([this] { Run(); }) {}

AnswerRenderer::~AnswerRenderer() { Stop(); }

bool AnswerRenderer::Submit(RenderJob job) {
  {
    MutexLock lock(mu_);
    if (stop_ || jobs_.size() >= max_jobs_) return false;
    jobs_.push_back(std::move(job));
  }
  cv_.notify_one();
  return true;
}

void AnswerRenderer::Stop() {
  {
    MutexLock lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void AnswerRenderer::Run() {
  MutexLock lock(mu_);
  for (;;) {
    while (!stop_ && jobs_.empty()) cv_.wait(lock.native());
    if (jobs_.empty()) return;  // stopping, and everything went out
    RenderJob job = std::move(jobs_.front());
    jobs_.pop_front();
    lock.Unlock();
    OutMessage reply = std::move(job.reply);
    reply.payload = job.Join();
    sink_.Publish(std::move(reply));
    lock.Lock();
  }
}

}  // namespace dctwin
