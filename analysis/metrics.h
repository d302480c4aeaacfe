// metrics.h: the error metrics of DESIGN.md ("Metrics"), in the output dtype's terms.
#pragma once

#include <array>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "core/float_format.h"
#include "core/tensor.h"

namespace attn {

/// Edges of ErrorMetrics::ulp_histogram in ULPs of the output dtype: bin i counts elements with
/// error in [edges[i], edges[i+1]); the last bin, [64, inf), also counts NaN/Inf elements.
inline constexpr std::array<double, 10> kUlpHistogramEdges{
    0, 0.5, 1, 2, 4, 8, 16, 32, 64, std::numeric_limits<double>::infinity()};
inline constexpr int kUlpHistogramBins = static_cast<int>(kUlpHistogramEdges.size()) - 1;

struct ErrorMetrics {
  double max_abs = 0;    ///< max |O - X| (users' max_diff)
  double mean_abs = 0;
  double rmse = 0;
  double rel_fro = 0;    ///< ||O - X||_F / ||X||_F
  double ulp_max = 0;    ///< max |O - X| / ulp_T(X)
  double ulp_p99 = 0;
  /// max |O - X| in ULPs of the row's scale (the largest |X| of the row's D elements, the last
  /// dimension): what "1 ULP off" means to a reader where element ULPs mislead (near-zero outputs
  /// make an element's own ULP tiny and its ULP error huge for a kernel that is fine).
  double row_ulp_max = 0;
  std::vector<int64_t> ulp_histogram;  ///< kUlpHistogramBins bins with kUlpHistogramEdges
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

/// The FlashAttention test rule (flash-attention's own tests): a kernel passes when its max error
/// against the truth is at most `factor` x the max error of a same-precision baseline on the same
/// inputs, plus `slack` (so that an exact baseline does not demand an exact kernel). This is the
/// one definition of the bound, the ratio and the verdict: run, sweep, incremental, bench, gate,
/// reports and tests all call fa_rule().
struct FaRule {
  double factor = 2.0;   ///< k: kernel error <= k x baseline error + slack
  double slack = 1e-5;
};
inline constexpr FaRule kDefaultFaRule{};

struct FaRuleVerdict {
  double bound = 0;   ///< factor x baseline_max_abs + slack
  double ratio = 0;   ///< kernel_max_abs / bound: the rule holds at <= 1 (infinite for NaN/Inf)
  bool pass = false;  ///< ratio <= 1 and the output is finite
};

/// Max |a - b| over two outputs of the same shape, a NaN anywhere making it infinite (a poisoned,
/// unwritten element can never pass): the error the FlashAttention rule is applied to where no
/// dtype-aware metrics are needed (the GPU tests, the decode bench's correctness gate).
double max_abs_error(const Tensor<double>& a, const Tensor<double>& b);

/// Verdict of the rule for a kernel error, a baseline error and whether the kernel's output is
/// finite. A NaN error (or a NaN/negative baseline, or a non-finite output) never passes.
FaRuleVerdict fa_rule(double kernel_max_abs, double baseline_max_abs, bool output_finite,
                      const FaRule& rule = kDefaultFaRule);
/// Same, from metrics: the output is finite when it has no NaN/Inf element.
FaRuleVerdict fa_rule(const ErrorMetrics& kernel, const ErrorMetrics& baseline, const FaRule& rule = kDefaultFaRule);
/// "max_abs <= 2 x baseline + 1e-05": the rule as a sentence, for reports and messages.
std::string fa_rule_text(const FaRule& rule = kDefaultFaRule);

/// Root mean square of a - b (same shapes; a NaN anywhere makes it NaN, which fails every check).
double rmse_between(const Tensor<double>& a, const Tensor<double>& b);

/// The FP8 kernels' check. E4M3 (3 significand bits) errs far past the 16-bit FlashAttention rule,
/// so an FP8 kernel is held to its emulator, which applies the same quantization (scales, E4M3
/// casts, rotation) exactly: the GPU may differ from it only by the FP8 tensor-core model's
/// residual (the model is not bit-exact: rmse(out - emulator) <= 0.25 rmse(emulator - truth)) and
/// may not be less accurate than it (rmse(out - truth) <= 1.1 rmse(emulator - truth)). A wrong
/// layout, scale or permutation errs by the size of O and fails both. `floor` absorbs rows that
/// see one key (exact in every pipeline). Used by test_gpu "[fp8]" and `attnscope bench`.
struct Fp8Agreement {
  double rmse_kernel = 0;    ///< rmse(out - truth)
  double rmse_emulator = 0;  ///< rmse(emulator - truth)
  double rmse_gap = 0;       ///< rmse(out - emulator)
  bool pass = false;
};
Fp8Agreement fp8_agreement(const Tensor<double>& out, const Tensor<double>& emulator, const Tensor<double>& truth,
                           double floor = 1e-6);

}  // namespace attn
