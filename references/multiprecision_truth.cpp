// multiprecision_truth.cpp: MPFR recomputation, MPFI row enclosures and compute_truth (truth.h).
// Boost 1.74 keeps ONE process-wide default precision for mpfr_float / mpfi_float, so every
// multiprecision section runs under a mutex that sets it (and restores it afterwards); the
// worker threads inside a section only read it.
#include "references/multiprecision_truth.h"

#include <boost/multiprecision/mpfi.hpp>
#include <boost/multiprecision/mpfr.hpp>
#include <chrono>
#include <cmath>
#include <limits>
#include <mutex>
#include <string>

#include "core/errors.h"
#include "core/float_format.h"
#include "references/attention_row.h"
#include "references/fp64_attention.h"
#include "references/full_attention.h"
#include "core/parallel_for.h"
#include "references/truth.h"

namespace attn {
namespace {
// MPFR keeps per-thread caches of constants (log 2, exp tables); a worker thread must free its
// own before it ends, or they outlive it (LeakSanitizer reports them).
void free_mpfr_thread_cache() { mpfr_free_cache2(MPFR_FREE_LOCAL_CACHE); }
}  // namespace
namespace {

using boost::multiprecision::mpfi_float;
using boost::multiprecision::mpfr_float;
constexpr double kInf = std::numeric_limits<double>::infinity();

std::mutex& precision_mutex() {
  static std::mutex m;
  return m;
}

/// Holds the multiprecision lock and sets both default precisions to at least `bits` bits.
class PrecisionScope {
 public:
  explicit PrecisionScope(int bits) : lock_(precision_mutex()) {
    if (bits < 53) throw ProblemError("multiprecision truth: precision must be >= 53 bits, got " + std::to_string(bits));
    // Boost counts precision in decimal digits: the smallest digits10 whose binary precision
    // (boost's digits10 -> bits rule) reaches the requested bits.
    unsigned digits10 = 1;
    while (boost::multiprecision::detail::digits10_2_2(digits10) < static_cast<unsigned long>(bits)) ++digits10;
    saved_mpfr_ = mpfr_float::default_precision();
    saved_mpfi_ = mpfi_float::default_precision();
    mpfr_float::default_precision(digits10);
    mpfi_float::default_precision(digits10);
  }
  ~PrecisionScope() {
    mpfr_float::default_precision(saved_mpfr_);
    mpfi_float::default_precision(saved_mpfi_);
  }
  PrecisionScope(const PrecisionScope&) = delete;
  PrecisionScope& operator=(const PrecisionScope&) = delete;

 private:
  std::lock_guard<std::mutex> lock_;
  unsigned saved_mpfr_ = 0, saved_mpfi_ = 0;
};

double lower_double(const mpfi_float& x) { return mpfr_get_d(lower(x).backend().data(), MPFR_RNDD); }
double upper_double(const mpfi_float& x) { return mpfr_get_d(upper(x).backend().data(), MPFR_RNDU); }

RowEnclosure certify_row_unlocked(const Problem& problem, const AttentionInputs& inputs, int64_t b, int64_t h, int64_t i) {
  const int64_t head_dim = problem.head_dim, h_kv = problem.kv_head(h), num_keys = problem.keys_in_batch(b);
  RowEnclosure enclosure;
  enclosure.o_lower.assign(static_cast<size_t>(head_dim), 0.0);
  enclosure.o_upper.assign(static_cast<size_t>(head_dim), 0.0);
  enclosure.o_mid.assign(static_cast<size_t>(head_dim), 0.0);
  enclosure.o_radius.assign(static_cast<size_t>(head_dim), 0.0);
  enclosure.o_half_width.assign(static_cast<size_t>(head_dim), 0.0);
  std::vector<mpfi_float> q(static_cast<size_t>(head_dim));
  for (int64_t d = 0; d < head_dim; ++d) q[static_cast<size_t>(d)] = inputs.q(b, i, h, d);
  const mpfi_float scale(problem.scale());  // the problem's double scale, exactly
  // Pass 1: enclosures of the scaled scores; the largest upper end as the point to subtract.
  std::vector<mpfi_float> scores(static_cast<size_t>(num_keys));
  mpfr_float shift;
  bool any_visible = false;
  for (int64_t j = 0; j < num_keys; ++j) {
    if (!problem.visible(b, i, j)) continue;
    mpfi_float dot(0);
    for (int64_t d = 0; d < head_dim; ++d) dot += q[static_cast<size_t>(d)] * inputs.k(b, j, h_kv, d);
    mpfi_float s = dot * scale;
    const mpfr_float s_upper = upper(s);
    if (!any_visible || s_upper > shift) shift = s_upper;
    scores[static_cast<size_t>(j)] = std::move(s);
    any_visible = true;
  }
  if (!any_visible) {
    enclosure.fully_masked = true;
    enclosure.lse_lower = enclosure.lse_upper = -kInf;
    return enclosure;
  }
  // Pass 2: softmax(s) = exp(s - c) / sum exp(s - c) for ANY constant c, so subtracting a point
  // (not the interval max) loses no rigour and avoids dependency blow-up.
  const mpfi_float c(shift);
  mpfi_float row_sum(0);
  std::vector<mpfi_float> acc(static_cast<size_t>(head_dim), mpfi_float(0));
  for (int64_t j = 0; j < num_keys; ++j) {
    if (!problem.visible(b, i, j)) continue;
    const mpfi_float p = exp(mpfi_float(scores[static_cast<size_t>(j)] - c));
    row_sum += p;
    for (int64_t d = 0; d < head_dim; ++d) acc[static_cast<size_t>(d)] += p * inputs.v(b, j, h_kv, d);
  }
  for (int64_t d = 0; d < head_dim; ++d) {
    const mpfi_float o = acc[static_cast<size_t>(d)] / row_sum;
    enclosure.o_lower[static_cast<size_t>(d)] = lower_double(o);
    enclosure.o_upper[static_cast<size_t>(d)] = upper_double(o);
    // Radius about the double midpoint, computed in MPFR and rounded up: the interval's own
    // width, not the width of its outward-rounded double ends.
    const double mid = mpfr_get_d(median(o).backend().data(), MPFR_RNDN);
    const mpfr_float radius = boost::multiprecision::max(mpfr_float(upper(o) - mid), mpfr_float(mid - lower(o)));
    enclosure.o_mid[static_cast<size_t>(d)] = mid;
    enclosure.o_radius[static_cast<size_t>(d)] = mpfr_get_d(radius.backend().data(), MPFR_RNDU);
    const mpfr_float half_width = mpfr_float(upper(o) - lower(o)) / 2;
    enclosure.o_half_width[static_cast<size_t>(d)] = mpfr_get_d(half_width.backend().data(), MPFR_RNDU);
  }
  const mpfi_float lse = c + log(row_sum);
  enclosure.lse_lower = lower_double(lse);
  enclosure.lse_upper = upper_double(lse);
  return enclosure;
}

AttentionOutputs mpfr_attention_unlocked(const Problem& problem, const AttentionInputs& inputs, int threads) {
  AttentionOutputs out;
  out.o = Tensor<double>(problem.q_shape());
  out.lse = Tensor<double>(problem.lse_shape());
  out.out_dtype = DType::fp64;
  const int64_t head_dim = problem.head_dim;
  const mpfr_float scale(problem.scale());
  // One work item per (batch, query head): its K/V slice converted once, rows in order.
  parallel_for(problem.batch * problem.num_heads_q, threads, [&](int64_t item) {
    const int64_t b = item / problem.num_heads_q, h = item % problem.num_heads_q, h_kv = problem.kv_head(h);
    const int64_t num_keys = problem.keys_in_batch(b);
    std::vector<mpfr_float> k(static_cast<size_t>(num_keys * head_dim)), v(k.size()), q(static_cast<size_t>(head_dim));
    for (int64_t j = 0; j < num_keys; ++j)
      for (int64_t d = 0; d < head_dim; ++d) {
        k[static_cast<size_t>(j * head_dim + d)] = inputs.k(b, j, h_kv, d);
        v[static_cast<size_t>(j * head_dim + d)] = inputs.v(b, j, h_kv, d);
      }
    std::vector<mpfr_float> o(static_cast<size_t>(head_dim)), scores;
    mpfr_float lse;
    for (int64_t i = 0; i < problem.seqlen_q; ++i) {
      for (int64_t d = 0; d < head_dim; ++d) q[static_cast<size_t>(d)] = inputs.q(b, i, h, d);
      attend_row<mpfr_float>(
          q.data(), head_dim, num_keys, scale, [&](int64_t j) { return &k[static_cast<size_t>(j * head_dim)]; },
          [&](int64_t j) { return &v[static_cast<size_t>(j * head_dim)]; },
          [&](int64_t j) { return problem.visible(b, i, j); }, scores, o.data(), lse);
      for (int64_t d = 0; d < head_dim; ++d) out.o(b, i, h, d) = static_cast<double>(o[static_cast<size_t>(d)]);
      out.lse(b, h, i) = static_cast<double>(lse);
    }
  }, free_mpfr_thread_cache);
  return out;
}


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

}  // namespace

std::vector<int64_t> spread_rows(const Problem& problem, int count) {
  const int64_t total = problem.batch * problem.num_heads_q * problem.seqlen_q;
  std::vector<int64_t> rows;
  if (count <= 0 || total <= 0) return rows;
  const int64_t n = std::min<int64_t>(std::max(count, 2), total);
  if (n == 1) return {0};
  for (int64_t k = 0; k < n; ++k) {
    const int64_t r = static_cast<int64_t>(static_cast<__int128>(k) * (total - 1) / (n - 1));
    if (rows.empty() || rows.back() != r) rows.push_back(r);
  }
  return rows;
}

RowEnclosure certify_row(const Problem& problem, const AttentionInputs& inputs, int64_t b, int64_t h, int64_t i,
                         int bits) {
  problem.validate();
  require_input_shapes(problem, inputs);
  if (b < 0 || b >= problem.batch || h < 0 || h >= problem.num_heads_q || i < 0 || i >= problem.seqlen_q)
    throw ProblemError("certify_row: row (b=" + std::to_string(b) + ", h=" + std::to_string(h) + ", i=" +
                       std::to_string(i) + ") is outside the problem " + problem.label());
  PrecisionScope scope(bits);
  return certify_row_unlocked(problem, inputs, b, h, i);
}

AttentionOutputs mpfr_attention(const Problem& problem, const AttentionInputs& inputs, int bits, int threads) {
  problem.validate();
  require_input_shapes(problem, inputs);
  PrecisionScope scope(bits);
  return mpfr_attention_unlocked(problem, inputs, threads);
}

Truth compute_truth(const Problem& problem, const AttentionInputs& inputs, const TruthOptions& options) {
  problem.validate();
  require_input_shapes(problem, inputs);
  if (options.certify_rows < 0)
    throw ProblemError("truth: certify_rows must be >= 0, got " + std::to_string(options.certify_rows));
  if (!(options.max_fp64_gap_ulps >= 0))
    throw ProblemError("truth: max_fp64_gap_ulps must be >= 0, got " + std::to_string(options.max_fp64_gap_ulps));
  Truth truth;
  auto start = std::chrono::steady_clock::now();
  AttentionOutputs fp64 = fp64_attention(problem, inputs);
  truth.seconds_fp64 = seconds_since(start);

  PrecisionScope scope(options.mpfr_bits);
  start = std::chrono::steady_clock::now();
  const std::vector<int64_t> rows = spread_rows(problem, options.certify_rows);
  std::vector<RowEnclosure> enclosures(rows.size());
  parallel_for(static_cast<int64_t>(rows.size()), 0, [&](int64_t r) {
    const int64_t row = rows[static_cast<size_t>(r)];
    const int64_t i = row % problem.seqlen_q, h = (row / problem.seqlen_q) % problem.num_heads_q,
                  b = row / (problem.seqlen_q * problem.num_heads_q);
    enclosures[static_cast<size_t>(r)] = certify_row_unlocked(problem, inputs, b, h, i);
  }, free_mpfr_thread_cache);
  truth.seconds_certify = seconds_since(start);
  truth.certified_rows = static_cast<int>(rows.size());
  const GapSummary fp64_gaps = measure_gaps(problem, fp64.o, fp64.lse, rows, enclosures);
  // No certified row: the gap is unknown, recorded as NaN (never reported as 0).
  truth.fp64_gap_ulps = rows.empty() ? std::numeric_limits<double>::quiet_NaN() : fp64_gaps.o_gap_ulps;
  truth.enclosure_max_radius_ulps = fp64_gaps.radius_ulps;
  truth.lse_fp64_gap = rows.empty() ? std::numeric_limits<double>::quiet_NaN() : fp64_gaps.lse_gap;

  if (options.force_multiprecision || truth.fp64_gap_ulps > options.max_fp64_gap_ulps) {
    start = std::chrono::steady_clock::now();
    AttentionOutputs mp = mpfr_attention_unlocked(problem, inputs, 0);
    truth.seconds_mpfr = seconds_since(start);
    truth.mpfr_gap_ulps = measure_gaps(problem, mp.o, mp.lse, rows, enclosures).o_gap_ulps;
    truth.o = std::move(mp.o);
    truth.lse = std::move(mp.lse);
    truth.method = "mpfr-" + std::to_string(options.mpfr_bits);
  } else {
    truth.o = std::move(fp64.o);
    truth.lse = std::move(fp64.lse);
    truth.method = "fp64";
  }
  return truth;
}

}  // namespace attn
