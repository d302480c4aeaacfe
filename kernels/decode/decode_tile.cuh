// decode_tile.cuh: the per-tile math both decode kernels share, after the scores of a 64-key tile
// are in shared memory: the online softmax of each row (one warp per row, lane l holding keys l
// and l + 32; core/pipeline/online_softmax.h with the flash-decoding arithmetic) and the PV chains
// of one (4-row block, column pair) item (two FP32 fma chains over alternating groups of 4 keys,
// joined by one shuffle). The order of every operation here is the decode contract
// (analysis/decode_emulator.h); the kernels keep their own loads and layouts (decode_split.cuh:
// cp.async tiles; decode_bulk.cuh: bulk-copy stages, FP8 widening). Also the split's key range
// and the Q A-fragments of the tensor-core score products (decode_bulk.cuh, decode_mma.cuh).
// Device only.
#pragma once

#include <cstdint>

#include "core/kernel_config.h"
#include "core/pipeline/fp32_device.cuh"
#include "core/pipeline/online_softmax.h"
#include "core/pipeline/semantics.h"
#include "core/pipeline/tile_plan.h"
#include "kernels/decode/decode_combine.cuh"
#include "kernels/decode/decode_launch.h"

namespace attn::decode {

inline constexpr int kTileKeys = 64;  ///< keys per tile, per online-softmax step

/// What one CTA of split `split` of entry `b` reads: the semantics the variant computes (the
/// declared mask, or its planted bug: core/pipeline/semantics.h), the entry's keys under them, its
/// split count and this split's key range [begin, end) (empty past the last split).
struct SplitKeys {
  pipeline::Semantics sem;
  int keys, num_splits, begin, end;
};
template <Mutant PlantedMutant>
__device__ __forceinline__ SplitKeys split_keys_of(const DecodeParams& p, int b, int split) {
  pipeline::Semantics declared;
  declared.mask = p.mask;
  SplitKeys w;
  w.sem = pipeline::plant_bug(declared, PlantedMutant, p.cache_path, kTileKeys);
  w.keys = pipeline::semantic_keys(w.sem, p.seqlens_k ? p.seqlens_k[b] : p.capacity);
  w.num_splits = pipeline::split_count(w.keys, p.keys_per_split);
  const pipeline::IndexRange<int> range = pipeline::split_key_range(split, p.keys_per_split, w.keys);
  w.begin = range.begin;
  w.end = range.end;
  return w;
}

/// Online softmax of rows [0, rows4) of a tile: sP (rows4, 64) scores in, FP32 P out; sM, sL the
/// running max and sum per row; sAlpha[r] this tile's rescale factor. Warp `warp` of `warps`
/// takes rows warp, warp + warps, ...
template <Mutant PlantedMutant>
__device__ __forceinline__ void softmax_tile_rows(float* sP, float* sM, float* sL, float* sAlpha, int rows4, int warp,
                                                  int warps, int lane) {
  const pipeline::Fp32NaturalDeviceArithmetic arith;
  for (int r = warp; r < rows4; r += warps) {
    float rS[2] = {sP[r * kTileKeys + lane], sP[r * kTileKeys + lane + 32]};
    pipeline::RowState<float> row{sM[r], sL[r]};
    const float alpha = pipeline::online_softmax(
        arith, row, [&](int k) -> float& { return rS[k]; }, 2, 1.f, pipeline::RescaleRule<float>::eager(), PlantedMutant,
        [](float x) { return warp_max(x); }, [](float x) { return warp_sum(x); });
    sP[r * kTileKeys + lane] = rS[0];
    sP[r * kTileKeys + lane + 32] = rS[1];
    __syncwarp();
    if (lane == 0) {
      sM[r] = row.m;
      sL[r] = row.l;
      sAlpha[r] = alpha;
    }
  }
}

/// The A-operand fragments (m16n8k16, rows x D/16 k-steps) of the query rows of KV head `hk` of
/// entry b: row rr of the block starting at row0 = group member (row0 + rr) / S_q, query
/// (row0 + rr) % S_q for rr < rows, zero padding above;
/// reg 0 (row lane/4, dims 2t, 2t+1 of the k-step), 1 (row + 8), 2 (dims + 8), 3 (row + 8, dims + 8),
/// t = lane % 4. head_of(member): the query head (the semantics' GQA mapping). Used by the
/// tensor-core score products of decode_bulk.cuh and decode_mma.cuh.
template <int D, class HeadOf>
__device__ __forceinline__ void load_q_fragments(uint32_t (&rQ)[D / 16][4], const DecodeParams& p, int b, int rows, int lane,
                                                 HeadOf&& head_of, int row0 = 0) {
  const uint16_t* gQ = static_cast<const uint16_t*>(p.q);
#pragma unroll
  for (int kk = 0; kk < D / 16; ++kk)
#pragma unroll
    for (int reg = 0; reg < 4; ++reg) {
      const int rr = lane / 4 + (reg & 1) * 8, d = kk * 16 + (lane % 4) * 2 + (reg >> 1) * 8;
      uint32_t v = 0;
      if (rr < rows) {
        const int member = (row0 + rr) / p.seqlen_q, i = (row0 + rr) % p.seqlen_q;
        v = *reinterpret_cast<const uint32_t*>(gQ + ((static_cast<int64_t>(b) * p.seqlen_q + i) * p.num_heads_q + head_of(member)) * D + d);
      }
      rQ[kk][reg] = v;
    }
}

/// PV of one item: rows rc*4 .. rc*4 + 3 of sP (rows, 64), the columns whose FP32 values
/// v_of(key) returns as a float2; key half kh = lane / 16 sums keys 8g + 4kh .. 8g + 4kh + 3 for
/// g = 0..7 (a chain per row and column, from 0), and the halves (lanes l, l ^ 16) meet in one
/// FP32 add. Returns the tile's PV per row in pv (meaningful in the kh = 0 lanes).
template <class ValueOf>
__device__ __forceinline__ void pv_item(const float* sP, int rc, int kh, ValueOf&& v_of, float2 (&pv)[4]) {
  float2 rPV[4] = {};
#pragma unroll 2
  for (int g = 0; g < kTileKeys / 8; ++g) {
    const int j0 = g * 8 + kh * 4;
    float4 rP[4];
#pragma unroll
    for (int rr = 0; rr < 4; ++rr) rP[rr] = *reinterpret_cast<const float4*>(sP + (rc * 4 + rr) * kTileKeys + j0);
#pragma unroll
    for (int jj = 0; jj < 4; ++jj) {
      const float2 vv = v_of(j0 + jj);
#pragma unroll
      for (int rr = 0; rr < 4; ++rr) {
        const float pj = jj == 0 ? rP[rr].x : jj == 1 ? rP[rr].y : jj == 2 ? rP[rr].z : rP[rr].w;
        rPV[rr].x = fmaf(pj, vv.x, rPV[rr].x);
        rPV[rr].y = fmaf(pj, vv.y, rPV[rr].y);
      }
    }
  }
#pragma unroll
  for (int rr = 0; rr < 4; ++rr) {
    const float ox = __shfl_xor_sync(0xffffffffu, rPV[rr].x, 16), oy = __shfl_xor_sync(0xffffffffu, rPV[rr].y, 16);
    pv[rr] = make_float2(pipeline::add_rn(rPV[rr].x, ox), pipeline::add_rn(rPV[rr].y, oy));
  }
}

}  // namespace attn::decode
