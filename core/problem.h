// problem.h: one attention problem — sizes, dtype, mask, scale, GQA mapping and per-batch key
// lengths — and its validation. Every kernel, reference and experiment takes a Problem.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/float_format.h"
#include "core/gqa.h"
#include "core/mask.h"
#include "core/pipeline/semantics.h"

namespace attn {

/// Largest accepted size of any one dimension (far beyond any machine's memory; it keeps every
/// sum and product of sizes inside 64 bits, so the memory check gives the number).
inline constexpr int64_t kMaxDimension = int64_t{1} << 48;

struct Problem {
  int64_t batch = 1;
  int64_t seqlen_q = 1;
  int64_t seqlen_k = 1;       ///< key rows stored per batch entry (capacity when seqlens_k is set)
  int64_t num_heads_q = 1;
  int64_t num_heads_kv = 1;
  int64_t head_dim = 64;
  DType dtype = DType::fp16;  ///< dtype of Q, K, V and O
  Mask mask{};
  std::optional<double> softmax_scale;  ///< default 1/sqrt(head_dim)
  GqaMapping gqa = GqaMapping::contiguous;
  /// Optional per-batch number of valid keys (KV-cache fill after the append: seq_lens[b] + new
  /// tokens). Empty: every batch entry has seqlen_k keys. Masks align against this length.
  std::vector<int64_t> seqlens_k;

  double scale() const;
  /// H_q / H_kv; 0 for a head count that validate() rejects (never a division by zero).
  int64_t group_size() const { return num_heads_kv > 0 ? num_heads_q / num_heads_kv : 0; }
  int64_t kv_head(int64_t head_q) const {
    return group_size() > 0 ? kv_head_for(head_q, num_heads_q, num_heads_kv, gqa) : 0;
  }
  int64_t keys_in_batch(int64_t b) const { return seqlens_k.empty() ? seqlen_k : seqlens_k[static_cast<size_t>(b)]; }
  bool visible(int64_t b, int64_t i, int64_t j) const {
    return key_visible(mask, i, j, seqlen_q, keys_in_batch(b));
  }

  std::vector<int64_t> q_shape() const { return {batch, seqlen_q, num_heads_q, head_dim}; }
  std::vector<int64_t> kv_shape() const { return {batch, seqlen_k, num_heads_kv, head_dim}; }
  std::vector<int64_t> lse_shape() const { return {batch, num_heads_q, seqlen_q}; }

  /// Throws ProblemError naming the first problem found: non-positive sizes or sizes above
  /// kMaxDimension, H_q not a multiple of H_kv, unsupported head_dim (must be 1..512), a
  /// non-finite or non-positive scale, a window on a non-window mask, seqlens_k of the wrong
  /// length or out of [0, seqlen_k], element counts that overflow 64 bits.
  void validate() const;

  /// Upper bound (bytes) of the host memory one run of this problem needs: Q, K, V with an
  /// unquantized copy, truth, baseline, kernel output and metric buffers as doubles, and
  /// per-thread score rows (all S_q x S_k scores of a head per thread `with_attribution`).
  /// Saturates instead of overflowing; for refusing impossible sizes up front (memory_budget.h).
  uint64_t estimated_bytes(bool with_attribution = false) const;
  /// Throws EnvironmentError (exit 3) naming the problem and the number when estimated_bytes()
  /// exceeds the memory limit (--max-memory).
  void require_memory_for_run(bool with_attribution = false) const;

  /// Number of query rows (over all batch entries) that see no key at all; their output is
  /// defined as zero (DESIGN.md). E.g. S_q > S_k under bottom-right causal.
  int64_t fully_masked_rows() const;
  /// Throws ProblemError if fully_masked_rows() > 0, naming the rows and why (for callers that
  /// treat such problems as a mistake, as the CLI does unless --allow-masked-rows is given).
  void require_no_fully_masked_rows() const;

  /// "b1.sq10.sk74.h8:2.d64.fp16.causal" — stable, for file names and database keys.
  std::string label() const;
};

/// True when `problem` takes a KV-cache kernel's path (seqlens_k set, or S_q < S_k): the reach
/// of the cache-path mutants (core/pipeline/semantics.h).
inline bool is_cache_path(const Problem& problem) {
  return pipeline::is_cache_path(problem.seqlen_q, problem.seqlen_k, !problem.seqlens_k.empty());
}

std::string mask_name(const Mask& mask);
/// Parses "causal" (bottom-right), "causal-br", "top-left", "none", "window:L,R"; throws ProblemError.
Mask parse_mask(const std::string& text);
std::string gqa_name(GqaMapping mapping);
/// "8:2" -> (8, 2), "16" -> (16, 16): H_q:H_kv, both positive, H_q a multiple of H_kv. The one
/// parser of the heads notation (sweep specs and every command's --heads). Throws ProblemError.
std::pair<int64_t, int64_t> parse_heads(const std::string& text);
GqaMapping parse_gqa(const std::string& text);

}  // namespace attn
