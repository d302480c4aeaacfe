// kv_cache.h: the KV cache of the incremental reference (DESIGN.md, "KV cache"): K_cache and
// V_cache [B, capacity, H_kv, D] in the reference scalar type T, and seq_lens[b], the filled
// length of batch entry b. An append of n tokens writes at seq_lens[b] and advances it.
// Appending past capacity throws CacheOverflowError naming the batch entry, its seq_len, the
// append size and the capacity; every batch entry is checked before anything is written, so a
// failed append leaves the cache exactly as it was. Not a paged cache, not a GPU cache.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/errors.h"
#include "core/tensor.h"

namespace attn {

/// K/V cache [B, capacity, H_kv, D] with per-batch filled lengths, values stored in T.
template <class T>
class KvCache {
 public:
  KvCache(int64_t batch, int64_t capacity, int64_t num_heads_kv, int64_t head_dim)
      : keys_(checked_shape(batch, capacity, num_heads_kv, head_dim)),
        values_(keys_.shape()),
        seq_lens_(static_cast<size_t>(batch), 0) {}

  int64_t batch() const { return keys_.dim(0); }
  int64_t capacity() const { return keys_.dim(1); }
  int64_t num_heads_kv() const { return keys_.dim(2); }
  int64_t head_dim() const { return keys_.dim(3); }
  int64_t seq_len(int64_t b) const { return seq_lens_.at(static_cast<size_t>(b)); }
  const std::vector<int64_t>& seq_lens() const { return seq_lens_; }

  /// Pointers to the head_dim values of key / value j of KV head h_kv in batch entry b.
  const T* key(int64_t b, int64_t j, int64_t h_kv) const { return &keys_(b, j, h_kv, 0); }
  const T* value(int64_t b, int64_t j, int64_t h_kv) const { return &values_(b, j, h_kv, 0); }

  /// Appends all n rows of new_k / new_v [B, n, H_kv, D] to every batch entry.
  void append(const Tensor<double>& new_k, const Tensor<double>& new_v) {
    const int64_t n = new_k.rank() == 4 ? new_k.dim(1) : 0;
    append(new_k, new_v, std::vector<int64_t>(static_cast<size_t>(batch()), n));
  }

  /// Appends the first counts[b] rows of new_k / new_v [B, n, H_kv, D] to batch entry b
  /// (ragged prefill). Throws ProblemError on a shape or count mismatch and CacheOverflowError
  /// when any entry would pass capacity; in both cases nothing is written.
  void append(const Tensor<double>& new_k, const Tensor<double>& new_v, const std::vector<int64_t>& counts) {
    check_chunk(new_k, "k");
    check_chunk(new_v, "v");
    if (new_k.shape() != new_v.shape())
      throw ProblemError("KV cache append: k has shape " + shape_string(new_k.shape()) + " but v has " +
                         shape_string(new_v.shape()));
    if (counts.size() != seq_lens_.size())
      throw ProblemError("KV cache append: " + std::to_string(counts.size()) + " counts for " +
                         std::to_string(seq_lens_.size()) + " batch entries");
    for (size_t b = 0; b < counts.size(); ++b) {
      if (counts[b] < 0 || counts[b] > new_k.dim(1))
        throw ProblemError("KV cache append: count " + std::to_string(counts[b]) + " for batch entry " +
                           std::to_string(b) + " is outside [0, " + std::to_string(new_k.dim(1)) + "]");
      if (seq_lens_[b] + counts[b] > capacity())
        throw CacheOverflowError("KV cache overflow: batch entry " + std::to_string(b) + " has seq_len " +
                                 std::to_string(seq_lens_[b]) + "; appending " + std::to_string(counts[b]) +
                                 " tokens would need " + std::to_string(seq_lens_[b] + counts[b]) +
                                 " slots but the capacity is " + std::to_string(capacity()) + " (nothing written)");
    }
    // Every entry checked: now write. Values are converted to T once, as full_attention does.
    for (int64_t b = 0; b < batch(); ++b) {
      const int64_t start = seq_lens_[static_cast<size_t>(b)];
      for (int64_t t = 0; t < counts[static_cast<size_t>(b)]; ++t)
        for (int64_t h = 0; h < num_heads_kv(); ++h)
          for (int64_t d = 0; d < head_dim(); ++d) {
            keys_(b, start + t, h, d) = T(new_k(b, t, h, d));
            values_(b, start + t, h, d) = T(new_v(b, t, h, d));
          }
      seq_lens_[static_cast<size_t>(b)] = start + counts[static_cast<size_t>(b)];
    }
  }

 private:
  static std::vector<int64_t> checked_shape(int64_t batch, int64_t capacity, int64_t heads, int64_t head_dim) {
    if (batch < 1 || capacity < 1 || heads < 1 || head_dim < 1)
      throw ProblemError("KV cache: batch, capacity, num_heads_kv and head_dim must be >= 1, got " +
                         shape_string({batch, capacity, heads, head_dim}));
    return {batch, capacity, heads, head_dim};
  }
  void check_chunk(const Tensor<double>& t, const char* name) const {
    if (t.rank() != 4 || t.dim(0) != batch() || t.dim(2) != num_heads_kv() || t.dim(3) != head_dim())
      throw ProblemError(std::string("KV cache append: ") + name + " has shape " + shape_string(t.shape()) +
                         ", expected [" + std::to_string(batch()) + ", n, " + std::to_string(num_heads_kv()) + ", " +
                         std::to_string(head_dim()) + "]");
  }

  Tensor<T> keys_;    // (B, capacity, H_kv, D)
  Tensor<T> values_;  // (B, capacity, H_kv, D)
  std::vector<int64_t> seq_lens_;
};

}  // namespace attn
