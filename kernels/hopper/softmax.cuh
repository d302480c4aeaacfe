// softmax.cuh: the glue between the wgmma accumulators and the shared pipeline stages
// (core/pipeline/online_softmax.h with the FA2 FP32 device arithmetic, fp32_device.cuh). The S
// accumulator of a warpgroup has the FA2 per-warp layout (wgmma.cuh): a thread holds two rows,
// each as a slice of its 2 x NBlocks columns in the order 8n + 2q + c (n ascending, then c), the
// row shared by the four threads of a quad (max reduced by shuffles, sums kept partial). What is
// here: that slice view and the loops that apply the stages to a fragment (P cast into wgmma A
// fragments, O rescale). The element mask is the FA2 kernel's fa2::mask_tile on the same layout
// (core/pipeline/semantics.h: the declared mask or the variant's planted bug).
#pragma once

#include <cstdint>

#include "core/pipeline/fp32_device.cuh"
#include "core/pipeline/online_softmax.h"
#include "kernels/prefill/mask.cuh"
#include "kernels/prefill/online_softmax.cuh"

namespace attn::hopper {

/// The FP32 device arithmetic of a variant (P cast to its input dtype).
template <class Traits>
using DeviceArithmetic = pipeline::Fp32DeviceArithmetic<Traits::kElem>;

/// Running state of a thread's two rows (m in log2 units, l this thread's partial sum).
struct RowPair {
  pipeline::RowState<float> row[2];
};

/// One online-softmax step (core/pipeline contract steps 1-5) for both rows of the thread: S
/// becomes P (FP32) in place; alpha[r] is the factor for row r's accumulator.
template <class Traits, int NBlocks>
__device__ __forceinline__ void online_softmax_tile(float (&s)[NBlocks][4], RowPair& state, float scale_log2,
                                                    float (&alpha)[2]) {
  const DeviceArithmetic<Traits> a;
  const auto rule = pipeline::RescaleRule<float>::lazy_by(static_cast<float>(Traits::kRescaleThresholdLog2));
  auto quad_max = [](float x) { return fa2::quad_max(x); };
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    auto slice = [&](int k) -> float& { return s[k / 2][2 * r + (k % 2)]; };
    alpha[r] = pipeline::online_softmax(a, state.row[r], slice, 2 * NBlocks, scale_log2, rule, Traits::kMutant, quad_max,
                                        pipeline::NoReduce{});
  }
}

/// P (FP32, in the S registers) cast to the input dtype as PV's A fragments (contract step 7):
/// k-step kk takes n8 blocks 2kk and 2kk+1; precise mode also writes the lo parts.
template <class Traits, bool WithLo, int NBlocks>
__device__ __forceinline__ void convert_p(const float (&s)[NBlocks][4], uint32_t (&p)[NBlocks / 2][4],
                                          uint32_t (&p_lo)[WithLo ? NBlocks / 2 : 1][4]) {
  const DeviceArithmetic<Traits> a;
#pragma unroll
  for (int kk = 0; kk < NBlocks / 2; ++kk) {
#pragma unroll
    for (int q = 0; q < 4; ++q) {
      const int nb = 2 * kk + q / 2, e = (q % 2) * 2;
      p[kk][q] = pipeline::cast_p_pair(a, s[nb][e], s[nb][e + 1]);
      if constexpr (WithLo) p_lo[kk][q] = pipeline::cast_p_lo_pair(a, p[kk][q], s[nb][e], s[nb][e + 1]);
    }
  }
}

/// O rescaled row-wise before the next PV (contract step 6): alpha[0] for elements 0, 1; alpha[1] for 2, 3.
template <class Traits, int DBlocks>
__device__ __forceinline__ void rescale_o(float (&o)[DBlocks][4], const float (&alpha)[2]) {
  const DeviceArithmetic<Traits> a;
#pragma unroll
  for (int db = 0; db < DBlocks; ++db)
#pragma unroll
    for (int e = 0; e < 4; ++e) o[db][e] = pipeline::rescale_o(a, o[db][e], alpha[e / 2]);
}

}  // namespace attn::hopper
