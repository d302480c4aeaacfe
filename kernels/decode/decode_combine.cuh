// decode_combine.cuh: the split-KV combine of the decode kernel, run by the last CTA of an
// (entry, KV head, row block) to finish (no second launch): the split LSEs' max and weight sum
// per row, then O = sum over splits in order of w_s O_s, divided by the weight sum. Every
// arithmetic step is core/pipeline/split_combine.h's (combine_weight, combine_accumulate, the
// normalization) with the flash-decoding FP32 arithmetic; this file only holds the layout (one
// warp per row for the weights, 4 columns per thread for O), the reads of the partials (L2, or
// shared memory in the tensor-core kernel's cluster combine) and the last-CTA election. Used by
// every split kernel (decode_split.cuh, decode_bulk.cuh, decode_mma.cuh).
#pragma once

#include <cstdint>

#include "core/pipeline/fp32_device.cuh"
#include "core/pipeline/online_softmax.h"
#include "core/pipeline/split_combine.h"
#include "kernels/decode/decode_launch.h"

namespace attn::decode {

__device__ __forceinline__ float warp_max(float x) {
  for (int o = 16; o > 0; o >>= 1) x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, o));
  return x;
}
__device__ __forceinline__ float warp_sum(float x) {
  for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
  return x;
}

/// Output element and LSE row of local row r, column d of the CTA.
struct OutIndex {
  int64_t x, y;  ///< x: element of O [B, S_q, H_q, D]; y: row (b, h, i) of LSE [B, H_q, S_q]
};

/// After this CTA wrote its partial results: counts it on the counter of its (entry, row group)
/// and returns true in the last CTA to finish, which resets the counter for the next launch and
/// then reads the others' partials (fenced before they were counted) from L2. Every thread of
/// the CTA calls it (it synchronizes the CTA).
/// `counter_index`: the (entry, row group)'s counter (< decode_counter_count); by default the
/// grid's (z, y) (the CUDA-core and bulk kernels; the tensor-core one passes its row block).
__device__ __forceinline__ bool is_last_split_cta(const DecodeParams& p, int num_splits,
                                                  int64_t counter_index = -1) {
  __shared__ int is_last;
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) {
    if (counter_index < 0) counter_index = static_cast<int64_t>(blockIdx.z) * gridDim.y + blockIdx.y;
    int* counter = p.split_counters + counter_index;
    is_last = atomicAdd(counter, 1) == num_splits - 1;
    if (is_last) *counter = 0;
  }
  __syncthreads();
  if (is_last) __threadfence();
  return is_last;
}

/// Combines `num_splits` partial results of `rows` rows into O (rounded by `store(r, x, value)`)
/// and LSE, reading split s's partial through lse_of(s, r, y) (its LSE of local row r, LSE row y)
/// and o_of(s, r, y, d) (its 4 normalized FP32 columns d..d+3 as a float4): from the global
/// partial buffers (combine_splits below) or from one CTA's shared memory (the tensor-core
/// kernel's cluster combine, decode_mma.cuh). The arithmetic, and so every bit, is the same
/// whichever memory the partials come from. sM, sL: per-row shared scratch; out_index(r, d):
/// where row r, column d goes. Called by every thread of the combining CTA.
template <class Traits, class OutIndexFn, class Store, class LseOf, class OOf>
__device__ __forceinline__ void combine_partials(const DecodeParams& p, int rows, int num_splits, float* sM, float* sL,
                                                 OutIndexFn&& out_index, Store&& store, LseOf&& lse_of, OOf&& o_of) {
  constexpr int D = Traits::kHeadDim, THREADS = Traits::kThreads;
  const pipeline::Fp32NaturalDeviceArithmetic a;
  constexpr auto kRead = pipeline::LseCombine::matched;  // a base-2 bug is written, not read (split_combine.h)
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  // Per row (one warp): max of the split LSEs and the weight sum sum_s w(lse_s - max) <= n, lane
  // s % 32 summing its splits in order, then a fixed butterfly across lanes: the order depends on
  // the split count only (batch invariance under a fixed split size).
  for (int r = warp; r < rows; r += THREADS / 32) {
    const int64_t row = out_index(r, 0).y;
    float mx = pipeline::kNegInfF;
    for (int s = lane; s < num_splits; s += 32) mx = a.max(mx, lse_of(s, r, row));
    mx = warp_max(mx);
    float wsum = 0.f;
    if (mx != pipeline::kNegInfF)
      for (int s = lane; s < num_splits; s += 32) wsum = a.combine_add(wsum, pipeline::combine_weight(a, lse_of(s, r, row), mx, kRead));
    wsum = warp_sum(wsum);
    if (lane == 0) {
      sM[r] = mx;
      sL[r] = wsum;
    }
  }
  __syncthreads();
  // O: thread (row, 4 columns); the split loads issued 8 at a time, the fma chain in split order.
  for (int e = threadIdx.x; e < rows * (D / 4); e += THREADS) {
    const int r = e / (D / 4), d = (e % (D / 4)) * 4;
    const OutIndex at = out_index(r, d);
    const float mx = sM[r], wsum = sL[r];
    float4 rAcc = make_float4(0.f, 0.f, 0.f, 0.f);
    if (mx != pipeline::kNegInfF) {
      for (int s0 = 0; s0 < num_splits; s0 += 8) {
        float rLse[8];
        float4 rPartial[8];
#pragma unroll
        for (int u = 0; u < 8; ++u) {
          const int s = min(s0 + u, num_splits - 1);
          rLse[u] = lse_of(s, r, at.y);
          rPartial[u] = o_of(s, r, at.y, d);
        }
#pragma unroll
        for (int u = 0; u < 8; ++u) {
          if (s0 + u >= num_splits) break;
          const float w = pipeline::combine_weight(a, rLse[u], mx, kRead);
          rAcc.x = pipeline::combine_accumulate(a, rAcc.x, w, rPartial[u].x);
          rAcc.y = pipeline::combine_accumulate(a, rAcc.y, w, rPartial[u].y);
          rAcc.z = pipeline::combine_accumulate(a, rAcc.z, w, rPartial[u].z);
          rAcc.w = pipeline::combine_accumulate(a, rAcc.w, w, rPartial[u].w);
        }
      }
      const float factor = pipeline::row_normalizer(a, wsum);
      rAcc.x = pipeline::normalize(a, rAcc.x, factor);
      rAcc.y = pipeline::normalize(a, rAcc.y, factor);
      rAcc.z = pipeline::normalize(a, rAcc.z, factor);
      rAcc.w = pipeline::normalize(a, rAcc.w, factor);
    }
    store(r, at.x, rAcc.x);
    store(r, at.x + 1, rAcc.y);
    store(r, at.x + 2, rAcc.z);
    store(r, at.x + 3, rAcc.w);
    if (d == 0 && p.lse) p.lse[at.y] = pipeline::split_lse(a, mx, wsum, kRead);  // mx + log(wsum), or -inf
  }
}

/// combine_partials over the global partial buffers (L2 reads: written by other CTAs): stride is
/// the rows per split in p.partial_o / p.partial_lse. After is_last_split_cta.
template <class Traits, class OutIndexFn, class Store>
__device__ __forceinline__ void combine_splits(const DecodeParams& p, int rows, int num_splits, int64_t stride,
                                               float* sM, float* sL, OutIndexFn&& out_index, Store&& store) {
  constexpr int D = Traits::kHeadDim;
  combine_partials<Traits>(
      p, rows, num_splits, sM, sL, out_index, store,
      [&](int s, int, int64_t y) { return __ldcg(p.partial_lse + s * stride + y); },
      [&](int s, int, int64_t y, int d) { return __ldcg(reinterpret_cast<const float4*>(p.partial_o + (s * stride + y) * D + d)); });
}

}  // namespace attn::decode
