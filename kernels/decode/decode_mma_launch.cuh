// decode_mma_launch.cuh: the launch helpers of the tensor-core decode kernel shared by its two
// translation units (decode_mma.cu: production instantiations; decode_mma_mutants.cu: the planted
// mutants, compiled apart so that the two build in parallel): the shared-memory opt-in, one
// launch, the occupancy query, the production dispatch. CUDA host code; not the kernel itself.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "core/errors.h"
#include "kernels/decode/decode_launch.h"
#include "kernels/decode/decode_mma.cuh"

namespace attn {

/// The production shape: 4 warps of 32-key tiles, 3 stages each.
template <DType Elem, int HeadDim, Mutant M = Mutant::none>
using DecodeMmaProduction = DecodeMmaTraits<Elem, HeadDim, 4, 32, 3, M>;
/// The alternative measured against it (DecodeParams::mma_warps = 8): 8 warps of 16-key tiles,
/// 3 stages each (FP16, D 128: the same 204 KiB, two warps per scheduler).
using DecodeMmaEightWarps = DecodeMmaTraits<DType::fp16, 128, 8, 16, 3>;
/// And 12 warps of 16-key tiles, 2 stages each (FP16, D 128: 204 KiB, three warps per scheduler).
using DecodeMmaTwelveWarps = DecodeMmaTraits<DType::fp16, 128, 12, 16, 2>;

/// The planted-mutant half of the dispatch (decode_mma_mutants.cu; D = 128).
void launch_decode_mma_mutant(const DecodeParams& p, DType dtype, Mutant mutant, cudaStream_t stream);
/// The tensor-core kernel's half of launch_decode (decode_mma.cu), after the common checks.
void launch_decode_mma(const DecodeParams& p, DType dtype, Mutant mutant, cudaStream_t stream);

namespace decode {

template <class Traits>
void configure_mma_smem() {
  static bool configured = false;  // opt in to > 48 KiB dynamic shared memory once per instantiation
  if (configured) return;
  const cudaError_t e =
      cudaFuncSetAttribute(decode_mma_kernel<Traits>, cudaFuncAttributeMaxDynamicSharedMemorySize, Traits::kSmemBytes);
  if (e != cudaSuccess) throw Error(std::string("decode mma: cudaFuncSetAttribute: ") + cudaGetErrorString(e));
  configured = true;
}

template <class Traits>
void launch_mma_traits(const DecodeParams& p, cudaStream_t stream) {
  configure_mma_smem<Traits>();
  decode_mma_kernel<Traits><<<dim3(p.max_splits, p.num_heads_kv, p.batch), Traits::kThreads, Traits::kSmemBytes, stream>>>(p);
}

template <class Traits>
int64_t mma_resident_ctas() {
  configure_mma_smem<Traits>();
  int per_sm = 0, device = 0, sms = 0;
  if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, decode_mma_kernel<Traits>, Traits::kThreads, Traits::kSmemBytes) !=
          cudaSuccess ||
      cudaGetDevice(&device) != cudaSuccess || cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device) != cudaSuccess)
    throw Error("decode mma: occupancy query failed");
  return static_cast<int64_t>(per_sm > 1 ? per_sm : 1) * sms;
}

/// Calls fn.template operator()<Traits>() for the instantiation of (dtype, D, warps).
template <class Fn>
auto with_mma_traits(DType dtype, int head_dim, int warps, Fn&& fn) {
  if (head_dim != 64 && head_dim != 128) throw Error("decode mma: head_dim must be 64 or 128");
  if (dtype != DType::fp16 && dtype != DType::bf16) throw Error("decode mma: dtype must be fp16 or bf16");
  if (warps != 4 && warps != 8 && warps != 12) throw Error("decode mma: 4, 8 or 12 warps per CTA");
  if (warps != 4 && (dtype != DType::fp16 || head_dim != 128))
    throw Error("decode mma: 8 and 12 warps are compiled for FP16, D = 128 only");
  if (warps == 8) return fn.template operator()<DecodeMmaEightWarps>();
  if (warps == 12) return fn.template operator()<DecodeMmaTwelveWarps>();
  const bool bf16 = dtype == DType::bf16;
  if (head_dim == 64)
    return bf16 ? fn.template operator()<DecodeMmaProduction<DType::bf16, 64>>()
                : fn.template operator()<DecodeMmaProduction<DType::fp16, 64>>();
  return bf16 ? fn.template operator()<DecodeMmaProduction<DType::bf16, 128>>()
              : fn.template operator()<DecodeMmaProduction<DType::fp16, 128>>();
}

}  // namespace decode
}  // namespace attn
