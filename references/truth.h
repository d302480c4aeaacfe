// truth.h: the ground truth every error is measured against (DESIGN.md, "Truth"): the exact
// attention of the quantized inputs. FP64 (Eigen, multithreaded) is used where a certified MPFI
// enclosure shows it is within 1e-3 ULP of the output dtype; otherwise multiprecision (MPFR).
// The check is recorded in the result, never assumed.
#pragma once

#include <string>

#include "core/kernel.h"

namespace attn {

struct TruthOptions {
  int mpfr_bits = 128;            ///< multiprecision working precision
  int certify_rows = 8;           ///< rows (spread over batch/heads/positions) certified with MPFI
  double max_fp64_gap_ulps = 1e-3;///< FP64 accepted as truth only below this gap (in output-dtype ULPs)
  bool force_multiprecision = false;
};

struct Truth {
  Tensor<double> o;    ///< [B, S_q, H_q, D], not rounded to any dtype
  Tensor<double> lse;  ///< [B, H_q, S_q], natural log
  std::string method;  ///< "fp64" or "mpfr-<bits>"
  int certified_rows = 0;            ///< rows checked against the MPFI enclosure
  double fp64_gap_ulps = 0;          ///< max |fp64 - enclosure midpoint| + radius, in output-dtype ULPs
  double enclosure_max_radius_ulps = 0;  ///< widest certified interval, in output-dtype ULPs
  // Added by the references implementation (multiprecision_truth.cpp):
  double lse_fp64_gap = 0;           ///< max |fp64 lse - enclosure end| over certified rows (absolute, natural log)
  double mpfr_gap_ulps = -1;         ///< as fp64_gap_ulps for the MPFR result; -1 when MPFR was not run
  double seconds_fp64 = 0;           ///< wall time of the FP64 pass
  double seconds_certify = 0;        ///< wall time of the MPFI certification
  double seconds_mpfr = 0;           ///< wall time of the MPFR recomputation (0 when not run)
};

/// Truth for `problem` on `inputs` (values already quantized to problem.dtype).
/// Steps (references/multiprecision_truth.cpp): (1) FP64 attention (fp64_attention.h);
/// (2) MPFI enclosures at mpfr_bits of `certify_rows` rows spread over [B, H_q, S_q], the first
/// and last row always included; fp64_gap_ulps = max over their elements of
/// |fp64 - midpoint| + radius in ULPs of problem.dtype at the truth (NaN if no row certified);
/// (3) if that gap exceeds max_fp64_gap_ulps or force_multiprecision is set, the whole
/// attention again in mpfr_float (about 1e3 x slower) and method "mpfr-<bits>".
/// The scale is problem.scale() as a double: the truth is exact attention with that scale.
/// Throws ProblemError for an invalid problem, mismatched shapes, mpfr_bits < 53, certify_rows < 0.
Truth compute_truth(const Problem& problem, const AttentionInputs& inputs, const TruthOptions& options = {});

}  // namespace attn
