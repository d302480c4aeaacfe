// bit_diff.h: how many output elements of two runs differ in any bit, by how many element ULPs at
// most (same-sign neighbours differ by 1 in their bit patterns), and by how many row-scale ULPs
// (|a - b| / ulp(max |a| over the row of D)), for the GPU-vs-emulator tests. Element ULPs mislead
// on outputs near zero (cancellation across V): one ex2.approx difference in P moves the last bits
// of a tiny element by tens of its own ULPs while the row's error stays at a fraction of a ULP of
// the row's scale, which is what an accuracy statement is about.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cmath>
#include <cstdlib>

#include "core/float_format.h"
#include "core/tensor.h"

namespace attn {

struct BitDiff {
  int64_t differ = 0, max_ulps = 0, total = 0;
  double max_row_ulps = 0;  ///< max over rows of max |a - b| / ulp(max |a| in the row)
  double fraction() const { return total ? static_cast<double>(differ) / static_cast<double>(total) : 0.0; }
};

inline BitDiff bit_diff(const Tensor<double>& a, const Tensor<double>& b, DType dtype) {
  const FloatFormat& fmt = format_of(dtype);
  BitDiff d;
  d.total = a.numel();
  for (int64_t i = 0; i < a.numel(); ++i) {
    const int64_t ab = static_cast<int64_t>(encode_bits(a.flat(i), fmt)), bb = static_cast<int64_t>(encode_bits(b.flat(i), fmt));
    if (ab == bb) continue;
    ++d.differ;
    d.max_ulps = std::max<int64_t>(d.max_ulps, std::llabs(ab - bb));
  }
  const int64_t row = a.shape().empty() ? 1 : a.shape().back();
  for (int64_t r0 = 0; row > 0 && r0 < a.numel(); r0 += row) {
    double scale = 0, diff = 0;
    for (int64_t i = r0; i < r0 + row; ++i) {
      scale = std::max(scale, std::fabs(a.flat(i)));
      diff = std::max(diff, std::fabs(a.flat(i) - b.flat(i)));
    }
    d.max_row_ulps = std::max(d.max_row_ulps, diff / ulp_of(scale, fmt));
  }
  return d;
}

}  // namespace attn
