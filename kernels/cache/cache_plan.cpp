// cache_plan.cpp: the overflow check and split planning of cache_plan.h (host only).
#include "kernels/cache/cache_plan.h"

#include <algorithm>
#include <string>

#include "core/errors.h"

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

namespace {
SplitPlan finish_plan(const std::vector<int64_t>& keys, int64_t keys_per_split) {
  SplitPlan plan;
  plan.keys_per_split = keys_per_split;
  plan.max_splits = 1;
  for (int64_t n : keys) {
    const int64_t s = std::max<int64_t>(1, (n + keys_per_split - 1) / keys_per_split);
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

SplitPlan plan_heuristic_splits(const std::vector<int64_t>& keys, int64_t num_heads_kv, int64_t target_ctas) {
  const int64_t longest = keys.empty() ? 0 : *std::max_element(keys.begin(), keys.end());
  const int64_t base = std::max<int64_t>(1, static_cast<int64_t>(keys.size()) * num_heads_kv);
  // Floor: never more CTAs than target_ctas (one wave when target_ctas is the resident-CTA count).
  int64_t splits = std::clamp<int64_t>(target_ctas / base, 1, 64);
  splits = std::min(splits, std::max<int64_t>(1, (longest + 63) / 64));  // no split shorter than a tile
  int64_t per = (std::max<int64_t>(longest, 1) + splits - 1) / splits;
  per = (per + 63) / 64 * 64;
  return finish_plan(keys, per);
}

}  // namespace attn
