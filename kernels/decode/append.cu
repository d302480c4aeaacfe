// append.cu: the KV-cache append kernels — copy new K/V rows [B, S_new, H_kv, D] behind
// seq_lens[b] (through the block table when paged), as they are or quantized to E4M3 with the
// per-head power-of-two scales (kernels/cache/fp8_kv.h), refusing (device flag) any entry that would
// overflow. The host checks (check_append_fits, check_block_table) run first; this is the second
// line of defence. Not the decode kernels (decode_split.cuh).
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include <cuda_fp8.h>

#include "core/errors.h"
#include "core/pipeline/fp32_device.cuh"
#include "kernels/cache/kv_layout.h"
#include "kernels/decode/decode_launch.h"

namespace attn {
namespace {

/// Where new-row vector e ([B, S_new, H_kv, vecs_per_row] order) goes in the cache, in vectors;
/// -1 (and the overflow flag set) when its entry would overflow: the second line of defence,
/// refuse and never write.
__device__ __forceinline__ int64_t append_destination(int64_t e, const KvLayout& layout, const int* old_lens, int new_tokens,
                                                      int capacity, int num_heads_kv, int vecs_per_row, int* overflow_flag) {
  const int c = static_cast<int>(e % vecs_per_row);
  int64_t rest = e / vecs_per_row;
  const int hk = static_cast<int>(rest % num_heads_kv);
  rest /= num_heads_kv;
  const int t = static_cast<int>(rest % new_tokens);
  const int b = static_cast<int>(rest / new_tokens);
  const int old = old_lens[b];
  if (old < 0 || old + new_tokens > capacity) {
    atomicExch(overflow_flag, 1);
    return -1;
  }
  return (kv_row(layout, b, old + t, capacity) * num_heads_kv + hk) * vecs_per_row + c;
}

__global__ void append_kernel(const uint4* gNewK, const uint4* gNewV, uint4* gK, uint4* gV, const KvLayout layout,
                              const int* old_lens, int batch, int new_tokens, int capacity, int num_heads_kv,
                              int vecs_per_row, int* overflow_flag) {
  const int64_t total = static_cast<int64_t>(batch) * new_tokens * num_heads_kv * vecs_per_row;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < total;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t dst = append_destination(e, layout, old_lens, new_tokens, capacity, num_heads_kv, vecs_per_row, overflow_flag);
    if (dst < 0) continue;
    gK[dst] = gNewK[e];
    gV[dst] = gNewV[e];
  }
}

/// E4M3 append: each thread quantizes 8 new values (one 16-byte FP16/BF16 chunk) of one (entry,
/// token, head) to 8 bytes: x * 2^-e (exact) rounded to nearest even and saturated to +-448.
template <DType T>
__global__ void append_fp8_kernel(const uint4* gNewK, const uint4* gNewV, uint2* gK, uint2* gV, const KvLayout layout,
                                  const int* old_lens, int batch, int new_tokens, int capacity, int num_heads_kv,
                                  int vecs_per_row, const float* k_scale, const float* v_scale, int* overflow_flag) {
  const int64_t total = static_cast<int64_t>(batch) * new_tokens * num_heads_kv * vecs_per_row;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < total;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t dst = append_destination(e, layout, old_lens, new_tokens, capacity, num_heads_kv, vecs_per_row, overflow_flag);
    if (dst < 0) continue;
    auto quantize8 = [](uint4 in, float inv_scale) {
      const uint32_t words[4] = {in.x, in.y, in.z, in.w};
      uint16_t pairs[4];
      for (int w = 0; w < 4; ++w) {
        const float2 f = pipeline::unpack2<T>(words[w]);
        pairs[w] = __nv_cvt_float2_to_fp8x2(make_float2(f.x * inv_scale, f.y * inv_scale), __NV_SATFINITE, __NV_E4M3);
      }
      return make_uint2(pairs[0] | (static_cast<uint32_t>(pairs[1]) << 16), pairs[2] | (static_cast<uint32_t>(pairs[3]) << 16));
    };
    const int hk = static_cast<int>(e / vecs_per_row % num_heads_kv);  // the per-head scale's index
    gK[dst] = quantize8(gNewK[e], 1.0f / k_scale[hk]);  // 1 / 2^e: exact
    gV[dst] = quantize8(gNewV[e], 1.0f / v_scale[hk]);
  }
}

}  // namespace

void launch_append_fp8(const void* new_k, const void* new_v, void* k_cache, void* v_cache, const KvLayout& layout,
                       const int* old_lens, int batch, int new_tokens, int capacity, int num_heads_kv, int head_dim,
                       DType dtype, const float* k_scale, const float* v_scale, int* overflow_flag, void* stream) {
  const int64_t total = static_cast<int64_t>(batch) * new_tokens * num_heads_kv * (head_dim / 8);
  if (total == 0) return;
  const int blocks = static_cast<int>(std::min<int64_t>((total + 255) / 256, 4096));
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  auto args = [&](auto kernel) {
    kernel<<<blocks, 256, 0, s>>>(static_cast<const uint4*>(new_k), static_cast<const uint4*>(new_v), static_cast<uint2*>(k_cache),
                                  static_cast<uint2*>(v_cache), layout, old_lens, batch, new_tokens, capacity, num_heads_kv,
                                  head_dim / 8, k_scale, v_scale, overflow_flag);
  };
  if (dtype == DType::bf16) args(append_fp8_kernel<DType::bf16>);
  else if (dtype == DType::fp16) args(append_fp8_kernel<DType::fp16>);
  else throw Error("append: an FP8 cache takes FP16 or BF16 new values");
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) throw Error(std::string("append (FP8) launch: ") + cudaGetErrorString(e));
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
