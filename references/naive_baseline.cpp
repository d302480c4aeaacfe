// naive_baseline.cpp: the same-precision naive baseline (see naive_baseline.h for the algorithm
// and why). Plain loops over (batch, head, query row); every rounding written out.
#include "references/naive_baseline.h"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "core/errors.h"
#include "core/float_format.h"
#include "references/full_attention.h"

namespace attn {

AttentionOutputs naive_same_precision_attention(const Problem& problem, const AttentionInputs& inputs) {
  problem.validate();
  require_input_shapes(problem, inputs);
  if (problem.dtype != DType::fp16 && problem.dtype != DType::bf16)
    throw ProblemError("naive same-precision baseline: dtype " + std::string(dtype_name(problem.dtype)) +
                       " is not fp16 or bf16");
  const FloatFormat& format = format_of(problem.dtype);
  // One rounding from float to the dtype: float -> double is exact, round_to_format rounds once.
  const auto store = [&](float x) { return static_cast<float>(round_to_format(static_cast<double>(x), format)); };
  const int64_t head_dim = problem.head_dim;
  const float scale = static_cast<float>(problem.scale());
  AttentionOutputs out;
  out.o = Tensor<double>(problem.q_shape());
  out.lse = Tensor<double>(problem.lse_shape());
  out.out_dtype = problem.dtype;
  std::vector<float> q_scaled(static_cast<size_t>(head_dim));
  std::vector<float> scores, probabilities;
  std::vector<float> acc(static_cast<size_t>(head_dim));
  for (int64_t b = 0; b < problem.batch; ++b) {
    const int64_t num_keys = problem.keys_in_batch(b);
    scores.assign(static_cast<size_t>(num_keys), 0.0f);
    probabilities.assign(static_cast<size_t>(num_keys), 0.0f);
    for (int64_t h = 0; h < problem.num_heads_q; ++h) {
      const int64_t h_kv = problem.kv_head(h);
      for (int64_t i = 0; i < problem.seqlen_q; ++i) {
        // q' = dtype(fp32 q * fp32 scale)
        for (int64_t d = 0; d < head_dim; ++d)
          q_scaled[static_cast<size_t>(d)] = store(static_cast<float>(inputs.q(b, i, h, d)) * scale);
        // S = dtype(Q' K^T), FP32 fused multiply-add accumulation over d ascending
        float row_max = -std::numeric_limits<float>::infinity();
        bool any_visible = false;
        for (int64_t j = 0; j < num_keys; ++j) {
          if (!problem.visible(b, i, j)) continue;
          float dot = 0.0f;
          for (int64_t d = 0; d < head_dim; ++d)
            dot = std::fma(q_scaled[static_cast<size_t>(d)], static_cast<float>(inputs.k(b, j, h_kv, d)), dot);
          const float s = store(dot);
          scores[static_cast<size_t>(j)] = s;
          row_max = any_visible ? std::fmax(row_max, s) : s;
          any_visible = true;
        }
        if (!any_visible) {  // fully masked row: defined as zeros, lse -inf (no 0/0)
          for (int64_t d = 0; d < head_dim; ++d) out.o(b, i, h, d) = 0.0;
          out.lse(b, h, i) = -std::numeric_limits<double>::infinity();
          continue;
        }
        // softmax in FP32 of the dtype scores: expf(s - m), FP32 row sum (j ascending)
        float row_sum = 0.0f;
        for (int64_t j = 0; j < num_keys; ++j) {
          if (!problem.visible(b, i, j)) continue;
          const float e = std::exp(scores[static_cast<size_t>(j)] - row_max);
          probabilities[static_cast<size_t>(j)] = e;
          row_sum += e;
        }
        // P = dtype(e / l); O = dtype(P V) with FP32 fma accumulation over j ascending
        for (auto& a : acc) a = 0.0f;
        for (int64_t j = 0; j < num_keys; ++j) {
          if (!problem.visible(b, i, j)) continue;
          const float p = store(probabilities[static_cast<size_t>(j)] / row_sum);
          for (int64_t d = 0; d < head_dim; ++d)
            acc[static_cast<size_t>(d)] = std::fma(p, static_cast<float>(inputs.v(b, j, h_kv, d)), acc[static_cast<size_t>(d)]);
        }
        for (int64_t d = 0; d < head_dim; ++d) out.o(b, i, h, d) = static_cast<double>(store(acc[static_cast<size_t>(d)]));
        out.lse(b, h, i) = static_cast<double>(row_max) + std::log(static_cast<double>(row_sum));
      }
    }
  }
  return out;
}

}  // namespace attn
