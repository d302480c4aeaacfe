// tile_plan.h: which key tiles a block of query rows visits, which of them need an element mask,
// and how a key range is cut into split-KV partitions. Host-device; `Int` is int on the GPU and
// int64_t in the emulator (the same formulas at either width). The GPU prefill kernels, the
// CPU emulator (its tile schedule), the decode kernels (their split ranges), the host split
// planner (kernels/cache/cache_plan) and the diagnosis (its split alternatives) call these.
// What it is not: the mask rule (core/mask.h) or the meaning of a problem (semantics.h).
#pragma once

#include <cstdint>

#include "core/hd.h"
#include "core/mask.h"

namespace attn::pipeline {

/// Keys a block of query rows [row_first, row_last] must visit, and the keys every row sees.
template <class Int>
struct TilePlan {
  Int key_begin;       ///< first key any row may see
  Int key_end;         ///< one past the last key any row may see (key_end <= key_begin: nothing)
  Int full_key_begin;  ///< keys in [full_key_begin, full_key_end) are visible to every row
  Int full_key_end;
};

/// Every mask of core/mask.h has first/last nondecreasing in the query index, so the union of
/// the rows' ranges is [first(row_first), last(row_last)) and the intersection is
/// [first(row_last), last(row_first)).
template <class Int>
ATTN_HD TilePlan<Int> plan_tiles(const Mask& mask, Int row_first, Int row_last, Int seqlen_q, Int seqlen_k) {
  const KeyRange top = visible_key_range(mask, row_first, seqlen_q, seqlen_k);
  const KeyRange bottom = visible_key_range(mask, row_last, seqlen_q, seqlen_k);
  return {static_cast<Int>(top.first), static_cast<Int>(bottom.last), static_cast<Int>(bottom.first),
          static_cast<Int>(top.last)};
}

/// Half-open range [begin, end) of tile or key indices.
template <class Int>
struct IndexRange {
  Int begin;
  Int end;
};

/// Tiles of `tile_keys` keys holding the plan's keys (empty when the plan sees no key).
template <class Int>
ATTN_HD IndexRange<Int> visited_tiles(const TilePlan<Int>& plan, Int tile_keys) {
  const Int begin = plan.key_begin / tile_keys;
  const Int end = plan.key_end > plan.key_begin ? (plan.key_end + tile_keys - 1) / tile_keys : begin;
  return {begin, end};
}

/// True when every key of the tile starting at key n0 is real (< seqlen_k) and visible to every
/// row of the plan: the element mask can be skipped there.
template <class Int>
ATTN_HD bool tile_fully_visible(const TilePlan<Int>& plan, Int n0, Int tile_keys, Int seqlen_k) {
  return n0 >= plan.full_key_begin && n0 + tile_keys <= plan.full_key_end && n0 + tile_keys <= seqlen_k;
}

// ---- split-KV plan -----------------------------------------------------------------------------
// A split plan cuts [0, keys) into runs of keys_per_split keys (a multiple of the key tile):
// split s covers [s * keys_per_split, (s + 1) * keys_per_split) clipped to keys. Fixed-size
// plans (flash-decoding) choose keys_per_split; count plans (the emulator's num_splits, the
// decode kernels' fixed counts and heuristic) derive it from a tile count: the FA2 emulator from
// each entry's tiles, the decode kernels from the longest entry's (one keys_per_split per launch).
// Splits past the last key are empty (their partial LSE is -inf).

/// keys_per_split of a plan of `num_splits` runs of whole tiles: ceil(tiles / num_splits) tiles.
template <class Int>
ATTN_HD Int keys_per_split_for_count(Int total_tiles, Int num_splits, Int tile_keys) {
  return (total_tiles + num_splits - 1) / num_splits * tile_keys;
}

/// Tiles of `tile_keys` keys holding `keys` keys (at least one).
template <class Int>
ATTN_HD Int tiles_for_keys(Int keys, Int tile_keys) {
  return keys > tile_keys ? (keys + tile_keys - 1) / tile_keys : Int(1);
}

/// The most splits a split-KV plan makes (the combine's loads and the counters assume it).
inline constexpr int kMaxSplits = 64;

/// Most splits the heuristic plan gives a batch whose work units alone fill more than one wave.
inline constexpr int kMaxWaveFillSplits = 4;

/// Split count of the decode kernels' heuristic plan (flash-decoding): as many splits as keep
/// work_units x splits CTAs (work units: batch entries x KV-head groups x row blocks) within
/// target_ctas, one wave and no partial second one. When the work units alone exceed one wave
/// (large batches), the count s in 1..kMaxWaveFillSplits whose CTAs fill their last wave best:
/// the largest work_units x s / (waves(s) x target_ctas), waves(s) = ceil(work_units x s /
/// target_ctas), the smaller s on a tie, kept only when it fills more than 1/16 better than one
/// split (512 units on 396 resident CTAs: 1 split fills 65 % of two waves, 3 splits 97 % of
/// four; 10000 units: 97 % already, 1 split). At least 1, at most kMaxSplits, and no split
/// shorter than a tile of the longest entry. Depends on the batch: not batch-invariant.
template <class Int>
ATTN_HD Int heuristic_split_count(Int longest_keys, Int work_units, Int target_ctas, Int tile_keys) {
  if (work_units < 1) work_units = 1;
  Int splits = target_ctas / work_units;
  if (splits < 1 && target_ctas > 0) {
    // fill(s) = work_units x s / (waves(s) x target_ctas): compare s / waves(s) across s.
    const Int waves1 = (work_units + target_ctas - 1) / target_ctas;
    Int best_waves = waves1;
    splits = 1;
    for (Int s = 2; s <= Int(kMaxWaveFillSplits); ++s) {
      const Int waves = (work_units * s + target_ctas - 1) / target_ctas;
      if (s * best_waves > splits * waves) {
        splits = s;
        best_waves = waves;
      }
    }
    // Splitting costs partial results and a combine: only for a fill more than 1/16 better.
    if (splits * waves1 * 16 <= 17 * best_waves) splits = 1;
  }
  if (splits < 1) splits = 1;
  if (splits > kMaxSplits) splits = kMaxSplits;
  const Int tiles = tiles_for_keys(longest_keys, tile_keys);
  return splits < tiles ? splits : tiles;
}

/// Splits needed for `keys` keys at `keys_per_split` (at least one, also for zero keys).
template <class Int>
ATTN_HD Int split_count(Int keys, Int keys_per_split) {
  return keys > 0 ? (keys + keys_per_split - 1) / keys_per_split : Int(1);
}

/// Keys [begin, end) of split `split`, clipped to [0, keys).
template <class Int>
ATTN_HD IndexRange<Int> split_key_range(Int split, Int keys_per_split, Int keys) {
  Int begin = split * keys_per_split, end = begin + keys_per_split;
  if (begin > keys) begin = keys;
  if (end > keys) end = keys;
  return {begin, end};
}

/// The tiles [begin, end) (indices from the split's first tile) of key stream `stream` of
/// `streams` when a split's `tiles` tiles are cut into contiguous runs, the later streams taking
/// the larger runs (the tensor-core decode kernel's warps; empty when tiles < streams).
template <class Int>
ATTN_HD IndexRange<Int> stream_tile_range(Int tiles, Int stream, Int streams) {
  return {stream * tiles / streams, (stream + 1) * tiles / streams};
}

}  // namespace attn::pipeline
