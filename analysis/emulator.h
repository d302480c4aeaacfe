// emulator.h: the FlashAttention-2 forward run on the CPU exactly as the GPU kernel runs it
// (tiles, KV-block order, online softmax, tensor-core arithmetic), with a precision policy per
// stage (core/kernel_config.h Stage): "kernel" = as the GPU does it, "exact" = double arithmetic
// with no rounding step at that stage. The stages are core/pipeline/'s, the ones the GPU kernels
// call, instantiated with pipeline::StagedArithmetic; the planted bugs are pipeline::plant_bug's.
// What it is not: a reference (references/ are the trustworthy ones; the all-exact emulator is
// checked against them in tests), nor a fast kernel.
//
// ============================== THE KERNEL CONTRACT ==============================
// The FA2 GPU kernels (kernels/prefill/*.cuh, kernels/hopper/) and this emulator agree on the
// following arithmetic (the decode kernels have their own contract: analysis/decode_emulator.h); "RN" is FP32 round-to-nearest-even, "f16" the input dtype (FP16 or BF16).
// Per (batch b, query head h, query row i); K/V of KV head kv_head(h); L = keys of batch b.
//  0. scale_log2 = RN(softmax_scale * log2 e), computed once on the host.
//  1. qk_product: s_ij = MMA chain over D in k-steps of 16 (m16n8k16), accumulator starting at
//     0, each step modelled by analysis/tensor_core_model.h (H100: 16 products + accumulator,
//     aligned to the max nominal exponent keeping 2 extra bits, truncated, RZ to FP32; bit-exact
//     against mma.sync on an H100 for 524,288 random FP16/BF16 dot products). Exact: the double dot product.
//  2. masking (not a rounding stage): s_ij = -inf where core/mask.h says key j is invisible;
//     keys past L inside the last tile are zero-filled (K = V = 0) and masked.
//  3. per KV tile (BLOCK_N keys, visited in the configured order; the GPU prefill is forward):
//     exp stage:  tile_max = RN(max_j s_ij * scale_log2) (the running max m lives in log2
//                 units); p_ij = ex2(fma_rn(s_ij, scale_log2, -m_new)). ex2.approx.ftz.f32 has
//                 a documented max error of 2 ulp; the model is the correctly rounded exp2f
//                 with results below 2^-126 flushed to 0. Known gap: on an H100 ex2.approx
//                 differs from it for 59% of x in [-16, 0] (1-2 ulp; kernels/probes/
//                 ex2_probe.cu), which makes 0.02-0.3% of the FA2 prefill outputs differ from
//                 the emulator (kernels/probes/emulator_vs_gpu.cu).
//                 Exact: m = max s * scale * log2 e and p = exp2(s*scale*log2e - m) in double.
//     rescale stage (online-softmax bookkeeping): m_new = max(m_old, tile_max) (lazy variant:
//                 only when tile_max > RN(m_old + threshold)); alpha = ex2(RN(m_old - m_new))
//                 (0 on the first visible tile); O_acc = RN(O_acc * alpha); the row sum is held
//                 as 4 partial sums, one per thread of the quad: partial q sums the tile's
//                 columns 8n + 2q + c (n ascending, then c = 0, 1) sequentially in FP32 from 0,
//                 then l_q = fma_rn(l_q, alpha, tile_sum_q) (nvcc contracts l*a + sum);
//                 at the end l = RN(RN(l_0 + l_1) + RN(l_2 + l_3)). The FP32 P before the cast
//                 feeds the row sum (as in FA2). Exact: alpha, O_acc * alpha and l in double.
//     p_cast stage: P rounded to f16 (RNE, cvt.rn). Precise mode: hi = f16(P),
//                 lo = f16(RN(P - hi)), two MMAs per k-step (hi first). Exact: P kept in double.
//     pv_accumulate stage: O_acc = MMA(P[16 keys], V[16 keys, d], O_acc) per 16-key k-step,
//                 key order ascending inside the tile. Exact: double sums.
//  4. normalize stage: inv = RN(1 / l) (IEEE division, not fast-math), O = RN(O_acc * inv).
//     Exact: O_acc / l. A row with l = 0 (fully masked) outputs 0 and LSE -inf.
//  5. split-KV (the FA2 emulator's flash-decoding model): the padded key range is cut into
//     num_splits runs of ceil(tiles / num_splits) tiles; each split runs 3-4 on its tiles and
//     keeps O_s (normalized) and lse2_s = RN(m_s + RN(log2 l_s)) (base 2). Combine (owned by
//     pv_accumulate): M = max lse2_s; sum = sequential RN sum of ex2(RN(lse2_s - M)); T =
//     RN(M + RN(log2 sum)); O = fma_rn(ex2(RN(lse2_s - T)), O_s, O) over splits in order.
//  6. output_round stage: O rounded to the output dtype (RNE). Exact: O kept in double.
//  LSE output (not a stage): m ln2 + ln l evaluated in double from the final state.
// FP8 configurations (AlgorithmConfig::fp8, the Hopper fa3 E4M3 variants; core/pipeline/fp8.h):
//  qk_product: Q and K quantized to E4M3 as the pre-pass does (analysis/fp8_operands.h), the
//     dot product in k-steps of 32 with TensorCoreModel::hopper_fp8_e4m3() (the probe's best
//     fit, 86 % of dot products bit-exact: not exact), then per tile the score scale
//     RN(RN(RN(scale_log2 q_scale) k_scale) / D^rotated). Exact: the double dot product of the
//     unquantized inputs (no quantization of Q and K at all) and the exact scale.
//  exp: P = ex2(fma(s, tile scale, RN(8 - m))) (P and l 256 times the 16-bit pipeline's);
//     with Fp8Config::fma_exp_period = N > 0 (variants e4m3-fmaN), the elements of every N-th n8
//     column block of the tile (blocks N-1, 2N-1, ...) take ex2_fma (core/pipeline/ex2_fma.h:
//     IEEE FMAs and exact bit operations, the GPU's own function: the same bits) instead of the
//     ex2.approx model;
//  p_cast: P to E4M3 (RNE, satfinite). Exact: P kept.
//  pv_accumulate: V quantized to E4M3 (one scale per head or tensor), k-steps of 32 keys with
//     the FP8 model, V's scale applied with the normalizer: O = RN(O_acc RN(RN(1/l) v_scale)).
//     Exact: the unquantized V in double sums. No split-KV.
// Mutants (one flag each, same code; core/pipeline/semantics.h plants the semantic ones for the
// GPU kernels, the emulator and the diagnosis alike; "cache path" = the problem has a KV cache,
// i.e. Problem::seqlens_k is set, or is decode-like, S_q < S_k):
//  top-left-cache        cache path: causal bottom-right mask applied top-left (j <= i).
//  unmasked-tile-edges   padded keys past L in the last tile are judged like key L-1 (no
//                        bounds check): they enter the softmax with score 0 and V = 0.
//  interleaved-gqa-cache cache path: query head h reads KV head h % H_kv.
//  stale-seqlens         cache path: the kernel uses L - 1 keys (the newest key is not read).
//  p-cast-before-max     rescale stage: P taken against the stale max (the tile max on the
//                        first tile), alpha = 1 (never rescaled). Active when rescale = kernel.
//  rescale-fp16          rescale stage: alpha rounded to FP16. Active when rescale = kernel.
//  base2-lse-combine     split combine uses natural exp/log on base-2 LSEs (any policy).
// Since the stages moved to core/pipeline/ (issue 9) the GPU kernels plant exactly these bugs with
// exactly this reach (before: the GPU top-left and interleaved-GQA mutants acted on every problem,
// and the GPU top-left mutant planned its tiles with the bottom-right mask, so fully visible
// tiles escaped it). Measured on an H100 before the move (kernels/probes/emulator_vs_gpu.cu):
// every mutant and the lazy variant agreed with the GPU up to the ex2 gap except top-left-cache;
// experiments/device/stages_check.sh re-measures it.
// ==================================================================================
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "analysis/fp8_operands.h"
#include "analysis/tensor_core_model.h"
#include "core/kernel.h"
#include "core/kernel_config.h"
#include "core/parallel_for.h"
#include "core/pipeline/semantics.h"

namespace attn {

/// One emulator configuration: the kernel variant, the per-stage policy and the MMA model.
struct EmulatorConfig {
  AlgorithmConfig algorithm;
  PrecisionPolicy policy;                        ///< default: every stage as the kernel does it
  TensorCoreModel tensor_core = TensorCoreModel::h100();
  int threads = 0;                               ///< 0: std::thread::hardware_concurrency()
};

/// Empty when the emulator can run `problem` with `algorithm`; otherwise why not (FP16/BF16
/// only, BLOCK_N a positive multiple of 16, BLOCK_M >= 1, 1 <= num_splits <= 64; decode
/// configurations: analysis/decode_emulator.h).
std::optional<std::string> emulator_invalid_reason(const Problem& problem, const AlgorithmConfig& algorithm);

/// Runs the emulated kernel on every (batch, head). Deterministic: the same bits for any thread
/// count (rows are independent; each row's arithmetic order is fixed by the config).
/// Throws attn::Error (with emulator_invalid_reason's text) for an unsupported configuration.
AttentionOutputs emulate_attention(const Problem& problem, const AttentionInputs& inputs, const EmulatorConfig& config);

/// The pipeline of one (batch, query head) split into its three phases, so that attribution can
/// reuse scores across policies: scores (qk_product) -> accumulate (exp, rescale, p_cast,
/// pv_accumulate) -> finalize (split combine, normalize, output_round). One implementation per
/// KernelNumerics (FA2 here, flash-decoding in analysis/decode_emulator.h), made by
/// make_head_emulator; the base holds what both read (the head's Q, K, V as the kernel sees them,
/// the planted semantics, the split plan).
class HeadEmulator {
 public:
  virtual ~HeadEmulator() = default;

  int64_t seqlen_q() const { return seqlen_q_; }
  int64_t head_dim() const { return head_dim_; }
  int64_t padded_keys() const { return padded_keys_; }  ///< row stride of a score buffer
  int num_row_blocks() const { return static_cast<int>((seqlen_q_ + block_m_ - 1) / block_m_); }
  int64_t row_begin(int row_block) const { return static_cast<int64_t>(row_block) * block_m_; }
  int64_t row_end(int row_block) const;
  int num_splits() const { return num_splits_; }
  /// Doubles per (row, split) in a state buffer: O_acc (D), l, m.
  int64_t state_stride() const { return head_dim_ + 2; }

  /// KV tiles a row block visits in split `split`, in the configured order.
  virtual std::vector<int> tile_schedule(int row_block, int split) const = 0;
  /// Scores of the rows of `row_block`: (rows, padded_keys), -inf where masked or unvisited.
  virtual void compute_scores(int row_block, bool exact, double* scores) const = 0;
  /// Online softmax + PV over the visited tiles; states: (rows, splits, state_stride()).
  virtual void accumulate_rows(int row_block, const double* scores, const PrecisionPolicy& policy,
                               double* states) const = 0;
  /// Split combine, normalization and output rounding; out: (rows, D); lse: (rows), natural log.
  virtual void finalize_rows(int row_block, const double* states, const PrecisionPolicy& policy, double* out,
                             double* lse) const = 0;

 protected:
  /// Reads the head's Q (S_q, D), K (padded_keys, D) and V^T (D, padded_keys) as the kernel sees
  /// them: the planted semantic bug applied (its KV head, its key count), zero rows past the keys.
  HeadEmulator(const Problem& problem, const AttentionInputs& inputs, int64_t batch, int64_t head_q,
               const AlgorithmConfig& algorithm, const TensorCoreModel& tensor_core);

  /// The mask stage both emulators share: scores (rows of `row_block`, padded_keys) set to -inf,
  /// then score(Q row i, K row j) at every key j of every tile the row block visits (each split's
  /// tile_schedule) that row i sees under semantics_ (a planted leak lets padded keys through,
  /// K = 0 there).
  template <class ScoreOf>
  void fill_visible_scores(int row_block, double* scores, ScoreOf&& score) const {
    const int64_t r0 = row_begin(row_block), r1 = row_end(row_block), D = head_dim_;
    std::fill(scores, scores + (r1 - r0) * padded_keys_, -std::numeric_limits<double>::infinity());
    for (int split = 0; split < num_splits_; ++split)
      for (int tile : tile_schedule(row_block, split))
        for (int64_t i = r0; i < r1; ++i) {
          double* row = scores + (i - r0) * padded_keys_;
          for (int64_t j = tile * block_n_; j < (tile + 1) * block_n_; ++j)
            if (pipeline::semantic_key_visible(semantics_, i, j, seqlen_q_, keys_))
              row[j] = score(&q_[static_cast<size_t>(i * D)], &k_[static_cast<size_t>(j * D)]);
        }
  }

  int64_t seqlen_q_ = 0, keys_ = 0, padded_keys_ = 0, head_dim_ = 0;
  int64_t block_m_ = 64, block_n_ = 64;
  int num_splits_ = 1;
  pipeline::Semantics semantics_{};  ///< declared, with the config's planted bug (core/pipeline/semantics.h)
  DType dtype_ = DType::fp16;
  AlgorithmConfig algorithm_;
  TensorCoreModel tensor_core_;
  double scale_ = 1;
  std::vector<double> q_;   // (S_q, D)
  std::vector<double> k_;   // (padded_keys, D), zero rows past the key length
  std::vector<double> vt_;  // (D, padded_keys): V transposed so a 16-key k-step is contiguous
};

/// The head emulator of `algorithm.numerics` (throws attn::Error for an unsupported configuration).
/// `fp8`: an FP8 configuration's quantized operands of the whole problem (quantize_fp8_operands),
/// shared by the heads; null: each head quantizes them itself.
std::unique_ptr<HeadEmulator> make_head_emulator(const Problem& problem, const AttentionInputs& inputs, int64_t batch,
                                                 int64_t head_q, const AlgorithmConfig& algorithm,
                                                 const TensorCoreModel& tensor_core,
                                                 const Fp8HostOperands* fp8 = nullptr);

/// Permutes a split's tile list into the configured order (forward, reverse, or the seeded random
/// order of (row block, split)): shared by the FA2 and decode emulators.
void order_tiles(std::vector<int>& tiles, const TileConfig& config, int row_block, int split);

}  // namespace attn
