// multiprecision_truth.h: the multiprecision end of the reference chain.
//  - mpfr_attention: the plain two-pass reference (attention_row.h, ascending order) in
//    Boost.Multiprecision mpfr_float at a chosen working precision (default 128 bits);
//    multithreaded over (batch, query head). Cost measured on the 2-core build machine:
//    ~0.14 us per multiply-add per thread at 128 bits (S = 512, D = 128, causal, one head:
//    4.6 s), i.e. ~1e3 x the FP64 reference; S = 8192, D = 128, causal, 8 heads would take
//    about an hour on 2 threads — which is why compute_truth certifies FP64 first, states the
//    MPFR cost up front and refuses it beyond a limit (truth.h).
//  - certify_rows / certify_row: a proven enclosure (MPFI interval arithmetic, the C API with
//    preallocated intervals) of every output element and of the LSE of query rows. Same formula,
//    with the subtracted max replaced by a point value (softmax does not depend on it
//    mathematically, so any point keeps the enclosure exact); MPFI's exp/log/+/*// are outward
//    rounded, so the interval contains the exact attention of the (exactly representable) inputs
//    with the double scale. A long row is split into chunks of keys whose partial sums are added
//    afterwards (interval sums are valid in any order), so a few rows still use every core.
// Not the truth policy itself: compute_truth (truth.h) decides when FP64 is enough.
#pragma once

#include <cstdint>
#include <vector>

#include "core/generators.h"
#include "core/kernel.h"
#include "core/problem.h"
#include "references/progress.h"

namespace attn {

/// A proven enclosure of one query row's outputs, as doubles: [lower, upper] rounded outward,
/// and midpoint (nearest double to the interval's midpoint) with a radius rounded up such that
/// every point of the interval lies within radius of the double midpoint.
struct RowEnclosure {
  std::vector<double> o_lower, o_upper;  ///< head_dim each
  std::vector<double> o_mid, o_radius;   ///< head_dim each
  std::vector<double> o_half_width;      ///< the interval's own half-width (rounded up), head_dim each
  double lse_lower = 0, lse_upper = 0;   ///< -inf, -inf for a fully masked row
  bool fully_masked = false;
};

/// Enclosures of the rows `rows` (flat indices (b * H_q + h) * S_q + i, as spread_rows gives)
/// with MPFI at `bits` bits (>= 53), on `threads` threads (<= 0: every core). `progress` (may be
/// empty) gets a line now and then on long rows. Throws ProblemError for a row outside the problem.
std::vector<RowEnclosure> certify_rows(const Problem& problem, const AttentionInputs& inputs,
                                       const std::vector<int64_t>& rows, int bits = 128, int threads = 0,
                                       const ProgressCallback& progress = {});

/// Enclosure of row (b, h, i) with MPFI at `bits` bits of working precision (>= 53).
RowEnclosure certify_row(const Problem& problem, const AttentionInputs& inputs, int64_t b, int64_t h, int64_t i,
                         int bits = 128);

/// The whole attention in mpfr_float at `bits` bits, returned rounded to double (o, lse;
/// out_dtype fp64). Bit-identical to full_attention<mpfr_float> at the same precision.
AttentionOutputs mpfr_attention(const Problem& problem, const AttentionInputs& inputs, int bits = 128,
                                int threads = 0, const ProgressCallback& progress = {});

/// Query-key pairs the problem's masks leave visible (sum over rows of their key counts).
int64_t visible_pairs(const Problem& problem);

/// Estimated wall seconds of mpfr_attention at `bits` bits on `threads` threads (<= 0: every
/// core), from the measured ~0.14 us per multiply-add per thread at 128 bits (scaled linearly
/// with the precision above 128 bits). An estimate to state and to refuse on, not a promise.
double mpfr_attention_seconds_estimate(const Problem& problem, int bits = 128, int threads = 0);

/// Flat indices r = (b * H_q + h) * S_q + i of `count` rows spread evenly over [B, H_q, S_q],
/// always the first and the last row when count >= 1 (fewer if the problem has fewer rows).
std::vector<int64_t> spread_rows(const Problem& problem, int count);

}  // namespace attn
