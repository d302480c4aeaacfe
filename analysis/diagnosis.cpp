#include "analysis/diagnosis.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <sstream>

#include "core/errors.h"
#include "core/validation.h"

namespace attn {
namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

/// One meaning of "attention" that a kernel may have implemented.
struct Semantics {
  std::string name, category;
  Mask mask;
  GqaMapping gqa = GqaMapping::contiguous;
  double scale = 1.0;
  int64_t key_delta = 0;   ///< -1: newest key dropped; +1: one key past the cache read (zero if not stored)
  int64_t leak_tile = 0;   ///< > 0: keys padded to a multiple of this leak in with score 0 and V = 0
  int splits = 1;          ///< > 1: split-KV combine with base-2 LSEs merged by natural exp
  int64_t split_tile = 64; ///< splits are runs of whole tiles of this many keys (the kernel's BLOCK_N)
  int64_t split_keys = 0;  ///< > 0: instead, splits of this many keys each (flash-decoding's fixed split size)
};

/// Exact (FP64, two-pass) attention of one query row under `sem`. Plain loops: this is a
/// reference, checked against compute_truth for the declared semantics in the tests.
void attend_row(const Problem& p, const AttentionInputs& in, const Semantics& sem, int64_t b, int64_t h, int64_t i,
                double* out) {
  const int64_t D = p.head_dim;
  const int64_t declared_keys = p.keys_in_batch(b);
  const int64_t keys = std::max<int64_t>(declared_keys + sem.key_delta, 0);
  const int64_t kv = kv_head_for(h, p.num_heads_q, p.num_heads_kv, sem.gqa);
  int64_t padded = keys;
  if (sem.leak_tile > 0) padded = (keys + sem.leak_tile - 1) / sem.leak_tile * sem.leak_tile;
  if (sem.splits > 1) padded = std::max(padded, (keys + sem.split_tile - 1) / sem.split_tile * sem.split_tile);
  std::vector<double> score(static_cast<size_t>(padded), kNegInf);
  std::vector<char> is_zero_key(static_cast<size_t>(padded), 0);
  for (int64_t j = 0; j < padded; ++j) {
    bool visible;
    if (j < keys) visible = key_visible(sem.mask, i, j, p.seqlen_q, keys);
    else if (sem.leak_tile > 0 && keys > 0) visible = key_visible(sem.mask, i, keys - 1, p.seqlen_q, keys);  // no bounds check
    else visible = false;
    if (!visible) continue;
    const bool stored = j < p.seqlen_k && j < keys;
    is_zero_key[static_cast<size_t>(j)] = !stored;
    double dot = 0;
    if (stored)
      for (int64_t d = 0; d < D; ++d) dot += in.q(b, i, h, d) * in.k(b, j, kv, d);
    score[static_cast<size_t>(j)] = sem.scale * dot;
  }
  auto softmax_run = [&](int64_t j0, int64_t j1, double* o, double* lse) {
    double m = kNegInf;
    for (int64_t j = j0; j < j1; ++j) m = std::max(m, score[static_cast<size_t>(j)]);
    std::fill(o, o + D, 0.0);
    if (m == kNegInf) {  // fully masked run: output 0, LSE -inf
      *lse = kNegInf;
      return;
    }
    double l = 0;
    for (int64_t j = j0; j < j1; ++j) {
      const double s = score[static_cast<size_t>(j)];
      if (s == kNegInf) continue;
      const double e = std::exp(s - m);
      l += e;
      if (!is_zero_key[static_cast<size_t>(j)])
        for (int64_t d = 0; d < D; ++d) o[d] += e * in.v(b, j, kv, d);
    }
    for (int64_t d = 0; d < D; ++d) o[d] /= l;
    *lse = m + std::log(l);
  };
  if (sem.splits <= 1 && sem.split_keys == 0) {
    double lse;
    softmax_run(0, padded, out, &lse);
    return;
  }
  // Split-KV: runs of whole tiles; each run's LSE is kept in base 2 (lse / ln 2) and the bug
  // merges them with natural exp: weights e^{lse2_s} instead of 2^{lse2_s}.
  const int64_t tiles = padded / sem.split_tile;
  const int64_t run = sem.split_keys > 0 ? sem.split_keys : (tiles + sem.splits - 1) / sem.splits * sem.split_tile;
  const int64_t runs = sem.split_keys > 0 ? std::max<int64_t>(1, (padded + run - 1) / run) : sem.splits;
  std::vector<std::vector<double>> outs;
  std::vector<double> lse2;
  for (int64_t s = 0; s < runs; ++s) {
    const int64_t j0 = std::min(padded, s * run), j1 = std::min(padded, (s + 1) * run);
    std::vector<double> o(static_cast<size_t>(D));
    double lse;
    softmax_run(j0, j1, o.data(), &lse);
    outs.push_back(o);
    lse2.push_back(lse / std::log(2.0));
  }
  const double top = *std::max_element(lse2.begin(), lse2.end());
  std::fill(out, out + D, 0.0);
  if (top == kNegInf) return;
  double total = 0;
  for (double x : lse2) total += x == kNegInf ? 0.0 : std::exp(x - top);
  for (size_t s = 0; s < outs.size(); ++s) {
    if (lse2[s] == kNegInf) continue;
    const double w = std::exp(lse2[s] - top) / total;
    for (int64_t d = 0; d < D; ++d) out[d] += w * outs[s][static_cast<size_t>(d)];
  }
}

std::vector<Semantics> candidates(const Problem& p) {
  std::vector<Semantics> list;
  const Semantics declared{"declared", "", p.mask, p.gqa, p.scale()};
  list.push_back(declared);
  auto with = [&](std::string name, std::string category, auto change) {
    Semantics s = declared;
    s.name = std::move(name);
    s.category = std::move(category);
    change(s);
    list.push_back(s);
  };
  if (p.mask.kind == MaskKind::causal_bottom_right)
    with("top-left causal (mask aligned to the wrong corner)", "masking", [](Semantics& s) { s.mask.kind = MaskKind::causal_top_left; });
  if (p.mask.kind == MaskKind::causal_top_left)
    with("bottom-right causal", "masking", [](Semantics& s) { s.mask.kind = MaskKind::causal_bottom_right; });
  if (p.mask.kind != MaskKind::none) with("no mask", "masking", [](Semantics& s) { s.mask = Mask{MaskKind::none}; });
  for (int64_t tile : {16, 32, 64, 128})
    with("unmasked tile edges (keys padded to " + std::to_string(tile) + " leak into the softmax)", "masking",
         [tile](Semantics& s) { s.leak_tile = tile; });
  if (p.num_heads_kv > 1 && p.num_heads_q > p.num_heads_kv)
    with(p.gqa == GqaMapping::contiguous ? "interleaved GQA (head h reads KV head h % H_kv)" : "contiguous GQA", "gqa",
         [&](Semantics& s) { s.gqa = p.gqa == GqaMapping::contiguous ? GqaMapping::interleaved : GqaMapping::contiguous; });
  with("stale cache length (newest key not read)", "cache-length", [](Semantics& s) { s.key_delta = -1; });
  with("cache length one too long (an extra key read)", "cache-length", [](Semantics& s) { s.key_delta = +1; });
  const double D = static_cast<double>(p.head_dim);
  if (std::fabs(p.scale() - 1.0 / D) > 1e-12 * p.scale())
    with("scale 1/D instead of the declared scale", "scale", [D](Semantics& s) { s.scale = 1.0 / D; });
  if (std::fabs(p.scale() - 1.0) > 1e-12) with("scale 1 (no scaling)", "scale", [](Semantics& s) { s.scale = 1.0; });
  for (int splits : {2, 4, 8})
    for (int64_t tile : {16, 32, 64, 128})
      with("base-2 LSE merged with natural exp in a " + std::to_string(splits) + "-way split-KV combine (" +
               std::to_string(tile) + "-key tiles)",
           "split-combine", [splits, tile](Semantics& s) {
             s.splits = splits;
             s.split_tile = tile;
           });
  for (int64_t keys : {64, 128, 256, 512})  // flash-decoding kernels: a fixed split size, any count
    with("base-2 LSE merged with natural exp in a split-KV combine (splits of " + std::to_string(keys) + " keys)",
         "split-combine", [keys](Semantics& s) { s.split_keys = keys; });
  return list;
}

std::vector<int64_t> sample_rows(int64_t seqlen_q, int64_t max_rows) {
  std::vector<int64_t> rows;
  if (seqlen_q <= max_rows) {
    for (int64_t i = 0; i < seqlen_q; ++i) rows.push_back(i);
    return rows;
  }
  for (int64_t k = 0; k < max_rows; ++k) rows.push_back(k * (seqlen_q - 1) / (max_rows - 1));  // first and last included
  rows.erase(std::unique(rows.begin(), rows.end()), rows.end());
  return rows;
}

std::string ranges_string(const std::vector<int64_t>& sorted, size_t max_ranges = 6) {
  std::ostringstream s;
  size_t ranges = 0;
  for (size_t a = 0; a < sorted.size();) {
    size_t b = a;
    while (b + 1 < sorted.size() && sorted[b + 1] == sorted[b] + 1) ++b;
    if (ranges++ == max_ranges) {
      s << ", ...";
      break;
    }
    s << (a ? ", " : "") << sorted[a];
    if (b > a) s << "-" << sorted[b];
    a = b + 1;
  }
  return s.str();
}

/// The precision fingerprint for an output no semantic alternative explains (FP16/BF16 inputs;
/// other dtypes have no hypothesis family and are left without one). An unknown bug that a
/// coarse intermediate explains is no semantic bug: the error is the precision's.
void attach_precision_fingerprint(Diagnosis& dx, const Problem& p, const AttentionInputs& in, const Tensor<double>& output,
                                  DType out_dtype, const DiagnosisOptions& options) {
  if (p.dtype != DType::fp16 && p.dtype != DType::bf16) return;
  if (dx.declared.error.nan_count || dx.declared.error.inf_count) return;  // non-finite output: no numerics explain it
  dx.precision = fingerprint_precision(p, in, output, out_dtype, options.fingerprint_options);
  if (dx.verdict == "unknown bug" && dx.precision->outcome == FingerprintOutcome::precision) dx.verdict = "no semantic bug";
}

}  // namespace

Diagnosis diagnose(const Problem& p, const AttentionInputs& in, const Tensor<double>& output, DType out_dtype,
                   const DiagnosisOptions& options) {
  validate_inputs(p, in);
  if (output.shape() != p.q_shape())
    throw ProblemError("output o has shape " + shape_string(output.shape()) + ", the problem needs " +
                       shape_string(p.q_shape()));
  const std::vector<int64_t> rows = sample_rows(p.seqlen_q, std::max<int64_t>(2, options.max_rows_per_head));
  const int64_t D = p.head_dim;
  const int64_t sampled = p.batch * p.num_heads_q * static_cast<int64_t>(rows.size());
  Tensor<double> observed({sampled, D});
  {
    int64_t r = 0;
    for (int64_t b = 0; b < p.batch; ++b)
      for (int64_t h = 0; h < p.num_heads_q; ++h)
        for (int64_t i : rows) {
          for (int64_t d = 0; d < D; ++d) observed(r, d) = output(b, i, h, d);
          ++r;
        }
  }
  auto exact = [&](const Semantics& sem) {
    Tensor<double> t({sampled, D});
    int64_t r = 0;
    for (int64_t b = 0; b < p.batch; ++b)
      for (int64_t h = 0; h < p.num_heads_q; ++h)
        for (int64_t i : rows) attend_row(p, in, sem, b, h, i, &t(r++, 0));
    return t;
  };
  const std::vector<Semantics> sems = candidates(p);
  const Tensor<double> declared_truth = exact(sems[0]);
  auto candidate = [&](const Semantics& sem, const Tensor<double>& truth) {
    SemanticCandidate c{sem.name, sem.category, compute_metrics(observed, truth, out_dtype), 0, false};
    const double floor = rounding_floor(truth, out_dtype).rmse;
    c.excess = c.error.rmse == 0 ? 0.0 : floor > 0 ? c.error.rmse / floor : std::numeric_limits<double>::infinity();
    return c;
  };

  Diagnosis dx;
  dx.rows_checked = sampled;
  dx.rows_total = p.batch * p.num_heads_q * p.seqlen_q;
  dx.declared = candidate(sems[0], declared_truth);
  const FloatFormat& format = format_of(out_dtype);
  // Excess of `observed` against `truth` restricted to `rows` (each row D elements).
  auto excess_on = [&](const Tensor<double>& truth, const std::vector<int64_t>& row_list) {
    Tensor<double> o({static_cast<int64_t>(row_list.size()), D}), t({static_cast<int64_t>(row_list.size()), D});
    for (size_t r = 0; r < row_list.size(); ++r)
      for (int64_t d = 0; d < D; ++d) {
        o(static_cast<int64_t>(r), d) = observed(row_list[r], d);
        t(static_cast<int64_t>(r), d) = truth(row_list[r], d);
      }
    const double err = compute_metrics(o, t, out_dtype).rmse, floor = rounding_floor(t, out_dtype).rmse;
    return err == 0 ? 0.0 : floor > 0 ? err / floor : std::numeric_limits<double>::infinity();
  };
  for (size_t s = 1; s < sems.size(); ++s) {
    const Tensor<double> truth = exact(sems[s]);
    SemanticCandidate c = candidate(sems[s], truth);
    std::vector<int64_t> differing;
    for (int64_t r = 0; r < sampled; ++r)
      for (int64_t d = 0; d < D; ++d)
        if (std::fabs(truth(r, d) - declared_truth(r, d)) > 0.5 * ulp_of(declared_truth(r, d), format)) {
          differing.push_back(r);
          break;
        }
    c.rows_differing = static_cast<int64_t>(differing.size());
    c.indistinguishable = differing.empty();
    if (!differing.empty()) {
      c.excess_on_rows = excess_on(truth, differing);
      c.declared_excess_on_rows = excess_on(declared_truth, differing);
    }
    dx.alternatives.push_back(c);
  }
  auto explains = [](const SemanticCandidate& c) {
    return !c.indistinguishable && c.excess_on_rows <= kExcessRounding &&
           c.excess_on_rows * kExplainFactor <= c.declared_excess_on_rows;
  };
  auto advantage = [](const SemanticCandidate& c) {
    return c.indistinguishable ? 0.0 : c.declared_excess_on_rows / std::max(c.excess_on_rows, 1e-300);
  };
  // Best explanation first: the largest improvement over the declared semantics on its rows.
  std::stable_sort(dx.alternatives.begin(), dx.alternatives.end(),
                   [&](const SemanticCandidate& a, const SemanticCandidate& b) {
                     if (explains(a) != explains(b)) return explains(a);
                     return explains(a) ? advantage(a) > advantage(b) : a.excess < b.excess;
                   });
  if (!dx.alternatives.empty() && explains(dx.alternatives.front())) {
    dx.verdict = "semantic bug";
    dx.category = dx.alternatives.front().category;
    dx.bug = dx.alternatives.front().name;
    for (const SemanticCandidate& c : dx.alternatives)
      if (explains(c)) dx.also_matching.push_back(c.category + ": " + c.name);
  } else if (dx.declared.excess > kExcessRounding || dx.declared.error.nan_count || dx.declared.error.inf_count) {
    dx.verdict = "unknown bug";
  } else {
    dx.verdict = "no semantic bug";
  }

  // Where the declared semantics miss: rows and heads with an element off by more than 8 ULPs of
  // the row's largest value (row scale: an output element near zero has a tiny ULP of its own,
  // and counting in it would flag every row of a correct kernel).
  std::vector<int64_t> bad_rows, bad_heads;
  {
    const FloatFormat& f = format_of(out_dtype);
    int64_t r = 0;
    for (int64_t b = 0; b < p.batch; ++b)
      for (int64_t h = 0; h < p.num_heads_q; ++h)
        for (int64_t i : rows) {
          double row_scale = 0;
          for (int64_t d = 0; d < D; ++d) row_scale = std::max(row_scale, std::fabs(declared_truth(r, d)));
          const double tolerance = 8 * ulp_of(row_scale, f);
          bool bad = false;
          for (int64_t d = 0; d < D && !bad; ++d) bad = !(std::fabs(observed(r, d) - declared_truth(r, d)) <= tolerance);
          if (bad) {
            bad_rows.push_back(i);
            bad_heads.push_back(h);
          }
          ++r;
        }
  }
  std::sort(bad_rows.begin(), bad_rows.end());
  bad_rows.erase(std::unique(bad_rows.begin(), bad_rows.end()), bad_rows.end());
  std::sort(bad_heads.begin(), bad_heads.end());
  bad_heads.erase(std::unique(bad_heads.begin(), bad_heads.end()), bad_heads.end());
  std::ostringstream where;
  if (bad_rows.empty()) where << "no row misses the declared semantics by more than 8 ULP (of the row's largest value)";
  else
    where << "query rows " << ranges_string(bad_rows) << " of heads " << ranges_string(bad_heads)
          << " miss the declared semantics by more than 8 ULP of the row's largest value (" << (rows.size() < static_cast<size_t>(p.seqlen_q) ? "sampled rows" : "all rows")
          << ")";
  dx.where = where.str();
  if (options.fingerprint && dx.verdict != "semantic bug") attach_precision_fingerprint(dx, p, in, output, out_dtype, options);
  return dx;
}

}  // namespace attn
