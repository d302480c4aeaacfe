// decode_bulk_launch.cuh: the launch of one bulk-kernel instantiation (decode_bulk.cuh) and the
// list of instantiations, shared by the dispatch (decode_bulk.cu) and the files that compile the
// instantiations in parallel (decode_bulk_fp16.cu, decode_bulk_bf16.cu). Not the kernel.
#pragma once

#include <cuda_runtime.h>

#include <string>

#include "core/errors.h"
#include "kernels/decode/decode_bulk.cuh"

namespace attn::decode {

/// Dynamic shared memory of a launch with `heads` KV heads per CTA and `stages` stages.
template <class Traits>
constexpr size_t bulk_smem_bytes(int heads, int stages) {
  return static_cast<size_t>(Traits::kFixedBytes) + static_cast<size_t>(stages) * Traits::stage_bytes(heads);
}

template <class Traits>
void launch_bulk_traits(const DecodeParams& p, cudaStream_t stream) {
  // Opt in once to the largest dynamic shared memory a block of this kernel may have: the
  // per-block opt-in limit less the kernel's static shared memory (asking for the whole opt-in
  // limit fails with cudaErrorInvalidValue as soon as the kernel has any static shared memory).
  static size_t max_dynamic = 0;
  if (max_dynamic == 0) {
    int device = 0, max_optin = 0;
    cudaFuncAttributes attributes{};
    cudaError_t e = cudaGetDevice(&device);
    if (e == cudaSuccess) e = cudaDeviceGetAttribute(&max_optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device);
    if (e == cudaSuccess) e = cudaFuncGetAttributes(&attributes, decode_bulk_kernel<Traits>);
    const int dynamic = max_optin - static_cast<int>(attributes.sharedSizeBytes);
    if (e == cudaSuccess) e = cudaFuncSetAttribute(decode_bulk_kernel<Traits>, cudaFuncAttributeMaxDynamicSharedMemorySize, dynamic);
    if (e != cudaSuccess)
      throw Error(std::string("decode bulk: cannot opt in to ") + std::to_string(dynamic) + " bytes of dynamic shared memory: " +
                  cudaGetErrorString(e));
    max_dynamic = static_cast<size_t>(dynamic);
  }
  const size_t smem = bulk_smem_bytes<Traits>(p.heads_per_cta, p.stages);
  if (smem > max_dynamic)
    throw Error("decode bulk: " + std::to_string(smem) + " bytes of shared memory, above the " + std::to_string(max_dynamic) +
                " a block of this kernel may have");
  decode_bulk_kernel<Traits><<<dim3(p.max_splits, p.num_heads_kv / p.heads_per_cta, p.batch), Traits::kThreads, smem, stream>>>(p);
}

// The instantiations (decode_bulk_<dtype>.cu compile them; the dispatch declares them extern).
#define ATTN_DECODE_BULK_INSTANTIATIONS(X, E)                                                        \
  X(DecodeBulkTraits<E, false, 64, 1>)                                                            \
  X(DecodeBulkTraits<E, false, 128, 1>)                                                           \
  X(DecodeBulkTraits<E, false, 128, 2>)                                                           \
  X(DecodeBulkTraits<E, true, 64, 1>)                                                             \
  X(DecodeBulkTraits<E, true, 128, 1>)                                                            \
  X(DecodeBulkTraits<E, false, 128, 1, Mutant::stale_seqlens>)                                    \
  X(DecodeBulkTraits<E, false, 128, 1, Mutant::interleaved_gqa_in_cache_path>)                    \
  X(DecodeBulkTraits<E, false, 128, 1, Mutant::top_left_in_cache_path>)                           \
  X(DecodeBulkTraits<E, false, 128, 1, Mutant::base2_lse_natural_combine>)

#define ATTN_DECODE_BULK_EXTERN(...) extern template void launch_bulk_traits<__VA_ARGS__>(const DecodeParams&, cudaStream_t);
#define ATTN_DECODE_BULK_DEFINE(...) template void launch_bulk_traits<__VA_ARGS__>(const DecodeParams&, cudaStream_t);

}  // namespace attn::decode
