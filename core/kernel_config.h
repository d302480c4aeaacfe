// kernel_config.h: the one definition of the FlashAttention pipeline's stages, tiling, order and
// precision knobs. The CUDA kernels take these as compile-time traits (kernels/tile_traits.h maps
// traits -> AlgorithmConfig), the CPU emulator takes them at run time, the mutants are one flag
// here. Changing a stage's meaning here changes it everywhere.
#pragma once

#include <array>
#include <cstdint>
#include <string>

namespace attn {

/// Stages of the production algorithm that can round (DESIGN.md, "Attribution"), in pipeline order.
enum class Stage : int {
  qk_product = 0,   ///< S = Q K^T on tensor cores (FP32 accumulate, the MMA's own alignment/truncation)
  exp = 1,          ///< P = exp2(S * scale * log2e - m * scale * log2e) in FP32 (ex2.approx on the GPU)
  rescale = 2,      ///< running max, factor exp2(m_old - m_new) applied to the accumulator and row sum
  p_cast = 3,       ///< P rounded to FP16/BF16 for the PV product
  pv_accumulate = 4,///< O += P V on tensor cores, across KV blocks (and split-KV combine)
  normalize = 5,    ///< O / l, the final division
  output_round = 6, ///< O rounded to the output dtype
};
inline constexpr int kNumStages = 7;
const char* stage_name(Stage s);
/// The category users ask about: "accumulation order", "intermediate precision", "rescaling",
/// "output rounding" (masking errors are semantic, found by diagnosis, not a rounding stage).
const char* stage_category(Stage s);

enum class StagePrecision : uint8_t { kernel, exact };

/// Per-stage precision: kernel (as the GPU does it) or exact (FP64 arithmetic, no rounding step).
struct PrecisionPolicy {
  std::array<StagePrecision, kNumStages> stage{};  // value-initialized: all kernel
  bool exact(Stage s) const { return stage[static_cast<int>(s)] == StagePrecision::exact; }
  static PrecisionPolicy all_kernel() { return {}; }
  static PrecisionPolicy all_exact() {
    PrecisionPolicy p;
    p.stage.fill(StagePrecision::exact);
    return p;
  }
};

enum class PCastMode : uint8_t {
  input_dtype,  ///< P rounded to the input dtype (FP16/BF16) before PV: the production choice
  split_hi_lo,  ///< precise mode: P = hi + lo, two PV products, the P cast error vanishes
};

enum class KvBlockOrder : uint8_t { forward, reverse, random };

/// Bugs planted on purpose; each must be attributed to its own category and fail the gate.
enum class Mutant : uint8_t {
  none,
  top_left_in_cache_path,       ///< masking: cache path aligns the causal mask top-left
  unmasked_tile_edges,          ///< masking: keys past S_k inside the last tile are not masked
  interleaved_gqa_in_cache_path,///< gqa: query head h reads KV head h % H_kv
  stale_seqlens,                ///< cache-length: the newest key is not read (seq_len - 1)
  p_cast_before_final_max,      ///< rescaling: P cast with a stale max, rescale skipped
  rescale_in_fp16,              ///< rescaling: the rescale factor rounded to FP16
  base2_lse_natural_combine,    ///< split-combine: base-2 LSE merged with natural exp
};
const char* mutant_name(Mutant m);
Mutant parse_mutant(const std::string& text);  ///< throws attn::Error listing the names
/// "masking" | "gqa" | "cache-length" | "rescaling" | "split-combine" | "" (none)
const char* mutant_category(Mutant m);

/// Tiling and order of one kernel variant.
struct TileConfig {
  int block_m = 64;                      ///< query rows per tile (BLOCK_M)
  int block_n = 64;                      ///< keys per tile (BLOCK_N)
  int num_splits = 1;                    ///< split-KV partitions (flash-decoding), combined by LSE
  KvBlockOrder order = KvBlockOrder::forward;
  uint64_t order_seed = 0;               ///< for KvBlockOrder::random
};

/// The granularity of the E4M3 scales of an FP8 pipeline (core/pipeline/fp8.h).
enum class Fp8Scaling : uint8_t {
  none,        ///< not an FP8 pipeline: FP16/BF16 operands
  per_block,   ///< FA3: Q per (batch, head, BLOCK_M rows), K per (batch, KV head, BLOCK_N keys), V per (batch, KV head)
  per_tensor,  ///< the baseline: one scale for each of Q, K and V
};

/// FP8 (E4M3) operands, FA3's FP8 forward: the 16-bit inputs quantized to E4M3 with scales
/// (optionally after a random Hadamard rotation of Q and K), P cast to E4M3, FP8 tensor-core
/// products. Off (scaling none) for the FP16/BF16 pipelines.
struct Fp8Config {
  Fp8Scaling scaling = Fp8Scaling::none;
  bool rotate = false;                            ///< incoherent processing (Q and K)
  /// P's exponentials of every fma_exp_period-th n8 column block of a tile (the last of each
  /// period) by pipeline::ex2_fma on the FMA pipes, the others by ex2.approx on the MUFU
  /// (core/pipeline/ex2_fma.h); 0: all on the MUFU.
  int fma_exp_period = 0;
  uint64_t rotation_seed = 0x243f6a8885a308d3ull; ///< signs of the rotation (pipeline::hadamard_sign)
  constexpr bool enabled() const { return scaling != Fp8Scaling::none; }
};

/// Whose arithmetic an AlgorithmConfig describes; the emulator models each (analysis/emulator.h).
enum class KernelNumerics : uint8_t {
  fa2,             ///< FlashAttention-2 forward: tensor-core QK^T and PV, base-2 exp (ex2.approx), P cast to the input dtype
  flash_decoding,  ///< KV-cache decode (kernels/decode/): FP32 scores, natural exp_fp32, P in FP32, split-KV combine
};

/// How the decode kernels compute a score (core/pipeline/decode_contract.h).
enum class DecodeQk : uint8_t {
  fma_halves,  ///< two FP32 fma chains, one per half of D, added (CUDA cores)
  mma,         ///< mma.sync m16n8k16 k-steps over D from 0 (tensor cores, FP32 accumulate)
};

/// How the decode kernels cut each batch entry's keys into split-KV partitions (tile_plan.h).
enum class SplitPlanKind : uint8_t {
  count,       ///< TileConfig::num_splits runs of whole tiles over the longest entry of the batch
  fixed_keys,  ///< DecodeConfig::split_keys keys per split, whatever the batch (batch-invariant)
  heuristic,   ///< as many splits as fill DecodeConfig::target_ctas CTAs (depends on the batch)
};

/// The decode kernels' knobs (meaningful when AlgorithmConfig::numerics is flash_decoding).
struct DecodeConfig {
  DecodeQk qk = DecodeQk::fma_halves;
  SplitPlanKind plan = SplitPlanKind::count;
  int split_keys = 0;     ///< fixed_keys: keys per split, a positive multiple of the 64-key tile
  int target_ctas = 0;    ///< heuristic: CTAs the plan may fill (GPU: SMs x resident CTAs); 0 = unknown
  int heads_per_cta = 1;  ///< KV heads one CTA reads (the heuristic counts work units with it)
  /// Key streams per CTA: 1 (one online softmax per split), or the tensor-core kernel's warps,
  /// each a contiguous run of a split's BLOCK_N-key tiles, merged by the LSE combine
  /// (analysis/decode_emulator.h, contract step 3b).
  int warp_streams = 1;
};

struct AlgorithmConfig {
  TileConfig tiles;
  PCastMode p_cast = PCastMode::input_dtype;
  /// Rescale only when the running max grows by more than this (in log2 units); 0 rescales
  /// whenever it grows (FA2). FA3-style lazy rescaling uses e.g. 8.
  float rescale_threshold_log2 = 0.0f;
  Mutant mutant = Mutant::none;
  KernelNumerics numerics = KernelNumerics::fa2;
  DecodeConfig decode;  ///< flash_decoding only
  Fp8Config fp8;        ///< FP8 operands (fa2 numerics: the fa3 E4M3 variants); off by default
  /// "fa2.bf16.d128.m128n64"-style suffix describing this config (tiles, splits, order, policy;
  /// decode configurations start with "decode." and name their score product and split plan).
  std::string describe() const;
};

}  // namespace attn
