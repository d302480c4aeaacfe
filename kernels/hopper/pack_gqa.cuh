// pack_gqa.cuh: the packed GQA rows of the Hopper prefill (HopperTraits::kPackGqa, FA3's
// PackGQA). A work tile of a packed variant serves the `pack` query heads of one KV head: its
// BLOCK_M rows are (query i, member g) pairs, row r = i * pack + g, so one K / V tile feeds every
// head of the group (a chunk of 16 queries with 8 heads per KV head fills a 128-row tile instead
// of 8 tiles one eighth full). With Q and O in [B, S, H, D], the heads of a group are adjacent:
// a TMA box of {64 columns, pack heads, rows / pack queries} is exactly those rows in that order.
// Each row's keys, tiles and arithmetic are those of the unpacked kernel: the same bits
// (tests/gpu/test_hopper.cpp [schedule]). pack = 1 (every other variant, or a group the host
// cannot pack: hopper::gqa_pack) is the unpacked kernel: a work tile's "head" is then a query head.
#pragma once

#include "kernels/hopper/shared_storage.cuh"

namespace attn::hopper {

/// Rows of a work tile against queries and heads; `head` of a work tile is its head block.
struct RowPack {
  int pack;  ///< query heads per work tile (1: unpacked)
  __device__ __forceinline__ int query(int row) const { return row / pack; }
  __device__ __forceinline__ int first_head(int head_block) const { return head_block * pack; }
  __device__ __forceinline__ int head(int head_block, int row) const { return head_block * pack + row % pack; }
  __device__ __forceinline__ int rows(int seqlen_q) const { return seqlen_q * pack; }
};

/// The variant's packing: a compile-time 1 (the divisions fold away) unless it packs.
template <class Traits>
__device__ __forceinline__ RowPack row_pack(const HopperKernelParams& kp) {
  if constexpr (Traits::kPackGqa) return RowPack{kp.pack};
  else return RowPack{1};
}

}  // namespace attn::hopper
