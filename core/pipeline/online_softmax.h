// online_softmax.h: the per-row stages of the FlashAttention forward between the two products —
// running max and rescale decision, P = exp(S - m), row sum, rescale of the accumulator, the P
// cast, the final normalization — written once, host-device, templated on the arithmetic.
// The GPU kernels instantiate them with FP32 device intrinsics (core/pipeline/fp32_device.cuh:
// ex2.approx, __fmaf_rn), the CPU emulator with kernel-faithful FP32 or exact double arithmetic
// per stage (core/pipeline/arithmetic.h), a precision fingerprint with format-rounding
// arithmetic. The register layout stays outside: a row is handed over as a "slice" (a callable
// k -> V& over the columns one thread holds, in the order it sums them) plus reductions across
// the threads that share the row (quad shuffles for mma.sync fragments, warp shuffles in
// decode, identity when one thread holds the whole row). What it is not: the products (QK^T,
// PV: tensor cores or FMA chains, in the kernels), the mask (semantics.h), the split combine
// (split_combine.h).
//
// ============================== CONTRACT OF ONE KV TILE, ONE ROW ==============================
// State per row: m (running max, in the arithmetic's exponent units: log2 units for FA2, where
// m = max(S) * scale * log2 e; natural units for a kernel that scales S first), l (row sum; with
// several slices, each slice keeps its partial l), O (accumulator, D values).
//  1. raw max    r = max(-inf, s_0, s_1, ...) over the slice's scores (masked ones are -inf), in
//                slice order or as a tree (slice_max's MaxOrder: max does not round, so the same
//                value), then reduce_max across the row's slices (exact for the same reason).
//  2. tile max   t = a.scale_max(r, scale_log2)            [exp stage: RN(r * scale_log2)]
//  3. decision   (rescale_step) lazy rule: m_new = max(m_old, t) when m_old = -inf or
//                t > a.lazy_bound(m_old, threshold) [RN(m_old + threshold)], else m_new = m_old;
//                eager rule: m_new = max(m_old, t). m_sub = m_new, or 0 when m_new = -inf (so a
//                row that has seen only masked keys gets exp(-inf) = 0, never NaN).
//                alpha = 0 when m_old = -inf (nothing accumulated yet), else
//                a.rescale_factor(m_old, m_sub)            [rescale stage: ex2(RN(m_old - m_sub))]
//                Planted numeric bugs (Mutant, a compile-time constant on the GPU):
//                p_cast_before_final_max: P taken against m_old (m_sub on the first tile),
//                alpha = 1 (never rescaled); rescale_in_fp16: alpha = a.round_rescale_fp16(alpha).
//  4. P          p_k = a.exp_score(s_k, scale_log2, m_for_p)  [exp stage: ex2(fma(s, scale_log2, -m))]
//                (an arithmetic whose exponential depends on the element's n8 column block of the
//                tile, the FP8 forward's FMA-pipe share, ex2_fma.h, is handed block_of(k) and
//                computes a.exp_score_block(block_of(k), s_k, scale_log2, m_for_p))
//                written over the score; slice sum = ((0 + p_0) + p_1) + ... with a.row_sum_add, in
//                slice order (the first add rounds p_0 when the exp stage is exact and the
//                rescale stage is not); then reduce_sum across slices (identity when
//                each slice keeps its partial sum, as FA2's threads do).
//  5. row sum    l = a.row_sum_update(l, alpha, slice_sum)  [rescale stage: fma(l, alpha, sum)]
//  6. rescale O  o_d = a.rescale_o(o_d, alpha)              [rescale stage: RN(o * alpha)]
//                (a kernel that adds PV on CUDA cores fuses it: rescale_accumulate_o.)
//  7. P cast     hi = a.round_p(p); precise mode lo = a.round_p(a.p_residual(p, hi))  [p_cast]
//  8. PV         O += P V (the kernel's product; not here).
// After the last tile: the partial sums are added in the kernel's order (a.row_sum_add), then
//  9. normalize  f = a.normalizer(l), o_d = a.normalize(o_d, f)  [normalize stage: FA2 f = RN(1/l),
//                o * f; division arithmetics f = l, o / l]; a row with !(l > 0) (fully masked)
//                outputs 0 in every arithmetic. LSE (not a stage): a.natural_lse(m, l).
// ================================================================================================
#pragma once

#include <type_traits>

#include "core/hd.h"
#include "core/kernel_config.h"
#include "core/pipeline/numerics.h"

namespace attn::pipeline {

/// Running state of one row (or of one thread's slice of it: l is then that slice's partial sum).
template <class V>
struct RowState {
  V m = neg_inf<V>();  ///< running max in exponent units; -inf until a visible key is seen
  V l = V(0);          ///< row sum (partial, per slice)
};

/// When the running max is updated (contract step 3).
template <class V>
struct RescaleRule {
  bool lazy = true;     ///< FA2 / FA3: compare against m_old + threshold first
  V threshold = V(0);   ///< log2 units; 0 updates whenever the max grows (FA2), 8: FA3-style lazy
  /// The FA2 rule with threshold `threshold_log2`.
  static ATTN_HD RescaleRule lazy_by(V threshold_log2) { return {true, threshold_log2}; }
  /// m_new = max(m_old, t) always (flash-decoding kernels).
  static ATTN_HD RescaleRule eager() { return {false, V(0)}; }
};

/// The rescale decision of one row at one tile (contract step 3).
template <class V>
struct RescaleStep {
  V m_new;    ///< the running max after this tile
  V m_for_p;  ///< the max P is taken against (m_new, or 0 for an all-masked row; stale in a mutant)
  V alpha;    ///< factor for the accumulator and the row sum (0 on the first visible tile)
};

template <class Arith, class V = typename Arith::value_type>
ATTN_HD RescaleStep<V> rescale_step(const Arith& a, V m_old, V tile_max, RescaleRule<V> rule, Mutant bug) {
  const V ninf = neg_inf<V>();
  V m_new = m_old;
  if (!rule.lazy || m_old == ninf || tile_max > a.lazy_bound(m_old, rule.threshold)) m_new = a.max(m_old, tile_max);
  // A row that has seen only masked keys keeps m = -inf; subtract 0 so exp(-inf) = 0, not NaN.
  const V m_sub = m_new == ninf ? V(0) : m_new;
  V alpha = m_old == ninf ? V(0) : a.rescale_factor(m_old, m_sub);
  V m_for_p = m_sub;
  if (bug == Mutant::p_cast_before_final_max) {
    // Planted: P against the stale max (the tile max only on the first tile), never rescaled.
    m_for_p = m_old == ninf ? m_sub : m_old;
    alpha = V(1);
  }
  if (bug == Mutant::rescale_in_fp16) alpha = a.round_rescale_fp16(alpha);  // planted: alpha in FP16
  return {m_new, m_for_p, alpha};
}

/// Max of the slice's scores, in slice order (contract step 1, before the cross-slice reduction).
template <class Arith, class Slice>
ATTN_HD auto slice_max(const Arith& a, Slice&& slice, int n) {
  using V = typename Arith::value_type;
  V r = neg_inf<V>();
  ATTN_UNROLL
  for (int k = 0; k < n; ++k) r = a.max(r, slice(k));
  return r;
}

/// How step 1 reduces a slice: ChainMax, a chain of n dependent maxes in slice order (the
/// default), or TreeMax<N>, a balanced tree over a slice of exactly N elements (depth ceil(log2 N):
/// the fa3 kernels' softmax, whose dependent chains bound it). max rounds nothing, so both give the
/// same value (the largest score, -inf when every one is masked): the order is a schedule, never a
/// numeric choice. (Scores are never NaN: inputs with NaN are refused before any kernel runs.) N
/// is a compile-time constant so that the tree's values stay in registers.
struct ChainMax {};
template <int N>
struct TreeMax {
  static_assert(N >= 1, "a non-empty slice");
};

template <class Arith, class Slice>
ATTN_HD auto slice_max(const Arith& a, Slice&& slice, int n, ChainMax) {
  return slice_max(a, slice, n);
}
/// The tree over v[0..N): element i meets element i + ceil(N / 2) (the middle one waits a level
/// when N is odd), then the first ceil(N / 2). N is a template constant, so every loop has a
/// compile-time trip count and v stays in registers (a `width /= 2` loop was not unrolled by nvcc
/// and put v in local memory: a 128-byte stack frame in the fa3 kernels).
template <int N, class Arith, class V>
ATTN_HD void tree_max_levels(const Arith& a, V* v) {
  if constexpr (N > 1) {
    constexpr int kHalf = N / 2, kKept = N - kHalf;
    ATTN_UNROLL
    for (int i = 0; i < kHalf; ++i) v[i] = a.max(v[i], v[i + kKept]);
    tree_max_levels<kKept>(a, v);
  }
}
template <class Arith, class Slice, int N>
ATTN_HD auto slice_max(const Arith& a, Slice&& slice, int n, TreeMax<N>) {
  using V = typename Arith::value_type;
  (void)n;  // == N (the caller's slice length)
  V v[N];
  ATTN_UNROLL
  for (int k = 0; k < N; ++k) v[k] = slice(k);
  tree_max_levels<N>(a, v);
  return a.max(neg_inf<V>(), v[0]);
}

/// The default of exp_slice's block_of: the arithmetic's exponential is the same for every element.
struct SameExpEverywhere {};

/// P over the slice, written over the scores; returns the slice's sum in slice order (step 4).
/// block_of(k): the n8 column block of the tile that slice element k lies in, for an arithmetic
/// whose exponential depends on it (exp_score_block); SameExpEverywhere: exp_score.
template <class Arith, class Slice, class V = typename Arith::value_type, class BlockOf = SameExpEverywhere>
ATTN_HD V exp_slice(const Arith& a, Slice&& slice, int n, V scale_log2, V m_for_p, BlockOf block_of = {}) {
  V sum = V(0);
  ATTN_UNROLL
  for (int k = 0; k < n; ++k) {
    V p;
    if constexpr (std::is_same_v<BlockOf, SameExpEverywhere>) p = a.exp_score(slice(k), scale_log2, m_for_p);
    else p = a.exp_score_block(block_of(k), slice(k), scale_log2, m_for_p);
    slice(k) = p;
    sum = a.row_sum_add(sum, p);  // the FP32 P (before any cast) feeds the row sum
  }
  return sum;
}

/// One online-softmax step of one row over one KV tile (contract steps 1-5): turns the slice's
/// scores into P in place, updates the row state and returns alpha for the accumulator.
/// reduce_max / reduce_sum combine the values of the threads sharing the row (identity: one
/// thread holds it all; reduce_sum identity also when each thread keeps a partial row sum).
/// block_of: as exp_slice's. max_order: ChainMax or TreeMax<n> (slice_max; the same values).
template <class Arith, class Slice, class ReduceMax, class ReduceSum, class V = typename Arith::value_type,
          class BlockOf = SameExpEverywhere, class MaxOrder = ChainMax>
ATTN_HD V online_softmax(const Arith& a, RowState<V>& row, Slice&& slice, int n, V scale_log2, RescaleRule<V> rule,
                         Mutant bug, ReduceMax&& reduce_max, ReduceSum&& reduce_sum, BlockOf block_of = {},
                         MaxOrder max_order = {}) {
  const V tile_max = a.scale_max(reduce_max(slice_max(a, slice, n, max_order)), scale_log2);
  const RescaleStep<V> step = rescale_step(a, row.m, tile_max, rule, bug);
  row.m = step.m_new;
  const V sum = reduce_sum(exp_slice(a, slice, n, scale_log2, step.m_for_p, block_of));
  row.l = a.row_sum_update(row.l, step.alpha, sum);
  return step.alpha;
}

/// The sum of n = 2^k per-lane values as a warp's xor-shuffle butterfly forms it (x = x +
/// shfl_xor(x, o) for o = n/2, ..., 1; the pair sums are the same on both lanes because IEEE
/// addition commutes): the CPU side of the decode kernels' warp_sum, for the row sum of a tile
/// (add = a.row_sum_add) and the split-weight sum of the combine (add = a.combine_add).
/// Overwrites `values`; returns what every lane holds at the end.
template <class V, class Add>
ATTN_HD V butterfly_sum(V* values, int n, Add&& add) {
  for (int o = n / 2; o >= 1; o /= 2)
    for (int i = 0; i < n; ++i)
      if ((i & o) == 0) values[i] = values[i | o] = add(values[i], values[i | o]);
  return values[0];
}

/// Identity reduction (one thread holds the whole row, or sums stay partial).
struct NoReduce {
  template <class V>
  ATTN_HD V operator()(V x) const { return x; }
};

/// The accumulator rescaled before the next PV product (contract step 6).
template <class Arith, class V = typename Arith::value_type>
ATTN_HD V rescale_o(const Arith& a, V o, V alpha) {
  return a.rescale_o(o, alpha);
}
/// Rescale fused with the addition of this tile's PV (CUDA-core kernels): fma(o, alpha, pv).
template <class Arith, class V = typename Arith::value_type>
ATTN_HD V rescale_accumulate_o(const Arith& a, V o, V alpha, V pv) {
  return a.rescale_accumulate_o(o, alpha, pv);
}

/// Two P values as the PV product consumes them. hi = round_p(p); in precise mode (PCastMode::
/// split_hi_lo) lo = round_p(RN(p - hi)) carries the rest (contract step 7). An arithmetic with
/// packed operands (the GPU's f16x2 registers) declares p_pair_type and provides round_p_pair /
/// unpack_p_pair, rounding both in one instruction; otherwise each is rounded by round_p.
template <class V>
struct ValuePair {
  V first, second;
};
/// The type of a cast pair: Arith::p_pair_type when the arithmetic packs (e.g. uint32_t holding
/// two FP16 values), else ValuePair<V>.
template <class Arith>
struct PPair {
  using type = ValuePair<typename Arith::value_type>;
};
template <class Arith>
  requires requires { typename Arith::p_pair_type; }
struct PPair<Arith> {
  using type = typename Arith::p_pair_type;
};
template <class Arith, class V = typename Arith::value_type>
ATTN_HD typename PPair<Arith>::type cast_p_pair(const Arith& a, V p0, V p1) {
  if constexpr (requires { typename Arith::p_pair_type; }) return a.round_p_pair(p0, p1);
  else return ValuePair<V>{a.round_p(p0), a.round_p(p1)};
}
template <class Arith, class V = typename Arith::value_type>
ATTN_HD typename PPair<Arith>::type cast_p_lo_pair(const Arith& a, const typename PPair<Arith>::type& hi, V p0, V p1) {
  ValuePair<V> h;
  if constexpr (requires { typename Arith::p_pair_type; }) h = a.unpack_p_pair(hi);  // exact widening
  else h = hi;
  return cast_p_pair(a, a.p_residual(p0, h.first), a.p_residual(p1, h.second));
}
/// One P value (host arithmetics; the same rule as cast_p_pair).
template <class Arith, class V = typename Arith::value_type>
ATTN_HD V cast_p(const Arith& a, V p) {
  return a.round_p(p);
}
template <class Arith, class V = typename Arith::value_type>
ATTN_HD V cast_p_lo(const Arith& a, V p, V hi) {
  return a.round_p(a.p_residual(p, hi));
}

/// The final normalization (contract step 9): factor of a row with sum l, then each output.
template <class Arith, class V = typename Arith::value_type>
ATTN_HD V row_normalizer(const Arith& a, V l) {
  return a.normalizer(l);
}
template <class Arith, class V = typename Arith::value_type>
ATTN_HD V normalize(const Arith& a, V o, V factor) {
  return a.normalize(o, factor);
}

/// Natural-log LSE of a row from its running max m (exponent units) and sum l; -inf when the
/// row saw no key (!(l > 0)).
template <class Arith, class V = typename Arith::value_type>
ATTN_HD V row_lse(const Arith& a, V m, V l) {
  return l > V(0) ? a.natural_lse(m, l) : neg_inf<V>();
}

}  // namespace attn::pipeline
