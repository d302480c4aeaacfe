// fp8_dequantize.cuh: the E4M3 cache's dequantization on the device, written once for every
// kernel that reads an FP8 KV cache (the tensor-core decode kernel per tile, kernels/decode/
// decode_mma.cuh; the chunked prefill's dequantized copy, dequantize_kv.cu): value = E4M3 x the
// KV head's power-of-two scale, in the cache's 16-bit format. Exact (kernels/cache/fp8_kv.h: the
// scale range keeps every product a value of FP16 / BF16), so no reading order or instruction
// choice can change a bit: the FP8 paths are the 16-bit paths on the dequantized cache.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "core/float_format.h"

namespace attn::kv_fp8 {

/// Two E4M3 bytes (the low one first) times a power-of-two scale, as an Elem pair (the low one in
/// the low half): E4M3 -> FP16 is exact (cvt), and so is the product by the scale in FP16 (a
/// power of two in fp8_scale_range(FP16): the product is a value of FP16, subnormals included)
/// or, for BF16, in FP32 then to BF16 (the product is a value of BF16). Never rounds. NaN bytes
/// (0x7F / 0xFF: the poison of unused rows) stay NaN.
template <DType Elem>
__device__ __forceinline__ uint32_t dequantize_e4m3_pair(uint32_t two_bytes, uint32_t scale_bits) {
  uint32_t h2;
  asm("cvt.rn.f16x2.e4m3x2 %0, %1;\n" : "=r"(h2) : "h"(static_cast<uint16_t>(two_bytes)));
  if constexpr (Elem == DType::fp16) {
    uint32_t out;  // scale_bits: the scale as an FP16 pair
    asm("mul.rn.f16x2 %0, %1, %2;\n" : "=r"(out) : "r"(h2), "r"(scale_bits));
    return out;
  } else {
    const float scale = __uint_as_float(scale_bits);
    const float2 f = __half22float2(*reinterpret_cast<const __half2*>(&h2));
    const __nv_bfloat162 b = __floats2bfloat162_rn(__fmul_rn(f.x, scale), __fmul_rn(f.y, scale));
    return *reinterpret_cast<const uint32_t*>(&b);
  }
}

/// A scale as dequantize_e4m3_pair takes it: an FP16 pair (exact: a power of two in range), or FP32 bits.
template <DType Elem>
__device__ __forceinline__ uint32_t e4m3_scale_bits(float scale) {
  if constexpr (Elem == DType::fp16) {
    const __half2 h = __float2half2_rn(scale);
    return *reinterpret_cast<const uint32_t*>(&h);
  } else {
    return __float_as_uint(scale);
  }
}

/// Eight E4M3 bytes (lowest address first) dequantized to eight Elem values (16 bytes).
template <DType Elem>
__device__ __forceinline__ uint4 dequantize_e4m3x8(uint2 bytes, uint32_t scale_bits) {
  uint4 out;
  out.x = dequantize_e4m3_pair<Elem>(bytes.x & 0xFFFFu, scale_bits);
  out.y = dequantize_e4m3_pair<Elem>(bytes.x >> 16, scale_bits);
  out.z = dequantize_e4m3_pair<Elem>(bytes.y & 0xFFFFu, scale_bits);
  out.w = dequantize_e4m3_pair<Elem>(bytes.y >> 16, scale_bits);
  return out;
}

}  // namespace attn::kv_fp8
