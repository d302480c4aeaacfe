// decode_traits.h: the compile-time knobs of one KV-cache decode kernel instantiation (element
// type, head dim, cp.async pipeline depth, planted mutant) with their invariants static_asserted,
// and the shared-memory layout they imply. Plain C++: the launchers and the kernels share it.
// Not the runtime shapes (DecodeParams, decode_launch.h).
#pragma once

#include <cstddef>

#include "core/float_format.h"
#include "core/hd.h"
#include "core/kernel_config.h"
#include "kernels/decode/decode_launch.h"

namespace attn {

/// One decode split-kernel instantiation. A mutant is a traits value (if constexpr in the
/// kernel through core/pipeline/semantics.h), never a runtime flag of the production kernel.
template <DType Elem, int HeadDim, int Stages, Mutant PlantedMutant = Mutant::none>
struct DecodeTraits {
  static constexpr DType kElem = Elem;
  static constexpr int kHeadDim = HeadDim;
  static constexpr int kStages = Stages;        ///< K/V tiles in flight + 1 (cp.async groups)
  static constexpr Mutant kMutant = PlantedMutant;
  static constexpr int kThreads = 128;          ///< 4 warps
  static constexpr int kTileKeys = 64;          ///< keys per K/V tile (BLOCK_N)
  static constexpr int kRowsPerCta = kDecodeRowsPerCta;  ///< query rows (S_q x group) per CTA (BLOCK_M)

  // Shared memory, in 32-bit words: K and V tiles, kStages stages: [stage][K|V][64 keys][kRowWords].
  // A row is D/2 words + 4 of padding: 16-byte aligned for cp.async, and D/8 + 1 (odd) 16-byte
  // chunks long, so the eight lanes of a quarter warp reading eight consecutive keys with 128-bit
  // loads hit eight distinct bank groups, and rows 4 apart start 16 banks apart (the two key
  // halves of the PV loop); then Q and the O accumulator [rows4][D] FP32; scores / P
  // [rows4][64]; m, l, alpha [rows4].
  static constexpr int kRowWords = HeadDim / 2 + 4;
  static constexpr int kTileWords = kTileKeys * kRowWords;
  static constexpr int kKvWords = kStages * 2 * kTileWords;
  static constexpr size_t smem_bytes(int rows4) {
    return 4 * static_cast<size_t>(kKvWords + 2 * rows4 * HeadDim + rows4 * kTileKeys + 3 * rows4);
  }

  static_assert(Elem == DType::fp16 || Elem == DType::bf16, "FP16 or BF16 caches");
  static_assert(HeadDim == 64 || HeadDim == 128, "head dims 64 and 128 are instantiated");
  static_assert(Stages == 2 || Stages == 3, "two or three cp.async stages");
  static_assert(PlantedMutant == Mutant::none || PlantedMutant == Mutant::stale_seqlens ||
                    PlantedMutant == Mutant::interleaved_gqa_in_cache_path ||
                    PlantedMutant == Mutant::top_left_in_cache_path || PlantedMutant == Mutant::base2_lse_natural_combine,
                "decode plants the cache-path and split-combine bugs");
  static_assert(kThreads / 32 * 16 == kTileKeys, "the score loop gives each lane pair one key of the tile");
};

/// Rows rounded up to the 4-row register blocking of the kernels.
ATTN_HD constexpr int round_up4(int n) { return (n + 3) / 4 * 4; }

}  // namespace attn
