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
  static bool configured = false;  // opt in once to the largest dynamic shared memory a block may have
  if (!configured) {
    int device = 0, max_optin = 0;
    if (cudaGetDevice(&device) != cudaSuccess ||
        cudaDeviceGetAttribute(&max_optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device) != cudaSuccess ||
        cudaFuncSetAttribute(decode_bulk_kernel<Traits>, cudaFuncAttributeMaxDynamicSharedMemorySize, max_optin) != cudaSuccess)
      throw Error("decode bulk: cannot opt in to dynamic shared memory");
    configured = true;
  }
  const size_t smem = bulk_smem_bytes<Traits>(p.heads_per_cta, p.stages);
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
