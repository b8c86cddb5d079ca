// MetricWindow: one server's reports over the last `window_s` seconds, by report timestamp.
// Rows are kept sorted by timestamp (a late report is placed where it belongs); rows older than
// the newest timestamp minus the window expire. Storage is one flat float array, row-major:
// [dt, v(metric 0), v(metric 1), ...] with dt the timestamp relative to base_ts_, and NaN for a
// metric a report did not carry. At a 10 s interval with 8 metrics a full 15-minute window is
// 90 rows x 9 floats = 3,240 bytes.
//
// Not thread-safe; part of a ServerTwin.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dctwin {

// One metric's samples over the window, oldest first: (timestamp, value).
struct MetricSeries {
  std::string metric;
  std::vector<std::pair<double, double>> points;
};

struct MetricSummary {
  std::string metric;
  double last = 0;  // value at the newest timestamp that carried the metric
  double min = 0;
  double max = 0;
  double mean = 0;
  double stddev = 0;
  uint32_t samples = 0;
};

class MetricWindow {
 public:
  MetricWindow(double window_s, size_t max_rows, size_t max_metrics);

  // Adds one report. Metrics beyond max_metrics are ignored and counted in `dropped_metrics`.
  void Add(double ts, const std::vector<std::pair<std::string, double>>& metrics, size_t* dropped_metrics);

  bool empty() const { return rows() == 0; }
  size_t rows() const { return columns_ == 0 ? 0 : data_.size() / columns_; }
  size_t metric_count() const { return columns_ == 0 ? 0 : columns_ - 1; }
  double newest_ts() const { return newest_ts_; }
  double oldest_ts() const;

  // Summary of one metric over the window; false when the window holds no sample of it.
  bool Summarize(std::string_view metric, MetricSummary* out) const;
  std::vector<MetricSummary> SummarizeAll() const;
  // Every metric's samples, oldest first.
  std::vector<MetricSeries> Series() const;
  // Timestamp of the newest sample of `metric`; false when the window holds none.
  bool LastSeen(std::string_view metric, double* ts) const;
  // Every metric with its newest sample's timestamp.
  std::vector<std::pair<std::string, double>> LastSeenAll() const;
  // Drops a metric's column (it stopped being reported); rows left without any metric go too.
  void RemoveMetric(std::string_view metric);
  // The newest sample of `metric` strictly before `ts`.
  bool Previous(std::string_view metric, double ts, double* prev_ts, double* prev_value) const;
  // The shape is consistent (names for every column, whole rows): checked after decoding.
  bool Consistent() const;
  // Bytes this window holds on the heap (for the memory budget).
  size_t HeapBytes() const;

  // Durable state, for storage/twin_codec (defined in twins/twin_serialization.h).
  template <class Archive>
  void serialize(Archive& ar, std::uint32_t version);

 private:
  int Column(std::string_view metric) const;
  template <class F>
  void ForEachName(F&& f) const {  // f(column, name)
    size_t column = 1;
    for (size_t at = 0; at < names_.size(); at += 1 + static_cast<unsigned char>(names_[at]), ++column) {
      f(column, std::string_view(names_).substr(at + 1, static_cast<unsigned char>(names_[at])));
    }
  }
  void Expire();
  void Rebase(double ts);
  void Reserve(size_t floats);

  // Constant after construction
  double window_s_;
  size_t max_rows_;
  size_t max_metrics_;

  // The metric names of columns 1..n, packed: for each, one length byte and the name. One small
  // string instead of a vector of strings saves some 200 bytes per twin.
  std::string names_;
  std::vector<float> data_;         // row-major, columns_ floats per row
  size_t columns_ = 0;              // 1 + names_.size(), 0 while empty
  double base_ts_ = 0;
  double newest_ts_ = 0;
};

}  // namespace dctwin
