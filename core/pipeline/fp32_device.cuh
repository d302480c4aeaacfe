// fp32_device.cuh: the FP32 device arithmetics of the GPU kernels, in the concept of
// core/pipeline/arithmetic.h. CUDA only (included from .cu files).
//  * Fp32DeviceArithmetic<P>: FlashAttention-2-style kernels (the mma.sync prefill, and any kernel
//    with the same numerics, e.g. a wgmma one). Base-2 exponent units with the scale folded into
//    one FMA and ex2.approx.ftz (what FA2 gets from exp2f under --use_fast_math); P rounded to the
//    input dtype P with the packed f16x2 / bf16x2 conversion.
//  * Fp32NaturalDeviceArithmetic: flash-decoding-style CUDA-core kernels (kernels/decode/): scores
//    scaled before the softmax, natural units, exp_fp32 / log_fp32 (fp32_elementary.h: bit-exact
//    on the CPU), P kept in FP32, O divided by l, natural-log partial LSEs.
// Expressions are written as the kernels always wrote them (plain operators where nvcc's
// contraction decides, intrinsics where the rounding is the point), so moving a stage here
// changed no rounding.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "core/float_format.h"
#include "core/pipeline/fp32_elementary.h"
#include "core/pipeline/numerics.h"
#include "core/pipeline/online_softmax.h"

namespace attn::pipeline {

/// 2^x with the SFU's ex2.approx.ftz (max error 2 ulp, subnormal results flushed).
__device__ __forceinline__ float ex2_approx(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

/// Two floats rounded (nearest even) to FP16 or BF16, packed low = first.
template <DType T>
__device__ __forceinline__ uint32_t pack_round2(float lo, float hi) {
  static_assert(T == DType::fp16 || T == DType::bf16, "16-bit tensor-core operands only");
  if constexpr (T == DType::fp16) {
    __half2 h = __floats2half2_rn(lo, hi);
    return *reinterpret_cast<uint32_t*>(&h);
  } else {
    __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
    return *reinterpret_cast<uint32_t*>(&h);
  }
}
/// The two values of a packed pair back in FP32 (exact).
template <DType T>
__device__ __forceinline__ float2 unpack2(uint32_t bits) {
  static_assert(T == DType::fp16 || T == DType::bf16, "16-bit tensor-core operands only");
  if constexpr (T == DType::fp16) {
    return __half22float2(*reinterpret_cast<__half2*>(&bits));
  } else {
    return __bfloat1622float2(*reinterpret_cast<__nv_bfloat162*>(&bits));
  }
}

/// FA2's FP32 arithmetic on the device; PDtype: the input dtype P is cast to (FP16 or BF16).
template <DType PDtype>
struct Fp32DeviceArithmetic {
  using value_type = float;
  using p_pair_type = uint32_t;  ///< two P values packed as the mma.sync A operand holds them
  static constexpr bool kNaturalLse = false;
  // exp stage
  __device__ __forceinline__ float scale_max(float raw_max, float scale_log2) const { return raw_max * scale_log2; }
  /// One FMA: S*scale_log2 - m rounded once, as FA2 does (scale folded into the exponent).
  __device__ __forceinline__ float exp_score(float s, float scale_log2, float m) const {
    return ex2_approx(__fmaf_rn(s, scale_log2, -m));
  }
  // rescale stage
  __device__ __forceinline__ float lazy_bound(float m_old, float threshold) const { return m_old + threshold; }
  __device__ __forceinline__ float max(float a, float b) const { return fmaxf(a, b); }
  __device__ __forceinline__ float rescale_factor(float m_old, float m_new) const { return ex2_approx(m_old - m_new); }
  __device__ __forceinline__ float round_rescale_fp16(float alpha) const { return __half2float(__float2half_rn(alpha)); }
  __device__ __forceinline__ float row_sum_add(float sum, float p) const { return sum + p; }
  /// nvcc contracts this into one fma (the emulator models it so, bit-exact on the H100).
  __device__ __forceinline__ float row_sum_update(float l, float alpha, float sum) const { return l * alpha + sum; }
  __device__ __forceinline__ float rescale_o(float o, float alpha) const { return o * alpha; }
  __device__ __forceinline__ float rescale_accumulate_o(float o, float alpha, float pv) const {
    return __fmaf_rn(o, alpha, pv);
  }
  // p_cast stage
  __device__ __forceinline__ uint32_t round_p_pair(float p0, float p1) const { return pack_round2<PDtype>(p0, p1); }
  __device__ __forceinline__ ValuePair<float> unpack_p_pair(uint32_t packed) const {
    const float2 f = unpack2<PDtype>(packed);
    return {f.x, f.y};
  }
  __device__ __forceinline__ float round_p(float p) const {
    if constexpr (PDtype == DType::fp16) return __half2float(__float2half_rn(p));
    else return __bfloat162float(__float2bfloat16_rn(p));
  }
  __device__ __forceinline__ float p_residual(float p, float hi) const { return p - hi; }
  // normalize stage: reciprocal then multiply (FA2's inv_sum), IEEE division (not fast-math).
  __device__ __forceinline__ float normalizer(float l) const { return !(l > 0.f) ? 0.f : 1.f / l; }
  __device__ __forceinline__ float normalize(float o, float inv_l) const { return o * inv_l; }
  // LSE output (m in log2 units): m ln2 + ln(l).
  __device__ __forceinline__ float natural_lse(float m, float l) const { return m * kLn2F + logf(l); }
  // split-KV (base-2 partial LSEs)
  __device__ __forceinline__ float split_lse(float m, float l) const { return m + log2f(l); }
  __device__ __forceinline__ float natural_to_base2(float lse) const { return lse * kLog2eF; }
  __device__ __forceinline__ float combine_sub(float a, float b) const { return a - b; }
  __device__ __forceinline__ float combine_add(float a, float b) const { return a + b; }
  __device__ __forceinline__ float combine_exp(float x) const { return ex2_approx(x); }
  __device__ __forceinline__ float combine_exp_natural(float x) const { return expf(x); }
  __device__ __forceinline__ float combine_log(float x) const { return log2f(x); }
  __device__ __forceinline__ float combine_log_natural(float x) const { return logf(x); }
  __device__ __forceinline__ float combine_fma(float w, float o, float acc) const { return __fmaf_rn(w, o, acc); }
};

/// The flash-decoding kernels' FP32 arithmetic: natural exp of pre-scaled scores, FP32 P. exp and
/// log are core/pipeline/fp32_elementary.h's (fixed sequences of correctly rounded operations,
/// not CUDA's expf/logf, whose ex2.approx/lg2.approx no CPU model reproduces), and every other
/// operation is an explicit single rounding, so that the CPU emulator's Fp32NaturalArithmetic
/// (core/pipeline/arithmetic.h) gives the same bits.
struct Fp32NaturalDeviceArithmetic {
  using value_type = float;
  static constexpr bool kNaturalLse = true;
  // exp stage: the scores arrive scaled (S * softmax_scale), in natural units
  __device__ __forceinline__ float scale_max(float raw_max, float) const { return raw_max; }
  __device__ __forceinline__ float exp_score(float s, float, float m) const {
    return s == kNegInfF ? 0.f : exp_fp32(sub_rn(s, m));
  }
  // rescale stage
  __device__ __forceinline__ float lazy_bound(float m_old, float threshold) const { return add_rn(m_old, threshold); }
  __device__ __forceinline__ float max(float a, float b) const { return fmaxf(a, b); }
  __device__ __forceinline__ float rescale_factor(float m_old, float m_new) const { return exp_fp32(sub_rn(m_old, m_new)); }
  __device__ __forceinline__ float round_rescale_fp16(float alpha) const { return __half2float(__float2half_rn(alpha)); }
  __device__ __forceinline__ float row_sum_add(float sum, float p) const { return add_rn(sum, p); }
  __device__ __forceinline__ float row_sum_update(float l, float alpha, float sum) const { return fma_rn(l, alpha, sum); }
  __device__ __forceinline__ float rescale_o(float o, float alpha) const { return mul_rn(o, alpha); }
  /// O = fma(O, alpha, PV of this tile): the rescale fused with the CUDA-core accumulation.
  __device__ __forceinline__ float rescale_accumulate_o(float o, float alpha, float pv) const {
    return fma_rn(o, alpha, pv);
  }
  // p_cast stage: none, P stays FP32
  __device__ __forceinline__ float round_p(float p) const { return p; }
  __device__ __forceinline__ float p_residual(float p, float hi) const { return sub_rn(p, hi); }
  // normalize stage: an IEEE division by l
  __device__ __forceinline__ float normalizer(float l) const { return l; }
  __device__ __forceinline__ float normalize(float o, float l) const { return l > 0.f ? div_rn(o, l) : 0.f; }
  __device__ __forceinline__ float natural_lse(float m, float l) const { return add_rn(m, log_fp32(l)); }
  // split-KV: natural-log partial LSEs, combined with natural exp
  __device__ __forceinline__ float split_lse(float m, float l) const { return add_rn(m, log_fp32(l)); }
  __device__ __forceinline__ float natural_to_base2(float lse) const { return mul_rn(lse, kLog2eF); }
  __device__ __forceinline__ float combine_sub(float a, float b) const { return sub_rn(a, b); }
  __device__ __forceinline__ float combine_add(float a, float b) const { return add_rn(a, b); }
  __device__ __forceinline__ float combine_exp(float x) const { return exp_fp32(x); }
  __device__ __forceinline__ float combine_exp_natural(float x) const { return exp_fp32(x); }
  __device__ __forceinline__ float combine_log(float x) const { return log_fp32(x); }
  __device__ __forceinline__ float combine_log_natural(float x) const { return log_fp32(x); }
  __device__ __forceinline__ float combine_fma(float w, float o, float acc) const { return fma_rn(w, o, acc); }
};

}  // namespace attn::pipeline
