// incremental_attention.h: the incremental (per-token / per-chunk) reference over a KV cache,
// templated on the scalar type T. It owns a KvCache<T>; step() appends a chunk of n tokens'
// K/V and attends the chunk's n queries reading ONLY the cache, with bottom-right alignment
// against seq_lens[b] (after the append): query t of the chunk sees key j iff
// key_visible(mask, t, j, n, seq_lens[b]) — the chunk's queries are the cache's last n tokens.
// Each row is attention_row.h's formula in ascending key order, the same code as
// full_attention.h, so with the same T the two agree bit for bit (tests/references).
// The top-left causal mask is refused: it has no meaning over a cache (it would align each
// chunk to key 0). Not a decode kernel: no split-KV, no paging.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/errors.h"
#include "core/problem.h"
#include "core/tensor.h"
#include "references/attention_row.h"
#include "references/full_attention.h"
#include "references/kv_cache.h"

namespace attn {

/// Incremental attention: a KV cache plus the problem's heads, head_dim, mask, scale and GQA.
template <class T>
class IncrementalAttention {
 public:
  /// Uses batch, num_heads_q/kv, head_dim, mask, softmax_scale and gqa of `problem`; its
  /// seqlen_q/seqlen_k/seqlens_k are ignored (the cache holds the lengths).
  IncrementalAttention(const Problem& problem, int64_t capacity)
      : problem_(checked(problem)), cache_(problem.batch, capacity, problem.num_heads_kv, problem.head_dim) {}

  const KvCache<T>& cache() const { return cache_; }

  /// Fills the cache without attending: the first lengths[b] rows of k/v [B, n, H_kv, D].
  void prefill(const Tensor<double>& k, const Tensor<double>& v, const std::vector<int64_t>& lengths) {
    cache_.append(k, v, lengths);
  }

  /// Appends k/v [B, n, H_kv, D] and attends q [B, n, H_q, D] over the cache (see file comment).
  /// Throws CacheOverflowError (nothing written) if an entry would pass capacity.
  ReferenceResult<T> step(const Tensor<double>& q, const Tensor<double>& k, const Tensor<double>& v) {
    check_queries(q);
    if (k.rank() != 4 || k.dim(1) != q.dim(1))
      throw ProblemError("incremental attention: k has shape " + shape_string(k.shape()) + " but q has " +
                         std::to_string(q.dim(1)) + " tokens");
    cache_.append(k, v);
    return attend(q);
  }

  /// Attends q [B, n, H_q, D] as the last n tokens of each cache entry, without appending.
  ReferenceResult<T> attend(const Tensor<double>& q_chunk) const {
    check_queries(q_chunk);
    const int64_t n = q_chunk.dim(1), head_dim = problem_.head_dim;
    const Tensor<T> q = tensor_cast<T>(q_chunk);  // (B, n, H_q, D)
    const T scale(problem_.scale());
    ReferenceResult<T> result{Tensor<T>(q.shape()), Tensor<T>({problem_.batch, problem_.num_heads_q, n})};
    std::vector<T> scores;
    for (int64_t b = 0; b < problem_.batch; ++b) {
      const int64_t num_keys = cache_.seq_len(b);  // bottom-right alignment against the filled length
      for (int64_t h = 0; h < problem_.num_heads_q; ++h) {
        const int64_t h_kv = problem_.kv_head(h);
        for (int64_t t = 0; t < n; ++t) {
          attend_row<T>(
              &q(b, t, h, 0), head_dim, num_keys, scale, [&](int64_t j) { return cache_.key(b, j, h_kv); },
              [&](int64_t j) { return cache_.value(b, j, h_kv); },
              [&](int64_t j) { return key_visible(problem_.mask, t, j, n, num_keys); }, scores,
              &result.o(b, t, h, 0), result.lse(b, h, t));
        }
      }
    }
    return result;
  }

 private:
  static const Problem& checked(const Problem& problem) {
    problem.validate();
    if (problem.mask.kind == MaskKind::causal_top_left)
      throw ProblemError("incremental attention: the top-left causal mask is not defined over a KV cache "
                         "(queries align to the end of the cache); use causal (bottom-right)");
    return problem;
  }
  void check_queries(const Tensor<double>& q) const {
    if (q.rank() != 4 || q.dim(0) != problem_.batch || q.dim(2) != problem_.num_heads_q ||
        q.dim(3) != problem_.head_dim)
      throw ProblemError("incremental attention: q has shape " + shape_string(q.shape()) + ", expected [" +
                         std::to_string(problem_.batch) + ", n, " + std::to_string(problem_.num_heads_q) + ", " +
                         std::to_string(problem_.head_dim) + "]");
  }

  Problem problem_;
  KvCache<T> cache_;
};

}  // namespace attn
