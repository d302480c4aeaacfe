// softmax.cuh: the glue between the wgmma accumulators and the shared online-softmax stage.
// The S accumulator of a warpgroup has the FA2 per-warp layout (wgmma.cuh), so the per-row
// arithmetic is the FA2 stage itself — fa2::softmax_tile (running max, rescale factor, exp2,
// row sum, planted rescaling mutants) and fa2::RowState — never a copy. What is here: the
// element masking of an S fragment (the rule is core/mask.h through fa2::kernel_key_visible)
// and the P cast into wgmma A fragments (RNE to the input dtype; precise mode: hi and lo).
#pragma once

#include <cstdint>

#include "kernels/prefill/mask.cuh"
#include "kernels/prefill/mma.cuh"
#include "kernels/prefill/online_softmax.cuh"

namespace attn::hopper {

using fa2::RowState;

/// Sets to -inf the scores of keys that rows[r] may not see (r = 0: rows[0] holds elements
/// e = 0, 1; r = 1: e = 2, 3). Keys of the tile start at n0; this thread's columns within an n8
/// block are col_in_quad and col_in_quad + 1. Rows past S_q are judged as the last real row
/// (computed, never stored).
template <class Traits, int NBlocks>
__device__ __forceinline__ void mask_scores(float (&s)[NBlocks][4], const Mask& mask, const int (&rows)[2], int n0,
                                            int col_in_quad, int seqlen_q, int seqlen_k) {
#pragma unroll
  for (int nb = 0; nb < NBlocks; ++nb)
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int i = rows[e / 2], j = n0 + nb * 8 + col_in_quad + (e % 2);
      const int i_eff = i < seqlen_q ? i : seqlen_q - 1;
      if (!fa2::kernel_key_visible<Traits::kMutant>(mask, i_eff, j, seqlen_q, seqlen_k)) s[nb][e] = fa2::kNegInf;
    }
}

/// P (FP32, in the S registers) rounded to the input dtype as PV's A fragments: k-step kk takes
/// n8 blocks 2kk and 2kk+1. Precise mode also writes lo = dtype(P - hi) (P - hi is exact in
/// FP32), so hi + lo carries P to about 2^-2p.
template <class Traits, bool WithLo, int NBlocks>
__device__ __forceinline__ void convert_p(const float (&s)[NBlocks][4], uint32_t (&p)[NBlocks / 2][4],
                                          uint32_t (&p_lo)[WithLo ? NBlocks / 2 : 1][4]) {
#pragma unroll
  for (int kk = 0; kk < NBlocks / 2; ++kk) {
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      const int nb = 2 * kk + q / 2, e = (q % 2) * 2;
      p[kk][q] = fa2::pack2<Traits::kElem>(s[nb][e], s[nb][e + 1]);
      if constexpr (WithLo) {
        const float2 hi = fa2::unpack2<Traits::kElem>(p[kk][q]);
        p_lo[kk][q] = fa2::pack2<Traits::kElem>(s[nb][e] - hi.x, s[nb][e + 1] - hi.y);
      }
    }
  }
}

/// O *= alpha row-wise (alpha[0] for elements 0, 1; alpha[1] for 2, 3).
template <int DBlocks>
__device__ __forceinline__ void rescale_o(float (&o)[DBlocks][4], const float (&alpha)[2]) {
#pragma unroll
  for (int db = 0; db < DBlocks; ++db) {
    o[db][0] *= alpha[0];
    o[db][1] *= alpha[0];
    o[db][2] *= alpha[1];
    o[db][3] *= alpha[1];
  }
}

}  // namespace attn::hopper
