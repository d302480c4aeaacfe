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

/// Checks a paged cache's block table ([B, pages_per_seq], row-major) before anything is written:
/// the page size within [kMinPageSize, kMaxPageSize]; every logical page holding one of the
/// lens_after[b] keys mapped to a physical page in [0, num_pages); and every page the append
/// will write (logical pages covering rows old_lens[b] .. lens_after[b] - 1) referenced by no
/// other (entry, logical page) slot — a page shared for a prefix may be read, never written.
/// Throws ProblemError naming the entry, the logical page and the physical page.
void check_block_table(const std::vector<int>& table, int64_t pages_per_seq, int64_t page_size, int64_t num_pages,
                       const std::vector<int64_t>& old_lens, const std::vector<int64_t>& lens_after);

/// How the keys of each batch entry are cut into split-KV partitions.
struct SplitPlan {
  int64_t keys_per_split = 0;          ///< a multiple of the key tile (64)
  int64_t max_splits = 0;              ///< grid dimension: splits of the longest entry
  std::vector<int64_t> splits;         ///< per batch entry: ceil(keys / keys_per_split), at least 1
};

/// Fixed split size: every entry is cut at the same key positions whatever the batch around it,
/// so its output is batch-invariant. keys_per_split must be a positive multiple of 64.
SplitPlan plan_fixed_splits(const std::vector<int64_t>& keys, int64_t keys_per_split);

/// `splits` runs of whole 64-key tiles over the longest entry (1..64): core/pipeline/tile_plan.h's
/// count plan, the one keys_per_split every entry of the launch shares.
SplitPlan plan_count_splits(const std::vector<int64_t>& keys, int64_t splits);

/// Heuristic: at most `target_ctas` CTAs over batch x kv_heads x splits (at least one split), at most 64 splits,
/// split size rounded up to the 64-key tile (pipeline::heuristic_split_count, then the count plan).
/// `num_heads_kv`: work units per batch entry (KV-head groups x row blocks). NOT batch-invariant.
SplitPlan plan_heuristic_splits(const std::vector<int64_t>& keys, int64_t num_heads_kv, int64_t target_ctas);

}  // namespace attn
