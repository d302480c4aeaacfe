// epilogue.cuh: the end of one work tile for one consumer warpgroup: the row sum completed
// across the quad, O normalized by an IEEE reciprocal and rounded (RNE) to the input dtype into
// the warpgroup's shared-memory O band (the TMA store's 128-byte swizzle, which also keeps the
// stores free of bank conflicts), then one TMA store per 64-column block (rows past S_q are
// clipped by the tensor map: never stored) and the natural-log LSE. A fully masked row (l = 0)
// outputs 0 and LSE -inf, never NaN. Normalization and LSE: core/pipeline (contract step 9);
// FP8 variants multiply the normalizer by V's scale (pipeline::fp8_output_factor).
#pragma once

#include <cstdint>

#include "kernels/hopper/mainloop.cuh"

namespace attn::hopper {

template <class Traits>
__device__ __forceinline__ void epilogue_tile(const HopperKernelParams& kp, const WorkTile& w,
                                              const ConsumerAccumulators<Traits>& acc, uint8_t* smem, int wg,
                                              int thread_in_wg) {
  using L = SmemLayout<Traits>;
  const PrefillParams& p = kp.p;
  const RowPack rp = row_pack<Traits>(kp);
  const int warp = thread_in_wg / 32, lane = thread_in_wg % 32;
  const int wg_row0 = w.m_block * Traits::kBlockM + wg * kRowsPerWarpgroup;  // packed rows (pack_gqa.cuh)
  const int barrier = kBarrierEpilogueBase<Traits> + wg;

  const DeviceArithmetic<Traits> a;
  float inv_l[2], l[2];
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    l[r] = fa2::quad_sum(acc.state.row[r].l);  // the four partial sums, lanes xor 1 then xor 2
    inv_l[r] = pipeline::row_normalizer(a, l[r]);  // 0 for a row that saw no key
    if constexpr (Traits::kFp8) inv_l[r] = pipeline::fp8_output_factor(inv_l[r], acc.v_scale);
  }
  if constexpr (Traits::kOInV) {
    // The band lies in V's stages: every consumer warpgroup's last PV must have read V (the
    // wgmma reads are async-proxy accesses; the band is written through the generic proxy).
    named_barrier_sync(kBarrierConsumersAll<Traits>, 128 * Traits::kConsumerWarpgroups);
    fence_proxy_async_shared();
  } else {
    // The previous tile's store must have finished reading the band before it is overwritten.
    if (thread_in_wg == 0) tma_store_wait_read_all();
    named_barrier_sync(barrier, 128);
  }
  uint8_t* sO = smem + L::kO + wg * kRowsPerWarpgroup * 128;  // (64 rows, 64) per column block
#pragma unroll
  for (int db = 0; db < Traits::kHeadDim / 8; ++db) {
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const int row = warp * 16 + lane / 4 + 8 * r;
      const uint32_t packed = pipeline::pack_round2<Traits::kElem>(
          pipeline::normalize(a, acc.o[db][2 * r], inv_l[r]), pipeline::normalize(a, acc.o[db][2 * r + 1], inv_l[r]));
      uint8_t* dst = sO + (db / 8) * L::kOBlockStride + swizzle128_offset(row, db % 8) + (lane % 4) * 4;
      *reinterpret_cast<uint32_t*>(dst) = packed;
    }
  }
  fence_proxy_async_shared();  // the band is read by the TMA store (async proxy)
  named_barrier_sync(barrier, 128);
  if (thread_in_wg == 0 && wg_row0 < rp.rows(p.seqlen_q)) {  // a box of {64, pack heads, 64 / pack queries}
#pragma unroll
    for (int c = 0; c < Traits::kOColumnBlocks; ++c)
      tma_store_4d(&kp.tma_o, sO + c * L::kOBlockStride, c * kSwizzleColumns, rp.first_head(w.head), rp.query(wg_row0),
                   w.batch);
    tma_store_commit();
  }
  if constexpr (Traits::kOInV) {
    // The producer loads the next tile's first V over the band once every warpgroup's store read it.
    if (thread_in_wg == 0) {
      tma_store_wait_read_all();
      mbarrier_arrive(&reinterpret_cast<PipelineBarriers<Traits::kStages>*>(smem + L::kBarriers)->o_free);
    }
  }
  if (p.lse != nullptr && lane % 4 == 0) {
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      const int row = wg_row0 + warp * 16 + lane / 4 + 8 * r, i = rp.query(row);
      if (i >= p.seqlen_q) continue;
      p.lse[(static_cast<int64_t>(w.batch) * p.num_heads_q + rp.head(w.head, row)) * p.seqlen_q + i] =
          pipeline::row_lse(a, acc.state.row[r].m, l[r]);  // m ln2 + ln(l); -inf for a row that saw no key
    }
  }
}

}  // namespace attn::hopper
