// online_softmax.cuh: the running max, exp2, rescale and row sum of the FA2 forward for the two
// query rows a thread holds (rows lane/4 and lane/4 + 8 of its warp's 16). Reads like the
// algorithm: row max -> new max -> rescale factor -> P = exp2(S*scale_log2 - m) -> row sum.
// Not the products (fa2_forward.cuh) and not the masking (mask.cuh).
#pragma once

#include <cuda_fp16.h>


#include "kernels/prefill/mma.cuh"

namespace attn::fa2 {

/// Running state of one thread's two rows; m is in scaled log2 units (max(S) * scale * log2 e).
struct RowState {
  float m[2];  ///< starts at -inf (nothing seen)
  float l[2];  ///< this thread's partial row sums (its columns only, FP32), starts at 0
  __device__ __forceinline__ RowState() : m{kNegInf, kNegInf}, l{0.f, 0.f} {}
};

/// Max over the 4 threads of a quad (the columns of one row are spread over lanes 4g..4g+3).
__device__ __forceinline__ float quad_max(float x) {
  x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 1));
  return fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 2));
}
__device__ __forceinline__ float quad_sum(float x) {
  x += __shfl_xor_sync(0xffffffffu, x, 1);
  return x + __shfl_xor_sync(0xffffffffu, x, 2);
}

/// Turns the raw scores s (16 x kBlockN per warp; C fragments) into P in place and returns
/// the per-row rescale factor for the output accumulator. Masked scores are already -inf.
template <class Traits, int NBlocks>
__device__ __forceinline__ void softmax_tile(float (&s)[NBlocks][4], RowState& st, float scale_log2,
                                             float (&alpha)[2]) {
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    float tile_max = kNegInf;
#pragma unroll
    for (int nb = 0; nb < NBlocks; ++nb) tile_max = fmaxf(tile_max, fmaxf(s[nb][2 * r], s[nb][2 * r + 1]));
    tile_max = quad_max(tile_max) * scale_log2;  // max of raw scores, then scaled (one rounding)
    const float m_old = st.m[r];
    // Lazy rescaling (FA3): keep the old max unless the new one exceeds it by the threshold;
    // P may then reach 2^threshold, still far from FP16's 65504.
    float m_new = m_old;
    if (m_old == kNegInf || tile_max > m_old + static_cast<float>(Traits::kRescaleThresholdLog2))
      m_new = fmaxf(m_old, tile_max);
    // A row that has seen only masked keys keeps m = -inf; subtract 0 so exp2(-inf) = 0, not NaN.
    const float m_sub = m_new == kNegInf ? 0.f : m_new;
    float a = m_old == kNegInf ? 0.f : exp2_approx(m_old - m_sub);
    float m_for_p = m_sub;
    if constexpr (Traits::kMutant == Mutant::p_cast_before_final_max) {
      // Planted bug: P taken against the stale max (the tile max only on the first tile), the
      // accumulator and row sum never rescaled.
      m_for_p = m_old == kNegInf ? m_sub : m_old;
      a = 1.f;
    }
    if constexpr (Traits::kMutant == Mutant::rescale_in_fp16) {
      a = __half2float(__float2half_rn(a));  // planted bug: the rescale factor rounded to FP16
    }
    alpha[r] = a;
    st.m[r] = m_new;
    float row_sum = 0.f;
#pragma unroll
    for (int nb = 0; nb < NBlocks; ++nb) {
#pragma unroll
      for (int c = 0; c < 2; ++c) {
        // One FMA: S*scale_log2 - m rounded once, as FA2 does (scale folded into the exponent).
        const float p = exp2_approx(__fmaf_rn(s[nb][2 * r + c], scale_log2, -m_for_p));
        s[nb][2 * r + c] = p;
        row_sum += p;  // FP32 P (before the cast) feeds the row sum, as in FA2
      }
    }
    st.l[r] = st.l[r] * a + row_sum;
  }
}

}  // namespace attn::fa2
