// split_combine.h: the split-KV (flash-decoding) combine, written once and templated on the
// arithmetic: each split writes its normalized partial output O_s and its partial LSE; the
// combine weighs them by exp(lse_s - reference). Two orders are in use and both live here:
//  * combine_splits (emulator, diagnosis): M = max_s lse_s; sum = sequential sum over splits in
//    order of w(lse_s - M); T = M + log(sum); O = sum over splits in order of w(lse_s - T) O_s,
//    one a.combine_fma per term (so no division at the end);
//  * the decode kernel's: M as above; its weight sum w(lse_s - M) reduced across lanes; O = sum of
//    w(lse_s - M) O_s (combine_weight + combine_accumulate), then normalize by the weight sum.
// The base of the LSEs is the arithmetic's (Arith::kNaturalLse: false for FA2's base 2, true for
// natural-log kernels). The planted bug LseCombine::base2_as_natural merges base-2 LSEs with
// natural exp: a base-2 arithmetic reads them with e^x, a natural arithmetic writes them in base
// 2 (lse * log2 e) and reads them with its usual e^x — the same wrong weights either way.
// What it is not: the per-split softmax (online_softmax.h) or the split plan (tile_plan.h).
#pragma once

#include <cstdint>

#include "core/hd.h"
#include "core/pipeline/numerics.h"
#include "core/pipeline/online_softmax.h"
#include "core/pipeline/semantics.h"

namespace attn::pipeline {

/// Partial LSE of one split as the kernel writes it: a.split_lse(m, l) in the arithmetic's base,
/// -inf for a split whose rows saw no key.
template <class Arith, class V = typename Arith::value_type>
ATTN_HD V split_lse(const Arith& a, V m, V l, LseCombine combine) {
  V lse = l > V(0) ? a.split_lse(m, l) : neg_inf<V>();
  if constexpr (Arith::kNaturalLse)
    if (combine == LseCombine::base2_as_natural) lse = a.natural_to_base2(lse);  // planted: log2 written
  return lse;
}

/// exp(lse - reference) in the LSE's base (the planted bug reads base 2 as natural).
template <class Arith, class V = typename Arith::value_type>
ATTN_HD V combine_weight(const Arith& a, V lse, V reference, LseCombine combine) {
  const V x = a.combine_sub(lse, reference);
  if constexpr (!Arith::kNaturalLse)
    if (combine == LseCombine::base2_as_natural) return a.combine_exp_natural(x);  // planted
  return a.combine_exp(x);
}

/// log of a weight sum in the LSE's base (the planted bug: natural log of a base-2 sum).
template <class Arith, class V = typename Arith::value_type>
ATTN_HD V combine_log(const Arith& a, V sum, LseCombine combine) {
  if constexpr (!Arith::kNaturalLse)
    if (combine == LseCombine::base2_as_natural) return a.combine_log_natural(sum);  // planted
  return a.combine_log(sum);
}

/// acc + w * o_s (one rounding in FP32 arithmetics).
template <class Arith, class V = typename Arith::value_type>
ATTN_HD V combine_accumulate(const Arith& a, V acc, V w, V o_s) {
  return a.combine_fma(w, o_s, acc);
}

/// Max of the partial LSEs (-inf when every split is empty).
template <class Arith, class LseOf>
ATTN_HD auto max_split_lse(const Arith& a, int num_splits, LseOf&& lse_of) {
  using V = typename Arith::value_type;
  V top = neg_inf<V>();
  for (int s = 0; s < num_splits; ++s) top = a.max(top, lse_of(s));
  return top;
}

/// The combined LSE T = M + log(sum over non-empty splits in order of w(lse_s - M)), M the max
/// (-inf when every split is empty), in the arithmetic's base.
template <class Arith, class LseOf, class V = typename Arith::value_type>
ATTN_HD V combine_lse(const Arith& a, int num_splits, LseOf&& lse_of, LseCombine combine) {
  const V top = max_split_lse(a, num_splits, lse_of);
  if (top == neg_inf<V>()) return top;
  V sum = V(0);
  for (int s = 0; s < num_splits; ++s) {
    const V lse = lse_of(s);
    if (lse == neg_inf<V>()) continue;
    sum = a.combine_add(sum, combine_weight(a, lse, top, combine));
  }
  return a.combine_add(top, combine_log(a, sum, combine));
}

/// The full combine, normalized through the total LSE (first order above). lse_of(s): split s's
/// partial LSE; out_of(s): pointer to its D normalized outputs. Writes o[0..D) (zeros when every
/// split is empty) and returns T = combine_lse(...).
template <class Arith, class LseOf, class OutOf, class V = typename Arith::value_type>
ATTN_HD V combine_splits(const Arith& a, int num_splits, LseOf&& lse_of, OutOf&& out_of, int64_t head_dim, V* o,
                         LseCombine combine) {
  for (int64_t d = 0; d < head_dim; ++d) o[d] = V(0);
  const V total = combine_lse(a, num_splits, lse_of, combine);
  if (total == neg_inf<V>()) return total;
  for (int s = 0; s < num_splits; ++s) {
    const V lse = lse_of(s);
    if (lse == neg_inf<V>()) continue;
    const V w = combine_weight(a, lse, total, combine);
    const V* o_s = out_of(s);
    for (int64_t d = 0; d < head_dim; ++d) o[d] = combine_accumulate(a, o[d], w, o_s[d]);
  }
  return total;
}

/// Max and weight sum of a merge (merge_partials): the merged row's LSE is split_lse(a, m, l, ...).
template <class V>
struct MergedRow {
  V m, l;
};

/// The decode kernels' merge of n partial results of one row in their order (the tensor-core
/// kernel's warp streams, decode_mma.cuh; the cross-CTA combine, decode_combine.cuh, spreads the
/// same steps over lanes): M = max_s lse_s; W = sum over s in order of w(lse_s - M), an empty
/// part (lse -inf) adding nothing; o[c] = (the combine_fma chain over s in order of w_s o_s[c]) / W
/// (normalize stage), for the `cols` columns out_of(s) points at. M = -inf: o = 0, W = 0.
template <class Arith, class LseOf, class OutOf, class V = typename Arith::value_type>
ATTN_HD MergedRow<V> merge_partials(const Arith& a, int n, LseOf&& lse_of, OutOf&& out_of, int cols, V* o) {
  for (int c = 0; c < cols; ++c) o[c] = V(0);
  const V top = max_split_lse(a, n, lse_of);
  if (top == neg_inf<V>()) return {top, V(0)};
  V sum = V(0);
  for (int s = 0; s < n; ++s) {
    const V lse = lse_of(s);
    if (lse == neg_inf<V>()) continue;
    const V w = combine_weight(a, lse, top, LseCombine::matched);
    sum = a.combine_add(sum, w);
    const V* o_s = out_of(s);
    for (int c = 0; c < cols; ++c) o[c] = combine_accumulate(a, o[c], w, o_s[c]);
  }
  const V factor = row_normalizer(a, sum);
  for (int c = 0; c < cols; ++c) o[c] = normalize(a, o[c], factor);
  return {top, sum};
}

}  // namespace attn::pipeline
