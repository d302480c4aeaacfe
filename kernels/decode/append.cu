// append.cu: the KV-cache append kernel — copies new K/V rows [B, S_new, H_kv, D] behind
// seq_lens[b] (through the block table when paged), refusing (device flag) any entry that would
// overflow. The host checks (check_append_fits, check_block_table) run first; this is the second
// line of defence. Not the decode kernels (decode_split.cuh).
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "core/errors.h"
#include "kernels/cache/kv_layout.h"
#include "kernels/decode/decode_launch.h"

namespace attn {
namespace {

__global__ void append_kernel(const uint4* gNewK, const uint4* gNewV, uint4* gK, uint4* gV, const KvLayout layout,
                              const int* old_lens, int batch, int new_tokens, int capacity, int num_heads_kv,
                              int vecs_per_row, int* overflow_flag) {
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
    gK[dst] = gNewK[e];
    gV[dst] = gNewV[e];
  }
}

}  // namespace

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
