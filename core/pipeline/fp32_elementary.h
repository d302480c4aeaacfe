// fp32_elementary.h: exp and log in FP32 as fixed sequences of correctly rounded FP32 operations
// (fma, mul, add, div, exact bit manipulation), host-device. The decode kernels (kernels/decode/)
// take P = exp(S - m), the rescale factor, the split weights and the partial LSEs from here, and
// the CPU emulator calls the very same functions: every operation is IEEE-754 binary32 with
// round-to-nearest-even on both sides (explicit __fmaf_rn / __fmul_rn / __fadd_rn / __fdiv_rn on
// the device, so nvcc's contraction cannot fuse anything; std::fmaf and plain float operators on
// the host, which builds with -ffp-contract=off), so the GPU and the emulator agree bit for bit.
// CUDA's expf cannot give that: it ends in ex2.approx.ftz (the SFU), which no published model
// reproduces (kernels/probes/ex2_probe.cu: 59 % of x in [-16, 0] differ from the correctly
// rounded exp2f by 1-2 ulp).
// Accuracy (tests/core/test_fp32_elementary.cpp, every float in the ranges the kernels use):
// exp_fp32 within 2 ulp of exp on [-104, 0] (1 ulp on almost all), log_fp32 within 1 ulp.
// Cost: about a dozen FP32 operations each (the decode kernels are memory-bound).
// What it is not: a general libm (no errno, no float exceptions), nor the FA2 kernels' exp (they
// use ex2.approx, core/pipeline/fp32_device.cuh).
#pragma once

#include <cstdint>
#include <cstring>

#include "core/hd.h"

#if !defined(__CUDA_ARCH__)
#include <cmath>
#endif

namespace attn::pipeline {

// ---- single correctly rounded FP32 operations, never contracted ---------------------------------
ATTN_HD float fma_rn(float a, float b, float c) {
#if defined(__CUDA_ARCH__)
  return __fmaf_rn(a, b, c);
#else
  return std::fmaf(a, b, c);
#endif
}
ATTN_HD float mul_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
ATTN_HD float add_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}
ATTN_HD float sub_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fsub_rn(a, b);
#else
  return a - b;
#endif
}
ATTN_HD float div_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fdiv_rn(a, b);
#else
  return a / b;
#endif
}

ATTN_HD uint32_t float_bits(float x) {
  uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  return u;
}
ATTN_HD float bits_float(uint32_t u) {
  float x;
  std::memcpy(&x, &u, sizeof x);
  return x;
}

/// e^x in FP32. Cody-Waite reduction x = n ln2 + r (n = rint(x log2 e) by the 1.5 * 2^23 trick,
/// ln2 in two parts: r is exact up to one rounding), e^r by a degree-7 Taylor polynomial in Horner
/// form (truncation < 6e-9 relative on |r| <= ln2/2), then the exact scaling by 2^n (two steps
/// below 2^-125 so that a subnormal result is rounded once). exp(0) = 1 exactly; exp(-inf) = +0;
/// x < -104 gives +0, x > 88.8 gives +inf; NaN stays NaN.
ATTN_HD float exp_fp32(float x) {
  constexpr float kLog2eF = 1.44269502f;         // 0x3FB8AA3B
  constexpr float kRoundMagic = 12582912.0f;     // 1.5 * 2^23: adding it rounds to an integer
  constexpr float kLn2Hi = 0.693145752f;         // 0x3F317200: 16 significant bits, n * kLn2Hi exact
  constexpr float kLn2Lo = 1.42860677e-6f;       // 0x35BFBE8E: ln 2 - kLn2Hi
  if (!(x == x)) return x;                       // NaN
  if (x < -104.0f) return 0.0f;                  // below half the smallest subnormal (also -inf)
  if (x > 88.8f) return bits_float(0x7f800000u); // +inf
  const float shifted = fma_rn(x, kLog2eF, kRoundMagic);
  const float n = sub_rn(shifted, kRoundMagic);  // rint(x * log2 e), |n| <= 150
  float r = fma_rn(n, -kLn2Hi, x);               // exact (n has <= 8 bits, kLn2Hi 16)
  r = fma_rn(n, -kLn2Lo, r);
  // e^r = sum r^k / k!, k = 0..7, Horner from the top.
  float p = 1.98412698e-4f;                      // 1/5040
  p = fma_rn(p, r, 1.38888889e-3f);              // 1/720
  p = fma_rn(p, r, 8.33333377e-3f);              // 1/120
  p = fma_rn(p, r, 4.16666679e-2f);              // 1/24
  p = fma_rn(p, r, 1.66666672e-1f);              // 1/6
  p = fma_rn(p, r, 0.5f);
  p = fma_rn(p, r, 1.0f);
  p = fma_rn(p, r, 1.0f);
  int e = static_cast<int>(n);
  if (e < -125) {                                // keep 2^e normal; this first step is exact
    p = mul_rn(p, bits_float(static_cast<uint32_t>(127 - 64) << 23));  // 2^-64
    e += 64;
  }
  if (e > 127) {                                 // p * 2^128 overflows only when the result does
    p = mul_rn(p, 2.0f);
    e -= 1;
  }
  return mul_rn(p, bits_float(static_cast<uint32_t>(e + 127) << 23));
}

/// ln x in FP32 (FreeBSD's / musl's e_logf: x = 2^k (1 + f) with 1 + f in [sqrt(1/2), sqrt(2)), s = f / (2 + f),
/// ln(1 + f) = f - (f^2/2 - s (f^2/2 + R(s^2))), R a degree-4 polynomial in s^2). log(1) = 0 exactly;
/// log(+0) = -inf, log(x < 0) = NaN, log(+inf) = +inf, NaN stays NaN; subnormal x is handled.
ATTN_HD float log_fp32(float x) {
  constexpr float kLn2Hi = 6.9313812256e-01f;    // 0x3F317180
  constexpr float kLn2Lo = 9.0580006145e-06f;    // 0x3717F7D1
  constexpr float kLg1 = 0.66666662693f;         // 0x3F2AAAAA
  constexpr float kLg2 = 0.40000972152f;         // 0x3ECCCE13
  constexpr float kLg3 = 0.28498786688f;         // 0x3E91E9EE
  constexpr float kLg4 = 0.24279078841f;         // 0x3E789E26
  if (!(x == x)) return x;
  if (x < 0.0f) return bits_float(0x7fc00000u);  // NaN
  if (x == 0.0f) return bits_float(0xff800000u); // -inf
  uint32_t u = float_bits(x);
  if (u == 0x7f800000u) return x;                // +inf
  int k = 0;
  if (u < 0x00800000u) {                         // subnormal: scale by 2^25 (exact)
    k -= 25;
    u = float_bits(mul_rn(x, 33554432.0f));
  }
  // Bring the significand into [sqrt(1/2), sqrt(2)) (musl's integer formulation): adding
  // 0x3f800000 - 0x3f3504f3 carries into the exponent field exactly when the significand is >= sqrt(2).
  u += 0x3f800000u - 0x3f3504f3u;
  k += static_cast<int>(u >> 23) - 127;
  u = (u & 0x007fffffu) + 0x3f3504f3u;
  const float f = sub_rn(bits_float(u), 1.0f);   // exact (Sterbenz)
  const float s = div_rn(f, add_rn(2.0f, f));
  const float z = mul_rn(s, s);
  const float w = mul_rn(z, z);
  const float t1 = mul_rn(w, add_rn(kLg2, mul_rn(w, kLg4)));
  const float t2 = mul_rn(z, add_rn(kLg1, mul_rn(w, kLg3)));
  const float R = add_rn(t2, t1);
  const float hfsq = mul_rn(mul_rn(0.5f, f), f);
  const float dk = static_cast<float>(k);
  // s*(hfsq + R) + dk*ln2_lo - hfsq + f + dk*ln2_hi, left to right (musl's order)
  float result = add_rn(mul_rn(s, add_rn(hfsq, R)), mul_rn(dk, kLn2Lo));
  result = add_rn(sub_rn(result, hfsq), f);
  return add_rn(result, mul_rn(dk, kLn2Hi));
}

}  // namespace attn::pipeline
