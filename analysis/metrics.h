// metrics.h: the error metrics of DESIGN.md ("Metrics"), in the output dtype's terms.
#pragma once

#include <cstdint>
#include <vector>

#include "core/float_format.h"
#include "core/tensor.h"

namespace attn {

struct ErrorMetrics {
  double max_abs = 0;    ///< max |O - X| (users' max_diff)
  double mean_abs = 0;
  double rmse = 0;
  double rel_fro = 0;    ///< ||O - X||_F / ||X||_F
  double ulp_max = 0;    ///< max |O - X| / ulp_T(X)
  double ulp_p99 = 0;
  std::vector<int64_t> ulp_histogram;  ///< bins: [0,0.5), [0.5,1), [1,2), [2,4), ... [2^k, inf)
  int64_t nan_count = 0; ///< NaN in O where X is finite
  int64_t inf_count = 0;
  int64_t count = 0;     ///< elements compared
  int64_t argmax_flat = -1;  ///< flat index of max_abs
};

/// Metrics of `output` (in `dtype`) against `truth` (same shape). NaN/Inf are counted, never
/// skipped: a non-finite element makes max_abs/rmse infinite.
ErrorMetrics compute_metrics(const Tensor<double>& output, const Tensor<double>& truth, DType dtype);

/// The rounding floor: metrics of round_T(truth) against truth — the error of a perfect kernel.
ErrorMetrics rounding_floor(const Tensor<double>& truth, DType dtype);

/// A kernel's metrics with its floor, excess and the same-precision baseline (FlashAttention rule).
struct PrecisionReport {
  ErrorMetrics kernel;
  ErrorMetrics floor;
  double excess = 0;          ///< kernel.rmse / floor.rmse (1.0 is the physical limit)
  ErrorMetrics baseline;      ///< same-precision naive baseline vs truth
  double fa_rule_ratio = 0;   ///< kernel.max_abs / (baseline.max_abs + 1e-5): pass when <= 2
};

}  // namespace attn
