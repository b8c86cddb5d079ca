// Histogram buckets as the gateway keeps them: an array of upper bounds, ascending, and one count
// per bound plus one for +Inf. Rendered for Prometheus by gateway/ops/counters.cc.
#pragma once

#include <cstddef>

namespace dctwin {

// The bucket that holds `value`: the first bound not below it, or N (the +Inf bucket).
template <size_t N>
constexpr size_t BucketOf(const double (&bounds)[N], double value) {
  size_t b = 0;
  while (b < N && value > bounds[b]) ++b;
  return b;
}

}  // namespace dctwin
