// mask.cuh: tile-level and element-level masking of the prefill kernel, built on core/mask.h
// (the one mask rule; never a copy). Also the planted masking mutants. Not the softmax.
#pragma once

#include "core/gqa.h"
#include "core/mask.h"
#include "kernels/tile_traits.h"

namespace attn::fa2 {

/// Keys a CTA of query rows [row_first, row_last] must visit, and which tiles are fully visible.
struct TileMaskPlan {
  int key_begin;        ///< first key any row may see
  int key_end;          ///< one past the last key any row may see
  int full_key_begin;   ///< keys in [full_key_begin, full_key_end) are visible to every row
  int full_key_end;
};

/// Every mask in core/mask.h has first/last nondecreasing in the query index, so the union of
/// the rows' ranges is [first(row_first), last(row_last)) and the intersection is
/// [first(row_last), last(row_first)).
__device__ __forceinline__ TileMaskPlan plan_tiles(const Mask& mask, int row_first, int row_last, int seqlen_q,
                                                   int seqlen_k) {
  const KeyRange top = visible_key_range(mask, row_first, seqlen_q, seqlen_k);
  const KeyRange bottom = visible_key_range(mask, row_last, seqlen_q, seqlen_k);
  return {static_cast<int>(top.first), static_cast<int>(bottom.last), static_cast<int>(bottom.first),
          static_cast<int>(top.last)};
}

/// The mask as this variant applies it. Mutants change the rule here and nowhere else.
template <Mutant M>
__device__ __forceinline__ bool kernel_key_visible(const Mask& mask, int i, int j, int seqlen_q, int seqlen_k) {
  if constexpr (M == Mutant::unmasked_tile_edges) {
    // Planted bug: no bounds check, a padded key past S_k is judged like the last real key.
    if (j >= seqlen_k) return key_visible(mask, i, seqlen_k - 1, seqlen_q, seqlen_k);
  }
  if constexpr (M == Mutant::top_left_in_cache_path) {
    // Planted bug: the causal mask aligned top-left (j <= i) whatever S_q and S_k are.
    if (mask.kind == MaskKind::causal_bottom_right) {
      Mask top_left = mask;
      top_left.kind = MaskKind::causal_top_left;
      return key_visible(top_left, i, j, seqlen_q, seqlen_k);
    }
  }
  return key_visible(mask, i, j, seqlen_q, seqlen_k);
}

/// KV head read by query head h (contiguous groups; the GQA mutant interleaves).
template <Mutant M>
__device__ __forceinline__ int kernel_kv_head(int head_q, int num_heads_q, int num_heads_kv) {
  const GqaMapping mapping =
      M == Mutant::interleaved_gqa_in_cache_path ? GqaMapping::interleaved : GqaMapping::contiguous;
  return static_cast<int>(kv_head_for(head_q, num_heads_q, num_heads_kv, mapping));
}

}  // namespace attn::fa2
