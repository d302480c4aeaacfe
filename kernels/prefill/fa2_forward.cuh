// fa2_forward.cuh: the FlashAttention-2-style prefill forward for sm_80..sm_90a (mma.sync
// m16n8k16, ldmatrix, cp.async double buffering). One CTA = kBlockM query rows of one (batch,
// head); each warp owns 16 rows; KV tiles of kBlockN keys visited in forward order. The loop
// reads like FA2's: mma_qk -> mask_tile -> online_softmax -> rescale_o -> cast_p -> mma_pv, then
// normalize and store; every stage between the products is core/pipeline/ (its contract in
// core/pipeline/online_softmax.h; the arithmetic, core/pipeline/fp32_device.cuh), the planted
// bugs are core/pipeline/semantics.h's, so the emulator (analysis/emulator.h) and the diagnosis
// run the same stages. Where it departs from the emulator: ex2.approx (the emulator models a
// correctly rounded exp2f: reports/h100/emulator-agreement/README.md); LSE m ln2 + logf(l) in FP32.
// Also here: the launcher launch_fa2_forward. Not the registry (register_gpu_kernels.cpp).
//
// Versions (H100 80GB HBM3, B*S = 16384, H = 16; reports/h100/prefill-*/README.md):
//  v1 415dfcc  mma.sync m16n8k16 + ldmatrix + cp.async x2, one warp per 16 rows, Q in registers:
//              d128 m128n64 fp16 265 TFLOP/s at S = 4096 (0.77x SDPA flash, 0.45x cuDNN).
//  v2 f741434  default tiles from the tuning run: d64 m128n128 (237 vs 215 TFLOP/s for m128n64
//              at S = 16384), d128 m64n64 (271 vs 265 at S = 4096); .occ2 variants (2 CTAs/SM,
//              Q re-read from shared memory): 236 TFLOP/s at d64 S = 4096, not faster.
//  v3 35e08cf  K/V rows through kv_row (paged KV cache) and per-entry lengths: chunked prefill;
//              same speed on contiguous inputs.
//  v4 (stages) the stages moved to core/pipeline/; the cache-path mutants act only on the cache
//              path and the top-left mutant plans its tiles with its own mask (a pure top-left
//              bug, as the emulator's); the production variants' instructions are unchanged.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "core/pipeline/fp32_device.cuh"
#include "core/pipeline/online_softmax.h"
#include "core/pipeline/semantics.h"
#include "core/pipeline/tile_plan.h"
#include "kernels/params.h"
#include "kernels/prefill/mask.cuh"
#include "kernels/prefill/mma.cuh"
#include "kernels/prefill/online_softmax.cuh"
#include "kernels/tile_traits.h"

namespace attn::fa2 {

/// S = Q K^T for this warp's 16 rows and the tile's BN keys (C fragments), k = 16 chunks of D in
/// increasing order, accumulator from 0.
template <class Traits, int NB, int QFRAGS>
__device__ __forceinline__ void mma_qk(float (&s)[NB][4], uint32_t (&rQ)[QFRAGS][4], const uint16_t* sQ,
                                       const uint16_t* cK, int warp, int lane) {
  constexpr int ROW = Traits::kSmemRow, DK = Traits::kHeadDim / 16;
#pragma unroll
  for (int nb = 0; nb < NB; ++nb) s[nb][0] = s[nb][1] = s[nb][2] = s[nb][3] = 0.f;
#pragma unroll
  for (int kk = 0; kk < DK; ++kk) {
    uint32_t(&q_frag)[4] = rQ[Traits::kReloadQ ? 0 : kk];
    if constexpr (Traits::kReloadQ) {
      const int r = warp * 16 + (lane % 8) + ((lane / 8) % 2) * 8, col = kk * 16 + (lane / 16) * 8;
      ldmatrix_x4(q_frag, sQ + r * ROW + col);
    }
#pragma unroll
    for (int nb2 = 0; nb2 < NB / 2; ++nb2) {
      uint32_t b[4];
      const int key = nb2 * 16 + (lane % 8) + (lane / 16) * 8, col = kk * 16 + ((lane / 8) % 2) * 8;
      ldmatrix_x4(b, cK + key * ROW + col);
      mma_16816<Traits::kElem>(s[2 * nb2], q_frag, b[0], b[1]);
      mma_16816<Traits::kElem>(s[2 * nb2 + 1], q_frag, b[2], b[3]);
    }
  }
}

/// O += P V for keys 16 kk .. 16 kk + 15 (P as A fragments, V^T through ldmatrix.trans); the
/// precise mode adds the lo half of P after the hi half.
template <class Traits, int DB>
__device__ __forceinline__ void mma_pv(float (&rO)[DB][4], const uint32_t (&a_hi)[4], const uint32_t (&a_lo)[4],
                                       const uint16_t* cV, int kk, int lane) {
  constexpr int ROW = Traits::kSmemRow;
#pragma unroll
  for (int db2 = 0; db2 < DB / 2; ++db2) {
    uint32_t b[4];
    const int key = kk * 16 + (lane % 8) + ((lane / 8) % 2) * 8, col = db2 * 16 + (lane / 16) * 8;
    ldmatrix_x4_trans(b, cV + key * ROW + col);
    mma_16816<Traits::kElem>(rO[2 * db2], a_hi, b[0], b[1]);
    mma_16816<Traits::kElem>(rO[2 * db2 + 1], a_hi, b[2], b[3]);
    if constexpr (Traits::kPCast == PCastMode::split_hi_lo) {
      mma_16816<Traits::kElem>(rO[2 * db2], a_lo, b[0], b[1]);
      mma_16816<Traits::kElem>(rO[2 * db2 + 1], a_lo, b[2], b[3]);
    }
  }
}

template <class Traits>
__global__ void __launch_bounds__(Traits::kThreads, Traits::kMinBlocksPerSm) fa2_forward_kernel(const PrefillParams p) {
  constexpr int D = Traits::kHeadDim, BM = Traits::kBlockM, BN = Traits::kBlockN;
  constexpr int ROW = Traits::kSmemRow, THREADS = Traits::kThreads;
  constexpr int NB = BN / 8;   // n8 blocks of S per warp
  constexpr int DK = D / 16;   // k16 steps of QK^T
  constexpr int DB = D / 8;    // n8 blocks of O per warp
  constexpr int CHUNKS_PER_ROW = D / 8;  // 16-byte chunks
  using Elem16 = uint16_t;
  const pipeline::Fp32DeviceArithmetic<Traits::kElem> arith;

  extern __shared__ __align__(128) unsigned char smem_raw[];
  Elem16* sQ = reinterpret_cast<Elem16*>(smem_raw);  // (BM, ROW)
  Elem16* sK = sQ + BM * ROW;                         // (stages, BN, ROW)
  Elem16* sV = sK + Traits::kStages * BN * ROW;       // (stages, BN, ROW)

  const int m_block = blockIdx.x, head = blockIdx.y, batch = blockIdx.z;
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int seqlen_q = p.seqlen_q;
  // What this variant computes: the declared mask, or its planted bug (core/pipeline/semantics.h).
  pipeline::Semantics declared;
  declared.mask = p.mask;
  const pipeline::Semantics sem = pipeline::plant_bug(declared, Traits::kMutant, p.cache_path, BN);
  const int seqlen_k = pipeline::semantic_keys(sem, p.seqlens_k ? p.seqlens_k[batch] : p.seqlen_k);  // valid keys
  const int kv_head = pipeline::semantic_kv_head(sem, head, p.num_heads_q, p.num_heads_kv);
  const int m0 = m_block * BM;

  const Elem16* gQ = static_cast<const Elem16*>(p.q);
  const Elem16* gK = static_cast<const Elem16*>(p.k);
  const Elem16* gV = static_cast<const Elem16*>(p.v);
  const int64_t q_row_stride = static_cast<int64_t>(p.num_heads_q) * D;
  const int64_t kv_row_stride = static_cast<int64_t>(p.num_heads_kv) * D;
  const Elem16* gQ_head = gQ + (static_cast<int64_t>(batch) * seqlen_q) * q_row_stride + static_cast<int64_t>(head) * D;
  // K/V rows through kv_row: contiguous [B, S_k, H_kv, D], or a paged KV cache (chunked prefill).
  const Elem16* gK_head = gK + static_cast<int64_t>(kv_head) * D;
  const Elem16* gV_head = gV + static_cast<int64_t>(kv_head) * D;

  // Which key tiles this CTA visits (union of its rows' visible ranges) and which need no mask.
  const int row_last = min(m0 + BM, seqlen_q) - 1;
  const pipeline::TilePlan<int> plan = pipeline::plan_tiles<int>(sem.mask, m0, row_last, seqlen_q, seqlen_k);
  const pipeline::IndexRange<int> tiles = pipeline::visited_tiles(plan, BN);

  // ---- load Q (BM, D) and the first K/V tile --------------------------------------------------
  for (int c = tid; c < BM * CHUNKS_PER_ROW; c += THREADS) {
    const int r = c / CHUNKS_PER_ROW, col = (c % CHUNKS_PER_ROW) * 8;
    const bool valid = m0 + r < seqlen_q;  // rows past S_q are zero-filled, never stored
    cp_async_16(sQ + r * ROW + col, valid ? gQ_head + (m0 + r) * q_row_stride + col : gQ, valid);
  }
  auto load_kv = [&](int tile, int stage) {
    const int n0 = tile * BN;
    Elem16* dK = sK + stage * BN * ROW;
    Elem16* dV = sV + stage * BN * ROW;
    for (int c = tid; c < BN * CHUNKS_PER_ROW; c += THREADS) {
      const int r = c / CHUNKS_PER_ROW, col = (c % CHUNKS_PER_ROW) * 8;
      const bool valid = n0 + r < seqlen_k;  // keys past this batch's length read as zeros
      const int64_t off = valid ? kv_row(p.layout, batch, n0 + r, p.seqlen_k) * kv_row_stride + col : 0;
      cp_async_16(dK + r * ROW + col, valid ? gK_head + off : gK, valid);
      cp_async_16(dV + r * ROW + col, valid ? gV_head + off : gV, valid);
    }
  };
  if (tiles.begin < tiles.end) load_kv(tiles.begin, 0);
  cp_async_commit();

  // Q fragments of this warp's 16 rows stay in registers: rQ[k16 step][4].
  uint32_t rQ[Traits::kReloadQ ? 1 : DK][4];
  float rO[DB][4];  // (16, D) per warp, C fragments
#pragma unroll
  for (int i = 0; i < DB; ++i) rO[i][0] = rO[i][1] = rO[i][2] = rO[i][3] = 0.f;
  RowState state;
  const int row_in_warp = lane / 4, col_in_quad = (lane % 4) * 2;
  const int my_row[2] = {m0 + warp * 16 + row_in_warp, m0 + warp * 16 + row_in_warp + 8};

  for (int tile = tiles.begin; tile < tiles.end; ++tile) {
    const int stage = (tile - tiles.begin) % Traits::kStages;
    cp_async_wait_all();
    __syncthreads();  // tile `tile` landed; everyone is done reading the other stage
    if (!Traits::kReloadQ && tile == tiles.begin) {
#pragma unroll
      for (int kk = 0; kk < DK; ++kk) {
        const int r = warp * 16 + (lane % 8) + ((lane / 8) % 2) * 8, col = kk * 16 + (lane / 16) * 8;
        ldmatrix_x4(rQ[Traits::kReloadQ ? 0 : kk], sQ + r * ROW + col);
      }
    }
    if (tile + 1 < tiles.end) load_kv(tile + 1, (stage + 1) % Traits::kStages);  // overlaps the math below
    cp_async_commit();

    const Elem16* cK = sK + stage * BN * ROW;  // (BN, ROW)
    const Elem16* cV = sV + stage * BN * ROW;  // (BN, ROW)
    float s[NB][4];  // (16, BN) per warp, C fragments
    mma_qk<Traits>(s, rQ, sQ, cK, warp, lane);
    // Only tiles not fully visible to every row need the element mask (and every tile for a
    // planted leak, whose bug is precisely skipping the bounds check).
    const int n0 = tile * BN;
    if (!pipeline::tile_fully_visible(plan, n0, BN, seqlen_k) || sem.leak_tile > 0)
      mask_tile(s, sem, n0, my_row, col_in_quad, seqlen_q, seqlen_k);
    float alpha[2];
    online_softmax<Traits>(s, state, p.scale_log2, alpha);  // s now holds P (FP32)
    rescale_o<Traits>(rO, alpha);
    // O += P V: the S accumulator layout is the A fragment layout of the next mma.
#pragma unroll
    for (int kk = 0; kk < BN / 16; ++kk) {
      uint32_t a_hi[4], a_lo[4];
      cast_p<Traits>(s, kk, a_hi, a_lo);
      mma_pv<Traits>(rO, a_hi, a_lo, cV, kk, lane);
    }
  }
  cp_async_wait_all();

  // ---- normalize, round, store -----------------------------------------------------------------
  Elem16* gO = static_cast<Elem16*>(p.o);
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const float l = quad_sum(state.row[r].l);
    const int i = my_row[r];
    if (i >= seqlen_q) continue;
    // A fully masked row has l = 0: defined output 0 and LSE -inf (DESIGN.md), never NaN.
    const float factor = pipeline::row_normalizer(arith, l);
    Elem16* out = gO + (static_cast<int64_t>(batch) * seqlen_q + i) * q_row_stride + static_cast<int64_t>(head) * D;
#pragma unroll
    for (int db = 0; db < DB; ++db) {
      const float o0 = pipeline::normalize(arith, rO[db][2 * r], factor);
      const float o1 = pipeline::normalize(arith, rO[db][2 * r + 1], factor);
      // output round: one RNE to the output dtype
      *reinterpret_cast<uint32_t*>(out + db * 8 + col_in_quad) = pipeline::pack_round2<Traits::kElem>(o0, o1);
    }
    if (p.lse && lane % 4 == 0)
      p.lse[(static_cast<int64_t>(batch) * p.num_heads_q + head) * seqlen_q + i] =
          pipeline::row_lse(arith, state.row[r].m, l);
  }
}

/// Host launcher of one variant: grid (ceil(S_q / BM), H_q, B), dynamic shared memory.
template <class Traits>
void launch_fa2_forward(const PrefillParams& p, cudaStream_t stream) {
  auto kernel = fa2_forward_kernel<Traits>;
  static bool configured = false;  // the opt-in above 48 KB is per function, once per process
  if (!configured) {
    cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, Traits::kSmemBytes);
    configured = true;
  }
  const dim3 grid((p.seqlen_q + Traits::kBlockM - 1) / Traits::kBlockM, p.num_heads_q, p.batch);
  kernel<<<grid, Traits::kThreads, Traits::kSmemBytes, stream>>>(p);
}

}  // namespace attn::fa2
