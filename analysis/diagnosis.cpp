#include "analysis/diagnosis.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <sstream>

#include "core/errors.h"
#include "core/pipeline/arithmetic.h"
#include "core/pipeline/online_softmax.h"
#include "core/pipeline/semantics.h"
#include "core/pipeline/split_combine.h"
#include "core/pipeline/tile_plan.h"
#include "core/validation.h"

namespace attn {
namespace {

using pipeline::kNegInf;

/// One meaning of "attention" that a kernel may have implemented: a pipeline::Semantics (the
/// planted bugs are core/pipeline/semantics.h's, the same the mutants and the emulator plant)
/// plus, for the split-combine alternatives, the split plan the kernel would have used.
struct Candidate {
  std::string name, category;
  pipeline::Semantics sem;
  int splits = 1;           ///< > 1: a split-KV combine over this many runs of whole tiles
  int64_t split_tile = 64;  ///< splits are runs of whole tiles of this many keys (the kernel's BLOCK_N)
  int64_t split_keys = 0;   ///< > 0: instead, splits of this many keys each (flash-decoding's fixed split size)
};

/// Exact (FP64) attention of one query row under `c`, through the pipeline's stages in exact
/// arithmetic: scores, one online-softmax step per split (the whole split as one tile), the
/// normalization and the split combine. Checked against compute_truth for the declared
/// semantics in the tests.
void attend_row(const Problem& p, const AttentionInputs& in, const Candidate& c, int64_t b, int64_t h, int64_t i,
                double* out) {
  const pipeline::Semantics& sem = c.sem;
  const pipeline::ExactArithmetic a;
  const int64_t D = p.head_dim;
  const int64_t keys = pipeline::semantic_keys(sem, p.keys_in_batch(b));
  const int64_t kv = pipeline::semantic_kv_head(sem, h, p.num_heads_q, p.num_heads_kv);
  const bool split = c.splits > 1 || c.split_keys > 0;
  int64_t padded = keys;
  if (sem.leak_tile > 0) padded = (keys + sem.leak_tile - 1) / sem.leak_tile * sem.leak_tile;
  if (split) padded = std::max(padded, (keys + c.split_tile - 1) / c.split_tile * c.split_tile);
  std::vector<double> score(static_cast<size_t>(padded), kNegInf);
  std::vector<char> is_zero_key(static_cast<size_t>(padded), 0);
  for (int64_t j = 0; j < padded; ++j) {
    if (!pipeline::semantic_key_visible(sem, i, j, p.seqlen_q, keys)) continue;
    const bool stored = j < p.seqlen_k && j < keys;  // a key past the cache or a padded one reads as zeros
    is_zero_key[static_cast<size_t>(j)] = !stored;
    double dot = 0;
    if (stored)
      for (int64_t d = 0; d < D; ++d) dot += in.q(b, i, h, d) * in.k(b, j, kv, d);
    score[static_cast<size_t>(j)] = dot;
  }
  const double scale_log2 = a.scale_log2(sem.scale);
  // Split plan: fixed-size runs, or `splits` runs of whole tiles; one run without a split.
  int64_t per_split = std::max<int64_t>(padded, 1), runs = 1;
  if (c.split_keys > 0) {
    per_split = c.split_keys;
    runs = pipeline::split_count(padded, per_split);
  } else if (c.splits > 1) {
    per_split = pipeline::keys_per_split_for_count<int64_t>(padded / c.split_tile, c.splits, c.split_tile);
    runs = c.splits;
  }
  std::vector<double> outs(static_cast<size_t>(runs * D), 0.0), lse2(static_cast<size_t>(runs), kNegInf), p_run;
  for (int64_t s = 0; s < runs; ++s) {
    const pipeline::IndexRange<int64_t> r = pipeline::split_key_range(s, per_split, padded);
    if (r.end <= r.begin) continue;  // an empty split: output 0, LSE -inf
    p_run.assign(score.begin() + r.begin, score.begin() + r.end);
    pipeline::RowState<double> row;
    pipeline::online_softmax(a, row, [&](int k) -> double& { return p_run[static_cast<size_t>(k)]; },
                             static_cast<int>(r.end - r.begin), scale_log2, pipeline::RescaleRule<double>::eager(),
                             Mutant::none, pipeline::NoReduce{}, pipeline::NoReduce{});
    double* o = &outs[static_cast<size_t>(s * D)];
    for (int64_t j = r.begin; j < r.end; ++j) {
      const double e = p_run[static_cast<size_t>(j - r.begin)];
      if (e == 0 || is_zero_key[static_cast<size_t>(j)]) continue;
      for (int64_t d = 0; d < D; ++d) o[d] += e * in.v(b, j, kv, d);
    }
    const double factor = pipeline::row_normalizer(a, row.l);
    for (int64_t d = 0; d < D; ++d) o[d] = pipeline::normalize(a, o[d], factor);
    lse2[static_cast<size_t>(s)] = pipeline::split_lse(a, row.m, row.l, sem.combine);
  }
  if (!split) {
    std::copy(outs.begin(), outs.begin() + D, out);
    return;
  }
  pipeline::combine_splits(
      a, static_cast<int>(runs), [&](int s) { return lse2[static_cast<size_t>(s)]; },
      [&](int s) { return &outs[static_cast<size_t>(s) * static_cast<size_t>(D)]; }, D, out, sem.combine);
}

std::vector<Candidate> candidates(const Problem& p) {
  std::vector<Candidate> list;
  Candidate declared{"declared", "", {p.mask, p.gqa, p.scale()}};
  list.push_back(declared);
  auto with = [&](std::string name, std::string category, auto change) {
    Candidate c = declared;
    c.name = std::move(name);
    c.category = std::move(category);
    change(c);
    list.push_back(c);
  };
  // The planted bugs of core/pipeline/semantics.h, judged on every problem (off a cache path
  // they may be indistinguishable: reported as such).
  auto planted = [&](Mutant bug, int64_t tile = 64) {
    return [bug, tile](Candidate& c) { c.sem = pipeline::plant_bug(c.sem, bug, true, static_cast<int>(tile)); };
  };
  if (p.mask.kind == MaskKind::causal_bottom_right)
    with("top-left causal (mask aligned to the wrong corner)", "masking", planted(Mutant::top_left_in_cache_path));
  if (p.mask.kind == MaskKind::causal_top_left)
    with("bottom-right causal", "masking", [](Candidate& c) { c.sem.mask.kind = MaskKind::causal_bottom_right; });
  if (p.mask.kind != MaskKind::none) with("no mask", "masking", [](Candidate& c) { c.sem.mask = Mask{MaskKind::none}; });
  for (int64_t tile : {16, 32, 64, 128})
    with("unmasked tile edges (keys padded to " + std::to_string(tile) + " leak into the softmax)", "masking",
         planted(Mutant::unmasked_tile_edges, tile));
  if (p.num_heads_kv > 1 && p.num_heads_q > p.num_heads_kv) {
    if (p.gqa == GqaMapping::contiguous)
      with("interleaved GQA (head h reads KV head h % H_kv)", "gqa", planted(Mutant::interleaved_gqa_in_cache_path));
    else
      with("contiguous GQA", "gqa", [](Candidate& c) { c.sem.gqa = GqaMapping::contiguous; });
  }
  with("stale cache length (newest key not read)", "cache-length", planted(Mutant::stale_seqlens));
  with("cache length one too long (an extra key read)", "cache-length", [](Candidate& c) { c.sem.key_delta = +1; });
  const double D = static_cast<double>(p.head_dim);
  if (std::fabs(p.scale() - 1.0 / D) > 1e-12 * p.scale())
    with("scale 1/D instead of the declared scale", "scale", [D](Candidate& c) { c.sem.scale = 1.0 / D; });
  if (std::fabs(p.scale() - 1.0) > 1e-12) with("scale 1 (no scaling)", "scale", [](Candidate& c) { c.sem.scale = 1.0; });
  for (int splits : {2, 4, 8})
    for (int64_t tile : {16, 32, 64, 128})
      with("base-2 LSE merged with natural exp in a " + std::to_string(splits) + "-way split-KV combine (" +
               std::to_string(tile) + "-key tiles)",
           "split-combine", [&, splits, tile](Candidate& c) {
             planted(Mutant::base2_lse_natural_combine)(c);
             c.splits = splits;
             c.split_tile = tile;
           });
  for (int64_t keys : {64, 128, 256, 512})  // flash-decoding kernels: a fixed split size, any count
    with("base-2 LSE merged with natural exp in a split-KV combine (splits of " + std::to_string(keys) + " keys)",
         "split-combine", [&, keys](Candidate& c) {
           planted(Mutant::base2_lse_natural_combine)(c);
           c.split_keys = keys;
         });
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

Tensor<double> exact_attention_under(const Problem& p, const AttentionInputs& in, const pipeline::Semantics& semantics,
                                     int splits, int64_t split_tile) {
  validate_inputs(p, in);
  Candidate c{"", "", semantics};
  c.splits = splits;
  c.split_tile = split_tile;
  Tensor<double> out(p.q_shape());
  std::vector<double> row(static_cast<size_t>(p.head_dim));
  for (int64_t b = 0; b < p.batch; ++b)
    for (int64_t h = 0; h < p.num_heads_q; ++h)
      for (int64_t i = 0; i < p.seqlen_q; ++i) {
        attend_row(p, in, c, b, h, i, row.data());
        for (int64_t d = 0; d < p.head_dim; ++d) out(b, i, h, d) = row[static_cast<size_t>(d)];
      }
  return out;
}

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
  auto exact = [&](const Candidate& sem) {
    Tensor<double> t({sampled, D});
    int64_t r = 0;
    for (int64_t b = 0; b < p.batch; ++b)
      for (int64_t h = 0; h < p.num_heads_q; ++h)
        for (int64_t i : rows) attend_row(p, in, sem, b, h, i, &t(r++, 0));
    return t;
  };
  const std::vector<Candidate> sems = candidates(p);
  const Tensor<double> declared_truth = exact(sems[0]);
  auto candidate = [&](const Candidate& sem, const Tensor<double>& truth) {
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
