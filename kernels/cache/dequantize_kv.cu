// dequantize_kv.cu: the E4M3 cache's storage dequantized to FP16 / BF16 (dequantize_kv.h). One
// thread per 8 bytes of a row (16 output bytes): coalesced 8-byte loads and 16-byte stores.
#include "kernels/cache/dequantize_kv.h"

#include <string>

#include "core/errors.h"
#include "kernels/cache/fp8_dequantize.cuh"

namespace attn {
namespace {

template <DType Elem>
__global__ void dequantize_kv_e4m3_kernel(const uint2* __restrict__ src, uint4* __restrict__ dst, int64_t groups,
                                          int groups_per_head, int heads_kv, const float* __restrict__ scales) {
  for (int64_t g = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; g < groups;
       g += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int head = static_cast<int>((g / groups_per_head) % heads_kv);
    dst[g] = kv_fp8::dequantize_e4m3x8<Elem>(src[g], kv_fp8::e4m3_scale_bits<Elem>(__ldg(scales + head)));
  }
}

}  // namespace

void launch_dequantize_kv_e4m3(const void* src, void* dst, int64_t rows, int heads_kv, int head_dim, const float* scales,
                               DType dtype, cudaStream_t stream) {
  if (dtype != DType::fp16 && dtype != DType::bf16) throw Error("dequantize E4M3 cache: dtype must be fp16 or bf16");
  if (head_dim <= 0 || head_dim % 8 != 0) throw Error("dequantize E4M3 cache: head_dim must be a positive multiple of 8");
  if (rows < 0 || heads_kv <= 0 || scales == nullptr) throw Error("dequantize E4M3 cache: bad rows, heads or scales");
  const int64_t groups = rows * heads_kv * (head_dim / 8);
  if (groups == 0) return;
  const int threads = 256;
  const int64_t wanted = (groups + threads - 1) / threads;
  const unsigned blocks = static_cast<unsigned>(wanted < 65535 * 8 ? wanted : 65535 * 8);  // grid-stride beyond
  const auto* s = static_cast<const uint2*>(src);
  auto* d = static_cast<uint4*>(dst);
  if (dtype == DType::fp16)
    dequantize_kv_e4m3_kernel<DType::fp16><<<blocks, threads, 0, stream>>>(s, d, groups, head_dim / 8, heads_kv, scales);
  else
    dequantize_kv_e4m3_kernel<DType::bf16><<<blocks, threads, 0, stream>>>(s, d, groups, head_dim / 8, heads_kv, scales);
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) throw Error(std::string("dequantize E4M3 cache: launch: ") + cudaGetErrorString(e));
}

}  // namespace attn
