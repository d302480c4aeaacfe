// truth.h: the ground truth every error is measured against (DESIGN.md, "Truth"): the exact
// attention of the quantized inputs, and the one entry point every command uses to get it
// (run, sweep, incremental, and check / make-inputs of the external-kernel work).
// FP64 is computed first — on the GPU when one is present (references/gpu/, tiled), else on
// every CPU core (fp64_attention.h, Eigen GEMM per row block) — while MPFI enclosures of sampled
// rows are computed on the CPU, in parallel with the GPU. FP64 is accepted where the certified
// gap is within 1e-3 ULP of the output dtype; otherwise the whole attention is recomputed in
// multiprecision (MPFR), its cost stated up front and refused beyond a limit unless asked.
// The check, the method, the device and the time are recorded in the result, never assumed.
#pragma once

#include <cstdint>
#include <string>

#include "core/kernel.h"
#include "references/progress.h"
#include "references/reference_device.h"

namespace attn {

struct TruthOptions {
  int mpfr_bits = 128;            ///< multiprecision working precision (certification and MPFR)
  int certify_rows = 8;           ///< rows (spread over batch/heads/positions) certified with MPFI
  double max_fp64_gap_ulps = 1e-3;///< FP64 accepted as truth only below this gap (in output-dtype ULPs)
  bool force_multiprecision = false;
  ReferenceDevice device = ReferenceDevice::automatic;  ///< where the FP64 pass runs
  int threads = 0;                ///< CPU threads (FP64 on the CPU, certification, MPFR); <= 0: every core
  double max_mpfr_seconds = 600;  ///< the MPFR fallback is refused when estimated above this ...
  bool allow_slow_mpfr = false;   ///< ... unless this is set
  ProgressCallback progress;      ///< progress lines of long passes (may be empty)
};

struct Truth {
  Tensor<double> o;    ///< [B, S_q, H_q, D], not rounded to any dtype
  Tensor<double> lse;  ///< [B, H_q, S_q], natural log
  std::string method;  ///< "fp64" or "mpfr-<bits>"
  std::string device;  ///< where the FP64 pass ran: "cpu" or "gpu" (certification and MPFR: always the CPU)
  int certified_rows = 0;            ///< rows checked against the MPFI enclosure
  double fp64_gap_ulps = 0;          ///< max |fp64 - enclosure midpoint| + radius, in output-dtype ULPs
  double enclosure_max_radius_ulps = 0;  ///< widest certified interval, in output-dtype ULPs
  double lse_fp64_gap = 0;           ///< max |fp64 lse - enclosure end| over certified rows (absolute, natural log)
  double mpfr_gap_ulps = -1;         ///< as fp64_gap_ulps for the MPFR result; -1 when MPFR was not run
  double mpfr_estimated_seconds = 0; ///< the MPFR fallback's estimated cost, stated before it ran (0: not needed)
  double seconds_fp64 = 0;           ///< wall time of the FP64 pass (GPU: with the transfers)
  double seconds_certify = 0;        ///< wall time of the MPFI certification (overlaps the GPU pass)
  double seconds_mpfr = 0;           ///< wall time of the MPFR recomputation (0 when not run)
  double seconds = 0;                ///< wall time of the whole compute_truth call
};

/// Truth for `problem` on `inputs` (values already quantized to problem.dtype; unquantized
/// inputs give the truth of those values).
/// Steps: (1) FP64 attention on options.device (fp64_attention.h or gpu_truth_fp64), and at the
/// same time (2) MPFI enclosures at mpfr_bits of `certify_rows` rows spread over [B, H_q, S_q],
/// the first and last row always included (multiprecision_truth.h); fp64_gap_ulps = max over
/// their elements of |fp64 - midpoint| + radius in ULPs of problem.dtype at the truth (NaN if
/// no row is certified); (3) if that gap exceeds max_fp64_gap_ulps or force_multiprecision is
/// set, the whole attention again in mpfr_float (about 1e3 x slower) and method "mpfr-<bits>" —
/// refused with an Error naming the estimate when it exceeds max_mpfr_seconds, unless
/// allow_slow_mpfr. The scale is problem.scale() as a double: the truth is exact attention with
/// that scale. Throws ProblemError for an invalid problem, mismatched shapes, mpfr_bits < 53,
/// certify_rows < 0; Error when options.device is gpu and no GPU is usable.
Truth compute_truth(const Problem& problem, const AttentionInputs& inputs, const TruthOptions& options = {});

/// Host memory compute_truth may hold at its peak for `problem` (the result, the FP64 pass's
/// per-thread score blocks, the certification's intervals, the MPFR pass when forced): an upper
/// estimate for refusing a problem up front, not accounting.
uint64_t truth_memory_bytes(const Problem& problem, const TruthOptions& options = {});

}  // namespace attn
