// shared_storage.cuh: where each tile and barrier of a Hopper prefill CTA lives in shared memory,
// the pipeline bookkeeping (stage, phase) and the kernel's parameter block (tensor maps, the
// FA2-compatible PrefillParams, the tile schedule). Every tile is a set of (rows, 64) column
// blocks of 128-byte rows written by TMA with the 128-byte swizzle; each block starts on a
// 1024-byte boundary. No code that moves data (mainloop.cuh, epilogue.cuh).
#pragma once

#include <cuda.h>

#include <cstdint>

#include "kernels/hopper/barrier.cuh"
#include "kernels/hopper/hopper_traits.h"
#include "kernels/hopper/scheduler.cuh"
#include "kernels/params.h"

namespace attn::hopper {

/// Q stages at most (Traits::kQStages of q_full / q_empty are used).
inline constexpr int kMaxQStages = 2;

/// mbarriers of one CTA. Arrival counts: *_full 1 (the producer's arrive.expect_tx, completed
/// by the TMA bytes); *_empty one per consumer warp; ragged_tail 1 (see mainloop.cuh).
template <int Stages>
struct PipelineBarriers {
  uint64_t q_full[kMaxQStages], q_empty[kMaxQStages], ragged_tail;
  uint64_t k_full[Stages], k_empty[Stages];
  uint64_t v_full[Stages], v_empty[Stages];
  uint64_t o_free;  ///< O inside V's stages: one arrival per consumer warpgroup once its store read the band
};

/// Byte offsets (from the 1024-aligned base) of the tiles (a column block: 128-byte rows):
///   Q (kQStages x kColumnBlocks x (BLOCK_M, 128 B)), K and V (stages x kColumnBlocks x (BLOCK_N, 128 B)),
///   (FP8: V's stages hold V^T, (D, BLOCK_N) bytes), O (kOColumnBlocks x (BLOCK_M, 64) 16-bit;
///   Traits::kOInV: at the start of V's stages, not a region of its own), then the barriers.
template <class Traits>
struct SmemLayout {
  static constexpr uint32_t kQBlockStride = Traits::kBlockM * 128;   ///< bytes between Q column blocks
  static constexpr uint32_t kOBlockStride = Traits::kBlockM * 128;   ///< bytes between O column blocks
  static constexpr uint32_t kKVBlockStride = Traits::kBlockN * 128;  ///< bytes between K (V) column blocks
  static constexpr uint32_t kQ = 0;
  static constexpr uint32_t kK = kQ + Traits::kQStages * Traits::kQBytes;
  static constexpr uint32_t kV = kK + Traits::kStages * Traits::kKVTileBytes;  ///< FP8: V^T
  static constexpr uint32_t kO = Traits::kOInV ? kV : kV + Traits::kStages * Traits::kKVTileBytes;
  static constexpr uint32_t kBarriers = kV + Traits::kStages * Traits::kKVTileBytes + Traits::kOwnOBytes;
  static constexpr uint32_t kEnd = kBarriers + sizeof(PipelineBarriers<Traits::kStages>);
  static_assert(kQBlockStride % kSwizzleAtomBytes == 0 && kKVBlockStride % kSwizzleAtomBytes == 0,
                "column blocks must start on 1024-byte boundaries (swizzle atoms)");
  static_assert(Traits::kKVTileBytes % kSwizzleAtomBytes == 0 && Traits::kQBytes % kSwizzleAtomBytes == 0,
                "tile alignment");
  static_assert(kEnd + 1024 <= Traits::kSmemBytes, "the layout must fit the allocation (with the base realignment)");
};

/// Stage and phase parity of one side of a circular pipeline. Consumers wait on full[stage]
/// for parity `phase`; the producer waits on empty[stage] for parity phase ^ 1 (a fresh
/// barrier counts its parity-1 phase as complete: every stage starts empty).
template <int Stages>
struct PipelineState {
  int stage = 0;
  uint32_t phase = 0;
  __device__ __forceinline__ void advance() {
    if (++stage == Stages) {
      stage = 0;
      phase ^= 1u;
    }
  }
};

/// Everything a launch passes (a __grid_constant__ parameter: the tensor maps must live in
/// parameter, constant or global memory for TMA).
struct HopperKernelParams {
  CUtensorMap tma_q;  ///< Q [B, S_q, H_q, D], box (128 bytes of columns, BLOCK_M rows)
  CUtensorMap tma_k;  ///< K [B, S_k, H_kv, D], box (128 bytes of columns, BLOCK_N rows)
  CUtensorMap tma_v;  ///< V, same as K; FP8: V^T [B, D, H_kv, S_pad] E4M3, box (BLOCK_N keys, D rows)
  CUtensorMap tma_o;  ///< O [B, S_q, H_q, D], box (64 cols, 64 rows): one warpgroup's rows
  PrefillParams p;
  TileSchedule schedule;
  WatchdogReport watchdog;  ///< where a deadlocked wait reports before trapping
  // FP8 only (fp8_quantize.h's Fp8Operands): the scales of the E4M3 operands.
  const float* q_scale = nullptr;  ///< [B, H_q, q_blocks]
  const float* k_scale = nullptr;  ///< [B, H_kv, k_blocks]
  const float* v_scale = nullptr;  ///< [B, H_kv]
  int q_blocks = 0, k_blocks = 0;
  float rotation_inverse = 1.f;    ///< 1 / D with the Hadamard rotation (its matrix is unnormalized)
  int pack = 1;  ///< query heads per work tile (packed GQA rows, pack_gqa.cuh); 1: unpacked
};

}  // namespace attn::hopper
