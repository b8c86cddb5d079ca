// MetricWindow: one server's reports over the last `window_s` seconds, by report timestamp.
//
// Rows are kept sorted by timestamp (a late report is placed where it belongs); rows older than
// the newest timestamp minus the window expire. The rows are held compressed, in blocks of up to
// kBlockRows rows, one byte string for the whole window:
//   block  = varint rows, varint body bytes, body
//   body   = timestamps, then one column per metric
//   timestamps: milliseconds; the first as a zigzag varint, each next one as the zigzag varint of
//               its delta-of-delta (reports at a steady interval cost one byte each)
//   column = a mode byte, then one token per row:
//     0..7   decimal: every value of the block is an integer times 10^-mode (as collectors print
//            them: 23.74, 0.1466, 312); a token is 0 for a missing value, else 1 + the zigzag of
//            the difference from the previous integer
//     0x80   raw: a bitmap of the rows with a value (a byte per 8 rows), then each value's float
//            bits (4 bytes, little-endian)
//     0x81   constant: every row has the same value, written once as its float bits (no tokens)
//     0xFF   the block holds no value of this metric (no tokens)
// Values are floats (as before compression); timestamps are exact to the millisecond.
//
// A new report appends to the last block (decoded and encoded again, at most kBlockRows rows);
// a late report, a new metric or a dropped metric rebuilds the whole window. Expiry drops whole
// blocks; the expired rows at the head of the first block are skipped (`skip_`) until the whole
// block goes. Reading decodes the window (queries, the stale-metric check).
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
  static constexpr size_t kBlockRows = 16;

  MetricWindow(double window_s, size_t max_rows, size_t max_metrics);

  // Adds one report. Metrics beyond max_metrics are ignored and counted in `dropped_metrics`.
  void Add(double ts, const std::vector<std::pair<std::string, double>>& metrics, size_t* dropped_metrics);

  bool empty() const { return rows_ == 0; }
  size_t rows() const { return rows_; }
  size_t metric_count() const { return columns_ == 0 ? 0 : columns_ - 1; }
  double newest_ts() const { return newest_ts_; }
  double oldest_ts() const;

  // The window has a column for `metric`.
  bool Has(std::string_view metric) const { return Column(metric) >= 0; }
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
  // The shape is consistent (names for every column, every block decodes, the row counts add
  // up): checked after decoding stored state.
  bool Consistent() const;
  // Bytes this window holds on the heap (for the memory budget).
  size_t HeapBytes() const;
  // Bytes of the compressed rows (for tests and benchmarks).
  size_t EncodedBytes() const { return blocks_.size(); }

  // Durable state, for storage/twin_codec (defined in twins/twin_serialization.h).
  template <class Archive>
  void serialize(Archive& ar, std::uint32_t version);

 private:
  // Decoded rows: timestamps in milliseconds and the values, row-major, `width` per row (NaN
  // where a report did not carry the metric).
  struct Rows {
    size_t width = 0;
    std::vector<int64_t> ms;
    std::vector<float> values;
    size_t size() const { return ms.size(); }
    const float* row(size_t r) const { return values.data() + r * width; }
  };

  int Column(std::string_view metric) const;
  template <class F>
  void ForEachName(F&& f) const {  // f(column, name)
    size_t column = 1;
    for (size_t at = 0; at < names_.size(); at += 1 + static_cast<unsigned char>(names_[at]), ++column) {
      f(column, std::string_view(names_).substr(at + 1, static_cast<unsigned char>(names_[at])));
    }
  }
  // Appends the rows of the block at `at` to `out` (only the timestamps when `values` is false);
  // the offset of the next block in `next`. False when the bytes do not decode.
  bool DecodeBlock(size_t at, bool values, Rows* out, size_t* next) const;
  // The window's rows (without the skipped ones).
  bool DecodeAll(Rows* out) const;
  // Replaces the blocks with `rows`.
  void EncodeAll(const Rows& rows);
  static void EncodeBlock(const Rows& rows, size_t begin, size_t end, std::vector<uint8_t>* out);
  void Expire();
  // Finds last_block_ after the blocks were loaded (as far as they decode).
  void FindLastBlock();
  // Converts the rows of format version 1 and 2 (a float array: offset from base_ts, values).
  void FromFloatRows(const std::vector<float>& data, size_t columns, double base_ts);

  // Constant after construction
  double window_s_;
  size_t max_rows_;
  size_t max_metrics_;

  // The metric names of columns 1..n, packed: for each, one length byte and the name. One small
  // string instead of a vector of strings saves some 200 bytes per twin.
  std::string names_;
  std::vector<uint8_t> blocks_;  // the compressed rows, oldest block first
  size_t columns_ = 0;           // 1 + the number of metrics, 0 while empty
  double newest_ts_ = 0;
  uint32_t rows_ = 0;            // rows in the window (not counting skipped ones)
  uint32_t last_block_ = 0;      // offset of the last block in blocks_
  uint16_t skip_ = 0;            // expired rows still at the head of the first block
};

}  // namespace dctwin
