// decode_elements.cuh: the element conversions of the decode kernels (FP16/BF16 storage to FP32
// and back): exact widening of one value, a pair or a 16-byte chunk, and the one rounding of the
// output. Device only; shared by decode_split.cuh and decode_bulk.cuh. No arithmetic stage here.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>
#include <type_traits>

#include "core/float_format.h"

namespace attn::decode {

template <DType T>
using Element = std::conditional_t<T == DType::fp16, __half, __nv_bfloat16>;

__device__ __forceinline__ float2 to_float2(uint32_t bits, __half*) { return __half22float2(*reinterpret_cast<__half2*>(&bits)); }
__device__ __forceinline__ float2 to_float2(uint32_t bits, __nv_bfloat16*) {
  return __bfloat1622float2(*reinterpret_cast<__nv_bfloat162*>(&bits));
}
__device__ __forceinline__ float to_float(uint16_t bits, __half*) { return __half2float(__ushort_as_half(bits)); }
__device__ __forceinline__ float to_float(uint16_t bits, __nv_bfloat16*) { return __bfloat162float(__ushort_as_bfloat16(bits)); }
// Output rounding: one round-to-nearest-even from FP32 (the only rounding of O to the dtype).
__device__ __forceinline__ uint16_t from_float(float x, __half*) { return __half_as_ushort(__float2half_rn(x)); }
__device__ __forceinline__ uint16_t from_float(float x, __nv_bfloat16*) { return __bfloat16_as_ushort(__float2bfloat16_rn(x)); }

/// Eight FP16/BF16 values of one 16-byte shared-memory chunk, widened exactly to FP32.
template <typename T>
__device__ __forceinline__ void unpack8(const uint4& v, float (&f)[8]) {
  const float2 a = to_float2(v.x, static_cast<T*>(nullptr)), b = to_float2(v.y, static_cast<T*>(nullptr));
  const float2 c = to_float2(v.z, static_cast<T*>(nullptr)), d = to_float2(v.w, static_cast<T*>(nullptr));
  f[0] = a.x; f[1] = a.y; f[2] = b.x; f[3] = b.y; f[4] = c.x; f[5] = c.y; f[6] = d.x; f[7] = d.y;
}

}  // namespace attn::decode
