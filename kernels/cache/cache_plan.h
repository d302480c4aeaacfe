// cache_plan.h: host-side logic of the KV-cache decode path, plain C++ (no CUDA): the overflow
// check run before any append is launched, and the split-KV plan (keys per split, splits per
// batch entry). Not the kernels themselves (kernels/decode/decode.cu).
#pragma once

#include <cstdint>
#include <vector>

namespace attn {

/// Throws CacheOverflowError naming the first batch entry b with seq_lens[b] + new_tokens >
/// capacity (and the three sizes); also rejects negative lengths. Nothing may be written when
/// it throws: callers run it before launching the append kernel.
void check_append_fits(const std::vector<int64_t>& seq_lens, int64_t new_tokens, int64_t capacity);

/// How the keys of each batch entry are cut into split-KV partitions.
struct SplitPlan {
  int64_t keys_per_split = 0;          ///< a multiple of the key tile (64)
  int64_t max_splits = 0;              ///< grid dimension: splits of the longest entry
  std::vector<int64_t> splits;         ///< per batch entry: ceil(keys / keys_per_split), at least 1
};

/// Fixed split size: every entry is cut at the same key positions whatever the batch around it,
/// so its output is batch-invariant. keys_per_split must be a positive multiple of 64.
SplitPlan plan_fixed_splits(const std::vector<int64_t>& keys, int64_t keys_per_split);

/// Heuristic: at most `target_ctas` CTAs over batch x kv_heads x splits (at least one split), at most 64 splits,
/// split size rounded up to the 64-key tile. Depends on the batch: NOT batch-invariant.
SplitPlan plan_heuristic_splits(const std::vector<int64_t>& keys, int64_t num_heads_kv, int64_t target_ctas);

}  // namespace attn
