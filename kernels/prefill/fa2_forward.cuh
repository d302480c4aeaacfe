// fa2_forward.cuh: the FlashAttention-2-style prefill forward for sm_80..sm_90a (mma.sync
// m16n8k16, ldmatrix, cp.async double buffering). One CTA = kBlockM query rows of one (batch,
// head); each warp owns 16 rows; KV tiles of kBlockN keys visited in forward order.
// Per-stage arithmetic (the "kernel contract" of analysis/emulator.h):
//   S = Q K^T: mma.sync FP32 accumulate, k = 16 chunks in increasing d order;
//   exp: P = ex2.approx.ftz(fma(S, scale*log2e, -m)), m = rowmax(S)*scale*log2e;
//   rescale: alpha = ex2.approx.ftz(m_old - m_new) applied to O and to the per-thread row sums;
//   p_cast: P rounded to the input dtype (RNE) for PV (precise mode: hi + lo, two products);
//   pv: mma.sync FP32 accumulate, 16 keys per step in increasing key order;
//   normalize: l = quad sum of the per-thread partial sums (lanes xor 1 then xor 2), then
//   O * (1/l) with 1/l an IEEE division (FA2's inv_sum); output round: RNE to the output dtype.
// Where it departs from the contract: LSE is m ln2 + logf(l) in FP32 (the contract evaluates it
// in double; LSE is not a stage); the top-left and interleaved-GQA mutants act on every problem,
// not only on the cache path. The emulator models ex2.approx as a correctly rounded exp2f: the
// measured consequence is reports/h100/emulator_agreement.md.
// Also here: the launcher launch_fa2_forward. Not the registry (register_gpu_kernels.cpp).
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "kernels/params.h"
#include "kernels/prefill/mask.cuh"
#include "kernels/prefill/mma.cuh"
#include "kernels/prefill/online_softmax.cuh"
#include "kernels/tile_traits.h"

namespace attn::fa2 {

template <class Traits>
__global__ void __launch_bounds__(Traits::kThreads, Traits::kMinBlocksPerSm) fa2_forward_kernel(const PrefillParams p) {
  constexpr int D = Traits::kHeadDim, BM = Traits::kBlockM, BN = Traits::kBlockN;
  constexpr int ROW = Traits::kSmemRow, THREADS = Traits::kThreads;
  constexpr int NB = BN / 8;   // n8 blocks of S per warp
  constexpr int DK = D / 16;   // k16 steps of QK^T
  constexpr int DB = D / 8;    // n8 blocks of O per warp
  constexpr int CHUNKS_PER_ROW = D / 8;  // 16-byte chunks
  using Elem16 = uint16_t;

  extern __shared__ __align__(128) unsigned char smem_raw[];
  Elem16* sQ = reinterpret_cast<Elem16*>(smem_raw);  // (BM, ROW)
  Elem16* sK = sQ + BM * ROW;                         // (stages, BN, ROW)
  Elem16* sV = sK + Traits::kStages * BN * ROW;       // (stages, BN, ROW)

  const int m_block = blockIdx.x, head = blockIdx.y, batch = blockIdx.z;
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const int seqlen_q = p.seqlen_q;
  const int seqlen_k = p.seqlens_k ? p.seqlens_k[batch] : p.seqlen_k;  // valid keys of this batch entry
  const int kv_head = kernel_kv_head<Traits::kMutant>(head, p.num_heads_q, p.num_heads_kv);
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
  const TileMaskPlan plan = plan_tiles(p.mask, m0, row_last, seqlen_q, seqlen_k);
  const int tile_begin = plan.key_begin / BN;
  int tile_end = plan.key_end > plan.key_begin ? (plan.key_end + BN - 1) / BN : tile_begin;

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
  if (tile_begin < tile_end) load_kv(tile_begin, 0);
  cp_async_commit();

  // Q fragments of this warp's 16 rows stay in registers: rQ[k16 step][4].
  uint32_t rQ[Traits::kReloadQ ? 1 : DK][4];
  float rO[DB][4];
#pragma unroll
  for (int i = 0; i < DB; ++i) rO[i][0] = rO[i][1] = rO[i][2] = rO[i][3] = 0.f;
  RowState state;
  const int row_in_warp = lane / 4, col_in_quad = (lane % 4) * 2;
  const int my_row[2] = {m0 + warp * 16 + row_in_warp, m0 + warp * 16 + row_in_warp + 8};

  for (int tile = tile_begin; tile < tile_end; ++tile) {
    const int stage = (tile - tile_begin) % Traits::kStages;
    cp_async_wait_all();
    __syncthreads();  // tile `tile` landed; everyone is done reading the other stage
    if (!Traits::kReloadQ && tile == tile_begin) {
#pragma unroll
      for (int kk = 0; kk < DK; ++kk) {
        const int r = warp * 16 + (lane % 8) + ((lane / 8) % 2) * 8, col = kk * 16 + (lane / 16) * 8;
        ldmatrix_x4(rQ[Traits::kReloadQ ? 0 : kk], sQ + r * ROW + col);
      }
    }
    if (tile + 1 < tile_end) load_kv(tile + 1, (stage + 1) % Traits::kStages);  // overlaps the math below
    cp_async_commit();

    const Elem16* cK = sK + stage * BN * ROW;
    const Elem16* cV = sV + stage * BN * ROW;
    // ---- S = Q K^T  (16, BN) per warp ----------------------------------------------------------
    float s[NB][4];
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
    // ---- mask: only tiles not fully visible to every row of the CTA (and every tile for the
    // edge mutant, whose bug is precisely skipping the bounds check) -------------------------------
    const int n0 = tile * BN;
    const bool tile_fully_visible = n0 >= plan.full_key_begin && n0 + BN <= plan.full_key_end && n0 + BN <= seqlen_k;
    if (!tile_fully_visible || Traits::kMutant == Mutant::unmasked_tile_edges) {
#pragma unroll
      for (int nb = 0; nb < NB; ++nb)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          const int i = my_row[e / 2], j = n0 + nb * 8 + col_in_quad + (e % 2);
          // Rows past S_q are computed but never stored; judge them as the last real row.
          const int i_eff = i < seqlen_q ? i : seqlen_q - 1;
          if (!kernel_key_visible<Traits::kMutant>(p.mask, i_eff, j, seqlen_q, seqlen_k)) s[nb][e] = kNegInf;
        }
    }
    // ---- online softmax ------------------------------------------------------------------------
    float alpha[2];
    softmax_tile<Traits>(s, state, p.scale_log2, alpha);
#pragma unroll
    for (int db = 0; db < DB; ++db) {
      rO[db][0] *= alpha[0]; rO[db][1] *= alpha[0];
      rO[db][2] *= alpha[1]; rO[db][3] *= alpha[1];
    }
    // ---- O += P V: the S accumulator layout is the A fragment layout of the next mma ----------
#pragma unroll
    for (int kk = 0; kk < BN / 16; ++kk) {
      uint32_t a_hi[4], a_lo[4];
      a_hi[0] = pack2<Traits::kElem>(s[2 * kk][0], s[2 * kk][1]);
      a_hi[1] = pack2<Traits::kElem>(s[2 * kk][2], s[2 * kk][3]);
      a_hi[2] = pack2<Traits::kElem>(s[2 * kk + 1][0], s[2 * kk + 1][1]);
      a_hi[3] = pack2<Traits::kElem>(s[2 * kk + 1][2], s[2 * kk + 1][3]);
      if constexpr (Traits::kPCast == PCastMode::split_hi_lo) {
        // Precise mode: lo = P - hi is exact in FP32 and rounds with a relative error of 2^-p of
        // an already 2^-p small term, so P_hi + P_lo carries P to ~2^-2p.
#pragma unroll
        for (int q = 0; q < 4; ++q) {
          const float2 hi = unpack2<Traits::kElem>(a_hi[q]);
          const int nb = 2 * kk + q / 2, e = (q % 2) * 2;
          a_lo[q] = pack2<Traits::kElem>(s[nb][e] - hi.x, s[nb][e + 1] - hi.y);
        }
      }
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
  }
  cp_async_wait_all();

  // ---- normalize, round, store -----------------------------------------------------------------
  Elem16* gO = static_cast<Elem16*>(p.o);
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const float l = quad_sum(state.l[r]);
    const int i = my_row[r];
    if (i >= seqlen_q) continue;
    // A fully masked row has l = 0: defined output 0 and LSE -inf (DESIGN.md), never NaN.
    const bool empty = !(l > 0.f);
    const float inv_l = empty ? 0.f : 1.f / l;
    Elem16* out = gO + (static_cast<int64_t>(batch) * seqlen_q + i) * q_row_stride + static_cast<int64_t>(head) * D;
#pragma unroll
    for (int db = 0; db < DB; ++db) {
      const float o0 = rO[db][2 * r] * inv_l;
      const float o1 = rO[db][2 * r + 1] * inv_l;
      *reinterpret_cast<uint32_t*>(out + db * 8 + col_in_quad) = pack2<Traits::kElem>(o0, o1);
    }
    if (p.lse && lane % 4 == 0) {
      constexpr float kLn2 = 0.693147180559945309f;
      // m is in log2 units: LSE = m ln2 + ln(l).
      p.lse[(static_cast<int64_t>(batch) * p.num_heads_q + head) * seqlen_q + i] =
          empty ? kNegInf : state.m[r] * kLn2 + logf(l);
    }
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
