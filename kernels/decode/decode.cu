// decode.cu: KV-cache decode kernels (flash-decoding) and the cache append kernel.
//  - split kernel: one CTA per (split, KV head x row block, batch entry); the S_q x group query
//    rows of the GQA group packed into it (64 rows per CTA at most); 64-key tiles of the cache
//    (contiguous [B, S_max, H_kv, D] or paged through a block table, kv_layout.h) brought into
//    shared memory by cp.async, two stages by default (tile t+1 in flight during tile t's math; three
//    stages are compiled too and measured slower: kDecodeDefaultStages); FP32 scores,
//    accurate expf online softmax, FP32 P (never cast to FP16/BF16) and FP32 PV on CUDA cores
//    (decode is bandwidth-bound: at <= 64 rows the FP32 math stays under the memory time);
//    writes a normalized partial O and its natural LSE per split;
//  - combine: the last CTA of an (entry, KV head, row block) to finish merges its rows' splits in
//    split order (deterministic) by LSE weights — in the same kernel, no second launch;
//  - append kernel: copies new K/V rows behind seq_lens[b] (through the block table when paged),
//    refusing (flag) any overflowing entry.
// Not the host side (register_decode_kernels.cpp, kernels/cache/).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include "core/errors.h"
#include "kernels/decode/decode_launch.h"
#include "kernels/prefill/mma.cuh"

namespace attn {
namespace {

constexpr int kThreads = 128;
constexpr int kTileKeys = 64;

/// Waits until at most `pending` committed cp.async groups of this thread are still in flight.
template <int pending>
__device__ __forceinline__ void cp_async_wait_pending() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(pending));
}

__device__ __forceinline__ float2 to_float2(uint32_t bits, __half*) {
  __half2 h = *reinterpret_cast<__half2*>(&bits);
  return __half22float2(h);
}
__device__ __forceinline__ float2 to_float2(uint32_t bits, __nv_bfloat16*) {
  __nv_bfloat162 h = *reinterpret_cast<__nv_bfloat162*>(&bits);
  return __bfloat1622float2(h);
}
__device__ __forceinline__ float to_float(uint16_t bits, __half*) { return __half2float(__ushort_as_half(bits)); }
__device__ __forceinline__ float to_float(uint16_t bits, __nv_bfloat16*) {
  return __bfloat162float(__ushort_as_bfloat16(bits));
}
// Output rounding: one round-to-nearest-even from FP32 (the only rounding of O to the dtype).
__device__ __forceinline__ uint16_t from_float(float x, __half*) { return __half_as_ushort(__float2half_rn(x)); }
__device__ __forceinline__ uint16_t from_float(float x, __nv_bfloat16*) {
  return __bfloat16_as_ushort(__float2bfloat16_rn(x));
}

__device__ __forceinline__ float warp_max(float x) {
  for (int o = 16; o > 0; o >>= 1) x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, o));
  return x;
}
__device__ __forceinline__ float warp_sum(float x) {
  for (int o = 16; o > 0; o >>= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
  return x;
}

__device__ __forceinline__ int effective_keys(const DecodeParams& p, int b) {
  int n = p.seqlens_k ? p.seqlens_k[b] : p.capacity;
  if (p.mutant_flags & kDecodeStaleSeqlens) n = n > 0 ? n - 1 : 0;  // MUTANT: newest key lost
  return n;
}

/// Eight FP16/BF16 values of one 16-byte shared-memory chunk, widened exactly to FP32.
template <typename T>
__device__ __forceinline__ void unpack8(const uint4& v, float (&f)[8]) {
  const float2 a = to_float2(v.x, static_cast<T*>(nullptr)), b = to_float2(v.y, static_cast<T*>(nullptr));
  const float2 c = to_float2(v.z, static_cast<T*>(nullptr)), d = to_float2(v.w, static_cast<T*>(nullptr));
  f[0] = a.x; f[1] = a.y; f[2] = b.x; f[3] = b.y; f[4] = c.x; f[5] = c.y; f[6] = d.x; f[7] = d.y;
}

// Shared memory of the split kernel, in 32-bit words:
//   K and V tiles, kStages stages: [stage][K|V][64 keys][kRowWords]. A row is D/2 words + 4 of
//   padding: 16-byte aligned for cp.async, and D/8 + 1 (odd) 16-byte chunks long, so the eight
//   lanes of a quarter warp reading eight consecutive keys with 128-bit loads hit eight distinct
//   bank groups, and rows 4 apart start 16 banks apart (the two key halves of the PV loop);
//   Q and the O accumulator [rows4][D] FP32; scores / P [rows4][64]; m, l, alpha [rows4].
template <int D, int kStages>
struct SplitSmem {
  static constexpr int kRowWords = D / 2 + 4;
  static constexpr int kTileWords = kTileKeys * kRowWords;
  static constexpr int kKvWords = kStages * 2 * kTileWords;
  static constexpr size_t bytes(int rows4) {
    return 4 * static_cast<size_t>(kKvWords + 2 * rows4 * D + rows4 * kTileKeys + 3 * rows4);
  }
};

__host__ __device__ constexpr int round_up4(int n) { return (n + 3) / 4 * 4; }

// One CTA: (split, KV head x row block, batch entry). Rows are the GQA group's query rows packed
// as r = g * S_q + i (group member g, query i); a row block holds up to kDecodeRowsPerCta of them.
// Numerics (per row): S = (sum over the first D/2 dims + sum over the last D/2, each an FP32 fma
// chain in dimension order) * scale; online softmax per 64-key tile with natural expf in FP32;
// P stays FP32; PV per tile: two FP32 fma chains over alternating groups of 4 keys, added, then
// O = fma(O, alpha, that sum). Nothing is rounded to FP16/BF16 before the final output.
// kStages K/V tiles in flight: stage t % kStages is computed while the next kStages - 1 load.
template <typename T, int D, int kStages>
__global__ void __launch_bounds__(kThreads) decode_split_kernel(const DecodeParams p) {
  using Smem = SplitSmem<D, kStages>;
  constexpr int RW = Smem::kRowWords, CH = D / 8;  // CH: 16-byte chunks per K/V row
  const int row_blocks = (p.seqlen_q * (p.num_heads_q / p.num_heads_kv) + kDecodeRowsPerCta - 1) / kDecodeRowsPerCta;
  const int split = blockIdx.x, hk = blockIdx.y / row_blocks, rb = blockIdx.y % row_blocks, b = blockIdx.z;
  const int group = p.num_heads_q / p.num_heads_kv;
  const int row0 = rb * kDecodeRowsPerCta;
  const int rows = min(kDecodeRowsPerCta, p.seqlen_q * group - row0), rows4 = round_up4(rows);
  const int keys = effective_keys(p, b);
  const int num_splits = keys > 0 ? (keys + p.keys_per_split - 1) / p.keys_per_split : 1;
  if (split >= num_splits) return;  // the combine reads only this entry's splits
  const int key_begin = split * p.keys_per_split;
  const int key_end = min(keys, key_begin + p.keys_per_split);
  Mask mask = p.mask;
  if ((p.mutant_flags & kDecodeTopLeft) && mask.kind == MaskKind::causal_bottom_right)
    mask.kind = MaskKind::causal_top_left;  // MUTANT: top-left alignment in the cache path

  extern __shared__ __align__(16) uint32_t smem_words[];
  uint32_t* kv_s = smem_words;
  float* q_s = reinterpret_cast<float*>(kv_s + Smem::kKvWords);  // [rows4][D]
  float* acc_s = q_s + rows4 * D;                                 // [rows4][D]
  float* p_s = acc_s + rows4 * D;                                 // [rows4][64]
  float* m_s = p_s + rows4 * kTileKeys;
  float* l_s = m_s + rows4;
  float* alpha_s = l_s + rows4;

  auto head_of = [&](int g) {
    return (p.mutant_flags & kDecodeInterleavedGqa) ? g * p.num_heads_kv + hk  // MUTANT: h % H_kv == hk
                                                    : hk * group + g;
  };
  const uint16_t* kc = static_cast<const uint16_t*>(p.k_cache);
  const uint16_t* vc = static_cast<const uint16_t*>(p.v_cache);
  // cp.async of one 64-key tile into `stage`; keys at or past key_end are zero-filled, never read
  // (the unused cache rows may hold poison, and a page past the entry's last may not exist).
  auto load_tile = [&](int tile, int stage) {
    uint32_t* ks = kv_s + stage * 2 * Smem::kTileWords;
    uint32_t* vs = ks + Smem::kTileWords;
    for (int e = threadIdx.x; e < kTileKeys * CH; e += kThreads) {
      const int j = e / CH, c = e % CH, key = tile + j;
      const bool valid = key < key_end;
      const int64_t off = valid ? (kv_row(p.layout, b, key, p.capacity) * p.num_heads_kv + hk) * D + c * 8 : 0;
      fa2::cp_async_16(ks + j * RW + c * 4, kc + off, valid);
      fa2::cp_async_16(vs + j * RW + c * 4, vc + off, valid);
    }
  };
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int n_tiles = (key_end - key_begin + kTileKeys - 1) / kTileKeys;
  // The first kStages - 1 tiles first: the Q loads below then overlap their latency. One commit
  // group per tile slot, empty or not, so that wait_group counts tiles.
  for (int s = 0; s < kStages - 1; ++s) {
    if (s < n_tiles) load_tile(key_begin + s * kTileKeys, s);
    fa2::cp_async_commit();
  }
  const uint16_t* q = static_cast<const uint16_t*>(p.q);
  for (int e = threadIdx.x; e < rows4 * D; e += kThreads) {
    const int r = e / D, d = e % D, gr = row0 + r, g = gr / p.seqlen_q, i = gr % p.seqlen_q;
    q_s[e] = r < rows ? to_float(q[((static_cast<int64_t>(b) * p.seqlen_q + i) * p.num_heads_q + head_of(g)) * D + d],
                                 static_cast<T*>(nullptr))
                      : 0.f;  // padding rows: zero queries, never written out
    acc_s[e] = 0.f;
  }
  for (int r = threadIdx.x; r < rows4; r += kThreads) {
    m_s[r] = -INFINITY;
    l_s[r] = 0.f;
  }
  for (int t = 0; t < n_tiles; ++t) {
    const int tile = key_begin + t * kTileKeys;
    const uint32_t* ks = kv_s + (t % kStages) * 2 * Smem::kTileWords;
    const uint32_t* vs = ks + Smem::kTileWords;
    cp_async_wait_pending<kStages - 2>();
    __syncthreads();  // tile t landed for every thread; stage (t - 1) % kStages and p_s are free
    if (t + kStages - 1 < n_tiles) load_tile(tile + (kStages - 1) * kTileKeys, (t + kStages - 1) % kStages);
    fa2::cp_async_commit();  // in flight during the math below

    // Scores. Lane (key j, half h): the dot product of its key with 4 rows at a time over half of
    // D; the halves meet through one shuffle (lanes l and l ^ 16 hold the same key).
    {
      const int j = warp * 16 + lane % 16, h = lane / 16, key = tile + j;
      const bool live = key < key_end;
      for (int r0 = 0; r0 < rows4; r0 += 4) {
        float dot[4] = {0.f, 0.f, 0.f, 0.f};
#pragma unroll
        for (int c = 0; c < D / 16; ++c) {
          float kf[8];
          unpack8<T>(*reinterpret_cast<const uint4*>(ks + j * RW + h * (D / 4) + c * 4), kf);
#pragma unroll
          for (int rr = 0; rr < 4; ++rr) {
            const float4* qp = reinterpret_cast<const float4*>(q_s + (r0 + rr) * D + h * (D / 2) + c * 8);
            const float4 q0 = qp[0], q1 = qp[1];
            float d = dot[rr];
            d = fmaf(q0.x, kf[0], d); d = fmaf(q0.y, kf[1], d); d = fmaf(q0.z, kf[2], d); d = fmaf(q0.w, kf[3], d);
            d = fmaf(q1.x, kf[4], d); d = fmaf(q1.y, kf[5], d); d = fmaf(q1.z, kf[6], d); d = fmaf(q1.w, kf[7], d);
            dot[rr] = d;
          }
        }
#pragma unroll
        for (int rr = 0; rr < 4; ++rr) {
          const float other = __shfl_xor_sync(0xffffffffu, dot[rr], 16);
          const int r = r0 + rr, i = (row0 + r) % p.seqlen_q;
          if (h == 0) {
            float s = -INFINITY;
            if (live && r < rows && key_visible(mask, i, key, p.seqlen_q, keys)) s = (dot[rr] + other) * p.scale;
            p_s[r * kTileKeys + j] = s;
          }
        }
      }
    }
    __syncthreads();
    // Online softmax, one warp per row: natural expf (accurate, not ex2.approx), P kept in FP32.
    for (int r = warp; r < rows4; r += kThreads / 32) {
      const float s0 = p_s[r * kTileKeys + lane], s1 = p_s[r * kTileKeys + lane + 32];
      const float m_old = m_s[r], m_new = fmaxf(m_old, warp_max(fmaxf(s0, s1)));
      float p0 = 0.f, p1 = 0.f, alpha = 1.f;
      if (m_new != -INFINITY) {
        p0 = s0 == -INFINITY ? 0.f : expf(s0 - m_new);
        p1 = s1 == -INFINITY ? 0.f : expf(s1 - m_new);
        alpha = m_old == -INFINITY ? 0.f : expf(m_old - m_new);
      }
      const float tile_sum = warp_sum(p0 + p1);
      p_s[r * kTileKeys + lane] = p0;
      p_s[r * kTileKeys + lane + 32] = p1;
      __syncwarp();
      if (lane == 0) {
        m_s[r] = m_new;
        l_s[r] = l_s[r] * alpha + tile_sum;
        alpha_s[r] = alpha;
      }
    }
    __syncthreads();
    // PV. Lane (column pair c of 4 rows, key half kh): kh sums keys 8g + 4kh .. 8g + 4kh + 3 for
    // g = 0..7 (a group 4 rows away from the other half's starts 16 banks away); the halves meet
    // through one shuffle, in a fixed order.
    {
      constexpr int CP = D / 2;
      const int kh = lane / 16;
      for (int e = threadIdx.x; e < (rows4 / 4) * CP * 2; e += kThreads) {
        const int item = (e / 32) * 16 + lane % 16, rc = item / CP, c = item % CP;
        float2 a[4] = {};
#pragma unroll 2
        for (int g = 0; g < kTileKeys / 8; ++g) {
          const int j0 = g * 8 + kh * 4;
          float4 pr[4];
#pragma unroll
          for (int rr = 0; rr < 4; ++rr) pr[rr] = *reinterpret_cast<const float4*>(p_s + (rc * 4 + rr) * kTileKeys + j0);
#pragma unroll
          for (int jj = 0; jj < 4; ++jj) {
            const float2 vv = to_float2(vs[(j0 + jj) * RW + c], static_cast<T*>(nullptr));
#pragma unroll
            for (int rr = 0; rr < 4; ++rr) {
              const float pj = jj == 0 ? pr[rr].x : jj == 1 ? pr[rr].y : jj == 2 ? pr[rr].z : pr[rr].w;
              a[rr].x = fmaf(pj, vv.x, a[rr].x);
              a[rr].y = fmaf(pj, vv.y, a[rr].y);
            }
          }
        }
#pragma unroll
        for (int rr = 0; rr < 4; ++rr) {
          const float ox = __shfl_xor_sync(0xffffffffu, a[rr].x, 16), oy = __shfl_xor_sync(0xffffffffu, a[rr].y, 16);
          if (kh == 0) {
            const int r = rc * 4 + rr;
            float2* acc = reinterpret_cast<float2*>(acc_s + r * D) + c;
            const float alpha = alpha_s[r];
            float2 o = *acc;
            o.x = fmaf(o.x, alpha, a[rr].x + ox);
            o.y = fmaf(o.y, alpha, a[rr].y + oy);
            *acc = o;
          }
        }
      }
    }
  }
  __syncthreads();
  uint16_t* out = static_cast<uint16_t*>(p.o);
  struct OutIndex {
    int64_t x, y;  ///< x: element of O [B, S_q, H_q, D]; y: row (b, h, i) of LSE [B, H_q, S_q]
  };
  auto out_index = [&](int r, int d) {  // of local row r, column d
    const int gr = row0 + r, g = gr / p.seqlen_q, i = gr % p.seqlen_q, h = head_of(g);
    return OutIndex{((static_cast<int64_t>(b) * p.seqlen_q + i) * p.num_heads_q + h) * D + d,
                    (static_cast<int64_t>(b) * p.num_heads_q + h) * p.seqlen_q + i};
  };
  if (num_splits == 1) {
    // One split: O = acc / l rounded once, LSE = m + log l — exactly what the combine below
    // yields for a single split (weight exp(0) = 1), without the round trip through memory.
    for (int e = threadIdx.x; e < rows * D; e += kThreads) {
      const int r = e / D, d = e % D;
      const OutIndex at = out_index(r, d);
      const float l = l_s[r];
      out[at.x] = from_float(l > 0.f ? acc_s[e] / l : 0.f, static_cast<T*>(nullptr));
      if (d == 0 && p.lse) {
        float lse = l > 0.f ? m_s[r] + logf(l) : -INFINITY;
        if (p.mutant_flags & kDecodeBase2Lse) lse *= 1.4426950408889634f;  // MUTANT: log2 written
        p.lse[at.y] = lse;
      }
    }
    return;
  }
  // Partial results: O normalized by this split's sum, LSE natural (base 2 in the mutant).
  const int64_t stride = static_cast<int64_t>(p.batch) * p.num_heads_q * p.seqlen_q;  // rows per split
  for (int e = threadIdx.x; e < rows * D; e += kThreads) {
    const int r = e / D, d = e % D;
    const int64_t row = out_index(r, d).y;
    const float l = l_s[r];
    p.partial_o[(split * stride + row) * D + d] = l > 0.f ? acc_s[e] / l : 0.f;
    if (d == 0) {
      float lse = l > 0.f ? m_s[r] + logf(l) : -INFINITY;
      if (p.mutant_flags & kDecodeBase2Lse) lse *= 1.4426950408889634f;  // MUTANT: log2 written
      p.partial_lse[split * stride + row] = lse;
    }
  }
  // Combine, by the last CTA of this (entry, KV head, row block) to finish (no second launch):
  // its partials are fenced before it is counted; the last one fences again and reads the others'
  // partials from L2 (ld.cg). The counter is reset for the next launch by that last CTA.
  __shared__ int is_last;
  __threadfence();
  __syncthreads();
  if (threadIdx.x == 0) {
    int* counter = p.split_counters + (static_cast<int64_t>(b) * gridDim.y + blockIdx.y);
    is_last = atomicAdd(counter, 1) == num_splits - 1;
    if (is_last) *counter = 0;
  }
  __syncthreads();
  if (!is_last) return;
  __threadfence();
  // Per row (one warp): max of the split LSEs and the weight sum sum_s exp(lse_s - max) <= n,
  // FP32, lane s % 32 summing its splits in order, then a fixed butterfly across lanes: the order
  // depends on the split count only (batch invariance under a fixed split size).
  for (int r = warp; r < rows; r += kThreads / 32) {
    const int64_t row = out_index(r, 0).y;
    float mx = -INFINITY;
    for (int s = lane; s < num_splits; s += 32) mx = fmaxf(mx, __ldcg(p.partial_lse + s * stride + row));
    mx = warp_max(mx);
    float wsum = 0.f;
    if (mx != -INFINITY)
      for (int s = lane; s < num_splits; s += 32) wsum += expf(__ldcg(p.partial_lse + s * stride + row) - mx);
    wsum = warp_sum(wsum);
    if (lane == 0) {
      m_s[r] = mx;
      l_s[r] = wsum;
    }
  }
  __syncthreads();
  // O: thread (row, 4 columns); the split loads issued 8 at a time, the fma chain in split order.
  for (int e = threadIdx.x; e < rows * (D / 4); e += kThreads) {
    const int r = e / (D / 4), d = (e % (D / 4)) * 4;
    const OutIndex at = out_index(r, d);
    const float mx = m_s[r], wsum = l_s[r];
    float4 acc = make_float4(0.f, 0.f, 0.f, 0.f);
    if (mx != -INFINITY) {
      for (int s0 = 0; s0 < num_splits; s0 += 8) {
        float lse[8];
        float4 po[8];
#pragma unroll
        for (int u = 0; u < 8; ++u) {
          const int s = min(s0 + u, num_splits - 1);
          lse[u] = __ldcg(p.partial_lse + s * stride + at.y);
          po[u] = __ldcg(reinterpret_cast<const float4*>(p.partial_o + (s * stride + at.y) * D + d));
        }
#pragma unroll
        for (int u = 0; u < 8; ++u) {
          if (s0 + u >= num_splits) break;
          const float w = expf(lse[u] - mx);
          acc.x = fmaf(w, po[u].x, acc.x);
          acc.y = fmaf(w, po[u].y, acc.y);
          acc.z = fmaf(w, po[u].z, acc.z);
          acc.w = fmaf(w, po[u].w, acc.w);
        }
      }
      acc.x /= wsum; acc.y /= wsum; acc.z /= wsum; acc.w /= wsum;
    }
    out[at.x] = from_float(acc.x, static_cast<T*>(nullptr));
    out[at.x + 1] = from_float(acc.y, static_cast<T*>(nullptr));
    out[at.x + 2] = from_float(acc.z, static_cast<T*>(nullptr));
    out[at.x + 3] = from_float(acc.w, static_cast<T*>(nullptr));
    if (d == 0 && p.lse) p.lse[at.y] = mx != -INFINITY ? mx + logf(wsum) : -INFINITY;
  }
}

template <typename T, int D, int S>
void launch_staged(const DecodeParams& p, cudaStream_t stream) {
  const int total_rows = p.seqlen_q * (p.num_heads_q / p.num_heads_kv);
  const int row_blocks = (total_rows + kDecodeRowsPerCta - 1) / kDecodeRowsPerCta;
  const size_t smem = SplitSmem<D, S>::bytes(round_up4(std::min(total_rows, kDecodeRowsPerCta)));
  static bool configured = false;  // opt in to > 48 KiB dynamic shared memory once per instantiation
  if (!configured) {
    const cudaError_t e = cudaFuncSetAttribute(decode_split_kernel<T, D, S>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                               static_cast<int>(SplitSmem<D, S>::bytes(kDecodeRowsPerCta)));
    if (e != cudaSuccess) throw Error(std::string("decode: cudaFuncSetAttribute: ") + cudaGetErrorString(e));
    configured = true;
  }
  decode_split_kernel<T, D, S><<<dim3(p.max_splits, p.num_heads_kv * row_blocks, p.batch), kThreads, smem, stream>>>(p);
}

template <typename T, int D>
void launch_typed(const DecodeParams& p, cudaStream_t stream) {
  if (p.stages == 2) launch_staged<T, D, 2>(p, stream);
  else launch_staged<T, D, 3>(p, stream);
}

template <typename T, int D, int S>
int64_t resident_ctas_staged(int rows) {
  const size_t smem = SplitSmem<D, S>::bytes(round_up4(std::min(std::max(rows, 1), kDecodeRowsPerCta)));
  cudaFuncSetAttribute(decode_split_kernel<T, D, S>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                       static_cast<int>(SplitSmem<D, S>::bytes(kDecodeRowsPerCta)));
  int per_sm = 0, device = 0, sms = 0;
  if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, decode_split_kernel<T, D, S>, kThreads, smem) != cudaSuccess ||
      cudaGetDevice(&device) != cudaSuccess ||
      cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device) != cudaSuccess)
    throw Error("decode: occupancy query failed");
  return static_cast<int64_t>(std::max(per_sm, 1)) * sms;
}

template <typename T, int D>
int64_t resident_ctas_typed(int rows, int stages) {
  return stages == 2 ? resident_ctas_staged<T, D, 2>(rows) : resident_ctas_staged<T, D, 3>(rows);
}

__global__ void append_kernel(const uint4* new_k, const uint4* new_v, uint4* k_cache, uint4* v_cache,
                              const KvLayout layout, const int* old_lens, int batch, int new_tokens, int capacity,
                              int num_heads_kv, int vecs_per_row, int* overflow_flag) {
  const int64_t total = static_cast<int64_t>(batch) * new_tokens * num_heads_kv * vecs_per_row;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < total;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int c = static_cast<int>(e % vecs_per_row);
    int64_t rest = e / vecs_per_row;
    const int hk = static_cast<int>(rest % num_heads_kv);
    rest /= num_heads_kv;
    const int t = static_cast<int>(rest % new_tokens);
    const int b = static_cast<int>(rest / new_tokens);
    const int old = old_lens[b];
    if (old < 0 || old + new_tokens > capacity) {  // second line of defence: refuse, never write
      atomicExch(overflow_flag, 1);
      continue;
    }
    const int64_t dst = (kv_row(layout, b, old + t, capacity) * num_heads_kv + hk) * vecs_per_row + c;
    k_cache[dst] = new_k[e];
    v_cache[dst] = new_v[e];
  }
}

}  // namespace

int64_t decode_resident_ctas(bool bf16, int head_dim, int rows, int stages) {
  if (head_dim != 64 && head_dim != 128) throw Error("decode: head_dim must be 64 or 128");
  if (bf16)
    return head_dim == 64 ? resident_ctas_typed<__nv_bfloat16, 64>(rows, stages)
                          : resident_ctas_typed<__nv_bfloat16, 128>(rows, stages);
  return head_dim == 64 ? resident_ctas_typed<__half, 64>(rows, stages) : resident_ctas_typed<__half, 128>(rows, stages);
}

void launch_decode(const DecodeParams& p, bool bf16, void* stream) {
  if (p.head_dim != 64 && p.head_dim != 128) throw Error("decode: head_dim must be 64 or 128");
  if (p.num_heads_kv <= 0 || p.num_heads_q % p.num_heads_kv != 0) throw Error("decode: H_q not a multiple of H_kv");
  const int rows = p.seqlen_q * (p.num_heads_q / p.num_heads_kv);
  if (rows > kDecodeMaxRows || rows < 1) throw Error("decode: S_q x group = " + std::to_string(rows) + " rows; at most 128");
  if (p.keys_per_split <= 0 || p.keys_per_split % kTileKeys != 0) throw Error("decode: split size not a multiple of 64");
  if (p.stages != 2 && p.stages != 3) throw Error("decode: stages must be 2 or 3");
  if (p.split_counters == nullptr) throw Error("decode: split_counters missing (decode_counter_count() zeroed ints)");
  if (p.layout.paged() && (p.layout.page_size < kMinPageSize || p.layout.page_size > kMaxPageSize ||
                           p.capacity != p.layout.pages_per_seq * p.layout.page_size))
    throw Error("decode: page size " + std::to_string(p.layout.page_size) + " outside [16, 256] or capacity " +
                std::to_string(p.capacity) + " != pages_per_seq x page_size");
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  if (bf16) {
    if (p.head_dim == 64) launch_typed<__nv_bfloat16, 64>(p, s); else launch_typed<__nv_bfloat16, 128>(p, s);
  } else {
    if (p.head_dim == 64) launch_typed<__half, 64>(p, s); else launch_typed<__half, 128>(p, s);
  }
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) throw Error(std::string("decode launch: ") + cudaGetErrorString(e));
}

void launch_append(const void* new_k, const void* new_v, void* k_cache, void* v_cache, const KvLayout& layout,
                   const int* old_lens, int batch, int new_tokens, int capacity, int num_heads_kv, int head_dim,
                   int* overflow_flag, void* stream) {
  const int64_t total = static_cast<int64_t>(batch) * new_tokens * num_heads_kv * (head_dim / 8);
  if (total == 0) return;
  const int blocks = static_cast<int>(std::min<int64_t>((total + 255) / 256, 4096));
  append_kernel<<<blocks, 256, 0, static_cast<cudaStream_t>(stream)>>>(
      static_cast<const uint4*>(new_k), static_cast<const uint4*>(new_v), static_cast<uint4*>(k_cache),
      static_cast<uint4*>(v_cache), layout, old_lens, batch, new_tokens, capacity, num_heads_kv, head_dim / 8,
      overflow_flag);
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) throw Error(std::string("append launch: ") + cudaGetErrorString(e));
}

}  // namespace attn
