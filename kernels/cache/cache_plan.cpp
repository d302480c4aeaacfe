// cache_plan.cpp: the overflow check and split planning of cache_plan.h (host only).
#include "kernels/cache/cache_plan.h"

#include <algorithm>
#include <string>

#include "core/errors.h"
#include "core/pipeline/tile_plan.h"
#include "kernels/cache/kv_layout.h"

namespace attn {

void check_append_fits(const std::vector<int64_t>& seq_lens, int64_t new_tokens, int64_t capacity) {
  if (new_tokens < 0) throw CacheOverflowError("append of " + std::to_string(new_tokens) + " tokens (negative)");
  if (capacity < 0) throw CacheOverflowError("cache capacity " + std::to_string(capacity) + " is negative");
  for (size_t b = 0; b < seq_lens.size(); ++b) {
    if (seq_lens[b] < 0 || seq_lens[b] > capacity)
      throw CacheOverflowError("KV cache batch entry " + std::to_string(b) + ": seq_len " + std::to_string(seq_lens[b]) +
                               " outside [0, capacity " + std::to_string(capacity) + "]");
    if (seq_lens[b] + new_tokens > capacity)
      throw CacheOverflowError("KV cache overflow at batch entry " + std::to_string(b) + ": seq_len " +
                               std::to_string(seq_lens[b]) + " + " + std::to_string(new_tokens) + " new tokens = " +
                               std::to_string(seq_lens[b] + new_tokens) + " > capacity " + std::to_string(capacity) +
                               " (nothing written)");
  }
}

void check_block_table(const std::vector<int>& table, int64_t pages_per_seq, int64_t page_size, int64_t num_pages,
                       const std::vector<int64_t>& old_lens, const std::vector<int64_t>& lens_after) {
  if (page_size < kMinPageSize || page_size > kMaxPageSize)
    throw ProblemError("page size " + std::to_string(page_size) + " outside [" + std::to_string(kMinPageSize) + ", " +
                       std::to_string(kMaxPageSize) + "]");
  const size_t batch = lens_after.size();
  if (old_lens.size() != batch || table.size() != batch * static_cast<size_t>(pages_per_seq))
    throw ProblemError("block table has " + std::to_string(table.size()) + " entries; expected " + std::to_string(batch) +
                       " x " + std::to_string(pages_per_seq));
  for (size_t b = 0; b < batch; ++b) {
    const int64_t used = (lens_after[b] + page_size - 1) / page_size;
    if (used > pages_per_seq)
      throw CacheOverflowError("KV cache entry " + std::to_string(b) + ": " + std::to_string(lens_after[b]) +
                               " keys need " + std::to_string(used) + " pages; the block table has " +
                               std::to_string(pages_per_seq) + " per entry (nothing written)");
    for (int64_t lp = 0; lp < used; ++lp) {
      const int page = table[b * static_cast<size_t>(pages_per_seq) + static_cast<size_t>(lp)];
      if (page < 0 || page >= num_pages)
        throw ProblemError("block table [entry " + std::to_string(b) + "][logical page " + std::to_string(lp) +
                           "] = " + std::to_string(page) + " outside the pool of " + std::to_string(num_pages) + " pages");
    }
  }
  for (size_t b = 0; b < batch; ++b) {
    if (lens_after[b] <= old_lens[b]) continue;
    for (int64_t lp = old_lens[b] / page_size; lp <= (lens_after[b] - 1) / page_size; ++lp) {
      const int page = table[b * static_cast<size_t>(pages_per_seq) + static_cast<size_t>(lp)];
      for (size_t b2 = 0; b2 < batch; ++b2) {
        const int64_t used2 = (lens_after[b2] + page_size - 1) / page_size;
        for (int64_t lp2 = 0; lp2 < used2; ++lp2)
          if ((b2 != b || lp2 != lp) && table[b2 * static_cast<size_t>(pages_per_seq) + static_cast<size_t>(lp2)] == page)
            throw ProblemError("physical page " + std::to_string(page) + " is written by the append of entry " +
                               std::to_string(b) + " (logical page " + std::to_string(lp) + ") but also mapped by entry " +
                               std::to_string(b2) + " (logical page " + std::to_string(lp2) + "): nothing written");
      }
    }
  }
}

namespace {
SplitPlan finish_plan(const std::vector<int64_t>& keys, int64_t keys_per_split) {
  SplitPlan plan;
  plan.keys_per_split = keys_per_split;
  plan.max_splits = 1;
  for (int64_t n : keys) {
    const int64_t s = pipeline::split_count(n, keys_per_split);  // the kernel's own count (tile_plan.h)
    plan.splits.push_back(s);
    plan.max_splits = std::max(plan.max_splits, s);
  }
  return plan;
}
}  // namespace

SplitPlan plan_fixed_splits(const std::vector<int64_t>& keys, int64_t keys_per_split) {
  if (keys_per_split <= 0 || keys_per_split % 64 != 0)
    throw Error("split size " + std::to_string(keys_per_split) + " must be a positive multiple of 64 keys");
  return finish_plan(keys, keys_per_split);
}

SplitPlan plan_count_splits(const std::vector<int64_t>& keys, int64_t splits) {
  if (splits < 1 || splits > pipeline::kMaxSplits)
    throw Error("split count " + std::to_string(splits) + " outside [1, " + std::to_string(pipeline::kMaxSplits) + "]");
  const int64_t longest = keys.empty() ? 0 : *std::max_element(keys.begin(), keys.end());
  return finish_plan(keys, pipeline::keys_per_split_for_count<int64_t>(pipeline::tiles_for_keys<int64_t>(longest, 64), splits, 64));
}

SplitPlan plan_heuristic_splits(const std::vector<int64_t>& keys, int64_t num_heads_kv, int64_t target_ctas) {
  const int64_t longest = keys.empty() ? 0 : *std::max_element(keys.begin(), keys.end());
  const int64_t units = static_cast<int64_t>(keys.size()) * num_heads_kv;
  return plan_count_splits(keys, pipeline::heuristic_split_count<int64_t>(longest, units, target_ctas, 64));
}

}  // namespace attn
