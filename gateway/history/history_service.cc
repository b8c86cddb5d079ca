#include "gateway/history/history_service.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <map>
#include <utility>
#include <vector>

#include "base/json_writer.h"
#include "base/thread_name.h"
#include "gateway/history/history_query.h"
#include "gateway/history/report.h"
#include "storage/rollup_codec.h"
#include "twins/silence.h"

namespace dctwin {

HistoryService::HistoryService(std::string state_path, std::string datacenter, std::function<double()> clock,
                               MessageSink& replies, DeadLetters& dead_letters, size_t max_requests)
    : state_path_(std::move(state_path)), datacenter_(std::move(datacenter)), clock_(std::move(clock)),
      replies_(replies), dead_letters_(dead_letters), max_requests_(max_requests) {}

HistoryService::~HistoryService() { Stop(); }

Status HistoryService::Start() {
  Status s = HistoryReader::Open(state_path_, 5000, &reader_);
  if (!s.ok()) return s;
  thread_ = std::thread([this] {
    NameThisThread("dctwin-history");
    Run();
  });
  return Status::Ok();
}

void HistoryService::Stop() {
  {
    MutexLock lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool HistoryService::Submit(HistoryRequest request) {
  {
    MutexLock lock(mu_);
    if (stop_ || requests_.size() >= max_requests_) return false;
    requests_.push_back(std::move(request));
  }
  wake_.notify_one();
  return true;
}

void HistoryService::Run() {
  for (;;) {
    HistoryRequest request;
    {
      MutexLock lock(mu_);
      while (!stop_ && requests_.empty()) wake_.wait(lock.native());
      if (stop_) return;
      request = std::move(requests_.front());
      requests_.pop_front();
    }
    if (!request.server.empty()) {
      AnswerSeries(request);
    } else if (request.report) {
      AnswerReport(request);
    } else {
      Answer(request);
    }
  }
}

void HistoryService::Reply(const HistoryRequest& request, std::string payload) {
  if (request.reply_topic.empty()) return;
  replies_.Publish(OutMessage{request.reply_topic, std::move(payload), 1, false, request.correlation});
}

void HistoryService::Refuse(const HistoryRequest& request, const std::string& error) {
  refused_.fetch_add(1, std::memory_order_relaxed);
  dead_letters_.Reject(RejectReason::kBadQuery, request.topic, error, request.payload);
  JsonWriter w;
  w.BeginObject().Field("ok", false).Field("error", error).EndObject();
  Reply(request, w.Take());
}

void HistoryService::AnswerReport(const HistoryRequest& request) {
  const double now = clock_();
  ReportQuery q;
  std::string error;
  if (!ParseReportQuery(request.payload, now, &q, &error)) return Refuse(request, error);
  ReportBuilder report(q, now, datacenter_);
  Status s = reader_->Spans(q.since, std::min(q.until, now), q.rack, [&](SpanRecord&& r) { report.Add(r); });
  if (!s.ok()) {
    spdlog::error("report failed: {}", s.ToString());
    JsonWriter w;
    w.BeginObject().Field("ok", false).Field("error", "the history cannot be read: " + s.message()).EndObject();
    return Reply(request, w.Take());
  }
  answered_.fetch_add(1, std::memory_order_relaxed);
  Reply(request, report.Json());
}

void HistoryService::AnswerSeries(const HistoryRequest& request) {
  const double now = clock_();
  SeriesQuery q;
  std::string error;
  if (!ParseSeriesQuery(request.payload, now, &q, &error)) return Refuse(request, error);
  std::map<uint32_t, std::string> names;
  std::map<std::string, std::vector<std::array<double, 6>>> series;
  std::vector<RollupValue> values;
  size_t bad = 0;
  Status s = reader_->MetricNames(&names);
  if (s.ok()) {
    // Every bucket that overlaps the period: the first may start before `since`.
    const double first = std::floor(q.since / q.period_s) * q.period_s;
    s = reader_->Rollups(request.server, q.period_s, first, q.until, [&](int64_t start, std::string_view data) {
      if (!DecodeRollup(data, &values)) {
        ++bad;
        return;
      }
      for (const RollupValue& v : values) {
        auto name = names.find(v.metric);
        if (name == names.end() || !MatchValue(q.metric, name->second)) continue;
        series[name->second].push_back({static_cast<double>(start), v.min, v.max, v.mean, v.last,
                                        static_cast<double>(v.count)});
      }
    });
  }
  if (!s.ok()) {
    spdlog::error("rollup query failed: {}", s.ToString());
    JsonWriter w;
    w.BeginObject().Field("ok", false).Field("error", "the rollups cannot be read: " + s.message()).EndObject();
    return Reply(request, w.Take());
  }
  if (bad > 0) spdlog::warn("{} rollup row(s) of server {} cannot be read; left out", bad, request.server);
  answered_.fetch_add(1, std::memory_order_relaxed);
  JsonWriter w;
  w.BeginObject()
      .Field("server", request.server)
      .Field("period", q.period_s == 60 ? "1m" : "1h")
      .Field("since", q.since)
      .Field("until", q.until)
      .Key("series")
      .BeginObject();
  for (const auto& [metric, points] : series) {
    w.Key(metric).BeginArray();
    for (const auto& p : points) {
      w.BeginArray().Int(static_cast<long long>(p[0])).Float(p[1]).Float(p[2]).Float(p[3]).Float(p[4]).Int(static_cast<long long>(p[5])).EndArray();
    }
    w.EndArray();
  }
  w.EndObject().EndObject();
  Reply(request, w.Take());
}

void HistoryService::Answer(const HistoryRequest& request) {
  HistoryQuery q;
  std::string error;
  if (!ParseHistoryQuery(request.payload, &q, &error)) return Refuse(request, error);
  std::vector<HistoryRecord> rows;
  bool more = false;
  Status s = reader_->Read(q.filter, q.after, q.limit, &rows, &more);
  if (!s.ok()) {
    spdlog::error("history query failed: {}", s.ToString());
    JsonWriter w;
    w.BeginObject().Field("ok", false).Field("error", "the history cannot be read: " + s.message()).EndObject();
    return Reply(request, w.Take());
  }
  answered_.fetch_add(1, std::memory_order_relaxed);
  Reply(request, HistoryAnswerJson(rows, more && !rows.empty() ? HistoryCursor(q.filter, rows.back().seq) : ""));
}

}  // namespace dctwin
