// legacy_emulator.h: the emulator as it was before the stages moved to core/pipeline/ (commit
// 3156af3), kept only so that test_emulator_bit_identity.cpp can compare the two bit for bit.
// Delete together with that test once the migration is verified.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "analysis/emulator.h"

namespace attn::legacy {

/// One emulator configuration: the kernel variant, the per-stage policy and the MMA model.

/// Empty when the emulator can run `problem` with `algorithm`; otherwise why not (FP16/BF16
/// only, BLOCK_N a positive multiple of 16, BLOCK_M >= 1, 1 <= num_splits <= 64).
std::optional<std::string> emulator_invalid_reason(const Problem& problem, const AlgorithmConfig& algorithm);

/// Runs the emulated kernel on every (batch, head). Deterministic: the same bits for any thread
/// count (rows are independent; each row's arithmetic order is fixed by the config).
/// Throws attn::Error (with emulator_invalid_reason's text) for an unsupported configuration.
AttentionOutputs emulate_attention(const Problem& problem, const AttentionInputs& inputs, const EmulatorConfig& config);

/// True when `problem` takes the kernel's cache path (seqlens_k set, or S_q < S_k).
bool is_cache_path(const Problem& problem);

/// The pipeline of one (batch, query head) split into its three phases, so that attribution can
/// reuse scores across policies: scores (qk_product) -> accumulate (exp, rescale, p_cast,
/// pv_accumulate) -> finalize (split combine, normalize, output_round).
class HeadEmulator {
 public:
  HeadEmulator(const Problem& problem, const AttentionInputs& inputs, int64_t batch, int64_t head_q,
               const AlgorithmConfig& algorithm, const TensorCoreModel& tensor_core);

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
  std::vector<int> tile_schedule(int row_block, int split) const;
  /// Scores of the rows of `row_block`: (rows, padded_keys), -inf where masked or unvisited.
  void compute_scores(int row_block, bool exact, double* scores) const;
  /// Online softmax + PV over the visited tiles; states: (rows, splits, state_stride()).
  void accumulate_rows(int row_block, const double* scores, const PrecisionPolicy& policy, double* states) const;
  /// Split combine, normalization and output rounding; out: (rows, D); lse: (rows), natural log.
  void finalize_rows(int row_block, const double* states, const PrecisionPolicy& policy, double* out,
                     double* lse) const;

 private:
  bool visible(int64_t i, int64_t j) const;

  int64_t seqlen_q_ = 0, keys_ = 0, padded_keys_ = 0, head_dim_ = 0;
  int64_t block_m_ = 64, block_n_ = 64;
  int num_splits_ = 1;
  Mask mask_{};
  DType dtype_ = DType::fp16;
  AlgorithmConfig algorithm_;
  TensorCoreModel tensor_core_;
  double scale_ = 1;
  std::vector<double> q_;   // (S_q, D)
  std::vector<double> k_;   // (padded_keys, D), zero rows past the key length
  std::vector<double> vt_;  // (D, padded_keys): V transposed so a 16-key k-step is contiguous
};

/// Runs `body(index)` for index in [0, count) on `threads` threads (0: hardware concurrency).
/// Every index runs exactly once; results must not depend on which thread runs it.
void parallel_for(int64_t count, int threads, const std::function<void(int64_t)>& body);

}  // namespace attn::legacy
