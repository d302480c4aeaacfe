// bit_diff.h: how many output elements of two runs differ in any bit, and by how many ULPs at
// most (same-sign neighbours differ by 1 in their bit patterns), for the GPU-vs-emulator tests.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdlib>

#include "core/float_format.h"
#include "core/tensor.h"

namespace attn {

struct BitDiff {
  int64_t differ = 0, max_ulps = 0, total = 0;
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
  return d;
}

}  // namespace attn
