// softmax.cuh: the glue between the wgmma accumulators and the shared pipeline stages
// (core/pipeline/online_softmax.h with the FA2 FP32 device arithmetic, fp32_device.cuh). The S
// accumulator of a warpgroup has the FA2 per-warp layout (wgmma.cuh): a thread holds two rows,
// each as a slice of its 2 x NBlocks columns in the order 8n + 2q + c (n ascending, then c), the
// row shared by the four threads of a quad (max reduced by shuffles, sums kept partial). What is
// here: that slice view and the loops that apply the stages to a fragment (P cast into wgmma A
// fragments, O rescale), and the device arithmetic of the FP8 variants (P scaled by 2^8 in the
// exponent and cast to E4M3: core/pipeline/fp8.h). The element mask is the FA2 kernel's
// fa2::mask_tile on the same layout (core/pipeline/semantics.h: the declared mask or the
// variant's planted bug), or its per-row interval form mask_tile_rows (no leaking tile edge).
#pragma once

#include <cstdint>
#include <type_traits>

#include <cuda_fp8.h>

#include "core/pipeline/ex2_fma.h"
#include "core/pipeline/fp32_device.cuh"
#include "core/pipeline/fp8.h"
#include "core/pipeline/online_softmax.h"
#include "kernels/prefill/mask.cuh"
#include "kernels/prefill/online_softmax.cuh"

namespace attn::hopper {

/// The same mask as fa2::mask_tile for semantics whose tile edges do not leak (sem.leak_tile == 0):
/// there a row sees exactly the keys [first, last) of core/mask.h's visible_key_range (one
/// interval per row for every mask kind; test_mask_gqa checks it), so the rule runs once per
/// row and each element costs two integer compares (the Hopper kernel's diagonal tiles).
template <int NB>
__device__ __forceinline__ void mask_tile_rows(float (&s)[NB][4], const pipeline::Semantics& sem, int n0,
                                               const int (&my_row)[2], int col_in_quad, int seqlen_q, int seqlen_k) {
  int first[2], last[2];  // relative to n0 + col_in_quad, clamped into [0, seqlen_k] (an empty range stays empty)
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int i_eff = my_row[r] < seqlen_q ? my_row[r] : seqlen_q - 1;
    const KeyRange k = visible_key_range(sem.mask, i_eff, seqlen_q, seqlen_k);
    first[r] = static_cast<int>(k.first < seqlen_k ? k.first : seqlen_k) - n0 - col_in_quad;
    last[r] = static_cast<int>(k.last > 0 ? k.last : 0) - n0 - col_in_quad;
  }
#pragma unroll
  for (int nb = 0; nb < NB; ++nb)
#pragma unroll
    for (int e = 0; e < 4; ++e) {
      const int c = nb * 8 + (e % 2);
      if (c < first[e / 2] || c >= last[e / 2]) s[nb][e] = pipeline::kNegInfF;
    }
}

/// The FP8 variants' arithmetic: FA2's FP32 device arithmetic except the exp stage, which scales
/// P by 2^8 inside the exponent (ex2(fma(s, scale_log2, RN(8 - m))): the row sum and P are 256
/// times FA2's, up to the rounding of RN(8 - m)), the P cast (E4M3, RNE with satfinite; a pair
/// packs into 16 bits, the first value in the low byte), and the LSE ((m - 8) ln 2 + ln l).
/// FmaExpPeriod > 0: the ex2 of the elements of every FmaExpPeriod-th n8 column block is
/// pipeline::ex2_fma on the FMA pipes (exp_score_block; the block is a compile-time constant of
/// the unrolled slice loop, so each element's choice is resolved at compile time).
template <DType Out, int FmaExpPeriod = 0>
struct Fp8DeviceArithmetic : pipeline::Fp32DeviceArithmetic<Out> {
  using p_pair_type = uint16_t;
  __device__ __forceinline__ float exp_score(float s, float scale_log2, float m) const {
    return pipeline::ex2_approx(__fmaf_rn(s, scale_log2, pipeline::kFp8PScaleLog2 - m));
  }
  __device__ __forceinline__ float exp_score_block(int block, float s, float scale_log2, float m) const {
    const float x = __fmaf_rn(s, scale_log2, pipeline::kFp8PScaleLog2 - m);
    return pipeline::exp_on_fma(block, FmaExpPeriod) ? pipeline::ex2_fma(x) : pipeline::ex2_approx(x);
  }
  __device__ __forceinline__ uint16_t round_p_pair(float p0, float p1) const {
    return __nv_cvt_float2_to_fp8x2(make_float2(p0, p1), __NV_SATFINITE, __NV_E4M3);
  }
  __device__ __forceinline__ float natural_lse(float m, float l) const {
    return (m - pipeline::kFp8PScaleLog2) * pipeline::kLn2F + logf(l);
  }
};

/// The FP32 device arithmetic of a variant (P cast to its input dtype, or to E4M3).
template <class Traits>
using DeviceArithmetic = std::conditional_t<Traits::kFp8, Fp8DeviceArithmetic<Traits::kElem, Traits::kFmaExpPeriod>,
                                            pipeline::Fp32DeviceArithmetic<Traits::kElem>>;

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
    if constexpr (Traits::kSoftmaxIlp) {
      // The thread's raw max as a tree (depth log2 2 NBlocks) rather than a chain of 2 NBlocks
      // dependent maxes: the same value (pipeline::TreeMax), a shorter critical path.
      alpha[r] = pipeline::online_softmax(a, state.row[r], slice, 2 * NBlocks, scale_log2, rule, Traits::kMutant,
                                          quad_max, pipeline::NoReduce{}, pipeline::SameExpEverywhere{},
                                          pipeline::TreeMax<2 * NBlocks>{});
    } else if constexpr (Traits::kFmaExpPeriod > 0) {  // slice element k lies in n8 column block k / 2
      alpha[r] = pipeline::online_softmax(a, state.row[r], slice, 2 * NBlocks, scale_log2, rule, Traits::kMutant,
                                          quad_max, pipeline::NoReduce{}, [](int k) { return k / 2; });
    } else {
      alpha[r] = pipeline::online_softmax(a, state.row[r], slice, 2 * NBlocks, scale_log2, rule, Traits::kMutant,
                                          quad_max, pipeline::NoReduce{});
    }
  }
}

/// P (FP32, in the S registers) cast to the input dtype as PV's A fragments (contract step 7):
/// k-step kk takes n8 blocks 2kk and 2kk+1; precise mode also writes the lo parts. FP8: k-step kk
/// (32 keys) takes blocks 4kk..4kk+3, four E4M3 values per register in the order of
/// pipeline::fp8_pv_key_of_k (no shuffles: a thread packs the keys it holds; V's rows follow).
template <class Traits, bool WithLo, int NBlocks>
__device__ __forceinline__ void convert_p(const float (&s)[NBlocks][4], uint32_t (&p)[Traits::kPFragments][4],
                                          uint32_t (&p_lo)[WithLo ? Traits::kPFragments : 1][4]) {
  const DeviceArithmetic<Traits> a;
  if constexpr (Traits::kFp8) {
    auto quad = [&](int nb, int e) {  // keys (2q, 2q + 1) of block nb and of block nb + 1, row e / 2
      return static_cast<uint32_t>(pipeline::cast_p_pair(a, s[nb][e], s[nb][e + 1])) |
             (static_cast<uint32_t>(pipeline::cast_p_pair(a, s[nb + 1][e], s[nb + 1][e + 1])) << 16);
    };
#pragma unroll
    for (int kk = 0; kk < Traits::kPFragments; ++kk) {
      p[kk][0] = quad(4 * kk, 0);      // row r,     k = 4q .. 4q + 3
      p[kk][1] = quad(4 * kk, 2);      // row r + 8
      p[kk][2] = quad(4 * kk + 2, 0);  // row r,     k = 16 + 4q ..
      p[kk][3] = quad(4 * kk + 2, 2);  // row r + 8
    }
  } else {
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
}

/// O rescaled row-wise before the next PV (contract step 6): alpha[0] for elements 0, 1; alpha[1] for 2, 3.
template <class Traits, int DBlocks>
__device__ __forceinline__ void rescale_o(float (&o)[DBlocks][4], const float (&alpha)[2]) {
  const DeviceArithmetic<Traits> a;
  // Traits::kSoftmaxIlp: a warp whose 16 rows all kept their max skips the multiplies (O * 1 = O).
  if constexpr (Traits::kSoftmaxIlp)
    if (!__any_sync(0xffffffffu, alpha[0] != 1.f || alpha[1] != 1.f)) return;
#pragma unroll
  for (int db = 0; db < DBlocks; ++db)
#pragma unroll
    for (int e = 0; e < 4; ++e) o[db][e] = pipeline::rescale_o(a, o[db][e], alpha[e / 2]);
}

}  // namespace attn::hopper
