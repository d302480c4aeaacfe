// naive_baseline.cpp: the same-precision naive baseline (see naive_baseline.h for the algorithm
// and why). naive_row is the plain loop for one query row, every rounding written out; the plain
// reference runs it over every row in order, the fast version hands rows to every core, in
// vector tiles (naive_baseline_avx2.cpp) where the CPU allows.
#include "references/naive_baseline.h"

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "core/errors.h"
#include "core/float_format.h"
#include "references/full_attention.h"
#include "references/naive_baseline_avx2.h"
#include "core/parallel_for.h"

namespace attn {
namespace {

constexpr int64_t kRowsPerWorkItem = 64;  // query rows of one (batch, head) per parallel work item

struct RowScratch {
  std::vector<float> q_scaled, scores, probabilities, acc;
};

void validate_baseline_problem(const Problem& problem, const AttentionInputs& inputs) {
  problem.validate();
  require_input_shapes(problem, inputs);
  if (problem.dtype != DType::fp16 && problem.dtype != DType::bf16)
    throw ProblemError("naive same-precision baseline: dtype " + std::string(dtype_name(problem.dtype)) +
                       " is not fp16 or bf16");
}

AttentionOutputs empty_outputs(const Problem& problem) {
  AttentionOutputs out;
  out.o = Tensor<double>(problem.q_shape());
  out.lse = Tensor<double>(problem.lse_shape());
  out.out_dtype = problem.dtype;
  return out;
}

/// The plain loops for query row i of (batch b, head h).
void naive_row(const Problem& problem, const AttentionInputs& inputs, int64_t b, int64_t h, int64_t i, RowScratch& s,
               AttentionOutputs& out) {
  const FloatFormat& format = format_of(problem.dtype);
  // One rounding from float to the dtype: float -> double is exact, round_to_format rounds once.
  const auto store = [&](float x) { return static_cast<float>(round_to_format(static_cast<double>(x), format)); };
  const int64_t head_dim = problem.head_dim, h_kv = problem.kv_head(h), num_keys = problem.keys_in_batch(b);
  const float scale = static_cast<float>(problem.scale());
  s.q_scaled.resize(static_cast<size_t>(head_dim));
  s.acc.resize(static_cast<size_t>(head_dim));
  s.scores.assign(static_cast<size_t>(num_keys), 0.0f);
  s.probabilities.assign(static_cast<size_t>(num_keys), 0.0f);
  // q' = dtype(fp32 q * fp32 scale)
  for (int64_t d = 0; d < head_dim; ++d) s.q_scaled[static_cast<size_t>(d)] = store(static_cast<float>(inputs.q(b, i, h, d)) * scale);
  // S = dtype(Q' K^T), FP32 fused multiply-add accumulation over d ascending
  float row_max = -std::numeric_limits<float>::infinity();
  bool any_visible = false;
  for (int64_t j = 0; j < num_keys; ++j) {
    if (!problem.visible(b, i, j)) continue;
    float dot = 0.0f;
    for (int64_t d = 0; d < head_dim; ++d)
      dot = std::fma(s.q_scaled[static_cast<size_t>(d)], static_cast<float>(inputs.k(b, j, h_kv, d)), dot);
    const float score = store(dot);
    s.scores[static_cast<size_t>(j)] = score;
    row_max = any_visible ? std::fmax(row_max, score) : score;
    any_visible = true;
  }
  if (!any_visible) {  // fully masked row: defined as zeros, lse -inf (no 0/0)
    for (int64_t d = 0; d < head_dim; ++d) out.o(b, i, h, d) = 0.0;
    out.lse(b, h, i) = -std::numeric_limits<double>::infinity();
    return;
  }
  // softmax in FP32 of the dtype scores: expf(s - m), FP32 row sum (j ascending)
  float row_sum = 0.0f;
  for (int64_t j = 0; j < num_keys; ++j) {
    if (!problem.visible(b, i, j)) continue;
    const float e = std::exp(s.scores[static_cast<size_t>(j)] - row_max);
    s.probabilities[static_cast<size_t>(j)] = e;
    row_sum += e;
  }
  // P = dtype(e / l); O = dtype(P V) with FP32 fma accumulation over j ascending
  for (auto& a : s.acc) a = 0.0f;
  for (int64_t j = 0; j < num_keys; ++j) {
    if (!problem.visible(b, i, j)) continue;
    const float p = store(s.probabilities[static_cast<size_t>(j)] / row_sum);
    for (int64_t d = 0; d < head_dim; ++d)
      s.acc[static_cast<size_t>(d)] = std::fma(p, static_cast<float>(inputs.v(b, j, h_kv, d)), s.acc[static_cast<size_t>(d)]);
  }
  for (int64_t d = 0; d < head_dim; ++d) out.o(b, i, h, d) = static_cast<double>(store(s.acc[static_cast<size_t>(d)]));
  out.lse(b, h, i) = static_cast<double>(row_max) + std::log(static_cast<double>(row_sum));
}

bool use_simd(const BaselineOptions& options) { return options.allow_simd && naive_detail::cpu_has_avx2_fma_f16c(); }

}  // namespace

std::string naive_baseline_cpu_path(const BaselineOptions& options) { return use_simd(options) ? "cpu-avx2" : "cpu-scalar"; }

AttentionOutputs naive_same_precision_attention_plain(const Problem& problem, const AttentionInputs& inputs) {
  validate_baseline_problem(problem, inputs);
  AttentionOutputs out = empty_outputs(problem);
  RowScratch scratch;
  for (int64_t b = 0; b < problem.batch; ++b)
    for (int64_t h = 0; h < problem.num_heads_q; ++h)
      for (int64_t i = 0; i < problem.seqlen_q; ++i) naive_row(problem, inputs, b, h, i, scratch, out);
  return out;
}

AttentionOutputs naive_same_precision_attention(const Problem& problem, const AttentionInputs& inputs,
                                                const BaselineOptions& options) {
  validate_baseline_problem(problem, inputs);
  AttentionOutputs out = empty_outputs(problem);
  const int64_t blocks_per_head = (problem.seqlen_q + kRowsPerWorkItem - 1) / kRowsPerWorkItem;
  const int64_t items = problem.batch * problem.num_heads_q * blocks_per_head;
  const auto item_rows = [&](int64_t item, int64_t& b, int64_t& h, int64_t& first, int64_t& rows) {
    const int64_t block = item % blocks_per_head;
    h = (item / blocks_per_head) % problem.num_heads_q;
    b = item / (blocks_per_head * problem.num_heads_q);
    first = block * kRowsPerWorkItem;
    rows = std::min(kRowsPerWorkItem, problem.seqlen_q - first);
  };
  ProgressMeter meter(options.progress, "baseline on cpu", items);
  if (!use_simd(options)) {
    parallel_for(items, options.threads, [&](int64_t item) {
      int64_t b, h, first, rows;
      item_rows(item, b, h, first, rows);
      RowScratch scratch;
      for (int64_t i = first; i < first + rows; ++i) naive_row(problem, inputs, b, h, i, scratch, out);
      meter.advance();
    });
    return out;
  }
  // K (transposed) and V of every (batch, KV head) in float once, shared by the heads of its group.
  std::vector<naive_detail::KvFloat> kv(static_cast<size_t>(problem.batch * problem.num_heads_kv));
  parallel_for(static_cast<int64_t>(kv.size()), options.threads, [&](int64_t n) {
    kv[static_cast<size_t>(n)] = naive_detail::convert_kv(problem, inputs, n / problem.num_heads_kv, n % problem.num_heads_kv);
  });
  parallel_for(items, options.threads, [&](int64_t item) {
    int64_t b, h, first, rows;
    item_rows(item, b, h, first, rows);
    const naive_detail::KvFloat& slice = kv[static_cast<size_t>(b * problem.num_heads_kv + problem.kv_head(h))];
    naive_detail::baseline_rows_avx2(problem, inputs, slice, b, h, first, rows, out);
    meter.advance();
  });
  return out;
}

}  // namespace attn
