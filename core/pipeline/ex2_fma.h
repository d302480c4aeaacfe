// ex2_fma.h: 2^x on the FP32 FMA pipes instead of the MUFU (FlashAttention-4's trick), host-device,
// and the fixed subset of a tile's elements whose exponential takes it. The FP8 forward
// (kernels/hopper/softmax.cuh, Fp8Config::fma_exp_period) computes most of P with ex2.approx on
// the MUFU (16 per SM per cycle, as many cycles per 128 x 128 tile as its FP8 tensor-core work at
// D 128) and the exponentials of every period-th n8 column block with ex2_fma. Every operation
// is one IEEE binary32 operation with round-to-nearest-even (fp32_elementary.h's fma_rn /
// add_rn / sub_rn / mul_rn: explicit __fmaf_rn etc. on the device, so nvcc's --fmad contracts
// nothing; std::fmaf and plain operators on the host, built with -ffp-contract=off) plus exact
// integer bit manipulation, so the CPU emulator calls this very function and gets the GPU's bits.
//
// Algorithm (Cody-Waite with the trivial split, 2^x = 2^n 2^f):
//   t = RN(x + 1.5 * 2^23)   its low mantissa bits hold n = rint(x) (ties to even), |x| < 2^22
//   n = RN(t - 1.5 * 2^23)   = rint(x), exact
//   f = RN(x - n)            exact (Sterbenz), f in [-1/2, 1/2]
//   p = 1 + f (c1 + f (c2 + ... + f c6))   Horner, six fma_rn: a degree-6 minimax polynomial for
//        2^f on [-1/2, 1/2] (relative error of the real polynomial 2.0e-9; the last step is
//        fma(q, f, 1), so p(0) = 1 exactly and p >= 1 for f >= 0)
//   2^n = the float with bits (bits(t) << 23) + bits(1.0): n's two's complement sits in t's low
//        bits and the shift discards t's own exponent (exact integer exponent assembly; a normal
//        power of two for -126 <= n <= 127, +inf for n = 128)
//   y = RN(p * 2^n)          exact for normal results (a power-of-two scaling)
//   x < -126: y = +0         as ex2.approx.ftz.f32, which flushes results below 2^-126
// Accuracy (tests/core/test_ex2_fma.cpp): max 0.9516 ulp against 2^x in FP64 over every FP32 x in
// [-126, 127.5) (2,247,819,265 floats, "[.ex2-fma-exhaustive]"; 99.44 % correctly rounded; the
// peak at x = -0x1.fbe9f6p-2), against ex2.approx.ftz.f32's documented 2 ulp.
// Exact at integers. Specials: -inf and x < -126 give +0; NaN gives NaN (p is NaN).
// Domain: x < 127.5 (the FP8 softmax's x = fma(s, scale, 8 - m) <= 8 + 2^-13). On [127.5, 128.5)
// the result is +inf (n = 128), above that the exponent assembly wraps. Not here: the MUFU's
// ex2.approx (fp32_device.cuh), the decode kernels' natural exp (fp32_elementary.h: exp_fp32).
#pragma once

#include "core/hd.h"
#include "core/pipeline/fp32_elementary.h"

namespace attn::pipeline {

/// 2^x by range reduction and a degree-6 polynomial on the FMA pipes (see the header comment).
ATTN_HD float ex2_fma(float x) {
  constexpr float kRoundMagic = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
  // Degree-6 minimax coefficients of (2^f - 1) / f's relative error on [-1/2, 1/2], rounded to FP32.
  constexpr uint32_t kC6 = 0x3920fddfu, kC5 = 0x3aaf9f2au, kC4 = 0x3c1d96a6u;  // 1.5353e-4, 1.3399e-3, 9.6184e-3
  constexpr uint32_t kC3 = 0x3d635774u, kC2 = 0x3e75fdeeu, kC1 = 0x3f317218u;  // 5.5503e-2, 0.240226, 0.693147
  const float t = add_rn(x, kRoundMagic);
  const float n = sub_rn(t, kRoundMagic);
  const float f = sub_rn(x, n);
  float p = bits_float(kC6);
  p = fma_rn(p, f, bits_float(kC5));
  p = fma_rn(p, f, bits_float(kC4));
  p = fma_rn(p, f, bits_float(kC3));
  p = fma_rn(p, f, bits_float(kC2));
  p = fma_rn(p, f, bits_float(kC1));
  p = fma_rn(p, f, 1.0f);
  const float two_to_n = bits_float((float_bits(t) << 23) + 0x3f800000u);
  const float y = mul_rn(p, two_to_n);
  return x < -126.0f ? 0.0f : y;
}

/// Whether the exponentials of n8 column block `block` of a KV tile (keys 8 block .. 8 block + 7
/// of the tile) take ex2_fma: the last block of every `period` (period 4: blocks 3, 7, 11, 15 of a
/// 128-key tile, a quarter of P); period 0: none (all on the MUFU).
ATTN_HD bool exp_on_fma(int block, int period) { return period > 0 && block % period == period - 1; }

}  // namespace attn::pipeline
