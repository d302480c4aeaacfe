// max_abs_error.h: the error measure of the GPU kernel tests' FlashAttention rule — max |a - b|
// over two outputs, a NaN anywhere making it infinite (a poisoned, unwritten element can never
// pass). Not the metrics of analysis/metrics.h (which count NaNs apart).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "core/tensor.h"

namespace attn {

/// Max |a - b| over O, ignoring nothing: a NaN anywhere makes the error infinite.
inline double max_abs_error(const Tensor<double>& a, const Tensor<double>& b) {
  double worst = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    const double d = std::fabs(a.flat(i) - b.flat(i));
    if (std::isnan(d)) return INFINITY;
    worst = std::max(worst, d);
  }
  return worst;
}

}  // namespace attn
