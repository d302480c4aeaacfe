// decode_bulk.cuh: the split-KV decode kernel for Hopper's memory system (v8). One CTA =
// (split, group of heads_per_cta KV heads, batch entry); a producer warp streams 64-key K/V
// tiles of all its heads into a ring of shared-memory stages with cp.async.bulk (the copy
// engine: per key one contiguous run of heads_per_cta x D elements, page-table reads done by the
// producer, ahead of the math), completing on an mbarrier per stage; eight consumer warps wait on
// it, compute the scores on the tensor cores (mma.sync m16n8k16, FP32 accumulate, Q fragments kept
// in registers for the whole split), then the online softmax, P and the PV product exactly as the
// CUDA-core kernel (decode_split.cuh) does — FP32 P, two fma chains per column over alternating
// 4-key groups, O = fma(O, alpha, PV) — and release the stage. The combine is
// decode_combine.cuh's (last CTA of the row group). FP8 caches (E4M3 with per-head power-of-two
// scales, kernels/cache/fp8_kv.h) are widened to FP16/BF16 exactly in registers; the K scale is
// folded into the score scale, the V scale multiplies O before its rounding.
// Numerics: analysis/decode_emulator.h's contract with DecodeQk::mma. Every stage between the
// products is core/pipeline/'s (Fp32NaturalDeviceArithmetic). Not the launcher (decode_bulk.cu).
//
// Versions (v1..v7: decode_split.cuh):
//  v8  bulk copies + producer warp + mbarrier ring (stages sized to the SM's shared memory),
//      1, 2 or 4 KV heads per CTA, scores on tensor cores, FP8 caches.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include <cstdint>

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
#include "kernels/hopper/barrier.cuh"
#include "kernels/prefill/mma.cuh"

namespace attn::decode {

/// One bulk-kernel instantiation: element type of Q/O, E4M3 cache or not, head dim, resident CTAs
/// per SM (the register cap of __launch_bounds__), planted mutant.
template <DType Elem, bool Fp8Cache, int HeadDim, int CtasPerSm, Mutant PlantedMutant = Mutant::none>
struct DecodeBulkTraits {
  static constexpr DType kElem = Elem;
  static constexpr bool kFp8Cache = Fp8Cache;
  static constexpr int kHeadDim = HeadDim;
  static constexpr int kCtasPerSm = CtasPerSm;
  static constexpr Mutant kMutant = PlantedMutant;
  static constexpr int kConsumerWarps = 8;
  static constexpr int kConsumers = 32 * kConsumerWarps;
  static constexpr int kThreads = kConsumers + 32;      ///< + the producer warp
  static constexpr int kThreadsPerRow = 32;             ///< the softmax's warp per row (decode_combine.cuh)
  static constexpr int kTileKeys = 64;
  static constexpr int kMaxRows = kDecodeBulkMaxRowsPerHead;  ///< heads x round_up4(rows per head) <= 16
  static constexpr int kMaxStages = 8;
  static constexpr int kCacheBytes = Fp8Cache ? 1 : 2;
  static constexpr int kPvItems = kMaxRows / 4 * HeadDim / kConsumers;  ///< (row block, column pair, half) per thread
  /// Shared memory after the stages: sP [2][kMaxRows][64], sAlpha [2][kMaxRows], sM, sL [kMaxRows].
  static constexpr int kBarrierBytes = 2 * kMaxStages * 8;
  static constexpr int kFixedBytes = kBarrierBytes + 4 * (2 * kMaxRows * kTileKeys + 2 * kMaxRows + 2 * kMaxRows);
  /// Bytes of one key row of a stage: heads x D elements + 16 bytes of padding (8 rows 16 words
  /// apart in banks: ldmatrix and the PV reads are conflict-free).
  ATTN_HD static constexpr int pitch(int heads) { return heads * HeadDim * kCacheBytes + 16; }
  ATTN_HD static constexpr int stage_bytes(int heads) { return 2 * kTileKeys * pitch(heads); }

  static_assert(Elem == DType::fp16 || Elem == DType::bf16, "FP16 or BF16 queries and outputs");
  static_assert(HeadDim == 64 || HeadDim == 128, "head dims 64 and 128 are instantiated");
  static_assert(CtasPerSm == 1 || CtasPerSm == 2, "one or two CTAs per SM");
  /// QK units (head, 16-key slice) per consumer warp: heads_per_cta x 4 <= kConsumerWarps x this
  /// (two CTAs per SM cap the registers: at most 2 heads per CTA there).
  static constexpr int kMaxUnits = CtasPerSm == 1 ? 2 : 1;
  static_assert(kPvItems >= 1 && kMaxRows / 4 * HeadDim % kConsumers == 0, "whole PV items per consumer");
};

/// Bulk copy of `bytes` (a multiple of 16, both addresses 16-byte aligned) from global to shared
/// memory, counted in the transaction bytes of `bar`.
__device__ __forceinline__ void bulk_copy_g2s(void* smem_dst, const void* gmem_src, uint32_t bytes, uint64_t* bar) {
  asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];\n" ::"r"(
                   hopper::smem_u32(smem_dst)),
               "l"(gmem_src), "r"(bytes), "r"(hopper::smem_u32(bar))
               : "memory");
}

/// Two cache elements (a 32-bit FP16/BF16 pair or a 16-bit E4M3 pair) as the 32-bit operand of
/// an Elem MMA: exact widening.
template <DType Elem, bool Fp8>
__device__ __forceinline__ uint32_t mma_pair(const uint8_t* p) {
  if constexpr (!Fp8) {
    return *reinterpret_cast<const uint32_t*>(p);
  } else {
    const __half2_raw h = __nv_cvt_fp8x2_to_halfraw2(*reinterpret_cast<const __nv_fp8x2_storage_t*>(p), __NV_E4M3);
    if constexpr (Elem == DType::fp16) {
      return static_cast<uint32_t>(h.x) | (static_cast<uint32_t>(h.y) << 16);
    } else {  // E4M3 -> FP16 -> FP32 -> BF16: every step exact (4 significant bits)
      const float2 f = __half22float2(*reinterpret_cast<const __half2*>(&h));
      return pipeline::pack_round2<DType::bf16>(f.x, f.y);
    }
  }
}

/// Two cache elements as FP32 (exact).
template <DType Elem, bool Fp8>
__device__ __forceinline__ float2 value_pair(const uint8_t* p) {
  if constexpr (!Fp8) {
    return pipeline::unpack2<Elem>(*reinterpret_cast<const uint32_t*>(p));
  } else {
    const __half2_raw h = __nv_cvt_fp8x2_to_halfraw2(*reinterpret_cast<const __nv_fp8x2_storage_t*>(p), __NV_E4M3);
    return __half22float2(*reinterpret_cast<const __half2*>(&h));
  }
}

template <class Traits>
__global__ void __launch_bounds__(Traits::kThreads, Traits::kCtasPerSm) decode_bulk_kernel(const DecodeParams p) {
  using T = Element<Traits::kElem>;
  constexpr int D = Traits::kHeadDim, TILE = Traits::kTileKeys, NCW = Traits::kConsumerWarps, NC = Traits::kConsumers;
  constexpr int MAXR = Traits::kMaxRows, CB = Traits::kCacheBytes;
  const pipeline::Fp32NaturalDeviceArithmetic arith;
  const int nh = p.heads_per_cta, S = p.stages;
  const int group = p.num_heads_q / p.num_heads_kv;
  const int rows_h = p.seqlen_q * group, rows4h = round_up4(rows_h), R4 = nh * rows4h, rows_real = nh * rows_h;
  const int split = blockIdx.x, hk0 = blockIdx.y * nh, b = blockIdx.z;
  static_assert(Traits::kTileKeys == kTileKeys, "the split plan's tile is decode_tile.cuh's");
  const SplitKeys work = split_keys_of<Traits::kMutant>(p, b, split);
  const pipeline::Semantics sem = work.sem;
  const int keys = work.keys, num_splits = work.num_splits;
  if (split >= num_splits) return;  // the combine reads only this entry's splits
  const int key_begin = work.begin, key_end = work.end;
  const int n_tiles = (key_end - key_begin + TILE - 1) / TILE;

  // Shared memory: [full barriers][empty barriers][stages: (K tile, V tile) x S][sP][sAlpha][sM][sL].
  extern __shared__ __align__(128) uint8_t smem[];
  uint64_t* full = reinterpret_cast<uint64_t*>(smem);
  uint64_t* empty = full + Traits::kMaxStages;
  const int pitch = Traits::pitch(nh), tile_bytes = TILE * pitch;
  uint8_t* sStages = smem + Traits::kBarrierBytes;                                   // (S, K|V, TILE, pitch)
  float* sP = reinterpret_cast<float*>(sStages + S * 2 * tile_bytes);               // (2, MAXR, TILE)
  float* sAlpha = sP + 2 * MAXR * TILE;                                              // (2, MAXR)
  float* sM = sAlpha + 2 * MAXR;                                                     // (MAXR)
  float* sL = sM + MAXR;                                                             // (MAXR)
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (threadIdx.x == 0) {
    for (int s = 0; s < S; ++s) {
      hopper::mbarrier_init(&full[s], 1);      // the producer's arrive.expect_tx
      hopper::mbarrier_init(&empty[s], NCW);   // one arrival per consumer warp
    }
    hopper::fence_barrier_init();
  }
  for (int r = threadIdx.x; r < MAXR; r += Traits::kThreads) {
    const pipeline::RowState<float> fresh;
    sM[r] = fresh.m;
    sL[r] = fresh.l;
  }
  __syncthreads();
  const hopper::WatchdogReport no_report{};

  // Local row r = hh * rows4h + rr (head hh of the group, rr = member * S_q + query; rr >= rows_h
  // is padding). Real rows q = hh * rows_h + rr index the outputs and the combine.
  auto head_of = [&](int hk, int member) { return pipeline::semantic_query_head(sem, hk, member, p.num_heads_q, p.num_heads_kv); };

  if (warp == NCW) {
    // ---- producer: stage t % S of round t / S; waits until the consumers released it.
    const uint8_t* gK = static_cast<const uint8_t*>(p.k_cache);
    const uint8_t* gV = static_cast<const uint8_t*>(p.v_cache);
    const uint32_t row_bytes = static_cast<uint32_t>(nh * D * CB);
    for (int t = 0; t < n_tiles; ++t) {
      const int s = t % S, round = t / S;
      hopper::mbarrier_wait(&empty[s], (round & 1) ^ 1, hopper::WaitSite::k_empty, no_report);
      const int tile0 = key_begin + t * TILE, valid = min(TILE, key_end - tile0);
      if (lane == 0) hopper::mbarrier_arrive_expect_tx(&full[s], 2u * static_cast<uint32_t>(valid) * row_bytes);
      __syncwarp();
      uint8_t* sK = sStages + s * 2 * tile_bytes;
      uint8_t* sV = sK + tile_bytes;
      for (int j = lane; j < valid; j += 32) {
        const int64_t off = (kv_row(p.layout, b, tile0 + j, p.capacity) * p.num_heads_kv + hk0) * D * CB;
        bulk_copy_g2s(sK + j * pitch, gK + off, row_bytes, &full[s]);
        bulk_copy_g2s(sV + j * pitch, gV + off, row_bytes, &full[s]);
      }
    }
    __syncwarp();  // the warp converged before the CTA barrier below (see there)
  } else {
    // ---- consumers. QK units: (head hh, 16-key slice ks), unit = warp (+ NCW): a warp keeps the
    // Q fragments of its units' heads in registers (A operand, rows = the head's rows4h rows).
    const int units = nh * (TILE / 16);
    constexpr int kMaxUnits = Traits::kMaxUnits;
    uint32_t rQ[kMaxUnits][D / 16][4];
    float qk_scale[kMaxUnits];
#pragma unroll
    for (int u = 0; u < kMaxUnits; ++u) {
      const int unit = warp + u * NCW, hh = unit / (TILE / 16);
      qk_scale[u] = p.scale;
      if (unit >= units) continue;
      const int hk = hk0 + hh;
      if constexpr (Traits::kFp8Cache) qk_scale[u] = pipeline::mul_rn(p.scale, p.k_scale[hk]);  // a power of two: exact
      load_q_fragments<D>(rQ[u], p, b, rows_h, lane, [&](int member) { return head_of(hk, member); });
    }
    float rO[Traits::kPvItems][4][2] = {};
    // The consumers' barrier (named barrier 1, NC threads), entered by converged warps only: the
    // lanes leave the masked score stores, the softmax's lane-0 writes and the epilogue's stores
    // at different times, and bar.sync counts a warp (see the CTA barrier after the branches).
    auto consumers_sync = [&] {
      __syncwarp();
      hopper::named_barrier_sync(1, NC);
    };
    for (int t = 0; t < n_tiles; ++t) {
      const int s = t % S, buf = t & 1, tile0 = key_begin + t * TILE, valid = min(TILE, key_end - tile0);
      const uint8_t* sK = sStages + s * 2 * tile_bytes;
      uint8_t* sV = sStages + s * 2 * tile_bytes + tile_bytes;
      float* sPb = sP + buf * MAXR * TILE;
      float* sAlphab = sAlpha + buf * MAXR;
      hopper::mbarrier_wait(&full[s], (t / S) & 1, hopper::WaitSite::k_full, no_report);
      if (valid < TILE) {
        // Keys past the split's end (its last tile only): V rows zeroed so that p = 0 meets V = 0
        // (the contract's zero-filled keys); K rows are never used (their scores are -inf).
        for (int e = threadIdx.x; e < (TILE - valid) * (nh * D * CB / 16); e += NC)
          reinterpret_cast<uint4*>(sV + (valid + e / (nh * D * CB / 16)) * pitch)[e % (nh * D * CB / 16)] = make_uint4(0, 0, 0, 0);
        hopper::fence_proxy_async_shared();  // the copy engine rewrites this stage later
      }
      // ---- qk (tensor cores) and mask: unit (hh, ks): keys ks*16 .. +15 as two n8 tiles.
#pragma unroll
      for (int u = 0; u < kMaxUnits; ++u) {
        const int unit = warp + u * NCW;
        if (unit >= units) continue;
        const int hh = unit / (TILE / 16), ks = unit % (TILE / 16);
        float acc[2][4] = {};
#pragma unroll
        for (int kk = 0; kk < D / 16; ++kk)
#pragma unroll
          for (int nt = 0; nt < 2; ++nt) {
            // B (k16 x n8, "col"): b0 = K[key n][k 2t, 2t+1], b1 = K[key n][k 2t+8, +9], n = lane / 4.
            const uint8_t* kp = sK + (ks * 16 + nt * 8 + lane / 4) * pitch + (hh * D + kk * 16 + (lane % 4) * 2) * CB;
            fa2::mma_16816<Traits::kElem>(acc[nt], rQ[u][kk], mma_pair<Traits::kElem, Traits::kFp8Cache>(kp),
                                          mma_pair<Traits::kElem, Traits::kFp8Cache>(kp + 8 * CB));
          }
        // C: acc[nt][0,1] = (row lane/4, keys 2t, 2t+1), acc[nt][2,3] = (row lane/4 + 8, ...).
#pragma unroll
        for (int nt = 0; nt < 2; ++nt)
#pragma unroll
          for (int c = 0; c < 4; ++c) {
            const int rr = lane / 4 + (c >> 1) * 8, j = ks * 16 + nt * 8 + (lane % 4) * 2 + (c & 1), key = tile0 + j;
            if (rr >= rows4h) continue;
            float score = pipeline::kNegInfF;
            if (rr < rows_h && j < valid && pipeline::semantic_key_visible(sem, rr % p.seqlen_q, key, p.seqlen_q, keys))
              score = pipeline::mul_rn(acc[nt][c], qk_scale[u]);
            sPb[(hh * rows4h + rr) * TILE + j] = score;
          }
      }
      consumers_sync();
      // ---- online softmax, one warp per row (decode_tile.cuh).
      softmax_tile_rows<Traits::kMutant>(sPb, sM, sL, sAlphab, R4, warp, NCW, lane);
      consumers_sync();
      // ---- PV and rescale (decode_tile.cuh's chains): item (row block rc of 4 rows, column pair
      // c) and key half kh = lane / 16; O in registers.
      {
        constexpr int CP = D / 2;
        const int kh = lane / 16;
#pragma unroll
        for (int it = 0; it < Traits::kPvItems; ++it) {
          const int e = threadIdx.x + it * NC;
          const int item = (e / 32) * 16 + lane % 16, rc = item / CP, c = item % CP;
          if (rc * 4 >= R4) continue;  // warp-uniform: rc is the same for the warp's 16 items
          const uint8_t* sVc = sV + (rc * 4 / rows4h * D + 2 * c) * CB;  // head of the row block, column pair c
          float2 pv[4];
          pv_item(sPb, rc, kh, [&](int key) { return value_pair<Traits::kElem, Traits::kFp8Cache>(sVc + key * pitch); }, pv);
#pragma unroll
          for (int rr = 0; rr < 4; ++rr)
            if (kh == 0) {
              const float alpha = sAlphab[rc * 4 + rr];
              rO[it][rr][0] = pipeline::rescale_accumulate_o(arith, rO[it][rr][0], alpha, pv[rr].x);
              rO[it][rr][1] = pipeline::rescale_accumulate_o(arith, rO[it][rr][1], alpha, pv[rr].y);
            }
        }
      }
      __syncwarp();
      if (lane == 0) hopper::mbarrier_arrive(&empty[s]);  // this warp is done with stage s
    }
    // The accumulators to shared memory, over stage 0 (every copy has landed; the barrier waits
    // until every consumer has read its last stage).
    consumers_sync();
    float* sO = reinterpret_cast<float*>(sStages);  // (R4, D)
    const int kh = lane / 16;
#pragma unroll
    for (int it = 0; it < Traits::kPvItems; ++it) {
      const int e = threadIdx.x + it * NC;
      const int item = (e / 32) * 16 + lane % 16, rc = item / (D / 2), c = item % (D / 2);
      if (rc * 4 >= R4 || kh != 0) continue;
#pragma unroll
      for (int rr = 0; rr < 4; ++rr) {
        sO[(rc * 4 + rr) * D + 2 * c] = rO[it][rr][0];
        sO[(rc * 4 + rr) * D + 2 * c + 1] = rO[it][rr][1];
      }
    }
    __syncwarp();  // the warp converged, its sO stores done, before the CTA barrier below
  }
  // The sO stores above (consumers) against the sO reads below. compute-sanitizer racecheck
  // reported these stores against the epilogue's reads with this __syncthreads() between them, on
  // the H200 in every call since reports/h200/decode/call2 (one warp's stores of one PV item each,
  // intermittently), and ending both role branches converged (__syncwarp) did not change it. The
  // reads are the consumers' alone since (session 27): the producer warp, whose lanes spun on
  // mbarriers and left the copy loop apart, reads no sO, sM or sL row and only joins the barriers.
  __syncthreads();
  float* sO = reinterpret_cast<float*>(sStages);  // (R4, D)
  auto local_row = [&](int q) { return (q / rows_h) * rows4h + q % rows_h; };
  auto out_index = [&](int q, int d) {  // of real row q, column d
    const int hh = q / rows_h, rr = q % rows_h, member = rr / p.seqlen_q, i = rr % p.seqlen_q, h = head_of(hk0 + hh, member);
    return OutIndex{((static_cast<int64_t>(b) * p.seqlen_q + i) * p.num_heads_q + h) * D + d,
                    (static_cast<int64_t>(b) * p.num_heads_q + h) * p.seqlen_q + i};
  };
  uint16_t* gO = static_cast<uint16_t*>(p.o);
  // O rounded once to the dtype; an FP8 cache's V scale (a power of two) multiplies it first.
  auto store = [&](int q, int64_t x, float value) {
    if constexpr (Traits::kFp8Cache) value = pipeline::mul_rn(value, p.v_scale[hk0 + q / rows_h]);
    gO[x] = from_float(value, static_cast<T*>(nullptr));
  };
  const bool consumer = threadIdx.x < Traits::kConsumers;
  if (num_splits == 1) {
    for (int e = threadIdx.x; consumer && e < rows_real * D; e += Traits::kConsumers) {
      const int q = e / D, d = e % D, r = local_row(q);
      const OutIndex at = out_index(q, d);
      const float l = sL[r];
      store(q, at.x, pipeline::normalize(arith, sO[r * D + d], pipeline::row_normalizer(arith, l)));
      if (d == 0 && p.lse) p.lse[at.y] = pipeline::split_lse(arith, sM[r], l, sem.combine);
    }
    return;
  }
  const int64_t stride = static_cast<int64_t>(p.batch) * p.num_heads_q * p.seqlen_q;  // rows per split
  for (int e = threadIdx.x; consumer && e < rows_real * D; e += Traits::kConsumers) {
    const int q = e / D, d = e % D, r = local_row(q);
    const int64_t row = out_index(q, d).y;
    const float l = sL[r];
    p.partial_o[(split * stride + row) * D + d] = pipeline::normalize(arith, sO[r * D + d], pipeline::row_normalizer(arith, l));
    if (d == 0) p.partial_lse[split * stride + row] = pipeline::split_lse(arith, sM[r], l, sem.combine);
  }
  if (!is_last_split_cta(p, num_splits)) return;
  combine_splits<Traits>(p, rows_real, num_splits, stride, sM, sL, out_index, store);
}

}  // namespace attn::decode
