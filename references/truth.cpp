// truth.cpp: compute_truth (truth.h) — the FP64 pass on the chosen device, the MPFI
// certification on the CPU at the same time, the gap, and the MPFR fallback with its cost.
#include "references/truth.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <future>
#include <limits>
#include <string>

#include "core/errors.h"
#include "core/float_format.h"
#include "references/fp64_attention.h"
#include "references/full_attention.h"
#include "references/multiprecision_truth.h"
#include "core/parallel_for.h"
#if defined(ATTNSCOPE_HAVE_CUDA)
#include "references/gpu/gpu_references.h"
#endif

namespace attn {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr uint64_t kIntervalBytesPer128Bits = 96;  // one mpfi_t at 128 bits: two mpfr_t and their limbs
constexpr uint64_t kMpfrBytesPer128Bits = 48;      // one mpfr_float at 128 bits

struct GapSummary {
  double o_gap_ulps = 0, radius_ulps = 0, lse_gap = 0;
};

GapSummary measure_gaps(const Problem& problem, const Tensor<double>& o, const Tensor<double>& lse,
                        const std::vector<int64_t>& rows, const std::vector<RowEnclosure>& enclosures) {
  const FloatFormat& format = format_of(problem.dtype);
  GapSummary g;
  for (size_t r = 0; r < rows.size(); ++r) {
    const int64_t i = rows[r] % problem.seqlen_q, h = (rows[r] / problem.seqlen_q) % problem.num_heads_q,
                  b = rows[r] / (problem.seqlen_q * problem.num_heads_q);
    const RowEnclosure& e = enclosures[r];
    for (int64_t d = 0; d < problem.head_dim; ++d) {
      const double mid = e.o_mid[static_cast<size_t>(d)], radius = e.o_radius[static_cast<size_t>(d)];
      const double ulp = ulp_of(mid, format);
      const double x = o(b, i, h, d);
      // Largest distance from x to a point of the enclosure: |x - midpoint| + radius, in ULPs of
      // the output dtype at the truth. NaN never hides: it gives an infinite gap.
      const double gap = std::isnan(x) ? kInf : (std::fabs(x - mid) + radius) / ulp;
      g.o_gap_ulps = std::max(g.o_gap_ulps, gap);
      g.radius_ulps = std::max(g.radius_ulps, e.o_half_width[static_cast<size_t>(d)] / ulp);
    }
    const double x = lse(b, h, i);
    if (e.fully_masked) {
      if (!(x == -kInf)) g.lse_gap = kInf;
    } else {
      g.lse_gap = std::max(g.lse_gap, std::isnan(x) ? kInf : std::max(std::fabs(x - e.lse_lower), std::fabs(e.lse_upper - x)));
    }
  }
  return g;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void say(const TruthOptions& options, const std::string& line) {
  if (options.progress) options.progress(line);
}

/// The FP64 pass on `device`, timed.
AttentionOutputs fp64_pass(const Problem& problem, const AttentionInputs& inputs, ReferenceDevice device,
                           const TruthOptions& options, double& seconds) {
  const auto start = std::chrono::steady_clock::now();
  AttentionOutputs out;
#if defined(ATTNSCOPE_HAVE_CUDA)
  if (device == ReferenceDevice::gpu) out = gpu_truth_fp64(problem, inputs);
#endif
  if (device == ReferenceDevice::cpu) {
    Fp64AttentionOptions fp64_options;
    fp64_options.threads = options.threads;
    fp64_options.progress = options.progress;
    out = fp64_attention(problem, inputs, fp64_options);
  }
  seconds = seconds_since(start);
  return out;
}

}  // namespace

uint64_t truth_memory_bytes(const Problem& problem, const TruthOptions& options) {
  problem.validate();
  const uint64_t threads = static_cast<uint64_t>(options.threads > 0 ? options.threads : default_thread_count());
  const uint64_t outputs = static_cast<uint64_t>(problem.batch * problem.seqlen_q * problem.num_heads_q * problem.head_dim);
  const uint64_t rows = static_cast<uint64_t>(problem.batch * problem.num_heads_q * problem.seqlen_q);
  const uint64_t keys = static_cast<uint64_t>(problem.seqlen_k), dim = static_cast<uint64_t>(problem.head_dim);
  const uint64_t bits_factor = static_cast<uint64_t>(std::max(1, (options.mpfr_bits + 127) / 128));
  // The result (o, lse) twice while the FP64 pass's output is moved into it; the CPU pass's
  // per-thread (128 x S_k) score blocks; the certification's intervals (scores and partial sums).
  uint64_t bytes = 2 * 8 * (outputs + rows);
  bytes += threads * 128 * keys * 8;
  bytes += static_cast<uint64_t>(options.certify_rows) * (keys + dim + 1) * kIntervalBytesPer128Bits * bits_factor;
  // A forced MPFR pass: per thread one (batch, head)'s K and V as mpfr_float, and the scores of a row.
  if (options.force_multiprecision) bytes += threads * (2 * keys * dim + keys) * kMpfrBytesPer128Bits * bits_factor;
  return bytes;
}

Truth compute_truth(const Problem& problem, const AttentionInputs& inputs, const TruthOptions& options) {
  problem.validate();
  require_input_shapes(problem, inputs);
  if (options.certify_rows < 0)
    throw ProblemError("truth: certify_rows must be >= 0, got " + std::to_string(options.certify_rows));
  if (!(options.max_fp64_gap_ulps >= 0))
    throw ProblemError("truth: max_fp64_gap_ulps must be >= 0, got " + std::to_string(options.max_fp64_gap_ulps));
  if (options.mpfr_bits < 53)
    throw ProblemError("truth: precision must be >= 53 bits (mpfr_bits), got " + std::to_string(options.mpfr_bits));
  // TODO(gate): require_memory(truth_memory_bytes(problem, options), "the truth of " + problem.label())
  // once core/memory_budget.h has landed on main.
  const auto start = std::chrono::steady_clock::now();
  const ReferenceDevice device = resolve_reference_device(options.device);
  Truth truth;
  truth.device = std::string(reference_device_name(device));
  const std::vector<int64_t> rows = spread_rows(problem, options.certify_rows);

  // FP64 on the GPU runs while the CPU certifies; on the CPU, one after the other (both use
  // every core).
  AttentionOutputs fp64;
  std::vector<RowEnclosure> enclosures;
  const auto certify = [&] {
    const auto started = std::chrono::steady_clock::now();
    enclosures = certify_rows(problem, inputs, rows, options.mpfr_bits, options.threads, options.progress);
    truth.seconds_certify = seconds_since(started);
  };
  if (device == ReferenceDevice::gpu) {
    std::future<AttentionOutputs> gpu = std::async(std::launch::async, [&] {
      return fp64_pass(problem, inputs, device, options, truth.seconds_fp64);
    });
    certify();  // if this throws, the future's destructor still waits for the GPU pass
    fp64 = gpu.get();
  } else {
    fp64 = fp64_pass(problem, inputs, device, options, truth.seconds_fp64);
    certify();
  }
  truth.certified_rows = static_cast<int>(rows.size());
  const GapSummary fp64_gaps = measure_gaps(problem, fp64.o, fp64.lse, rows, enclosures);
  // No certified row: the gap is unknown, recorded as NaN (never reported as 0).
  truth.fp64_gap_ulps = rows.empty() ? kNaN : fp64_gaps.o_gap_ulps;
  truth.enclosure_max_radius_ulps = fp64_gaps.radius_ulps;
  truth.lse_fp64_gap = rows.empty() ? kNaN : fp64_gaps.lse_gap;

  if (options.force_multiprecision || truth.fp64_gap_ulps > options.max_fp64_gap_ulps) {
    const int threads = options.threads > 0 ? options.threads : default_thread_count();
    truth.mpfr_estimated_seconds = mpfr_attention_seconds_estimate(problem, options.mpfr_bits, threads);
    char why[256];
    std::snprintf(why, sizeof why, "%s; the MPFR-%d recomputation is estimated at %.3g s on %d threads",
                  options.force_multiprecision ? "multiprecision was forced"
                                               : ("the FP64 truth is " + std::to_string(truth.fp64_gap_ulps) +
                                                  " ulp from its certified enclosure (limit " +
                                                  std::to_string(options.max_fp64_gap_ulps) + ")").c_str(),
                  options.mpfr_bits, truth.mpfr_estimated_seconds, threads);
    if (truth.mpfr_estimated_seconds > options.max_mpfr_seconds && !options.allow_slow_mpfr)
      // TODO(gate): EnvironmentError (exit 3) once core/errors.h has it.
      throw Error("truth of " + problem.label() + ": " + why + ", above the limit of " +
                  std::to_string(static_cast<int64_t>(options.max_mpfr_seconds)) +
                  " s; allow it explicitly (run: --truth-allow-slow-mpfr) or shrink the problem");
    say(options, std::string("truth: ") + why);
    const auto started = std::chrono::steady_clock::now();
    AttentionOutputs mp = mpfr_attention(problem, inputs, options.mpfr_bits, options.threads, options.progress);
    truth.seconds_mpfr = seconds_since(started);
    truth.mpfr_gap_ulps = measure_gaps(problem, mp.o, mp.lse, rows, enclosures).o_gap_ulps;
    truth.o = std::move(mp.o);
    truth.lse = std::move(mp.lse);
    truth.method = "mpfr-" + std::to_string(options.mpfr_bits);
  } else {
    truth.o = std::move(fp64.o);
    truth.lse = std::move(fp64.lse);
    truth.method = "fp64";
  }
  truth.seconds = seconds_since(start);
  return truth;
}

}  // namespace attn
