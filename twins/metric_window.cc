#include "twins/metric_window.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace dctwin {

namespace {
constexpr float kMissing = std::numeric_limits<float>::quiet_NaN();
}

MetricWindow::MetricWindow(double window_s, size_t max_rows, size_t max_metrics)
    : window_s_(window_s), max_rows_(max_rows), max_metrics_(max_metrics) {}

int MetricWindow::Column(std::string_view metric) const {
  int found = -1;
  ForEachName([&](size_t column, std::string_view name) {
    if (found < 0 && name == metric) found = static_cast<int>(column);
  });
  return found;
}

double MetricWindow::oldest_ts() const { return empty() ? 0 : base_ts_ + static_cast<double>(data_[0]); }

void MetricWindow::Reserve(size_t floats) {
  // Grow by eight rows, not by doubling: a window settles at a steady number of rows, and its
  // capacity should stay within a few rows of that.
  if (floats <= data_.capacity()) return;
  data_.reserve(std::max(floats, data_.capacity() + columns_ * 8));
}

void MetricWindow::Rebase(double ts) {
  // Offsets are floats; keep them small (seconds within the window) so they stay exact to ms.
  const double delta = ts - base_ts_;
  for (size_t r = 0; r < rows(); ++r) data_[r * columns_] = static_cast<float>(data_[r * columns_] - delta);
  base_ts_ = ts;
}

void MetricWindow::Add(double ts, const std::vector<std::pair<std::string, double>>& metrics,
                       size_t* dropped_metrics) {
  if (columns_ == 0) {
    columns_ = 1;
    base_ts_ = ts;
    newest_ts_ = ts;
  }
  // Each metric's column, found once: one pass over the names when the report lists its metrics
  // in the order the window first saw them (the usual case), a search for the others.
  int small[64];
  std::vector<int> large;
  int* column = small;
  if (metrics.size() > 64) {
    large.resize(metrics.size());
    column = large.data();
  }
  {
    size_t at = 0, next = 1;  // the name after the last one found, and its column
    for (size_t i = 0; i < metrics.size(); ++i) {
      const std::string& name = metrics[i].first;
      if (at < names_.size() && std::string_view(names_).substr(at + 1, static_cast<unsigned char>(names_[at])) == name) {
        column[i] = static_cast<int>(next);
      } else {
        column[i] = Column(name);
        if (column[i] < 0) continue;
        // Re-seat the cursor on the column found.
        at = 0;
        for (int c = 1; c < column[i]; ++c) at += 1 + static_cast<unsigned char>(names_[at]);
        next = static_cast<size_t>(column[i]);
      }
      at += 1 + static_cast<unsigned char>(names_[at]);
      ++next;
    }
  }
  // New metrics widen every row.
  for (size_t i = 0; i < metrics.size(); ++i) {
    if (column[i] >= 0) continue;
    const std::string& name = metrics[i].first;
    // The same new name twice in one report: the second takes the first's new column.
    bool twice = false;
    for (size_t k = 0; k < i && !twice; ++k) {
      if (metrics[k].first == name && column[k] >= 0) {
        column[i] = column[k];
        twice = true;
      }
    }
    if (twice) continue;
    if (metric_count() >= max_metrics_ || name.size() > 255) {
      if (dropped_metrics != nullptr) ++*dropped_metrics;
      continue;
    }
    column[i] = static_cast<int>(columns_);
    names_ += static_cast<char>(name.size());
    names_ += name;
    const size_t old_cols = columns_;
    const size_t n = rows();
    ++columns_;
    std::vector<float> widened;
    widened.reserve(std::max(data_.capacity() / old_cols * columns_, n * columns_));
    for (size_t r = 0; r < n; ++r) {
      widened.insert(widened.end(), data_.begin() + static_cast<std::ptrdiff_t>(r * old_cols),
                     data_.begin() + static_cast<std::ptrdiff_t>((r + 1) * old_cols));
      widened.push_back(kMissing);
    }
    data_.swap(widened);
  }
  if (std::fabs(ts - base_ts_) > window_s_ * 4) Rebase(ts);
  newest_ts_ = std::max(newest_ts_, ts);

  // Place the row by timestamp; equal timestamps keep arrival order.
  const auto dt = static_cast<float>(ts - base_ts_);
  size_t pos = rows();
  while (pos > 0 && data_[(pos - 1) * columns_] > dt) --pos;
  Reserve(data_.size() + columns_);
  data_.insert(data_.begin() + static_cast<std::ptrdiff_t>(pos * columns_), columns_, kMissing);
  float* row = &data_[pos * columns_];
  row[0] = dt;
  for (size_t i = 0; i < metrics.size(); ++i) {
    if (column[i] > 0) row[column[i]] = static_cast<float>(metrics[i].second);
  }
  Expire();
}

void MetricWindow::Expire() {
  const double cutoff = newest_ts_ - window_s_;
  size_t drop = 0;
  const size_t n = rows();
  while (drop < n && base_ts_ + static_cast<double>(data_[drop * columns_]) < cutoff) ++drop;
  if (n - drop > max_rows_) drop = n - max_rows_;
  if (drop > 0) data_.erase(data_.begin(), data_.begin() + static_cast<std::ptrdiff_t>(drop * columns_));
}

bool MetricWindow::Summarize(std::string_view metric, MetricSummary* out) const {
  const int c = Column(metric);
  if (c < 0) return false;
  out->metric = std::string(metric);
  out->samples = 0;
  double sum = 0, sum_sq = 0;
  for (size_t r = 0; r < rows(); ++r) {
    const float* row = &data_[r * columns_];
    const float v = row[c];
    if (std::isnan(v)) continue;
    const double d = v;
    if (out->samples == 0) {
      out->min = out->max = d;
    } else {
      out->min = std::min(out->min, d);
      out->max = std::max(out->max, d);
    }
    out->last = d;
    sum += d;
    sum_sq += d * d;
    ++out->samples;
  }
  if (out->samples == 0) return false;
  const double n = out->samples;
  out->mean = sum / n;
  out->stddev = std::sqrt(std::max(0.0, sum_sq / n - out->mean * out->mean));
  return true;
}

std::vector<MetricSummary> MetricWindow::SummarizeAll() const {
  std::vector<MetricSummary> out;
  ForEachName([&](size_t, std::string_view name) {
    MetricSummary s;
    if (Summarize(name, &s)) out.push_back(std::move(s));
  });
  return out;
}

bool MetricWindow::LastSeen(std::string_view metric, double* ts) const {
  const int c = Column(metric);
  if (c < 0) return false;
  for (size_t r = rows(); r > 0; --r) {
    const float* row = &data_[(r - 1) * columns_];
    if (std::isnan(row[c])) continue;
    *ts = base_ts_ + static_cast<double>(row[0]);
    return true;
  }
  return false;
}

std::vector<std::pair<std::string, double>> MetricWindow::LastSeenAll() const {
  std::vector<std::pair<std::string, double>> out;
  ForEachName([&](size_t c, std::string_view name) {
    for (size_t r = rows(); r > 0; --r) {
      const float* row = &data_[(r - 1) * columns_];
      if (std::isnan(row[c])) continue;
      out.emplace_back(std::string(name), base_ts_ + static_cast<double>(row[0]));
      return;
    }
    out.emplace_back(std::string(name), 0);  // no sample left in the window
  });
  return out;
}

void MetricWindow::RemoveMetric(std::string_view metric) {
  const int c = Column(metric);
  if (c < 0) return;
  // The name: find its entry in the packed names.
  size_t at = 0;
  ForEachName([&](size_t column, std::string_view name) {
    if (static_cast<int>(column) == c) at = static_cast<size_t>(name.data() - names_.data()) - 1;
  });
  names_.erase(at, 1 + static_cast<unsigned char>(names_[at]));
  const size_t old_cols = columns_;
  const size_t n = rows();
  std::vector<float> narrowed;
  narrowed.reserve(n * (old_cols - 1));
  for (size_t r = 0; r < n; ++r) {
    const float* row = &data_[r * old_cols];
    bool any = false;
    for (size_t k = 1; k < old_cols; ++k) any = any || (static_cast<int>(k) != c && !std::isnan(row[k]));
    if (!any) continue;  // a row that only carried this metric
    for (size_t k = 0; k < old_cols; ++k) {
      if (static_cast<int>(k) != c) narrowed.push_back(row[k]);
    }
  }
  columns_ = old_cols - 1;
  data_ = std::move(narrowed);
  if (columns_ <= 1) {
    columns_ = 0;
    data_.clear();
    names_.clear();
  }
}

std::vector<MetricSeries> MetricWindow::Series() const {
  std::vector<MetricSeries> out;
  ForEachName([&](size_t c, std::string_view name) {
    MetricSeries s;
    s.metric = std::string(name);
    for (size_t r = 0; r < rows(); ++r) {
      const float* row = &data_[r * columns_];
      if (!std::isnan(row[c])) s.points.emplace_back(base_ts_ + static_cast<double>(row[0]), row[c]);
    }
    if (!s.points.empty()) out.push_back(std::move(s));
  });
  return out;
}

bool MetricWindow::Previous(std::string_view metric, double ts, double* prev_ts, double* prev_value) const {
  const int c = Column(metric);
  if (c < 0) return false;
  const auto t = static_cast<float>(ts - base_ts_);
  for (size_t r = rows(); r > 0; --r) {
    const float* row = &data_[(r - 1) * columns_];
    if (row[0] >= t || std::isnan(row[c])) continue;
    *prev_ts = base_ts_ + static_cast<double>(row[0]);
    *prev_value = row[c];
    return true;
  }
  return false;
}

bool MetricWindow::Consistent() const {
  size_t names = 0, end = 0;
  ForEachName([&](size_t, std::string_view name) {
    ++names;
    end = static_cast<size_t>(name.data() - names_.data()) + name.size();
  });
  if (end != names_.size()) return false;  // a length byte points past the end
  if (columns_ == 0) return names == 0 && data_.empty();
  return names + 1 == columns_ && data_.size() % columns_ == 0;
}

size_t MetricWindow::HeapBytes() const {
  return data_.capacity() * sizeof(float) + (names_.capacity() > 15 ? names_.capacity() + 1 : 0);
}

}  // namespace dctwin
