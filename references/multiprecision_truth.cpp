// multiprecision_truth.cpp: MPFR recomputation and MPFI row enclosures (multiprecision_truth.h).
// Boost 1.74 keeps ONE process-wide default precision for mpfr_float, so the MPFR section runs
// under a mutex that sets it (and restores it afterwards); its worker threads only read it. The
// certification uses the MPFI C API with an explicit precision per interval: no global state,
// no lock, no allocation per operation.
#include "references/multiprecision_truth.h"

#include <mpfi.h>

#include <algorithm>
#include <boost/multiprecision/mpfr.hpp>
#include <cmath>
#include <limits>
#include <mutex>
#include <string>

#include "core/errors.h"
#include "references/attention_row.h"
#include "references/full_attention.h"
#include "core/parallel_for.h"
#include "references/truth.h"

namespace attn {
namespace {

using boost::multiprecision::mpfr_float;
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr int64_t kCertifyChunkKeys = 512;           // keys per certification work item
constexpr double kMpfrSecondsPerMultiplyAdd = 0.14e-6;  // per thread at 128 bits, measured (header)

// MPFR keeps per-thread caches of constants (log 2, exp tables); a worker thread must free its
// own before it ends, or they outlive it (LeakSanitizer reports them).
void free_mpfr_thread_cache() { mpfr_free_cache2(MPFR_FREE_LOCAL_CACHE); }

void require_bits(int bits) {
  if (bits < 53) throw ProblemError("multiprecision truth: precision must be >= 53 bits, got " + std::to_string(bits));
}

std::mutex& precision_mutex() {
  static std::mutex m;
  return m;
}

/// Holds the multiprecision lock and sets mpfr_float's default precision to at least `bits`.
class PrecisionScope {
 public:
  explicit PrecisionScope(int bits) : lock_(precision_mutex()) {
    require_bits(bits);
    // Boost counts precision in decimal digits: the smallest digits10 whose binary precision
    // (boost's digits10 -> bits rule) reaches the requested bits.
    unsigned digits10 = 1;
    while (boost::multiprecision::detail::digits10_2_2(digits10) < static_cast<unsigned long>(bits)) ++digits10;
    saved_ = mpfr_float::default_precision();
    mpfr_float::default_precision(digits10);
  }
  ~PrecisionScope() { mpfr_float::default_precision(saved_); }
  PrecisionScope(const PrecisionScope&) = delete;
  PrecisionScope& operator=(const PrecisionScope&) = delete;

 private:
  std::lock_guard<std::mutex> lock_;
  unsigned saved_ = 0;
};

/// An MPFI interval at a fixed precision, initialized to [0, 0] and cleared on destruction.
class Interval {
 public:
  explicit Interval(int bits) {
    mpfi_init2(x_, bits);
    mpfi_set_ui(x_, 0);
  }
  ~Interval() { mpfi_clear(x_); }
  Interval(Interval&& other) noexcept : Interval(static_cast<int>(mpfi_get_prec(other.x_))) { mpfi_swap(x_, other.x_); }
  Interval(const Interval&) = delete;
  Interval& operator=(const Interval&) = delete;
  Interval& operator=(Interval&&) = delete;
  mpfi_ptr get() { return x_; }
  mpfi_srcptr get() const { return x_; }

 private:
  mpfi_t x_;
};

/// An MPFR number at a fixed precision, cleared on destruction.
class Real {
 public:
  explicit Real(int bits) { mpfr_init2(x_, bits); }
  ~Real() { mpfr_clear(x_); }
  Real(const Real&) = delete;
  Real& operator=(const Real&) = delete;
  mpfr_ptr get() { return x_; }

 private:
  mpfr_t x_;
};

std::vector<Interval> intervals(size_t count, int bits) {
  std::vector<Interval> v;
  v.reserve(count);
  for (size_t n = 0; n < count; ++n) v.emplace_back(bits);
  return v;
}

/// One row's certification state: the scaled score intervals (pass 1), the point subtracted
/// before exp, and per key chunk the partial row sum and P V intervals (pass 2).
struct RowWork {
  int64_t b = 0, h = 0, i = 0, h_kv = 0, keys = 0, chunks = 0;
  std::vector<Interval> q;                 // (D): the query as point intervals
  std::vector<Interval> scores;            // (keys): enclosure of (q . k_j) * scale, visible keys only
  std::vector<double> chunk_max;           // (chunks): largest upper end of a visible score, rounded up
  std::vector<char> chunk_any;             // (chunks): the chunk has a visible key
  double shift = 0;                        // the point subtracted before exp: max of chunk_max
  std::vector<std::vector<Interval>> sums; // (chunks, D + 1): P V partial sums, then the row-sum partial
};

void score_chunk(const Problem& problem, const AttentionInputs& inputs, RowWork& row, int64_t chunk, int bits) {
  const int64_t first = chunk * kCertifyChunkKeys, last = std::min(row.keys, first + kCertifyChunkKeys);
  Interval product(bits);
  Real upper(bits);
  double chunk_max = -kInf;
  bool any = false;
  for (int64_t j = first; j < last; ++j) {
    if (!problem.visible(row.b, row.i, j)) continue;
    mpfi_ptr s = row.scores[static_cast<size_t>(j)].get();
    mpfi_set_ui(s, 0);
    for (int64_t d = 0; d < problem.head_dim; ++d) {
      mpfi_mul_d(product.get(), row.q[static_cast<size_t>(d)].get(), inputs.k(row.b, j, row.h_kv, d));
      mpfi_add(s, s, product.get());
    }
    mpfi_mul_d(s, s, problem.scale());  // the problem's double scale, exactly
    mpfi_get_right(upper.get(), s);
    chunk_max = std::max(chunk_max, mpfr_get_d(upper.get(), MPFR_RNDU));
    any = true;
  }
  row.chunk_max[static_cast<size_t>(chunk)] = chunk_max;
  row.chunk_any[static_cast<size_t>(chunk)] = any ? 1 : 0;
}

// softmax(s) = exp(s - c) / sum exp(s - c) for ANY constant c, so subtracting a point (not the
// interval max) loses no rigour and avoids dependency blow-up.
void sum_chunk(const Problem& problem, const AttentionInputs& inputs, RowWork& row, int64_t chunk, int bits) {
  const int64_t first = chunk * kCertifyChunkKeys, last = std::min(row.keys, first + kCertifyChunkKeys);
  const int64_t head_dim = problem.head_dim;
  std::vector<Interval>& sums = row.sums[static_cast<size_t>(chunk)];
  sums = intervals(static_cast<size_t>(head_dim + 1), bits);
  Interval p(bits), product(bits);
  for (int64_t j = first; j < last; ++j) {
    if (!problem.visible(row.b, row.i, j)) continue;
    mpfi_sub_d(p.get(), row.scores[static_cast<size_t>(j)].get(), row.shift);
    mpfi_exp(p.get(), p.get());
    mpfi_add(sums[static_cast<size_t>(head_dim)].get(), sums[static_cast<size_t>(head_dim)].get(), p.get());
    for (int64_t d = 0; d < head_dim; ++d) {
      mpfi_mul_d(product.get(), p.get(), inputs.v(row.b, j, row.h_kv, d));
      mpfi_add(sums[static_cast<size_t>(d)].get(), sums[static_cast<size_t>(d)].get(), product.get());
    }
  }
}

/// The row's enclosure from its chunks' partial sums (added in chunk order).
RowEnclosure finish_row(const Problem& problem, RowWork& row, int bits) {
  const int64_t head_dim = problem.head_dim;
  RowEnclosure e;
  for (auto* v : {&e.o_lower, &e.o_upper, &e.o_mid, &e.o_radius, &e.o_half_width}) v->assign(static_cast<size_t>(head_dim), 0.0);
  if (!std::any_of(row.chunk_any.begin(), row.chunk_any.end(), [](char c) { return c != 0; })) {
    e.fully_masked = true;
    e.lse_lower = e.lse_upper = -kInf;
    return e;
  }
  std::vector<Interval> total = intervals(static_cast<size_t>(head_dim + 1), bits);
  for (int64_t c = 0; c < row.chunks; ++c)
    for (int64_t d = 0; d <= head_dim; ++d)
      mpfi_add(total[static_cast<size_t>(d)].get(), total[static_cast<size_t>(d)].get(),
               row.sums[static_cast<size_t>(c)][static_cast<size_t>(d)].get());
  const mpfi_srcptr row_sum = total[static_cast<size_t>(head_dim)].get();
  Interval o(bits);
  Real lo(bits), hi(bits), mid(bits), t(bits);
  for (int64_t d = 0; d < head_dim; ++d) {
    const size_t k = static_cast<size_t>(d);
    mpfi_div(o.get(), total[k].get(), row_sum);
    mpfi_get_left(lo.get(), o.get());
    mpfi_get_right(hi.get(), o.get());
    e.o_lower[k] = mpfr_get_d(lo.get(), MPFR_RNDD);
    e.o_upper[k] = mpfr_get_d(hi.get(), MPFR_RNDU);
    // Radius about the double midpoint, rounded up: every point of the interval lies within it.
    mpfi_mid(mid.get(), o.get());
    const double midpoint = mpfr_get_d(mid.get(), MPFR_RNDN);
    e.o_mid[k] = midpoint;
    mpfr_sub_d(t.get(), hi.get(), midpoint, MPFR_RNDU);
    double radius = mpfr_get_d(t.get(), MPFR_RNDU);
    mpfr_d_sub(t.get(), midpoint, lo.get(), MPFR_RNDU);
    radius = std::max(radius, mpfr_get_d(t.get(), MPFR_RNDU));
    e.o_radius[k] = radius;
    mpfr_sub(t.get(), hi.get(), lo.get(), MPFR_RNDU);
    mpfr_div_2ui(t.get(), t.get(), 1, MPFR_RNDU);
    e.o_half_width[k] = mpfr_get_d(t.get(), MPFR_RNDU);
  }
  Interval lse(bits);
  mpfi_log(lse.get(), row_sum);
  mpfi_add_d(lse.get(), lse.get(), row.shift);
  mpfi_get_left(lo.get(), lse.get());
  mpfi_get_right(hi.get(), lse.get());
  e.lse_lower = mpfr_get_d(lo.get(), MPFR_RNDD);
  e.lse_upper = mpfr_get_d(hi.get(), MPFR_RNDU);
  return e;
}

AttentionOutputs mpfr_attention_unlocked(const Problem& problem, const AttentionInputs& inputs, int threads,
                                         const ProgressCallback& progress) {
  AttentionOutputs out;
  out.o = Tensor<double>(problem.q_shape());
  out.lse = Tensor<double>(problem.lse_shape());
  out.out_dtype = DType::fp64;
  const int64_t head_dim = problem.head_dim;
  const mpfr_float scale(problem.scale());
  ProgressMeter meter(progress, "truth: mpfr", problem.batch * problem.num_heads_q * problem.seqlen_q);
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
      meter.advance();
    }
  }, free_mpfr_thread_cache);
  return out;
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

std::vector<RowEnclosure> certify_rows(const Problem& problem, const AttentionInputs& inputs,
                                       const std::vector<int64_t>& rows, int bits, int threads,
                                       const ProgressCallback& progress) {
  problem.validate();
  require_input_shapes(problem, inputs);
  require_bits(bits);
  const int64_t total_rows = problem.batch * problem.num_heads_q * problem.seqlen_q;
  std::vector<RowWork> work(rows.size());
  // Work items (row, chunk of keys), the same list for both passes.
  std::vector<std::pair<size_t, int64_t>> items;
  int64_t total_keys = 0;
  for (size_t r = 0; r < rows.size(); ++r) {
    if (rows[r] < 0 || rows[r] >= total_rows)
      throw ProblemError("certify: row index " + std::to_string(rows[r]) + " is outside the problem " + problem.label());
    RowWork& w = work[r];
    w.i = rows[r] % problem.seqlen_q;
    w.h = (rows[r] / problem.seqlen_q) % problem.num_heads_q;
    w.b = rows[r] / (problem.seqlen_q * problem.num_heads_q);
    w.h_kv = problem.kv_head(w.h);
    w.keys = problem.keys_in_batch(w.b);
    w.chunks = std::max<int64_t>(1, (w.keys + kCertifyChunkKeys - 1) / kCertifyChunkKeys);
    w.q = intervals(static_cast<size_t>(problem.head_dim), bits);
    for (int64_t d = 0; d < problem.head_dim; ++d) mpfi_set_d(w.q[static_cast<size_t>(d)].get(), inputs.q(w.b, w.i, w.h, d));
    w.scores = intervals(static_cast<size_t>(w.keys), bits);
    w.chunk_max.assign(static_cast<size_t>(w.chunks), -kInf);
    w.chunk_any.assign(static_cast<size_t>(w.chunks), 0);
    w.sums.resize(static_cast<size_t>(w.chunks));
    for (int64_t c = 0; c < w.chunks; ++c) items.push_back({r, c});
    total_keys += w.keys;
  }
  ProgressMeter meter(progress, "truth: certifying " + std::to_string(rows.size()) + " rows", 2 * total_keys);
  const auto chunk_keys = [&](const std::pair<size_t, int64_t>& item) {
    const RowWork& w = work[item.first];
    return std::min(kCertifyChunkKeys, w.keys - item.second * kCertifyChunkKeys);
  };
  parallel_for(static_cast<int64_t>(items.size()), threads, [&](int64_t n) {
    const auto& item = items[static_cast<size_t>(n)];
    score_chunk(problem, inputs, work[item.first], item.second, bits);
    meter.advance(chunk_keys(item));
  }, free_mpfr_thread_cache);
  for (RowWork& w : work) w.shift = *std::max_element(w.chunk_max.begin(), w.chunk_max.end());
  parallel_for(static_cast<int64_t>(items.size()), threads, [&](int64_t n) {
    const auto& item = items[static_cast<size_t>(n)];
    RowWork& w = work[item.first];
    if (w.chunk_any[static_cast<size_t>(item.second)]) sum_chunk(problem, inputs, w, item.second, bits);
    else w.sums[static_cast<size_t>(item.second)] = intervals(static_cast<size_t>(problem.head_dim + 1), bits);
    meter.advance(chunk_keys(item));
  }, free_mpfr_thread_cache);
  std::vector<RowEnclosure> enclosures;
  enclosures.reserve(rows.size());
  for (RowWork& w : work) enclosures.push_back(finish_row(problem, w, bits));
  free_mpfr_thread_cache();  // the calling thread's caches too (finish_row's log)
  return enclosures;
}

RowEnclosure certify_row(const Problem& problem, const AttentionInputs& inputs, int64_t b, int64_t h, int64_t i,
                         int bits) {
  problem.validate();
  if (b < 0 || b >= problem.batch || h < 0 || h >= problem.num_heads_q || i < 0 || i >= problem.seqlen_q)
    throw ProblemError("certify_row: row (b=" + std::to_string(b) + ", h=" + std::to_string(h) + ", i=" +
                       std::to_string(i) + ") is outside the problem " + problem.label());
  return certify_rows(problem, inputs, {(b * problem.num_heads_q + h) * problem.seqlen_q + i}, bits).front();
}

AttentionOutputs mpfr_attention(const Problem& problem, const AttentionInputs& inputs, int bits, int threads,
                                const ProgressCallback& progress) {
  problem.validate();
  require_input_shapes(problem, inputs);
  PrecisionScope scope(bits);
  return mpfr_attention_unlocked(problem, inputs, threads, progress);
}

int64_t visible_pairs(const Problem& problem) {
  int64_t pairs = 0;
  for (int64_t b = 0; b < problem.batch; ++b)
    for (int64_t i = 0; i < problem.seqlen_q; ++i) {
      const KeyRange r = visible_key_range(problem.mask, i, problem.seqlen_q, problem.keys_in_batch(b));
      pairs += std::max<int64_t>(0, r.last - r.first);
    }
  return pairs * problem.num_heads_q;
}

double mpfr_attention_seconds_estimate(const Problem& problem, int bits, int threads) {
  if (threads <= 0) threads = default_thread_count();
  // Two multiply-adds per visible pair and dimension (q.k and p v).
  const double multiply_adds = 2.0 * static_cast<double>(visible_pairs(problem)) * static_cast<double>(problem.head_dim);
  const double per_thread = multiply_adds * kMpfrSecondsPerMultiplyAdd * std::max(1.0, bits / 128.0);
  const double parallel = std::min<double>(threads, static_cast<double>(problem.batch * problem.num_heads_q));
  return per_thread / std::max(1.0, parallel);
}

}  // namespace attn
