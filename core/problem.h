// problem.h: one attention problem — sizes, dtype, mask, scale, GQA mapping and per-batch key
// lengths — and its validation. Every kernel, reference and experiment takes a Problem.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/float_format.h"
#include "core/gqa.h"
#include "core/mask.h"
#include "core/pipeline/semantics.h"

namespace attn {

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
  int64_t group_size() const { return num_heads_q / num_heads_kv; }
  int64_t kv_head(int64_t head_q) const { return kv_head_for(head_q, num_heads_q, num_heads_kv, gqa); }
  int64_t keys_in_batch(int64_t b) const { return seqlens_k.empty() ? seqlen_k : seqlens_k[static_cast<size_t>(b)]; }
  bool visible(int64_t b, int64_t i, int64_t j) const {
    return key_visible(mask, i, j, seqlen_q, keys_in_batch(b));
  }

  std::vector<int64_t> q_shape() const { return {batch, seqlen_q, num_heads_q, head_dim}; }
  std::vector<int64_t> kv_shape() const { return {batch, seqlen_k, num_heads_kv, head_dim}; }
  std::vector<int64_t> lse_shape() const { return {batch, num_heads_q, seqlen_q}; }

  /// Throws ProblemError naming the first problem found: non-positive sizes, H_q not a multiple
  /// of H_kv, unsupported head_dim (must be 1..512), a non-finite or non-positive scale, a
  /// window on a non-window mask, seqlens_k of the wrong length or out of [0, seqlen_k],
  /// element counts that overflow 64 bits.
  void validate() const;

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
GqaMapping parse_gqa(const std::string& text);

}  // namespace attn
