// mask.cuh: the element mask of the prefill kernel on its mma.sync C fragments — mask_tile sets a
// score to -inf where core/pipeline/semantics.h says the key is not visible (the declared mask,
// or the planted bug of the variant: one definition for kernels, emulator and diagnosis). The
// tile plan that decides which tiles need it is core/pipeline/tile_plan.h. Not the softmax.
#pragma once

#include "core/pipeline/numerics.h"
#include "core/pipeline/semantics.h"

namespace attn::fa2 {

/// Masks the scores s (this warp's 16 rows x NB * 8 keys of the tile starting at key n0; C
/// fragments: element e of block nb is row my_row[e / 2], key n0 + nb * 8 + col_in_quad + e % 2).
/// Rows past S_q are computed but never stored; they are judged as the last real row.
template <int NB>
__device__ __forceinline__ void mask_tile(float (&s)[NB][4], const pipeline::Semantics& sem, int n0,
                                          const int (&my_row)[2], int col_in_quad, int seqlen_q, int seqlen_k) {
#pragma unroll
  for (int nb = 0; nb < NB; ++nb)
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int i = my_row[e / 2], j = n0 + nb * 8 + col_in_quad + (e % 2);
      const int i_eff = i < seqlen_q ? i : seqlen_q - 1;
      if (!pipeline::semantic_key_visible(sem, i_eff, j, seqlen_q, seqlen_k)) s[nb][e] = pipeline::kNegInfF;
    }
}

}  // namespace attn::fa2
