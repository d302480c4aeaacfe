// hopper_traits.h: the compile-time knobs of one Hopper (sm_90a) prefill variant — tile shape,
// warpgroups, pipeline depth, register split, precision policy, planted mutant — with their
// invariants static_asserted, the shared-memory footprint they imply, and their typed runtime
// form algorithm() (core/kernel_config.h's AlgorithmConfig: what the registry carries and the
// emulator runs). Plain C++ (no CUDA types), so the variant table and the host can read it. Not
// the runtime shapes (kernels/params.h) and not the FA2 knobs (kernels/tile_traits.h).
//
// The kernel (kernels/hopper/forward_kernel.cuh) is warp-specialized like FlashAttention-3:
// warpgroup 0 is the producer (one warp issues every TMA load), warpgroups 1..W are consumers, each owning 64 query rows (one wgmma
// m64 row block), so BLOCK_M = 64 W. FP8 variants (Fp8 != none) read Q, K, V as E4M3 with scales
// (core/pipeline/fp8.h), quantized from the 16-bit inputs by a pre-pass (fp8_quantize.h), which
// also writes V transposed (the FP8 PV's K-major B); their output is the 16-bit input dtype.
#pragma once

#include "core/float_format.h"
#include "core/kernel_config.h"
#include "kernels/tile_traits.h"

namespace attn::hopper {

/// Elements of a 16-bit type in one 128-byte swizzle row (the TMA box width and the wgmma
/// K-major swizzle atom): a (rows, D) tile is stored as D / 64 column blocks of (rows, 64).
inline constexpr int kSwizzleColumns = 64;
/// Bytes of one 8-row swizzle atom (8 rows x 128 B): column blocks start on this alignment.
inline constexpr int kSwizzleAtomBytes = 1024;
/// Query rows owned by one consumer warpgroup (wgmma M).
inline constexpr int kRowsPerWarpgroup = 64;

template <DType Elem, int HeadDim, int BlockN, int ConsumerWarpgroups, int Stages,
          PCastMode PCast = PCastMode::input_dtype, int RescaleThresholdLog2 = 0, Mutant PlantedMutant = Mutant::none,
          bool PingPong = true, bool IntraWarpgroupOverlap = true, Fp8Scaling Fp8 = Fp8Scaling::none,
          bool Rotate = false, int FmaExpPeriod = 0, bool SoftmaxIlp = false, bool PackGqa = false>
struct HopperTraits {
  static constexpr DType kElem = Elem;
  static constexpr int kHeadDim = HeadDim;
  static constexpr int kBlockN = BlockN;                       ///< keys per KV tile (wgmma N of QK^T)
  static constexpr int kConsumerWarpgroups = ConsumerWarpgroups;
  static constexpr int kBlockM = kRowsPerWarpgroup * ConsumerWarpgroups;  ///< query rows per CTA tile
  static constexpr int kThreads = 128 * (1 + ConsumerWarpgroups);
  static constexpr int kStages = Stages;                       ///< K and V shared-memory stages
  static constexpr PCastMode kPCast = PCast;
  static constexpr int kRescaleThresholdLog2 = RescaleThresholdLog2;
  static constexpr Mutant kMutant = PlantedMutant;
  /// Ping-pong: the consumer warpgroups take turns issuing their GEMMs (named barriers), so the
  /// softmax of one overlaps the tensor-core work of the other (FA3 section 3.1).
  static constexpr bool kPingPong = PingPong && ConsumerWarpgroups >= 2;
  /// Intra-warpgroup overlap: QK^T of tile j+1 is issued before the softmax of tile j finishes
  /// its PV (FA3 section 3.2). The PV order and the rescale order stay FA2's (see the contract
  /// in forward_kernel.cuh): this is a schedule, not a change of arithmetic.
  static constexpr bool kIntraWarpgroupOverlap = IntraWarpgroupOverlap;

  /// FP8 (E4M3) operands and their scales (core/pipeline/fp8.h); P is cast to E4M3 too.
  static constexpr Fp8Scaling kFp8Scaling = Fp8;
  static constexpr bool kFp8 = Fp8 != Fp8Scaling::none;
  /// Incoherent processing: Q and K rotated by the same random Hadamard matrix (FP8 only).
  static constexpr bool kRotate = Rotate;
  /// FP8: the exponentials of every FmaExpPeriod-th n8 column block of a tile by ex2_fma on the
  /// FMA pipes instead of ex2.approx on the MUFU (core/pipeline/ex2_fma.h); 0: none.
  static constexpr int kFmaExpPeriod = FmaExpPeriod;
  /// Schedule only (the same bits): each thread's raw row max as a tree instead of a chain (max
  /// rounds nothing: any order gives the same value) and O's rescale skipped in a warp whose rows
  /// all keep their max (alpha = 1: O * 1 = O); softmax.cuh. On in every 16-bit variant but the
  /// mutants (kernels/generate_instantiations.py; 1.01-1.02x, reports/h200/hopper-prefill/
  /// session26) and in the FP8 e4m3-ilp.
  static constexpr bool kSoftmaxIlp = SoftmaxIlp;
  /// Packed GQA rows (pack_gqa.cuh): a work tile's rows are the (query, member) pairs of the
  /// query heads of one KV head, when the host can pack the problem's group (gqa_pack).
  static constexpr bool kPackGqa = PackGqa;
  static constexpr int kOperandBytes = kFp8 ? 1 : 2;               ///< bytes of one Q, K, V element
  static constexpr int kOperandColumns = 128 / kOperandBytes;      ///< operand elements per 128-byte swizzle row
  static constexpr int kColumnBlocks = HeadDim / kOperandColumns;  ///< 128-byte column blocks of a Q, K, V row
  static constexpr int kOColumnBlocks = HeadDim / kSwizzleColumns; ///< of an O row (16-bit)
  static constexpr int kQBytes = kBlockM * HeadDim * kOperandBytes;
  /// One K (or V) stage; FP8: V's stage holds V^T (D rows of BLOCK_N key bytes, same size).
  static constexpr int kKVTileBytes = BlockN * HeadDim * kOperandBytes;
  static constexpr int kOBytes = kBlockM * HeadDim * 2;
  /// 32-bit A fragments of P per thread and row block: one per 16 keys (16-bit), per 32 (FP8).
  static constexpr int kPFragments = kFp8 ? BlockN / 32 : BlockN / 16;
  /// Register split (setmaxnreg): the producer gives registers to the consumers. The totals
  /// respect 64K registers per SM: 128 (producer + W consumers) threads each.
  /// Three consumer warpgroups: 32 / 160 (FA3's split), so the D 64 m192n128 tile fits (40 / 152
  /// serialized its wgmmas and spilled 140 bytes).
  static constexpr int kProducerRegisters = ConsumerWarpgroups == 2 ? 40 : 32;
  static constexpr int kConsumerRegisters = ConsumerWarpgroups == 2 ? 232 : 160;
  /// Q stages: two where they fit (16-bit variants), so the next work tile's Q loads while the
  /// consumers finish this one (short causal tiles waited for it); FP8 keeps one (two would fit
  /// since V^T comes from the pre-pass, but that was not measured).
  /// O's shared-memory band (the TMA store's source): a region of its own where everything fits;
  /// else (FA3's layout, the D 128 tile of 176 keys) the start of V's stages, written once every
  /// consumer warpgroup's last PV of the tile has read V, and the producer loads the next work
  /// tile's first V only after the store has read the band (mainloop.cuh, epilogue.cuh).
  static constexpr bool kOInV = kQBytes + 2 * Stages * kKVTileBytes + kOBytes + 1024 + 1024 > 227 * 1024;
  static constexpr int kOwnOBytes = kOInV ? 0 : kOBytes;
  static constexpr int kSmemBytesOneQ = kQBytes + 2 * Stages * kKVTileBytes + kOwnOBytes + 1024 + 1024;
  static constexpr int kQStages = !kFp8 && kSmemBytesOneQ + kQBytes <= 227 * 1024 ? 2 : 1;
  /// Tiles + barriers + the 1024-byte realignment of the dynamic shared-memory base.
  static constexpr int kSmemBytes = kSmemBytesOneQ + (kQStages - 1) * kQBytes;

  /// The same knobs as the emulator's runtime configuration (forward KV order, no split): the
  /// fa3 pipeline is the FA2 contract with its own tile (forward_kernel.cuh).
  static constexpr AlgorithmConfig algorithm() {
    AlgorithmConfig a = prefill_algorithm(kBlockM, BlockN, PCast, RescaleThresholdLog2, PlantedMutant);
    a.fp8.scaling = Fp8;
    a.fp8.rotate = Rotate;
    a.fp8.fma_exp_period = FmaExpPeriod;
    return a;
  }

  static_assert(Elem == DType::fp16 || Elem == DType::bf16, "FP16 or BF16 wgmma operands");
  static_assert(HeadDim == 64 || HeadDim == 128, "head dims 64 and 128 are instantiated");
  static_assert(BlockN % 16 == 0 && BlockN >= 16 && BlockN <= 256, "wgmma N: a multiple of 16 (PV k-steps), at most 256");
  static_assert(BlockN <= 256, "a TMA box spans at most 256 rows");
  static_assert(ConsumerWarpgroups == 2 || ConsumerWarpgroups == 3, "2 or 3 consumer warpgroups (register split)");
  static_assert(kBlockM <= 256, "the Q tile is one TMA box of at most 256 rows");
  static_assert(Stages >= 2 && Stages <= 4, "2..4 K/V stages");
  static_assert(kSmemBytes <= 227 * 1024, "tiles must fit the 227 KB of opt-in shared memory");
  static_assert(!kOInV || (kOBytes <= Stages * kKVTileBytes && !kFp8), "O's band inside V's stages (16-bit only)");
  static_assert(kProducerRegisters * 128 + kConsumerRegisters * 128 * ConsumerWarpgroups <= 65536,
                "the register split must fit the SM's 64K registers");
  static_assert(ConsumerWarpgroups == 2 || HeadDim == 64,
                "three consumer warpgroups get 160 registers each: only D = 64 fits (O, S and P in registers)");
  static_assert(!kFp8 || (HeadDim == 128 && BlockN == 128),
                "FP8: D = 128 and BLOCK_N = 128 (one 128-byte swizzle row for a Q/K/V row and a transposed V row)");
  static_assert(!kFp8 || (PCast == PCastMode::input_dtype && PlantedMutant == Mutant::none),
                "FP8: no precise mode and no planted mutant");
  static_assert(!Rotate || kFp8, "the Hadamard rotation is part of the FP8 pipeline");
  static_assert(!PackGqa || (!kFp8 && PlantedMutant == Mutant::none),
                "packed GQA rows: 16-bit, the declared semantics (a planted GQA bug maps heads its own way)");
  static_assert(!(SoftmaxIlp && FmaExpPeriod > 0), "the tree-max softmax has no FMA-pipe exponentials (softmax.cuh)");
  static_assert(FmaExpPeriod == 0 || (kFp8 && FmaExpPeriod > 0 && (BlockN / 8) % (FmaExpPeriod > 0 ? FmaExpPeriod : 1) == 0),
                "FMA-pipe exponentials: FP8 only, a period dividing the tile's n8 column blocks");
};

/// The same variant with packed GQA rows (the default tiles' launchers pack where it pays:
/// forward_kernel.cuh launch_fa3_default).
template <class Traits>
struct WithPackGqa;
template <DType E, int D, int BN, int W, int S, PCastMode P, int R, Mutant M, bool PP, bool IO, Fp8Scaling F, bool Rot,
          int Fma, bool Ilp, bool Pack>
struct WithPackGqa<HopperTraits<E, D, BN, W, S, P, R, M, PP, IO, F, Rot, Fma, Ilp, Pack>> {
  using type = HopperTraits<E, D, BN, W, S, P, R, M, PP, IO, F, Rot, Fma, Ilp, true>;
};

}  // namespace attn::hopper
