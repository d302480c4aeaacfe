// params.h: runtime shapes and pointers of one prefill launch (plain struct, host and device).
// Not the compile-time knobs: those are kernels/tile_traits.h. Layouts are DESIGN.md's:
// Q/O [B, S_q, H_q, D], K/V [B, S_k, H_kv, D] contiguous (S_k: capacity when seqlens_k is set) or
// paged [num_pages, page_size, H_kv, D] through layout's block table, LSE [B, H_q, S_q] in FP32.
#pragma once

#include <cstdint>

#include "core/mask.h"
#include "core/pipeline/numerics.h"
#include "core/problem.h"
#include "kernels/cache/kv_layout.h"

namespace attn {

/// Runtime parameters of a prefill forward launch (device pointers, sizes, mask, scale).
struct PrefillParams {
  const void* q = nullptr;       ///< (B, S_q, H_q, D) fp16/bf16 bits
  const void* k = nullptr;       ///< (B, S_k, H_kv, D)
  const void* v = nullptr;       ///< (B, S_k, H_kv, D)
  void* o = nullptr;             ///< (B, S_q, H_q, D)
  float* lse = nullptr;          ///< (B, H_q, S_q), natural log; may be null
  const int* seqlens_k = nullptr;///< (B) valid keys per batch entry; null: all S_k
  KvLayout layout{};             ///< paged KV cache (chunked prefill); block_table null: contiguous
  int batch = 1, seqlen_q = 1, seqlen_k = 1, num_heads_q = 1, num_heads_kv = 1;
  float scale_log2 = 0.f;        ///< softmax_scale * log2(e): exp2 replaces exp (FA2)
  float scale = 0.f;             ///< softmax_scale (for the natural-log LSE)
  Mask mask{};
  bool cache_path = false;       ///< is_cache_path(problem): where the cache-path mutants act
};

/// Sizes, scale, scale_log2, mask and cache_path of `problem`; pointers and layout left to the
/// caller. The one place host code fills a PrefillParams from a Problem.
inline PrefillParams make_prefill_params(const Problem& problem) {
  PrefillParams p;
  p.batch = static_cast<int>(problem.batch);
  p.seqlen_q = static_cast<int>(problem.seqlen_q);
  p.seqlen_k = static_cast<int>(problem.seqlen_k);
  p.num_heads_q = static_cast<int>(problem.num_heads_q);
  p.num_heads_kv = static_cast<int>(problem.num_heads_kv);
  p.scale = static_cast<float>(problem.scale());
  p.scale_log2 = pipeline::scale_log2(problem.scale());  // rounded once to FP32, as FA2 forms it
  p.mask = problem.mask;
  p.cache_path = is_cache_path(problem);
  return p;
}

}  // namespace attn
