// tile_traits.h: the compile-time knobs of one prefill kernel variant (tile shape, warps,
// pipeline stages, precision policy, planted mutant) with their invariants static_asserted, and
// their typed runtime form PrefillTraits::algorithm() (core/kernel_config.h's AlgorithmConfig:
// what the registry carries and the emulator runs). Not the runtime shapes: kernels/params.h.
#pragma once

#include "core/float_format.h"
#include "core/kernel_config.h"

namespace attn {

/// The typed runtime form of a prefill variant's knobs (forward KV order, no split): what
/// PrefillTraits::algorithm() and the Hopper HopperTraits::algorithm() return.
constexpr AlgorithmConfig prefill_algorithm(int block_m, int block_n, PCastMode p_cast, int rescale_threshold_log2,
                                            Mutant mutant) {
  AlgorithmConfig a;
  a.tiles.block_m = block_m;
  a.tiles.block_n = block_n;
  a.p_cast = p_cast;
  a.rescale_threshold_log2 = static_cast<float>(rescale_threshold_log2);
  a.mutant = mutant;
  return a;
}

/// One prefill variant. Each warp owns 16 query rows (one m16n8k16 row block).
template <DType Elem, int HeadDim, int BlockM, int BlockN, PCastMode PCast = PCastMode::input_dtype,
          int RescaleThresholdLog2 = 0, Mutant PlantedMutant = Mutant::none, int MinBlocksPerSm = 1>
struct PrefillTraits {
  static constexpr DType kElem = Elem;
  static constexpr int kHeadDim = HeadDim;
  static constexpr int kBlockM = BlockM;            ///< query rows per CTA
  static constexpr int kBlockN = BlockN;            ///< keys per KV tile
  static constexpr int kWarps = BlockM / 16;        ///< one warp per 16 rows (FA2 layout)
  static constexpr int kThreads = kWarps * 32;
  static constexpr int kStages = 2;                 ///< cp.async double buffering of K and V
  static constexpr int kRowPad = 8;                 ///< +16 B per smem row: ldmatrix rows hit distinct banks
  static constexpr int kSmemRow = HeadDim + kRowPad;///< elements per padded smem row
  static constexpr PCastMode kPCast = PCast;
  static constexpr int kRescaleThresholdLog2 = RescaleThresholdLog2;
  static constexpr Mutant kMutant = PlantedMutant;
  /// CTAs per SM the register allocation must allow (__launch_bounds__): 2 caps a 256-thread
  /// CTA at 128 registers per thread (occupancy bought with some spilling: the .occ2 variants).
  static constexpr int kMinBlocksPerSm = MinBlocksPerSm;
  /// Under the register cap, Q fragments are re-read from shared memory every KV tile instead of
  /// living in registers (D/4 registers saved for 25% more ldmatrix traffic at BLOCK_N = 64).
  static constexpr bool kReloadQ = MinBlocksPerSm > 1;
  static constexpr int kSmemBytes = (BlockM + 2 * kStages * BlockN) * kSmemRow * 2;

  /// The same knobs as the emulator's runtime configuration (forward KV order, no split).
  static constexpr AlgorithmConfig algorithm() {
    return prefill_algorithm(BlockM, BlockN, PCast, RescaleThresholdLog2, PlantedMutant);
  }

  static_assert(Elem == DType::fp16 || Elem == DType::bf16, "FP16 or BF16 tensor-core operands");
  static_assert(HeadDim == 64 || HeadDim == 128, "head dims 64 and 128 are instantiated");
  static_assert(BlockM == 16 || BlockM == 32 || BlockM == 64 || BlockM == 128, "BLOCK_M in {16,32,64,128}");
  static_assert(BlockN == 16 || BlockN == 32 || BlockN == 64 || BlockN == 128, "BLOCK_N in {16,32,64,128}");
  static_assert(BlockN % 16 == 0, "PV consumes keys 16 at a time (m16n8k16)");
  static_assert(MinBlocksPerSm >= 1 && MinBlocksPerSm * kSmemBytes <= 227 * 1024, "resident CTAs must fit shared memory");
  static_assert(kSmemBytes <= 227 * 1024, "tiles must fit the 227 KB of opt-in shared memory");
  static_assert((BlockN * HeadDim / 8) % kThreads == 0 || (BlockN * HeadDim / 8) >= kThreads,
                "K/V tile loads are 16-byte chunks spread over the CTA");
};

}  // namespace attn
