// online_softmax.cuh: the per-tile stages of the FA2 forward on the mma.sync register fragments
// of one thread: its two query rows (lane/4 and lane/4 + 8 of its warp's 16), each held as a
// slice of 2 x NB scores whose row is shared by the 4 threads of a quad. Every computation is a
// call into core/pipeline/ with FP32 device arithmetic (core/pipeline/fp32_device.cuh); this file
// only maps fragments to slices and adds the quad shuffles: online_softmax (max, rescale
// decision, P, row sum), rescale_o, cast_p. Not the products (fa2_forward.cuh), not the mask
// (mask.cuh).
#pragma once

#include <cstdint>

#include "core/pipeline/fp32_device.cuh"
#include "core/pipeline/online_softmax.h"

namespace attn::fa2 {

/// Running state of one thread's two rows: m in scaled log2 units, l this thread's partial row
/// sum (its columns only; the quad's four partials meet at the end, quad_sum).
struct RowState {
  pipeline::RowState<float> row[2];
};

/// Max over the 4 threads of a quad (the columns of one row are spread over lanes 4g..4g+3).
__device__ __forceinline__ float quad_max(float x) {
  x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 1));
  return fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 2));
}
/// Sum over a quad: (l0 + l1) + (l2 + l3) (lanes xor 1, then xor 2).
__device__ __forceinline__ float quad_sum(float x) {
  x += __shfl_xor_sync(0xffffffffu, x, 1);
  return x + __shfl_xor_sync(0xffffffffu, x, 2);
}

/// Turns the raw scores s (16 x NB*8 per warp; masked ones already -inf) into P in place and
/// returns each row's rescale factor for the output accumulator (pipeline::online_softmax).
template <class Traits, int NB>
__device__ __forceinline__ void online_softmax(float (&s)[NB][4], RowState& st, float scale_log2, float (&alpha)[2]) {
  const pipeline::Fp32DeviceArithmetic<Traits::kElem> a;
  const auto rule = pipeline::RescaleRule<float>::lazy_by(static_cast<float>(Traits::kRescaleThresholdLog2));
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    auto slice = [&](int k) -> float& { return s[k / 2][2 * r + k % 2]; };  // columns 8 nb + 2 q + c
    alpha[r] = pipeline::online_softmax(a, st.row[r], slice, 2 * NB, scale_log2, rule, Traits::kMutant,
                                        [](float x) { return quad_max(x); }, pipeline::NoReduce{});
  }
}

/// O accumulator (16 x DB*8 per warp, C fragments) rescaled before this tile's PV.
template <class Traits, int DB>
__device__ __forceinline__ void rescale_o(float (&rO)[DB][4], const float (&alpha)[2]) {
  const pipeline::Fp32DeviceArithmetic<Traits::kElem> a;
#pragma unroll
  for (int db = 0; db < DB; ++db)
#pragma unroll
    for (int e = 0; e < 4; ++e) rO[db][e] = pipeline::rescale_o(a, rO[db][e], alpha[e / 2]);
}

/// P of keys 16 kk .. 16 kk + 15 as the A operand of the PV mma: the C fragments of S blocks
/// 2 kk and 2 kk + 1 are exactly the A fragment layout. Precise mode: also the lo halves.
template <class Traits, int NB>
__device__ __forceinline__ void cast_p(const float (&s)[NB][4], int kk, uint32_t (&a_hi)[4], uint32_t (&a_lo)[4]) {
  const pipeline::Fp32DeviceArithmetic<Traits::kElem> a;
#pragma unroll
  for (int q = 0; q < 4; ++q) {
    const int nb = 2 * kk + q / 2, e = (q % 2) * 2;
    a_hi[q] = pipeline::cast_p_pair(a, s[nb][e], s[nb][e + 1]);
  }
  if constexpr (Traits::kPCast == PCastMode::split_hi_lo) {
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      const int nb = 2 * kk + q / 2, e = (q % 2) * 2;
      a_lo[q] = pipeline::cast_p_lo_pair(a, a_hi[q], s[nb][e], s[nb][e + 1]);
    }
  }
}

}  // namespace attn::fa2
