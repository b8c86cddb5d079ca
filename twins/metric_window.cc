#include "twins/metric_window.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace dctwin {

namespace {

constexpr float kMissing = std::numeric_limits<float>::quiet_NaN();
constexpr uint8_t kRaw = 0x80;
constexpr uint8_t kConstant = 0x81;
constexpr uint8_t kNone = 0xFF;
constexpr int kMaxDecimals = 7;
constexpr double kPow10[kMaxDecimals + 1] = {1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7};
// Integers of a decimal column stay within what a double holds exactly.
constexpr double kMaxScaled = 9007199254740992.0;  // 2^53
// Timestamps are clamped to +-2^50 ms (35,000 years) so that deltas of deltas cannot overflow.
constexpr int64_t kMaxMs = int64_t{1} << 50;

uint64_t ZigZag(int64_t v) { return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63); }
int64_t UnZigZag(uint64_t v) { return static_cast<int64_t>(v >> 1) ^ -static_cast<int64_t>(v & 1); }

int64_t ToMs(double ts) {
  const double ms = std::round(ts * 1000);
  if (!(ms > -static_cast<double>(kMaxMs))) return -kMaxMs;  // also NaN
  if (ms > static_cast<double>(kMaxMs)) return kMaxMs;
  return static_cast<int64_t>(ms);
}
double FromMs(int64_t ms) { return static_cast<double>(ms) / 1000; }

void PutVarint(uint64_t v, std::vector<uint8_t>* out) {
  while (v >= 0x80) {
    out->push_back(static_cast<uint8_t>(v | 0x80));
    v >>= 7;
  }
  out->push_back(static_cast<uint8_t>(v));
}

size_t VarintBytes(uint64_t v) {
  size_t n = 1;
  for (; v >= 0x80; v >>= 7) ++n;
  return n;
}

uint32_t FloatBits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, sizeof b);
  return b;
}
float BitsFloat(uint32_t b) {
  float f;
  std::memcpy(&f, &b, sizeof f);
  return f;
}

// Reads what PutVarint wrote, never past `end`; `ok` turns false at the first bad byte.
struct Reader {
  const uint8_t* p;
  const uint8_t* end;
  bool ok = true;
  uint64_t Varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p == end) break;
      const uint8_t b = *p++;
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if ((b & 0x80) == 0) return v;
    }
    ok = false;
    return 0;
  }
  uint8_t Byte() {
    if (p == end) {
      ok = false;
      return 0;
    }
    return *p++;
  }
};

// How column `c` of rows [begin, end) is written: kNone when it has no value there, kConstant
// when every row has the same value, else the fewest decimals that give back every value, else
// kRaw.
uint8_t ColumnMode(const float* values, size_t width, size_t c, size_t begin, size_t end) {
  const float first = values[begin * width + c];
  bool constant = !std::isnan(first);
  for (size_t r = begin + 1; r < end && constant; ++r) constant = FloatBits(values[r * width + c]) == FloatBits(first);
  if (constant) return kConstant;
  bool any = false;
  for (int e = 0; e <= kMaxDecimals; ++e) {
    bool fits = true;
    for (size_t r = begin; r < end && fits; ++r) {
      const float v = values[r * width + c];
      if (std::isnan(v)) continue;
      any = true;
      const double scaled = static_cast<double>(v) * kPow10[e];
      if (!(std::fabs(scaled) < kMaxScaled)) return kRaw;  // also infinity
      fits = static_cast<float>(std::round(scaled) / kPow10[e]) == v;
    }
    if (!any) return kNone;
    if (fits) {
      // Many decimals of a float with few digits: the raw bytes may be the shorter.
      size_t decimal = 0, raw = (end - begin + 7) / 8;
      int64_t last = 0;
      for (size_t r = begin; r < end; ++r) {
        const float v = values[r * width + c];
        if (std::isnan(v)) {
          ++decimal;
          continue;
        }
        const auto q = static_cast<int64_t>(std::round(static_cast<double>(v) * kPow10[e]));
        decimal += VarintBytes(ZigZag(q - last) + 1);
        raw += 4;
        last = q;
      }
      return decimal < raw ? static_cast<uint8_t>(e) : kRaw;
    }
  }
  return kRaw;
}

}  // namespace

MetricWindow::MetricWindow(double window_s, size_t max_rows, size_t max_metrics)
    : window_s_(window_s), max_rows_(std::max<size_t>(1, max_rows)), max_metrics_(max_metrics) {}

int MetricWindow::Column(std::string_view metric) const {
  int found = -1;
  ForEachName([&](size_t column, std::string_view name) {
    if (found < 0 && name == metric) found = static_cast<int>(column);
  });
  return found;
}

void MetricWindow::EncodeBlock(const Rows& rows, size_t begin, size_t end, std::vector<uint8_t>* out) {
  thread_local std::vector<uint8_t> body;
  body.clear();
  int64_t prev = 0, prev_delta = 0;
  for (size_t r = begin; r < end; ++r) {
    if (r == begin) {
      PutVarint(ZigZag(rows.ms[r]), &body);
    } else {
      const int64_t delta = rows.ms[r] - prev;
      PutVarint(ZigZag(delta - prev_delta), &body);
      prev_delta = delta;
    }
    prev = rows.ms[r];
  }
  const float* values = rows.values.data();
  for (size_t c = 0; c < rows.width; ++c) {
    const uint8_t mode = ColumnMode(values, rows.width, c, begin, end);
    body.push_back(mode);
    if (mode == kNone) continue;
    if (mode == kConstant) {
      PutVarint(FloatBits(values[begin * rows.width + c]), &body);
      continue;
    }
    if (mode == kRaw) {
      // A bitmap of the rows with a value, then each value's four bytes.
      for (size_t r = begin; r < end; r += 8) {
        uint8_t bits = 0;
        for (size_t k = r; k < std::min(end, r + 8); ++k) bits |= std::isnan(values[k * rows.width + c]) ? 0 : 1 << (k - r);
        body.push_back(bits);
      }
      for (size_t r = begin; r < end; ++r) {
        const float v = values[r * rows.width + c];
        if (std::isnan(v)) continue;
        const uint32_t b = FloatBits(v);
        for (int k = 0; k < 4; ++k) body.push_back(static_cast<uint8_t>(b >> (8 * k)));
      }
      continue;
    }
    int64_t last = 0;
    for (size_t r = begin; r < end; ++r) {
      const float v = values[r * rows.width + c];
      if (std::isnan(v)) {
        body.push_back(0);
      } else {
        const auto q = static_cast<int64_t>(std::round(static_cast<double>(v) * kPow10[mode]));
        PutVarint(ZigZag(q - last) + 1, &body);
        last = q;
      }
    }
  }
  PutVarint(end - begin, out);
  PutVarint(body.size(), out);
  out->insert(out->end(), body.begin(), body.end());
}

bool MetricWindow::DecodeBlock(size_t at, bool values, Rows* out, size_t* next) const {
  Reader in{blocks_.data() + at, blocks_.data() + blocks_.size()};
  const uint64_t n = in.Varint();
  const uint64_t length = in.Varint();
  if (!in.ok || n == 0 || n > kBlockRows || length > static_cast<uint64_t>(in.end - in.p)) return false;
  const uint8_t* body_end = in.p + length;
  in.end = body_end;
  *next = static_cast<size_t>(body_end - blocks_.data());
  const size_t first = out->size();
  int64_t prev = 0, prev_delta = 0;
  for (uint64_t r = 0; r < n; ++r) {
    const int64_t v = UnZigZag(in.Varint());
    int64_t ms = v;
    if (r > 0) {
      prev_delta += v;
      ms = prev + prev_delta;
    }
    if (ms < -kMaxMs || ms > kMaxMs || (r > 0 && ms < prev)) return false;
    out->ms.push_back(ms);
    prev = ms;
  }
  if (!in.ok) return false;
  if (!values) return true;
  const size_t width = columns_ - 1;
  out->width = width;
  out->values.resize((first + n) * width, kMissing);
  for (size_t c = 0; c < width; ++c) {
    const uint8_t mode = in.Byte();
    if (!in.ok || (mode > kMaxDecimals && mode != kRaw && mode != kConstant && mode != kNone)) return false;
    if (mode == kNone) continue;
    if (mode == kConstant) {
      const uint64_t bits = in.Varint();
      if (!in.ok || bits > 0xffffffffu) return false;
      for (uint64_t r = 0; r < n; ++r) out->values[(first + r) * width + c] = BitsFloat(static_cast<uint32_t>(bits));
      continue;
    }
    if (mode == kRaw) {
      uint8_t present[(kBlockRows + 7) / 8];
      for (uint64_t r = 0; r < n; r += 8) present[r / 8] = in.Byte();
      for (uint64_t r = 0; r < n && in.ok; ++r) {
        if ((present[r / 8] & (1 << (r % 8))) == 0) continue;
        uint32_t b = 0;
        for (int k = 0; k < 4; ++k) b |= static_cast<uint32_t>(in.Byte()) << (8 * k);
        out->values[(first + r) * width + c] = BitsFloat(b);
      }
      if (!in.ok) return false;
      continue;
    }
    int64_t last = 0;
    for (uint64_t r = 0; r < n; ++r) {
      const uint64_t token = in.Varint();
      if (!in.ok) return false;
      if (token == 0) continue;
      last += UnZigZag(token - 1);
      if (!(std::fabs(static_cast<double>(last)) < kMaxScaled)) return false;
      out->values[(first + r) * width + c] = static_cast<float>(static_cast<double>(last) / kPow10[mode]);
    }
  }
  return in.p == body_end;
}

bool MetricWindow::DecodeAll(Rows* out) const {
  out->width = metric_count();
  out->ms.clear();
  out->values.clear();
  size_t at = 0, next = 0;
  while (at < blocks_.size()) {
    if (!DecodeBlock(at, true, out, &next)) return false;
    at = next;
  }
  if (out->size() < skip_) return false;
  out->ms.erase(out->ms.begin(), out->ms.begin() + skip_);
  out->values.erase(out->values.begin(), out->values.begin() + static_cast<std::ptrdiff_t>(skip_ * out->width));
  return true;
}

void MetricWindow::EncodeAll(const Rows& rows) {
  std::vector<uint8_t> blocks;
  last_block_ = 0;
  for (size_t begin = 0; begin < rows.size(); begin += kBlockRows) {
    last_block_ = static_cast<uint32_t>(blocks.size());
    EncodeBlock(rows, begin, std::min(rows.size(), begin + kBlockRows), &blocks);
  }
  blocks.shrink_to_fit();
  blocks_.swap(blocks);
  rows_ = static_cast<uint32_t>(rows.size());
  skip_ = 0;
}

double MetricWindow::oldest_ts() const {
  if (empty()) return 0;
  Rows first;
  size_t next = 0;
  if (!DecodeBlock(0, false, &first, &next) || first.size() <= skip_) return 0;
  return FromMs(first.ms[skip_]);
}

void MetricWindow::Add(double ts, const std::vector<std::pair<std::string, double>>& metrics,
                       size_t* dropped_metrics) {
  if (columns_ == 0) {
    columns_ = 1;
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
  // New metrics get new columns.
  const size_t old_width = metric_count();
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
    ++columns_;
  }
  const size_t width = metric_count();
  newest_ts_ = std::max(newest_ts_, ts);
  const int64_t ms = ToMs(ts);

  thread_local Rows rows;
  rows.width = width;
  rows.ms.clear();
  rows.values.clear();
  size_t next = 0;
  // The last block, decoded once: the report goes after its newest row in the usual case.
  const bool appends =
      width == old_width && (rows_ == 0 || (DecodeBlock(last_block_, true, &rows, &next) && ms >= rows.ms.back()));
  size_t start = 0;  // where the rewritten blocks begin
  if (appends) {
    // The usual case: the report goes after the newest row, into the last block or a new one.
    if (rows_ > 0) {
      start = last_block_;
      if (rows.size() >= kBlockRows) {
        rows.ms.clear();
        rows.values.clear();
        start = blocks_.size();
      }
    }
    rows.width = width;
  } else {
    // A late report or a new metric: the whole window again.
    Rows old;
    DecodeAll(&old);
    rows.ms = std::move(old.ms);
    rows.values.assign(rows.ms.size() * width, kMissing);
    for (size_t r = 0; r < rows.ms.size(); ++r) {
      std::copy(old.row(r), old.row(r) + old_width, rows.values.begin() + static_cast<std::ptrdiff_t>(r * width));
    }
  }
  // Place the row by timestamp; equal timestamps keep arrival order.
  const size_t pos = static_cast<size_t>(std::upper_bound(rows.ms.begin(), rows.ms.end(), ms) - rows.ms.begin());
  rows.ms.insert(rows.ms.begin() + static_cast<std::ptrdiff_t>(pos), ms);
  rows.values.insert(rows.values.begin() + static_cast<std::ptrdiff_t>(pos * width), width, kMissing);
  float* row = rows.values.data() + pos * width;
  for (size_t i = 0; i < metrics.size(); ++i) {
    if (column[i] > 0) row[column[i] - 1] = static_cast<float>(metrics[i].second);
  }
  if (appends) {
    thread_local std::vector<uint8_t> block;
    block.clear();
    EncodeBlock(rows, 0, rows.size(), &block);
    const size_t needed = start + block.size();
    // Grow by a little, not by doubling: a window settles at a steady size, and its capacity
    // should stay within a few rows of that.
    if (needed > blocks_.capacity()) blocks_.reserve(needed + 64);
    blocks_.resize(start);
    blocks_.insert(blocks_.end(), block.begin(), block.end());
    last_block_ = static_cast<uint32_t>(start);
    ++rows_;
  } else {
    EncodeAll(rows);
  }
  Expire();
}

void MetricWindow::Expire() {
  const int64_t cutoff = ToMs(newest_ts_ - window_s_);
  while (!blocks_.empty()) {
    Rows first;
    size_t next = 0;
    if (!DecodeBlock(0, false, &first, &next)) return;
    size_t k = skip_;
    while (k < first.size() && (first.ms[k] < cutoff || rows_ > max_rows_)) {
      ++k;
      --rows_;
    }
    if (k < first.size()) {
      skip_ = static_cast<uint16_t>(k);
      return;
    }
    blocks_.erase(blocks_.begin(), blocks_.begin() + static_cast<std::ptrdiff_t>(next));
    last_block_ = blocks_.empty() ? 0 : static_cast<uint32_t>(last_block_ - next);
    skip_ = 0;
  }
}

bool MetricWindow::Summarize(std::string_view metric, MetricSummary* out) const {
  const int c = Column(metric);
  if (c < 0) return false;
  Rows rows;
  if (!DecodeAll(&rows)) return false;
  out->metric = std::string(metric);
  out->samples = 0;
  double sum = 0, sum_sq = 0;
  for (size_t r = 0; r < rows.size(); ++r) {
    const float v = rows.row(r)[c - 1];
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
  Rows rows;
  if (!DecodeAll(&rows)) return false;
  for (size_t r = rows.size(); r > 0; --r) {
    if (std::isnan(rows.row(r - 1)[c - 1])) continue;
    *ts = FromMs(rows.ms[r - 1]);
    return true;
  }
  return false;
}

std::vector<std::pair<std::string, double>> MetricWindow::LastSeenAll() const {
  std::vector<std::pair<std::string, double>> out;
  Rows rows;
  if (!DecodeAll(&rows)) return out;
  ForEachName([&](size_t c, std::string_view name) {
    for (size_t r = rows.size(); r > 0; --r) {
      if (std::isnan(rows.row(r - 1)[c - 1])) continue;
      out.emplace_back(std::string(name), FromMs(rows.ms[r - 1]));
      return;
    }
    out.emplace_back(std::string(name), 0);  // no sample left in the window
  });
  return out;
}

void MetricWindow::RemoveMetric(std::string_view metric) {
  const int c = Column(metric);
  if (c < 0) return;
  Rows old;
  if (!DecodeAll(&old)) return;
  // The name: find its entry in the packed names.
  size_t at = 0;
  ForEachName([&](size_t column, std::string_view name) {
    if (static_cast<int>(column) == c) at = static_cast<size_t>(name.data() - names_.data()) - 1;
  });
  names_.erase(at, 1 + static_cast<unsigned char>(names_[at]));
  const size_t old_width = old.width;
  Rows rows;
  rows.width = old_width - 1;
  for (size_t r = 0; r < old.size(); ++r) {
    const float* row = old.row(r);
    bool any = false;
    for (size_t k = 0; k < old_width; ++k) any = any || (static_cast<int>(k) != c - 1 && !std::isnan(row[k]));
    if (!any) continue;  // a row that only carried this metric
    rows.ms.push_back(old.ms[r]);
    for (size_t k = 0; k < old_width; ++k) {
      if (static_cast<int>(k) != c - 1) rows.values.push_back(row[k]);
    }
  }
  columns_ -= 1;
  if (columns_ <= 1) {
    columns_ = 0;
    blocks_.clear();
    blocks_.shrink_to_fit();
    names_.clear();
    rows_ = 0;
    skip_ = 0;
    last_block_ = 0;
    return;
  }
  EncodeAll(rows);
}

std::vector<MetricSeries> MetricWindow::Series() const {
  std::vector<MetricSeries> out;
  Rows rows;
  if (!DecodeAll(&rows)) return out;
  ForEachName([&](size_t c, std::string_view name) {
    MetricSeries s;
    s.metric = std::string(name);
    for (size_t r = 0; r < rows.size(); ++r) {
      const float v = rows.row(r)[c - 1];
      if (!std::isnan(v)) s.points.emplace_back(FromMs(rows.ms[r]), v);
    }
    if (!s.points.empty()) out.push_back(std::move(s));
  });
  return out;
}

bool MetricWindow::Previous(std::string_view metric, double ts, double* prev_ts, double* prev_value) const {
  const int c = Column(metric);
  if (c < 0) return false;
  Rows rows;
  if (!DecodeAll(&rows)) return false;
  const int64_t t = ToMs(ts);
  for (size_t r = rows.size(); r > 0; --r) {
    const float v = rows.row(r - 1)[c - 1];
    if (rows.ms[r - 1] >= t || std::isnan(v)) continue;
    *prev_ts = FromMs(rows.ms[r - 1]);
    *prev_value = v;
    return true;
  }
  return false;
}

void MetricWindow::FindLastBlock() {
  last_block_ = 0;
  size_t at = 0, next = 0;
  while (at < blocks_.size()) {
    Rows rows;
    if (!DecodeBlock(at, false, &rows, &next)) return;
    last_block_ = static_cast<uint32_t>(at);
    at = next;
  }
}

bool MetricWindow::Consistent() const {
  size_t names = 0, end = 0;
  ForEachName([&](size_t, std::string_view name) {
    ++names;
    end = static_cast<size_t>(name.data() - names_.data()) + name.size();
  });
  if (end != names_.size()) return false;  // a length byte points past the end
  if (columns_ == 0) return names == 0 && blocks_.empty() && rows_ == 0 && skip_ == 0;
  if (names + 1 != columns_) return false;
  if (blocks_.empty()) return rows_ == 0 && skip_ == 0 && last_block_ == 0;  // every row expired or removed
  // Every block decodes with this many columns, and the rows add up.
  Rows rows;
  size_t at = 0, next = 0, last = 0;
  while (at < blocks_.size()) {
    const size_t before = rows.size();
    if (!DecodeBlock(at, true, &rows, &next)) return false;
    if (before > 0 && rows.ms[before] < rows.ms[before - 1]) return false;  // blocks out of order
    last = at;
    at = next;
  }
  return last == last_block_ && rows.size() == static_cast<size_t>(rows_) + skip_ && skip_ < rows.size() &&
         rows_ > 0;
}

size_t MetricWindow::HeapBytes() const {
  return blocks_.capacity() + (names_.capacity() > 15 ? names_.capacity() + 1 : 0);
}

void MetricWindow::FromFloatRows(const std::vector<float>& data, size_t columns, double base_ts) {
  columns_ = columns;
  if (columns == 0) {
    // An empty window (a server commissioned that never reported): consistent when nothing else
    // is there.
    if (!data.empty()) columns_ = names_.empty() ? 2 : 0;
    blocks_.clear();
    return;
  }
  if (data.size() % columns != 0) {
    // Not whole rows: leave the window inconsistent, so that the decoder refuses the state.
    columns_ = columns + 2;
    blocks_.clear();
    return;
  }
  Rows rows;
  rows.width = columns - 1;
  for (size_t r = 0; r < data.size() / columns; ++r) {
    rows.ms.push_back(ToMs(base_ts + static_cast<double>(data[r * columns])));
    rows.values.insert(rows.values.end(), data.begin() + static_cast<std::ptrdiff_t>(r * columns + 1),
                       data.begin() + static_cast<std::ptrdiff_t>((r + 1) * columns));
  }
  EncodeAll(rows);
}

}  // namespace dctwin
