// decode_split.cuh: the split-KV (flash-decoding) kernel of the KV-cache decode path. One CTA =
// (split, KV head x row block, batch entry); the S_q x group query rows of the GQA group packed
// into it (64 rows per CTA at most); 64-key tiles of the cache (contiguous [B, S_max, H_kv, D] or
// paged through a block table, kv_layout.h) brought into shared memory by cp.async, kStages
// stages. The loop reads like FA2's on CUDA cores: qk (FP32 fma chains) -> mask (semantics) ->
// online_softmax -> rescale_accumulate_o (PV); then each split's partial O and LSE, and the last
// CTA combines (decode_combine.cuh). Every stage between the products is core/pipeline/ with the
// flash-decoding arithmetic (pipeline::Fp32NaturalDeviceArithmetic: natural exp_fp32, P in FP32), the
// planted bugs core/pipeline/semantics.h's. Not the launchers (decode.cu) nor the append (append.cu).
//
// Numerics (per row): S = (sum over the first D/2 dims + sum over the last D/2, each an FP32 fma
// chain in dimension order) * scale; online softmax per 64-key tile with natural exp_fp32 in FP32; P
// stays FP32; PV per tile: two FP32 fma chains over alternating groups of 4 keys, added, then
// O = fma(O, alpha, that sum). Nothing is rounded to FP16/BF16 before the final output.
//
// Versions (H100 80GB HBM3, B 8, 32/8 heads, D 128, S_q 1, FP16; reports/h100/decode/README.md):
//  v1 58d9a76  split-KV + separate combine launch, GQA group per CTA: first working version.
//  v2 f2cfc9d  register double buffer (tile t+1 loads during tile t), heuristic splits floored
//              to one wave of 4 CTAs/SM.
//  v3 35e08cf  rewrite: cp.async two-stage tiles, 4-row register blocking, key halves via
//              shuffles, row blocks of 64, occupancy-based split plan; paged cache.
//  v4 284547d  combine fused into the split kernel (last CTA per row block, self-resetting
//              counters): no second launch.
//  v5 ad680a6  single-split entries write O directly; combine split loads 8 at a time:
//              1.79 TB/s cold at 4k keys, 2.72 at 64k (0.87x / 0.90x SDPA flash).
//  v6 7984666  stages a parameter, two by default (three measured slower: 1.73 vs 1.79 TB/s
//              at 4k, 2.29 vs 2.71 at 64k).
//  v7 (stages) DecodeTraits with compile-time mutants (no mutant bits in the production
//              kernel); stages from core/pipeline/; split / combine / append in their own files.
//  v7.1        exp / log from core/pipeline/fp32_elementary.h (not expf / logf): the CPU emulator
//              (analysis/decode_emulator.h, DecodeQk::fma_halves) reproduces it bit for bit.
//  v8          decode_bulk.cuh (bulk copies, producer warp, heads per CTA, tensor-core scores).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

#include "core/pipeline/fp32_device.cuh"
#include "core/pipeline/online_softmax.h"
#include "core/pipeline/semantics.h"
#include "core/pipeline/split_combine.h"
#include "core/pipeline/tile_plan.h"
#include "kernels/cache/kv_layout.h"
#include "kernels/decode/decode_combine.cuh"
#include "kernels/decode/decode_elements.cuh"
#include "kernels/decode/decode_tile.cuh"
#include "kernels/decode/decode_launch.h"
#include "kernels/decode/decode_traits.h"
#include "kernels/prefill/mma.cuh"

namespace attn::decode {

/// Waits until at most `pending` committed cp.async groups of this thread are still in flight.
template <int pending>
__device__ __forceinline__ void cp_async_wait_pending() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(pending));
}

// One CTA: (split, KV head x row block, batch entry). Rows are the GQA group's query rows packed
// as r = g * S_q + i (group member g, query i); a row block holds up to kRowsPerCta of them.
// kStages K/V tiles in flight: stage t % kStages is computed while the next kStages - 1 load.
template <class Traits>
__global__ void __launch_bounds__(Traits::kThreads) decode_split_kernel(const DecodeParams p) {
  using T = Element<Traits::kElem>;
  constexpr int D = Traits::kHeadDim, THREADS = Traits::kThreads, TILE = Traits::kTileKeys;
  constexpr int RW = Traits::kRowWords, CH = D / 8;  // CH: 16-byte chunks per K/V row
  const pipeline::Fp32NaturalDeviceArithmetic arith;
  const int group = p.num_heads_q / p.num_heads_kv;
  const int row_blocks = (p.seqlen_q * group + Traits::kRowsPerCta - 1) / Traits::kRowsPerCta;
  const int split = blockIdx.x, hk = blockIdx.y / row_blocks, rb = blockIdx.y % row_blocks, b = blockIdx.z;
  const int row0 = rb * Traits::kRowsPerCta;
  const int rows = min(Traits::kRowsPerCta, p.seqlen_q * group - row0), rows4 = round_up4(rows);
  // What this variant computes (the declared mask, or its planted bug) and this split's keys.
  static_assert(Traits::kTileKeys == kTileKeys, "the split plan's tile is decode_tile.cuh's");
  const SplitKeys work = split_keys_of<Traits::kMutant>(p, b, split);
  const pipeline::Semantics sem = work.sem;
  const int keys = work.keys, num_splits = work.num_splits;
  if (split >= num_splits) return;  // the combine reads only this entry's splits
  const int key_begin = work.begin, key_end = work.end;

  extern __shared__ __align__(16) uint32_t smem_words[];
  uint32_t* sKV = smem_words;                                         // (stages, K|V, TILE, RW)
  float* sQ = reinterpret_cast<float*>(sKV + Traits::kKvWords);       // (rows4, D)
  float* sO = sQ + rows4 * D;                                         // (rows4, D)
  float* sP = sO + rows4 * D;                                         // (rows4, TILE)
  float* sM = sP + rows4 * TILE;                                      // (rows4)
  float* sL = sM + rows4;                                             // (rows4)
  float* sAlpha = sL + rows4;                                         // (rows4)

  auto head_of = [&](int g) { return pipeline::semantic_query_head(sem, hk, g, p.num_heads_q, p.num_heads_kv); };
  const uint16_t* gK = static_cast<const uint16_t*>(p.k_cache);
  const uint16_t* gV = static_cast<const uint16_t*>(p.v_cache);
  // cp.async of one 64-key tile into `stage`; keys at or past key_end are zero-filled, never read
  // (the unused cache rows may hold poison, and a page past the entry's last may not exist).
  auto load_tile = [&](int tile, int stage) {
    uint32_t* sK = sKV + stage * 2 * Traits::kTileWords;
    uint32_t* sV = sK + Traits::kTileWords;
    for (int e = threadIdx.x; e < TILE * CH; e += THREADS) {
      const int j = e / CH, c = e % CH, key = tile + j;
      const bool valid = key < key_end;
      const int64_t off = valid ? (kv_row(p.layout, b, key, p.capacity) * p.num_heads_kv + hk) * D + c * 8 : 0;
      fa2::cp_async_16(sK + j * RW + c * 4, gK + off, valid);
      fa2::cp_async_16(sV + j * RW + c * 4, gV + off, valid);
    }
  };
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int n_tiles = (key_end - key_begin + TILE - 1) / TILE;
  // The first kStages - 1 tiles first: the Q loads below then overlap their latency. One commit
  // group per tile slot, empty or not, so that wait_group counts tiles.
  for (int s = 0; s < Traits::kStages - 1; ++s) {
    if (s < n_tiles) load_tile(key_begin + s * TILE, s);
    fa2::cp_async_commit();
  }
  const uint16_t* gQ = static_cast<const uint16_t*>(p.q);
  for (int e = threadIdx.x; e < rows4 * D; e += THREADS) {
    const int r = e / D, d = e % D, gr = row0 + r, g = gr / p.seqlen_q, i = gr % p.seqlen_q;
    sQ[e] = r < rows ? to_float(gQ[((static_cast<int64_t>(b) * p.seqlen_q + i) * p.num_heads_q + head_of(g)) * D + d],
                                static_cast<T*>(nullptr))
                     : 0.f;  // padding rows: zero queries, never written out
    sO[e] = 0.f;
  }
  for (int r = threadIdx.x; r < rows4; r += THREADS) {
    const pipeline::RowState<float> fresh;
    sM[r] = fresh.m;
    sL[r] = fresh.l;
  }
  for (int t = 0; t < n_tiles; ++t) {
    const int tile = key_begin + t * TILE;
    const uint32_t* sK = sKV + (t % Traits::kStages) * 2 * Traits::kTileWords;  // (TILE, RW)
    const uint32_t* sV = sK + Traits::kTileWords;                               // (TILE, RW)
    cp_async_wait_pending<Traits::kStages - 2>();
    __syncthreads();  // tile t landed for every thread; stage (t - 1) % kStages and sP are free
    if (t + Traits::kStages - 1 < n_tiles)
      load_tile(tile + (Traits::kStages - 1) * TILE, (t + Traits::kStages - 1) % Traits::kStages);
    fa2::cp_async_commit();  // in flight during the math below

    // ---- qk and mask: lane (key j, half h) dots its key with 4 rows at a time over half of D;
    // the halves meet through one shuffle (lanes l and l ^ 16 hold the same key).
    {
      const int j = warp * 16 + lane % 16, h = lane / 16, key = tile + j;
      const bool live = key < key_end;
      for (int r0 = 0; r0 < rows4; r0 += 4) {
        float rDot[4] = {0.f, 0.f, 0.f, 0.f};
#pragma unroll
        for (int c = 0; c < D / 16; ++c) {
          float rK[8];
          unpack8<T>(*reinterpret_cast<const uint4*>(sK + j * RW + h * (D / 4) + c * 4), rK);
#pragma unroll
          for (int rr = 0; rr < 4; ++rr) {
            const float4* qp = reinterpret_cast<const float4*>(sQ + (r0 + rr) * D + h * (D / 2) + c * 8);
            const float4 q0 = qp[0], q1 = qp[1];
            float d = rDot[rr];
            d = fmaf(q0.x, rK[0], d); d = fmaf(q0.y, rK[1], d); d = fmaf(q0.z, rK[2], d); d = fmaf(q0.w, rK[3], d);
            d = fmaf(q1.x, rK[4], d); d = fmaf(q1.y, rK[5], d); d = fmaf(q1.z, rK[6], d); d = fmaf(q1.w, rK[7], d);
            rDot[rr] = d;
          }
        }
#pragma unroll
        for (int rr = 0; rr < 4; ++rr) {
          const float other = __shfl_xor_sync(0xffffffffu, rDot[rr], 16);
          const int r = r0 + rr, i = (row0 + r) % p.seqlen_q;
          if (h == 0) {
            float s = pipeline::kNegInfF;
            if (live && r < rows && pipeline::semantic_key_visible(sem, i, key, p.seqlen_q, keys))
              s = pipeline::mul_rn(pipeline::add_rn(rDot[rr], other), p.scale);
            sP[r * TILE + j] = s;
          }
        }
      }
    }
    __syncthreads();
    // ---- online softmax, one warp per row (columns lane and lane + 32): decode_tile.cuh.
    softmax_tile_rows<Traits::kMutant>(sP, sM, sL, sAlpha, rows4, warp, THREADS / 32, lane);
    __syncthreads();
    // ---- PV and rescale: lane (column pair c of 4 rows, key half kh): decode_tile.cuh's chains
    // (a group 4 rows away from the other half's starts 16 banks away); O = fma(O, alpha, PV).
    {
      constexpr int CP = D / 2;
      const int kh = lane / 16;
      for (int e = threadIdx.x; e < (rows4 / 4) * CP * 2; e += THREADS) {
        const int item = (e / 32) * 16 + lane % 16, rc = item / CP, c = item % CP;
        float2 pv[4];
        pv_item(sP, rc, kh, [&](int key) { return to_float2(sV[key * RW + c], static_cast<T*>(nullptr)); }, pv);
#pragma unroll
        for (int rr = 0; rr < 4; ++rr) {
          if (kh == 0) {
            const int r = rc * 4 + rr;
            float2* acc = reinterpret_cast<float2*>(sO + r * D) + c;
            const float alpha = sAlpha[r];
            float2 o = *acc;
            o.x = pipeline::rescale_accumulate_o(arith, o.x, alpha, pv[rr].x);
            o.y = pipeline::rescale_accumulate_o(arith, o.y, alpha, pv[rr].y);
            *acc = o;
          }
        }
      }
    }
  }
  __syncthreads();
  uint16_t* gO = static_cast<uint16_t*>(p.o);
  auto out_index = [&](int r, int d) {  // of local row r, column d
    const int gr = row0 + r, g = gr / p.seqlen_q, i = gr % p.seqlen_q, h = head_of(g);
    return OutIndex{((static_cast<int64_t>(b) * p.seqlen_q + i) * p.num_heads_q + h) * D + d,
                    (static_cast<int64_t>(b) * p.num_heads_q + h) * p.seqlen_q + i};
  };
  auto store = [&](int, int64_t x, float value) { gO[x] = from_float(value, static_cast<T*>(nullptr)); };
  if (num_splits == 1) {
    // One split: O = acc / l rounded once, LSE = m + log l — exactly what the combine yields for
    // a single split (weight exp(0) = 1), without the round trip through memory.
    for (int e = threadIdx.x; e < rows * D; e += THREADS) {
      const int r = e / D, d = e % D;
      const OutIndex at = out_index(r, d);
      const float l = sL[r];
      store(r, at.x, pipeline::normalize(arith, sO[e], pipeline::row_normalizer(arith, l)));
      if (d == 0 && p.lse) p.lse[at.y] = pipeline::split_lse(arith, sM[r], l, sem.combine);
    }
    return;
  }
  // Partial results: O normalized by this split's sum, LSE natural (base 2 in the mutant).
  const int64_t stride = static_cast<int64_t>(p.batch) * p.num_heads_q * p.seqlen_q;  // rows per split
  for (int e = threadIdx.x; e < rows * D; e += THREADS) {
    const int r = e / D, d = e % D;
    const int64_t row = out_index(r, d).y;
    const float l = sL[r];
    p.partial_o[(split * stride + row) * D + d] = pipeline::normalize(arith, sO[e], pipeline::row_normalizer(arith, l));
    if (d == 0) p.partial_lse[split * stride + row] = pipeline::split_lse(arith, sM[r], l, sem.combine);
  }
  // The last CTA of this (entry, KV head, row block) to finish combines (decode_combine.cuh).
  if (!is_last_split_cta(p, num_splits)) return;
  combine_splits<Traits>(p, rows, num_splits, stride, sM, sL, out_index, store);
}

}  // namespace attn::decode
