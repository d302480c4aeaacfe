// mainloop.cuh: one work tile of the Hopper prefill, seen from each side of the pipeline.
//  producer_tile (one warp of the producer warpgroup; lane 0 issues): the first K tile, Q (once
//    the consumers released the previous tile's), the first V, then K and V of every further
//    visited KV tile through TMA into the stage ring, each stage's bytes completing its
//    *_full mbarrier; a stage is reused only after every consumer warp released it (*_empty).
//    FP8 variants load V^T (the pre-pass wrote it, fp8_quantize.h) into V's stages.
//  consumer_tile (one consumer warpgroup = 64 query rows): S = Q K^T (wgmma), mask, online
//    softmax (core/pipeline through softmax.cuh), P cast in registers, O += P V (wgmma, P from
//    registers). With the intra-warpgroup overlap, QK^T of tile t is in flight while the PV of
//    tile t-1 is issued and the softmax of tile t runs while that PV completes; with ping-pong,
//    the warpgroups take turns issuing their GEMMs (named barriers). On tiles taller than their
//    KV tile (BLOCK_M > BLOCK_N) a warpgroup passes over the KV tiles none of its rows sees
//    (own_tiles: exact for finite V, see consumer_tile).
// Arithmetic order (the contract; identical to the FA2 kernel's, see forward_kernel.cuh): per
// tile t, O = RN(O * alpha_t) then O += P_t V_t in 16-key k-steps; the rescale is applied
// after the PV of tile t-1 completed and before the PV of tile t is issued, whatever the overlap.
// Keys in [seqlens_k[b], S_k) of the last tile are loaded and masked; their V rows are zeroed
// in shared memory before use (so unwritten cache rows, even NaN, cannot reach O through 0 x NaN;
// FP8: the pre-pass wrote them as zeros), and, for the planted tile-edge leak whose padded keys
// are not masked, their K rows too.
#pragma once

#include <cstdint>

#include "core/pipeline/semantics.h"
#include "core/pipeline/tile_plan.h"
#include "kernels/hopper/barrier.cuh"
#include "kernels/hopper/pack_gqa.cuh"
#include "kernels/hopper/shared_storage.cuh"
#include "kernels/hopper/softmax.cuh"
#include "kernels/hopper/tma.cuh"
#include "kernels/hopper/wgmma.cuh"

namespace attn::hopper {

/// Named barrier ids: 1..W the consumers' GEMM turns (ping-pong), W+1..2W each consumer
/// warpgroup's own epilogue barrier, 2W+1 every consumer (O inside V's stages: every last PV
/// has read V before O is written there); 0 is __syncthreads.
inline constexpr int kBarrierSchedulerBase = 1;
template <class Traits>
inline constexpr int kBarrierEpilogueBase = kBarrierSchedulerBase + Traits::kConsumerWarpgroups;
template <class Traits>
inline constexpr int kBarrierConsumersAll = kBarrierEpilogueBase<Traits> + Traits::kConsumerWarpgroups;

/// The KV tiles a work tile visits: [tile_begin, tile_end), with this batch entry's key count
/// and what the variant computes (the declared mask or its planted bug).
struct TileKeys {
  int tile_begin, tile_end, seqlen_k;
  pipeline::Semantics sem;
};

/// The tiles holding the union of the visible key ranges of the CTA's rows (core/pipeline/
/// tile_plan.h) under the variant's semantics (core/pipeline/semantics.h: a planted bug plans
/// its tiles with its own mask and keys, as in the FA2 kernel and the emulator). Producer and
/// consumers compute it identically. Packed rows plan over the queries they hold.
template <class Traits>
__device__ __forceinline__ TileKeys tile_keys(const HopperKernelParams& kp, const WorkTile& w) {
  const PrefillParams& p = kp.p;
  const RowPack rp = row_pack<Traits>(kp);
  TileKeys k;
  pipeline::Semantics declared;
  declared.mask = p.mask;
  k.sem = pipeline::plant_bug(declared, Traits::kMutant, p.cache_path, Traits::kBlockN);
  k.seqlen_k = pipeline::semantic_keys(k.sem, p.seqlens_k ? p.seqlens_k[w.batch] : p.seqlen_k);
  const int m0 = w.m_block * Traits::kBlockM;
  const int query_first = rp.query(m0), query_last = rp.query(min(m0 + Traits::kBlockM, rp.rows(p.seqlen_q)) - 1);
  const pipeline::IndexRange<int> tiles = pipeline::visited_tiles(
      pipeline::plan_tiles(k.sem.mask, query_first, query_last, p.seqlen_q, k.seqlen_k), Traits::kBlockN);
  k.tile_begin = tiles.begin;
  k.tile_end = tiles.end;
  return k;
}

/// Stage and phase of the Q ring (Traits::kQStages stages).
template <class Traits>
using QState = PipelineState<Traits::kQStages>;

/// Q of a work tile through TMA into its stage's column blocks, once the consumers released the
/// tile that used that stage before (every calling thread waits; `issuer` issues).
template <class Traits>
__device__ __forceinline__ void load_q(const HopperKernelParams& kp, const WorkTile& w, uint8_t* smem,
                                       PipelineBarriers<Traits::kStages>& bars, QState<Traits>& q, bool issuer) {
  using L = SmemLayout<Traits>;
  const RowPack rp = row_pack<Traits>(kp);  // packed: a box of {columns, pack heads, rows / pack queries}
  mbarrier_wait(&bars.q_empty[q.stage], q.phase ^ 1u, WaitSite::q_empty, kp.watchdog);
  if (issuer) {
    mbarrier_arrive_expect_tx(&bars.q_full[q.stage], Traits::kQBytes);
#pragma unroll
    for (int c = 0; c < Traits::kColumnBlocks; ++c)
      tma_load_4d(smem + L::kQ + q.stage * Traits::kQBytes + c * L::kQBlockStride, &kp.tma_q, &bars.q_full[q.stage],
                  c * Traits::kOperandColumns, rp.first_head(w.head), rp.query(w.m_block * Traits::kBlockM), w.batch);
  }
  q.advance();
}

/// One K (or V) tile of keys n0.. of `kv_head` through TMA into `dst` (its column blocks),
/// completing on `bar` (the issuing thread only).
template <class Traits>
__device__ __forceinline__ void load_kv_tile(const CUtensorMap* map, uint8_t* dst, uint64_t* bar, int kv_head, int n0,
                                             int batch) {
  using L = SmemLayout<Traits>;
  mbarrier_arrive_expect_tx(bar, Traits::kKVTileBytes);
#pragma unroll
  for (int c = 0; c < Traits::kColumnBlocks; ++c)
    tma_load_4d(dst + c * L::kKVBlockStride, map, bar, c * Traits::kOperandColumns, kv_head, n0, batch);
}

/// One K (or V) tile of keys n0.. of batch entry `batch` from a paged cache (PrefillParams::
/// layout; the launcher's map spans the page pool as [pages, page_size, H_kv, D], the page in the
/// map's batch coordinate): one box of min(page_size, BLOCK_N) rows per page the tile covers
/// (page_size divides BLOCK_N) or the tile's rows of its one page (BLOCK_N divides page_size).
/// Each box lands at its own rows of `dst`: at multiples of 16 rows, whole 1024-byte swizzle
/// atoms, so the boxes give the bytes one box of the whole tile would. Boxes from `seqlen_k` on
/// are not loaded (their block-table entries need not exist, e.g. -1) and not expected; the
/// caller zeroes those rows (ragged_tile is true for every paged tile past the entry's end).
/// The whole producer warp calls it: lane i reads the block-table entry of box i and issues that
/// box, so a tile of 16-key pages waits for one table read, not eight in a row (one lane issuing
/// them all ran the fa3 kernel at half its contiguous speed: reports/h200/chunked/call1).
template <class Traits>
__device__ __forceinline__ void load_paged_kv_tile(const CUtensorMap* map, uint8_t* dst, uint64_t* bar, int kv_head, int n0,
                                                   int batch, const KvLayout& layout, int seqlen_k, int lane) {
  using L = SmemLayout<Traits>;
  static_assert(!Traits::kFp8, "paged caches are 16-bit (an E4M3 cache arrives dequantized)");
  static_assert(Traits::kBlockN / 16 <= 32, "one lane per box");
  const int box = min(layout.page_size, Traits::kBlockN);
  const int boxes = min(Traits::kBlockN / box, (seqlen_k - n0 + box - 1) / box);
  if (lane == 0) mbarrier_arrive_expect_tx(bar, static_cast<uint32_t>(boxes * box * Traits::kColumnBlocks * 128));
  __syncwarp();  // the transaction count is posted before any box can complete
  if (lane < boxes) {
    const int key = n0 + lane * box;
    const int page = __ldg(layout.block_table + static_cast<int64_t>(batch) * layout.pages_per_seq + key / layout.page_size);
#pragma unroll
    for (int c = 0; c < Traits::kColumnBlocks; ++c)
      tma_load_4d(dst + c * L::kKVBlockStride + lane * box * 128, map, bar, c * Traits::kOperandColumns, kv_head,
                  key % layout.page_size, page);
  }
}

/// FP8: the V^T tile of keys n0.. (D rows of BLOCK_N key bytes: one TMA box) into `dst`.
template <class Traits>
__device__ __forceinline__ void load_vt_tile(const CUtensorMap* map, uint8_t* dst, uint64_t* bar, int kv_head, int n0,
                                             int batch) {
  static_assert(Traits::kBlockN == 128, "one 128-byte swizzle row of keys");
  mbarrier_arrive_expect_tx(bar, Traits::kKVTileBytes);
  tma_load_4d(dst, map, bar, n0, kv_head, 0, batch);
}

/// Variants whose planted bug lets a tile's padded keys into the softmax (their K tail matters).
template <class Traits>
inline constexpr bool kLeaksTileEdges = Traits::kMutant == Mutant::unmasked_tile_edges;

/// Whether the KV tile at key n0 holds keys past this batch entry's length that lie inside the
/// tensor (ragged seq_lens): TMA zero-fills only outside the tensor, so those rows hold whatever
/// the buffer holds, and the producer loads the tile through the ragged-tail barrier and zeroes
/// them (zero_tail_rows) before the consumers see it. A paged cache: every tile past the entry's
/// end (the rows are other pages' keys, or were never loaded: load_paged_kv_tile).
template <class Traits>
__device__ __forceinline__ bool ragged_tile(const PrefillParams& p, const TileKeys& keys, int n0) {
  if (p.layout.paged()) return n0 + Traits::kBlockN > keys.seqlen_k;
  return p.seqlens_k != nullptr && n0 + Traits::kBlockN > keys.seqlen_k && keys.seqlen_k < p.seqlen_k;
}

/// K or V tile n0 of the work tile into `dst` (the whole producer warp calls it): the
/// [B, S_k, H_kv, D] map (lane 0 issues), or a paged cache's pool (a lane per page).
template <class Traits>
__device__ __forceinline__ void load_cache_tile(const PrefillParams& p, const TileKeys& keys, const CUtensorMap* map,
                                                uint8_t* dst, uint64_t* bar, int kv_head, int n0, int batch, int lane) {
  if constexpr (!Traits::kFp8) {
    if (p.layout.paged()) {
      load_paged_kv_tile<Traits>(map, dst, bar, kv_head, n0, batch, p.layout, keys.seqlen_k, lane);
      return;
    }
  }
  if (lane == 0) load_kv_tile<Traits>(map, dst, bar, kv_head, n0, batch);
}

/// Producer warp, ragged tile: waits for the K or V tile at `tile` (loaded through the
/// ragged-tail barrier `ragged`), zeroes its rows from `first_row` on, and completes `full` (the
/// consumers' barrier of that stage) by a plain arrival.
template <class Traits>
__device__ __forceinline__ void zero_tail_rows(uint8_t* tile, int first_row, uint64_t* ragged, uint32_t& ragged_phase,
                                               uint64_t* full, const HopperKernelParams& kp, int lane) {
  using L = SmemLayout<Traits>;
  mbarrier_wait(ragged, ragged_phase, WaitSite::ragged_tail, kp.watchdog);
  ragged_phase ^= 1u;
  first_row = max(first_row, 0);
  const int rows = Traits::kBlockN - first_row;
  // Whole 128-byte rows are zeroed, so the swizzle (a permutation inside a row) is moot.
  for (int idx = lane; idx < rows * 8 * Traits::kColumnBlocks; idx += 32) {
    const int c = idx / (rows * 8), within = idx - c * rows * 8;
    uint8_t* dst = tile + c * L::kKVBlockStride + (first_row + within / 8) * 128 + (within % 8) * 16;
    *reinterpret_cast<uint4*>(dst) = make_uint4(0, 0, 0, 0);
  }
  fence_proxy_async_shared();  // the zeros are read by wgmma (async proxy)
  __syncwarp();
  if (lane == 0) mbarrier_arrive(full);
}

/// Producer side of one work tile. Executed by the whole producer warp (lane 0 issues; every
/// lane waits, so the warp stays converged); `kv`, `q` and `ragged_phase` carry over
/// between work tiles.
template <class Traits>
__device__ __forceinline__ void producer_tile(const HopperKernelParams& kp, const WorkTile& w, const TileKeys& keys,
                                              uint8_t* smem, PipelineBarriers<Traits::kStages>& bars,
                                              PipelineState<Traits::kStages>& kv, QState<Traits>& q,
                                              uint32_t& ragged_phase, uint32_t& o_phase, int lane) {
  using L = SmemLayout<Traits>;
  const PrefillParams& p = kp.p;
  const int kv_head = pipeline::semantic_kv_head(keys.sem, row_pack<Traits>(kp).first_head(w.head), p.num_heads_q, p.num_heads_kv);
  // O inside V's stages (Traits::kOInV): the previous work tile's O band must have been read by
  // its TMA store before this tile's first V lands there (one phase of o_free per work tile; the
  // CTA's first tile passes: a fresh barrier's parity-1 phase counts as complete). The consumers
  // cannot complete a second phase before the producer waited for the first: they need this
  // tile's first V (every consumer warpgroup waits for each V of the CTA's tiles).
  auto wait_o_band_free = [&]() {
    if constexpr (Traits::kOInV) {
      mbarrier_wait(&bars.o_free, o_phase ^ 1u, WaitSite::o_free, kp.watchdog);
      o_phase ^= 1u;
    }
  };

  // Q waits for the consumers to finish the previous tile's last QK^T: its first K load is
  // issued before that wait (FA3's order), so it lands while they finish the tile.
  bool q_issued = false;
  for (int t = keys.tile_begin; t < keys.tile_end; ++t) {
    const int n0 = t * Traits::kBlockN;
    uint8_t* sK = smem + L::kK + kv.stage * Traits::kKVTileBytes;
    uint8_t* sV = smem + L::kV + kv.stage * Traits::kKVTileBytes;
    mbarrier_wait(&bars.k_empty[kv.stage], kv.phase ^ 1u, WaitSite::k_empty, kp.watchdog);
    if constexpr (kLeaksTileEdges<Traits>) {
      // A planted tile-edge leak lets the padded keys of a ragged tile into the softmax: the
      // semantics (and the FA2 kernel's predicated loads) read their K as zeros, score 0; with
      // the entry's stale K rows the leaked scores were q.k instead (issue #9: excess 39.5 on
      // the ragged entry). So this variant zeroes K's tail like V's. The correct variants mask
      // those scores to -inf whatever K holds and keep the direct load.
      const bool zero_k_tail = ragged_tile<Traits>(p, keys, n0) && keys.sem.leak_tile > 0;
      uint64_t* k_bar = zero_k_tail ? &bars.ragged_tail : &bars.k_full[kv.stage];
      load_cache_tile<Traits>(p, keys, &kp.tma_k, sK, k_bar, kv_head, n0, w.batch, lane);
      if (zero_k_tail)
        zero_tail_rows<Traits>(sK, keys.seqlen_k - n0, &bars.ragged_tail, ragged_phase, &bars.k_full[kv.stage], kp, lane);
    } else {
      load_cache_tile<Traits>(p, keys, &kp.tma_k, sK, &bars.k_full[kv.stage], kv_head, n0, w.batch, lane);
    }
    if (!q_issued) {
      load_q<Traits>(kp, w, smem, bars, q, lane == 0);
      q_issued = true;
      wait_o_band_free();
    }
    mbarrier_wait(&bars.v_empty[kv.stage], kv.phase ^ 1u, WaitSite::v_empty, kp.watchdog);
    // V rows past the entry's keys are zeroed for every variant: masked keys then add exactly 0
    // to O, even over NaN in unwritten cache rows (FP8: by the pre-pass, in V^T).
    if constexpr (Traits::kFp8) {
      if (lane == 0) load_vt_tile<Traits>(&kp.tma_v, sV, &bars.v_full[kv.stage], kv_head, n0, w.batch);
      kv.advance();
      continue;
    }
    const bool ragged = ragged_tile<Traits>(p, keys, n0);
    uint64_t* v_bar = ragged ? &bars.ragged_tail : &bars.v_full[kv.stage];
    load_cache_tile<Traits>(p, keys, &kp.tma_v, sV, v_bar, kv_head, n0, w.batch, lane);
    if (ragged) zero_tail_rows<Traits>(sV, keys.seqlen_k - n0, &bars.ragged_tail, ragged_phase, &bars.v_full[kv.stage], kp, lane);
    kv.advance();
  }
  if (!q_issued) {  // no visible key: the consumers still take Q (and store O)
    // Here the band's wait comes before Q: the consumers, needing no V, could otherwise store
    // this tile's O (a second o_free phase) before the producer saw the previous one.
    wait_o_band_free();
    load_q<Traits>(kp, w, smem, bars, q, lane == 0);
  }
}

/// The GEMM turn of the ping-pong schedule: wait for this warpgroup's turn / hand it on.
template <class Traits>
__device__ __forceinline__ void scheduler_wait_turn(int wg) {
  if constexpr (Traits::kPingPong) named_barrier_sync(kBarrierSchedulerBase + wg, 256);
}
template <class Traits>
__device__ __forceinline__ void scheduler_pass_turn(int wg) {
  if constexpr (Traits::kPingPong)
    named_barrier_arrive(kBarrierSchedulerBase + (wg + 1) % Traits::kConsumerWarpgroups, 256);
}

/// One arrival per consumer warp (the *_empty barriers count warps).
__device__ __forceinline__ void release_stage(uint64_t* bar, int lane) {
  if (lane == 0) mbarrier_arrive(bar);
}

/// Accumulators of one consumer thread for one work tile.
template <class Traits>
struct ConsumerAccumulators {
  static constexpr bool kWithLo = Traits::kPCast == PCastMode::split_hi_lo;
  float o[Traits::kHeadDim / 8][4];
  RowPair state;
  float v_scale = 1.f;  ///< FP8: V's scale, applied with the normalization
};

/// The KV tiles of a work tile that one consumer warpgroup's rows see: the tiles holding the
/// union of their visible key ranges (`plan`, planned for the rows first_row..last_row of the
/// warpgroup, whose first query is wg_query0), inside the CTA's [tile_begin, tile_end); empty when
/// the rows lie past S_q.
/// Only tiles taller than their KV tile (BLOCK_M > BLOCK_N: the three-warpgroup D 64 tiles) skip:
/// there every causal diagonal block has tiles its first warpgroups do not see; the others keep
/// the CTA's range (the code of before: the skip would act only on rows past S_q and on masks
/// with an offset). A planted mutant keeps the CTA's range (its bug may act on a tile its rows
/// do not see: the fp16 rescale rounds O even where alpha = 1).
template <class Traits>
__device__ __forceinline__ pipeline::IndexRange<int> own_tiles(const TileKeys& keys, const pipeline::TilePlan<int>& plan,
                                                               int wg_query0, int seqlen_q) {
  if constexpr (Traits::kMutant != Mutant::none || Traits::kBlockM <= Traits::kBlockN) {
    return {keys.tile_begin, keys.tile_end};
  } else {
    if (wg_query0 >= seqlen_q) return {keys.tile_begin, keys.tile_begin};
    const pipeline::IndexRange<int> t = pipeline::visited_tiles(plan, Traits::kBlockN);
    const int begin = max(t.begin, keys.tile_begin), end = min(t.end, keys.tile_end);
    return end > begin ? pipeline::IndexRange<int>{begin, end} : pipeline::IndexRange<int>{keys.tile_begin, keys.tile_begin};
  }
}

/// Consumer side of one work tile for warpgroup `wg` (0-based among the consumers); leaves the
/// unnormalized O and the row state in `acc` for the epilogue.
template <class Traits>
__device__ __forceinline__ void consumer_tile(const HopperKernelParams& kp, const WorkTile& w, const TileKeys& keys,
                                              uint32_t smem_base, PipelineBarriers<Traits::kStages>& bars,
                                              PipelineState<Traits::kStages>& kv, QState<Traits>& q, int wg,
                                              int thread_in_wg, ConsumerAccumulators<Traits>& acc) {
  using L = SmemLayout<Traits>;
  constexpr int BN = Traits::kBlockN;
  constexpr bool kWithLo = ConsumerAccumulators<Traits>::kWithLo;
  const PrefillParams& p = kp.p;
  const RowPack rp = row_pack<Traits>(kp);
  const int warp = thread_in_wg / 32, lane = thread_in_wg % 32;
  const int wg_row0 = w.m_block * Traits::kBlockM + wg * kRowsPerWarpgroup;  // rows are packed (pack_gqa.cuh)
  const int rows[2] = {rp.query(wg_row0 + warp * 16 + lane / 4), rp.query(wg_row0 + warp * 16 + lane / 4 + 8)};  // queries
  const int col_in_quad = (lane % 4) * 2;
  // Tiles fully visible to every row of this warpgroup skip the element mask (every tile for a
  // planted leak, whose bug is precisely skipping the bounds check); the others compare each key
  // with the row's visible interval (mask_tile_rows), the leak keeps the per-element rule.
  const int first_row = min(rp.query(wg_row0), p.seqlen_q - 1);
  const int last_row = min(rp.query(wg_row0 + kRowsPerWarpgroup - 1), p.seqlen_q - 1);
  const pipeline::TilePlan<int> plan = pipeline::plan_tiles(keys.sem.mask, first_row, last_row, p.seqlen_q, keys.seqlen_k);
  auto mask_tile = [&](float (&s)[BN / 8][4], int t) {
    const int n0 = t * BN;
    if (keys.sem.leak_tile > 0)
      fa2::mask_tile(s, keys.sem, n0, rows, col_in_quad, p.seqlen_q, keys.seqlen_k);
    else if (!pipeline::tile_fully_visible(plan, n0, BN, keys.seqlen_k))
      mask_tile_rows(s, keys.sem, n0, rows, col_in_quad, p.seqlen_q, keys.seqlen_k);
  };
  const int q_stage = q.stage;
  const uint32_t sQ_rows = smem_base + L::kQ + q_stage * Traits::kQBytes + wg * kRowsPerWarpgroup * 128;
  auto sK = [&](int stage) { return smem_base + L::kK + stage * Traits::kKVTileBytes; };
  // PV's B operand: V (16-bit, MN-major) or V^T (FP8, K-major).
  auto sV = [&](int stage) { return smem_base + L::kV + stage * Traits::kKVTileBytes; };
  // The score scale of key tile t in log2 units; FP8 folds in the Q block's and the K tile's
  // scales. Read at the top of the tile's iteration, so the K scale's global load is in flight
  // during the waits and the QK^T (the asm fences keep it from sinking to the softmax).
  const int kv_head = pipeline::semantic_kv_head(keys.sem, rp.first_head(w.head), p.num_heads_q, p.num_heads_kv);
  const int64_t kv_pair = static_cast<int64_t>(w.batch) * p.num_heads_kv + kv_head;
  float q_scale = 1.f;
  if constexpr (Traits::kFp8) {
    q_scale = kp.q_scale[(static_cast<int64_t>(w.batch) * p.num_heads_q + w.head) * kp.q_blocks + w.m_block];
    acc.v_scale = kp.v_scale[kv_pair];
  }
  auto tile_scale_log2 = [&](int t) {
    if constexpr (Traits::kFp8)
      return pipeline::fp8_score_scale_log2(p.scale_log2, q_scale, kp.k_scale[kv_pair * kp.k_blocks + t], kp.rotation_inverse);
    else return p.scale_log2;
  };

#pragma unroll
  for (int db = 0; db < Traits::kHeadDim / 8; ++db) acc.o[db][0] = acc.o[db][1] = acc.o[db][2] = acc.o[db][3] = 0.f;
  acc.state = RowPair();
  float s[BN / 8][4];
  uint32_t p_hi[Traits::kPFragments][4];
  uint32_t p_lo[kWithLo ? Traits::kPFragments : 1][4];
  float alpha[2];

  // The KV tiles this warpgroup's own rows see, [own_begin, own_end) inside the CTA's; the
  // others it passes over (pass_tile).
  const pipeline::IndexRange<int> own = own_tiles<Traits>(keys, plan, rp.query(wg_row0), p.seqlen_q);
  // A KV tile outside the warpgroup's own range: every score would be -inf for each of its rows
  // (or its rows lie past S_q), so the tile's stages would give alpha = 1 (m unchanged; alpha = 0
  // while m = -inf with O = l = 0), P = 0, O and l unchanged: skipping the products is exact for
  // finite V (the rows see no value of it; an Inf or NaN V there no longer reaches O through
  // 0 x Inf). The warpgroup still takes its GEMM turn (the turn order counts one turn per tile
  // and warpgroup) and releases the K and V stages once they are full (an earlier release would
  // count towards the stage's previous phase).
  auto pass_tile = [&]() {
    scheduler_wait_turn<Traits>(wg);
    scheduler_pass_turn<Traits>(wg);
    mbarrier_wait(&bars.k_full[kv.stage], kv.phase, WaitSite::k_full, kp.watchdog);
    release_stage(&bars.k_empty[kv.stage], lane);
    mbarrier_wait(&bars.v_full[kv.stage], kv.phase, WaitSite::v_full, kp.watchdog);
    release_stage(&bars.v_empty[kv.stage], lane);
    kv.advance();
  };

  float scale_t = own.end > own.begin ? tile_scale_log2(own.begin) : 0.f;
  mbarrier_wait(&bars.q_full[q_stage], q.phase, WaitSite::q_full, kp.watchdog);
  q.advance();
  for (int t = keys.tile_begin; t < own.begin; ++t) pass_tile();
  if (own.end > own.begin) {
    // ---- first tile: S only ----------------------------------------------------------------
    mbarrier_wait(&bars.k_full[kv.stage], kv.phase, WaitSite::k_full, kp.watchdog);
    scheduler_wait_turn<Traits>(wg);
    gemm_qk<Traits>(s, sQ_rows, L::kQBlockStride, sK(kv.stage));
    scheduler_pass_turn<Traits>(wg);
    wgmma_wait<0>();
    fence_registers(s);
    release_stage(&bars.k_empty[kv.stage], lane);
    mask_tile(s, own.begin);
    online_softmax_tile<Traits>(s, acc.state, scale_t, alpha);
    convert_p<Traits, kWithLo>(s, p_hi, p_lo);
    PipelineState<Traits::kStages> v_read = kv;  // the V stage paired with P
    kv.advance();
    // ---- steady state: S of tile t in flight while O += P_{t-1} V_{t-1} is issued ------------
    for (int t = own.begin + 1; t < own.end; ++t) {
      scale_t = tile_scale_log2(t);
      mbarrier_wait(&bars.k_full[kv.stage], kv.phase, WaitSite::k_full, kp.watchdog);
      scheduler_wait_turn<Traits>(wg);
      gemm_qk<Traits>(s, sQ_rows, L::kQBlockStride, sK(kv.stage));
      if constexpr (!Traits::kIntraWarpgroupOverlap) {
        wgmma_wait<0>();
        fence_registers(s);
      }
      rescale_o<Traits>(acc.o, alpha);  // O = RN(O * alpha_{t-1}) before P_{t-1} V_{t-1} is added
      mbarrier_wait(&bars.v_full[v_read.stage], v_read.phase, WaitSite::v_full, kp.watchdog);
      fence_registers(acc.o);
      gemm_pv<Traits, kWithLo>(acc.o, p_hi, p_lo, sV(v_read.stage));
      scheduler_pass_turn<Traits>(wg);
      wgmma_wait<1>();  // the QK^T group (committed first) is done
      fence_registers(s);
      release_stage(&bars.k_empty[kv.stage], lane);
      mask_tile(s, t);
      online_softmax_tile<Traits>(s, acc.state, scale_t, alpha);
      wgmma_wait<0>();  // PV done: V's stage and the P registers are free
      fence_registers(acc.o);
      fence_registers(p_hi);
      release_stage(&bars.v_empty[v_read.stage], lane);
      convert_p<Traits, kWithLo>(s, p_hi, p_lo);
      v_read = kv;
      kv.advance();
    }
    release_stage(&bars.q_empty[q_stage], lane);  // every QK^T of this tile has completed
    // ---- last tile: O += P V ------------------------------------------------------------------
    rescale_o<Traits>(acc.o, alpha);
    mbarrier_wait(&bars.v_full[v_read.stage], v_read.phase, WaitSite::v_full, kp.watchdog);
    fence_registers(acc.o);
    gemm_pv<Traits, kWithLo>(acc.o, p_hi, p_lo, sV(v_read.stage));
    wgmma_wait<0>();
    fence_registers(acc.o);
    release_stage(&bars.v_empty[v_read.stage], lane);
  } else {
    release_stage(&bars.q_empty[q_stage], lane);  // no key visible to these rows: O = 0, LSE = -inf
  }
  for (int t = own.end; t < keys.tile_end; ++t) pass_tile();
}

}  // namespace attn::hopper
