// decode.cu: KV-cache decode kernels (flash-decoding) and the cache append kernel.
//  - split kernel: one CTA per (split, KV head, batch entry); all S_q x group query rows of the
//    GQA group packed into it; 64-key tiles of the contiguous cache [B, S_max, H_kv, D] staged in
//    shared memory; FP32 scores, exact-ish expf online softmax, FP32 P (never cast to FP16/BF16)
//    and FP32 PV accumulation on CUDA cores (decode is bandwidth-bound: tensor cores buy nothing
//    at S_q x group <= 32 rows); writes a normalized partial O and its natural LSE per split;
//  - combine kernel: merges the splits of one row in split order (deterministic) by LSE weights;
//  - append kernel: copies new K/V rows behind seq_lens[b], refusing (flag) any overflowing entry.
// Not the host side (register_decode_kernels.cpp) and not the paged layout (missing).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <string>

#include "core/errors.h"
#include "kernels/decode/decode_launch.h"

namespace attn {
namespace {

constexpr int kThreads = 128;
constexpr int kTileKeys = 64;

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

template <int D>
constexpr int smem_words_for(int rows) {
  return 2 * rows * D + rows * kTileKeys + 3 * rows + 2 * kTileKeys * (D / 2 + 1);
}

template <typename T, int D>
__global__ void __launch_bounds__(kThreads) decode_split_kernel(const DecodeParams p) {
  constexpr int KS = D / 2 + 1;  // row stride in 32-bit words: odd, so key-per-lane reads hit distinct banks
  const int split = blockIdx.x, hk = blockIdx.y, b = blockIdx.z;
  const int group = p.num_heads_q / p.num_heads_kv;
  const int rows = p.seqlen_q * group;
  const int keys = effective_keys(p, b);
  const int num_splits = keys > 0 ? (keys + p.keys_per_split - 1) / p.keys_per_split : 1;
  if (split >= num_splits) return;  // the combine reads only this entry's splits
  const int key_begin = split * p.keys_per_split;
  const int key_end = min(keys, key_begin + p.keys_per_split);
  Mask mask = p.mask;
  if ((p.mutant_flags & kDecodeTopLeft) && mask.kind == MaskKind::causal_bottom_right)
    mask.kind = MaskKind::causal_top_left;  // MUTANT: top-left alignment in the cache path

  extern __shared__ float smem[];
  float* q_s = smem;                      // [rows][D]
  float* acc_s = q_s + rows * D;          // [rows][D]
  float* p_s = acc_s + rows * D;          // [rows][64]
  float* m_s = p_s + rows * kTileKeys;    // [rows]
  float* l_s = m_s + rows;
  float* alpha_s = l_s + rows;
  uint32_t* k_s = reinterpret_cast<uint32_t*>(alpha_s + rows);  // [64][KS]
  uint32_t* v_s = k_s + kTileKeys * KS;

  auto head_of = [&](int g) {
    return (p.mutant_flags & kDecodeInterleavedGqa) ? g * p.num_heads_kv + hk  // MUTANT: h % H_kv == hk
                                                    : hk * group + g;
  };
  const uint16_t* q = static_cast<const uint16_t*>(p.q);
  for (int e = threadIdx.x; e < rows * D; e += kThreads) {
    const int r = e / D, d = e % D, g = r / p.seqlen_q, i = r % p.seqlen_q;
    q_s[e] = to_float(q[((static_cast<int64_t>(b) * p.seqlen_q + i) * p.num_heads_q + head_of(g)) * D + d],
                      static_cast<T*>(nullptr));
    acc_s[e] = 0.f;
  }
  for (int r = threadIdx.x; r < rows; r += kThreads) {
    m_s[r] = -INFINITY;
    l_s[r] = 0.f;
  }

  const uint4* kc = static_cast<const uint4*>(p.k_cache);
  const uint4* vc = static_cast<const uint4*>(p.v_cache);
  constexpr int kVecsPerRow = D / 8;
  constexpr int kVecsPerThread = kTileKeys * kVecsPerRow / kThreads;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;

  // Register double buffer: tile t+1 is requested from memory before tile t is computed, so the
  // loads stay in flight during the score / softmax / PV phases.
  uint4 kr[kVecsPerThread], vr[kVecsPerThread];
  auto load_tile = [&](int tile) {
#pragma unroll
    for (int u = 0; u < kVecsPerThread; ++u) {
      const int e = threadIdx.x + u * kThreads, j = e / kVecsPerRow, c = e % kVecsPerRow;
      if (tile + j < key_end) {  // rows past the valid keys are never read (they may hold poison)
        const int64_t row = (static_cast<int64_t>(b) * p.capacity + tile + j) * p.num_heads_kv + hk;
        kr[u] = kc[row * kVecsPerRow + c];
        vr[u] = vc[row * kVecsPerRow + c];
      } else {
        kr[u] = make_uint4(0, 0, 0, 0);
        vr[u] = make_uint4(0, 0, 0, 0);
      }
    }
  };
  if (key_begin < key_end) load_tile(key_begin);
  for (int tile = key_begin; tile < key_end; tile += kTileKeys) {
    __syncthreads();  // previous tile fully consumed
#pragma unroll
    for (int u = 0; u < kVecsPerThread; ++u) {
      const int e = threadIdx.x + u * kThreads, j = e / kVecsPerRow, c = e % kVecsPerRow;
      uint32_t* kd = k_s + j * KS + 4 * c;
      uint32_t* vd = v_s + j * KS + 4 * c;
      kd[0] = kr[u].x; kd[1] = kr[u].y; kd[2] = kr[u].z; kd[3] = kr[u].w;
      vd[0] = vr[u].x; vd[1] = vr[u].y; vd[2] = vr[u].z; vd[3] = vr[u].w;
    }
    __syncthreads();
    if (tile + kTileKeys < key_end) load_tile(tile + kTileKeys);
    // Scores: FP32 dot products in dimension order, then one multiply by the scale.
    for (int e = threadIdx.x; e < rows * kTileKeys; e += kThreads) {
      const int r = e / kTileKeys, j = e % kTileKeys, i = r % p.seqlen_q, key = tile + j;
      float s = -INFINITY;
      if (key < key_end && key_visible(mask, i, key, p.seqlen_q, keys)) {
        float dot = 0.f;
        const float2* qr = reinterpret_cast<const float2*>(q_s + r * D);
#pragma unroll 16
        for (int c = 0; c < D / 2; ++c) {
          const float2 kk = to_float2(k_s[j * KS + c], static_cast<T*>(nullptr));
          const float2 qq = qr[c];
          dot = fmaf(qq.x, kk.x, dot);
          dot = fmaf(qq.y, kk.y, dot);
        }
        s = dot * p.scale;
      }
      p_s[e] = s;
    }
    __syncthreads();
    // Online softmax, one warp per row: natural expf (accurate, not ex2.approx), P kept in FP32.
    for (int r = warp; r < rows; r += kThreads / 32) {
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
    // PV in FP32, keys in order; the accumulator is rescaled once per tile.
    for (int e = threadIdx.x; e < rows * (D / 2); e += kThreads) {
      const int r = e / (D / 2), c = e % (D / 2);
      float2 a = reinterpret_cast<float2*>(acc_s + r * D)[c];
      const float alpha = alpha_s[r];
      a.x *= alpha;
      a.y *= alpha;
      const float* pr = p_s + r * kTileKeys;
#pragma unroll 8
      for (int j = 0; j < kTileKeys; ++j) {
        const float2 vv = to_float2(v_s[j * KS + c], static_cast<T*>(nullptr));
        a.x = fmaf(pr[j], vv.x, a.x);
        a.y = fmaf(pr[j], vv.y, a.y);
      }
      reinterpret_cast<float2*>(acc_s + r * D)[c] = a;
    }
  }
  __syncthreads();
  // Partial results: O normalized by this split's sum, LSE natural (base 2 in the mutant).
  for (int e = threadIdx.x; e < rows * D; e += kThreads) {
    const int r = e / D, d = e % D, g = r / p.seqlen_q, i = r % p.seqlen_q;
    const int64_t row = ((static_cast<int64_t>(split) * p.batch + b) * p.num_heads_q + head_of(g)) * p.seqlen_q + i;
    const float l = l_s[r];
    p.partial_o[row * D + d] = l > 0.f ? acc_s[e] / l : 0.f;
    if (d == 0) {
      float lse = l > 0.f ? m_s[r] + logf(l) : -INFINITY;
      if (p.mutant_flags & kDecodeBase2Lse) lse *= 1.4426950408889634f;  // MUTANT: log2 written
      p.partial_lse[row] = lse;
    }
  }
}

template <typename T, int D>
__global__ void __launch_bounds__(D) decode_combine_kernel(const DecodeParams p) {
  const int row = blockIdx.x;  // (b * H_q + h) * S_q + i
  const int i = row % p.seqlen_q, h = (row / p.seqlen_q) % p.num_heads_q, b = row / (p.seqlen_q * p.num_heads_q);
  const int keys = effective_keys(p, b);
  const int n = keys > 0 ? (keys + p.keys_per_split - 1) / p.keys_per_split : 1;
  const int64_t stride = static_cast<int64_t>(p.batch) * p.num_heads_q * p.seqlen_q;
  float mx = -INFINITY;
  for (int s = 0; s < n; ++s) mx = fmaxf(mx, p.partial_lse[s * stride + row]);
  float o = 0.f, lse = -INFINITY;
  if (mx != -INFINITY) {
    // Weights exp(lse_s - max) <= 1 in FP32, summed in split order: the same order for a row
    // whatever the batch around it (batch invariance under a fixed split size).
    float wsum = 0.f, acc = 0.f;
    for (int s = 0; s < n; ++s) {
      const float w = expf(p.partial_lse[s * stride + row] - mx);
      wsum += w;
      acc = fmaf(w, p.partial_o[(s * stride + row) * D + threadIdx.x], acc);
    }
    o = acc / wsum;
    lse = mx + logf(wsum);
  }
  uint16_t* out = static_cast<uint16_t*>(p.o);
  out[((static_cast<int64_t>(b) * p.seqlen_q + i) * p.num_heads_q + h) * D + threadIdx.x] = from_float(o, static_cast<T*>(nullptr));
  if (threadIdx.x == 0 && p.lse) p.lse[row] = lse;
}

template <typename T, int D>
void launch_typed(const DecodeParams& p, cudaStream_t stream) {
  const int rows = p.seqlen_q * (p.num_heads_q / p.num_heads_kv);
  const size_t smem = static_cast<size_t>(smem_words_for<D>(rows)) * 4;
  static bool configured = false;  // opt in to > 48 KiB dynamic shared memory once per instantiation
  if (!configured) {
    const size_t max_smem = static_cast<size_t>(smem_words_for<D>(kDecodeMaxRows)) * 4;
    const cudaError_t e = cudaFuncSetAttribute(decode_split_kernel<T, D>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                               static_cast<int>(max_smem));
    if (e != cudaSuccess) throw Error(std::string("decode: cudaFuncSetAttribute: ") + cudaGetErrorString(e));
    configured = true;
  }
  decode_split_kernel<T, D><<<dim3(p.max_splits, p.num_heads_kv, p.batch), kThreads, smem, stream>>>(p);
  decode_combine_kernel<T, D><<<p.batch * p.num_heads_q * p.seqlen_q, D, 0, stream>>>(p);
}

__global__ void append_kernel(const uint4* new_k, const uint4* new_v, uint4* k_cache, uint4* v_cache, const int* old_lens,
                              int batch, int new_tokens, int capacity, int num_heads_kv, int vecs_per_row,
                              int* overflow_flag) {
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
    const int64_t dst = ((static_cast<int64_t>(b) * capacity + old + t) * num_heads_kv + hk) * vecs_per_row + c;
    k_cache[dst] = new_k[e];
    v_cache[dst] = new_v[e];
  }
}

}  // namespace

void launch_decode(const DecodeParams& p, bool bf16, void* stream) {
  if (p.head_dim != 64 && p.head_dim != 128) throw Error("decode: head_dim must be 64 or 128");
  const int rows = p.seqlen_q * (p.num_heads_q / p.num_heads_kv);
  if (rows > kDecodeMaxRows || rows < 1) throw Error("decode: S_q x group = " + std::to_string(rows) + " rows; at most 128");
  if (p.keys_per_split <= 0 || p.keys_per_split % kTileKeys != 0) throw Error("decode: split size not a multiple of 64");
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  if (bf16) {
    if (p.head_dim == 64) launch_typed<__nv_bfloat16, 64>(p, s); else launch_typed<__nv_bfloat16, 128>(p, s);
  } else {
    if (p.head_dim == 64) launch_typed<__half, 64>(p, s); else launch_typed<__half, 128>(p, s);
  }
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) throw Error(std::string("decode launch: ") + cudaGetErrorString(e));
}

void launch_append(const void* new_k, const void* new_v, void* k_cache, void* v_cache, const int* old_lens, int batch,
                   int new_tokens, int capacity, int num_heads_kv, int head_dim, int* overflow_flag, void* stream) {
  const int64_t total = static_cast<int64_t>(batch) * new_tokens * num_heads_kv * (head_dim / 8);
  if (total == 0) return;
  const int blocks = static_cast<int>(std::min<int64_t>((total + 255) / 256, 4096));
  append_kernel<<<blocks, 256, 0, static_cast<cudaStream_t>(stream)>>>(
      static_cast<const uint4*>(new_k), static_cast<const uint4*>(new_v), static_cast<uint4*>(k_cache),
      static_cast<uint4*>(v_cache), old_lens, batch, new_tokens, capacity, num_heads_kv, head_dim / 8, overflow_flag);
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) throw Error(std::string("append launch: ") + cudaGetErrorString(e));
}

}  // namespace attn
