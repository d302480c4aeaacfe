// full_attention.h: the full-sequence reference, templated on the scalar type T (float, double,
// attn::Half, attn::BFloat16, boost::multiprecision::mpfr_float). It materializes each row's
// scores and applies the two-pass softmax of attention_row.h: every sum in ascending index
// order (keys j ascending, then head dimension d ascending within a dot product). The
// incremental reference uses the same row function, so with the same T the two agree bit for bit.
// Semantics are core's: Problem::visible (every mask kind, per-batch key lengths
// Problem::seqlens_k), Problem::kv_head (contiguous or interleaved GQA), Problem::scale().
// Not fast: O(S_q * S_k * D) plain loops per head; fp64_attention.h is the fast FP64 version.
#pragma once

#include <cmath>
#include <vector>

#include "core/generators.h"
#include "core/kernel.h"
#include "core/problem.h"
#include "core/tensor.h"
#include "references/attention_row.h"

namespace attn {

/// Output of a templated reference in its own scalar type.
template <class T>
struct ReferenceResult {
  Tensor<T> o;    ///< [B, S_q, H_q, D]
  Tensor<T> lse;  ///< [B, H_q, S_q], natural log; -inf for fully masked rows
};

/// Full-sequence attention of `inputs` (converted to T element by element) under `problem`.
/// Validates the problem (ProblemError) and the tensor shapes (ProblemError naming the tensor).
template <class T>
ReferenceResult<T> full_attention(const Problem& problem, const AttentionInputs& inputs);

/// The same result as doubles, in the AttentionOutputs form kernels return; `out_dtype` says
/// which format the values are exact in (fp32 for float, fp16 for Half, ...).
template <class T>
AttentionOutputs to_outputs(const ReferenceResult<T>& result, DType out_dtype);

/// Throws ProblemError naming the tensor when q, k or v does not have the problem's shape.
void require_input_shapes(const Problem& problem, const AttentionInputs& inputs);

// ---- implementation -------------------------------------------------------------------------

template <class T>
ReferenceResult<T> full_attention(const Problem& problem, const AttentionInputs& inputs) {
  problem.validate();
  require_input_shapes(problem, inputs);
  const Tensor<T> q = tensor_cast<T>(inputs.q);  // [B, S_q, H_q, D]
  const Tensor<T> k = tensor_cast<T>(inputs.k);  // [B, S_k, H_kv, D]
  const Tensor<T> v = tensor_cast<T>(inputs.v);  // [B, S_k, H_kv, D]
  const int64_t head_dim = problem.head_dim;
  const T scale(problem.scale());  // the problem's double scale, rounded to T once
  ReferenceResult<T> result{Tensor<T>(problem.q_shape()), Tensor<T>(problem.lse_shape())};
  std::vector<T> scores;
  for (int64_t b = 0; b < problem.batch; ++b) {
    // Keys beyond keys_in_batch(b) are cache slack: never read, never visible.
    const int64_t num_keys = problem.keys_in_batch(b);
    for (int64_t h = 0; h < problem.num_heads_q; ++h) {
      const int64_t h_kv = problem.kv_head(h);
      for (int64_t i = 0; i < problem.seqlen_q; ++i) {
        attend_row<T>(
            &q(b, i, h, 0), head_dim, num_keys, scale, [&](int64_t j) { return &k(b, j, h_kv, 0); },
            [&](int64_t j) { return &v(b, j, h_kv, 0); }, [&](int64_t j) { return problem.visible(b, i, j); },
            scores, &result.o(b, i, h, 0), result.lse(b, h, i));
      }
    }
  }
  return result;
}

template <class T>
AttentionOutputs to_outputs(const ReferenceResult<T>& result, DType out_dtype) {
  AttentionOutputs out;
  out.o = tensor_cast<double>(result.o);
  out.lse = tensor_cast<double>(result.lse);
  out.out_dtype = out_dtype;
  return out;
}

}  // namespace attn
