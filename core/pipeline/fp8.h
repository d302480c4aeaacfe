// fp8.h: the stages the FP8 (E4M3) forward adds to the pipeline (FlashAttention-3's FP8 design),
// host-device, written once for the GPU kernel (kernels/hopper/, its quantization pre-pass) and
// the CPU emulator:
//  * input quantization: the optional incoherent processing (Q and K rotated by the same random
//    Hadamard matrix, so Q K^T is unchanged in exact arithmetic), the scale of a block of values
//    (amax / 448, FP32), and the cast x -> RNE_e4m3(x * RN(1 / scale)) (saturating);
//  * the score scale of one (query block, key tile): the softmax scale in log2 units times the
//    Q block's and the K tile's scales (and 1/D for a rotation, whose matrix is unnormalized);
//  * the P cast: P = 2^(s * scale_log2 - m + 8), i.e. P scaled by 256 (a power of two: exact),
//    rounded to E4M3 with satfinite; the row sum keeps the FP32 P (scaled alike), so the
//    normalization O / l cancels the 256; the LSE subtracts it;
//  * the output factor: V's per-head scale applied with the normalization.
// The scale granularity (Fp8Scaling) and the rotation switch are core/kernel_config.h's Fp8Config.
// The rounding of each step is stated where it is made. Not here: the products (wgmma FP8 on the
// GPU, analysis/tensor_core_model.h's FP8 model in the emulator), the online softmax itself
// (online_softmax.h, unchanged), the mask (semantics.h).
#pragma once

#include <cstdint>

#include "core/hd.h"
#include "core/pipeline/numerics.h"

namespace attn::pipeline {

/// Largest finite E4M3 value: a block's amax maps onto it.
inline constexpr float kE4M3MaxF = 448.f;
/// P is scaled by 2^kFp8PScaleLog2 before its E4M3 cast: P in [0, 1] becomes [0, 256] (max 448),
/// so P down to 2^-14 stays a normal E4M3 number (2^-6 unscaled) and down to 2^-17 nonzero.
inline constexpr float kFp8PScaleLog2 = 8.f;

/// The scale of a block with largest magnitude `amax` (over the valid values only): amax / 448
/// rounded to FP32; 1 for an all-zero block and for a non-finite amax (an Inf or NaN input then
/// stays Inf-saturated or NaN through the cast, as it would through any rounding).
ATTN_HD float fp8_scale(float amax) {
  return amax > 0.f && amax <= 3.402823466e38f ? amax / kE4M3MaxF : 1.f;
}
/// The multiplier applied before the cast: RN(1 / scale) in FP32.
ATTN_HD float fp8_inverse_scale(float scale) { return 1.f / scale; }

/// Sign of column d of the random diagonal of the rotation (+1 or -1), from `seed`: a 64-bit
/// finalizer (splitmix64) of seed ^ d, bit 63.
ATTN_HD float hadamard_sign(uint64_t seed, int d) {
  uint64_t z = seed ^ (0x9e3779b97f4a7c15ull * static_cast<uint64_t>(d + 1));
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return (z >> 63) ? -1.f : 1.f;
}

/// The rotation of one row x (length n, a power of two) in place: x <- (x diag(signs)) H_n with
/// H_n the unnormalized Walsh-Hadamard matrix (entries +-1; H_n H_n^T = n I), in FP32: the sign
/// flip (exact), then log2(n) butterfly passes, pass h = 1, 2, 4, ...: (a, b) <- (RN(a + b),
/// RN(a - b)) for the pairs (i, i + h) of each 2h-block. Q and K rotated alike give
/// (Q R)(K R)^T = n Q K^T: the 1/n goes into the score scale (fp8_score_scale_log2).
template <class Row>
ATTN_HD void hadamard_rotate(Row&& x, int n, uint64_t seed) {
  for (int d = 0; d < n; ++d) x(d) = x(d) * hadamard_sign(seed, d);
  for (int h = 1; h < n; h *= 2)
    for (int i = 0; i < n; i += 2 * h)
      for (int j = i; j < i + h; ++j) {
        const float a = x(j), b = x(j + h);
        x(j) = a + b;
        x(j + h) = a - b;
      }
}

/// The factor of one (query block, key tile) that turns a raw FP8 product sum into scaled log2
/// units: RN(RN(scale_log2 * q_scale) * k_scale), times 1/n for a rotation of length n (a power
/// of two: exact).
ATTN_HD float fp8_score_scale_log2(float scale_log2, float q_scale, float k_scale, float rotation_inverse) {
  return scale_log2 * q_scale * k_scale * rotation_inverse;
}

/// The output factor of a row: RN(RN(1 / l) * v_scale) (the normalizer times V's scale); 0 for a
/// row that saw no key.
ATTN_HD float fp8_output_factor(float inv_l, float v_scale) { return inv_l * v_scale; }

/// Logical k position of key `key` (0..31) of a 32-key FP8 PV step. The S accumulator gives a
/// thread keys {2q, 2q+1, 8+2q, 9+2q} and {16+2q, 17+2q, 24+2q, 25+2q} of each 32 (q = lane % 4);
/// the FP8 A fragment wants k = 4q..4q+3 and 16+4q..16+4q+3. So P is packed in register order
/// and V's rows are permuted to match when V is transposed: k = 16 g + 4 q + i holds key
/// 16 g + 2 q + (i % 2) + 8 (i / 2). A permutation inside one k32 step (one multi-term add)
/// changes no rounding in the tensor-core model (analysis/tensor_core_model.h).
ATTN_HD int fp8_pv_key_of_k(int k) {
  const int g = k / 16, q = (k % 16) / 4, i = k % 4;
  return 16 * g + 2 * q + (i % 2) + 8 * (i / 2);
}

}  // namespace attn::pipeline
