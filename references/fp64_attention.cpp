// fp64_attention.cpp: FP64 attention with Eigen GEMMs on row blocks (see fp64_attention.h).
#include "references/fp64_attention.h"

#include <Eigen/Dense>
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "core/errors.h"
#include "references/full_attention.h"
#include "core/parallel_for.h"

namespace attn {
namespace {

using RowMajorMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using StridedRows = Eigen::Map<const RowMajorMatrix, 0, Eigen::OuterStride<>>;
using StridedRowsOut = Eigen::Map<RowMajorMatrix, 0, Eigen::OuterStride<>>;

}  // namespace

AttentionOutputs fp64_attention(const Problem& problem, const AttentionInputs& inputs,
                                const Fp64AttentionOptions& options) {
  problem.validate();
  require_input_shapes(problem, inputs);
  if (options.block_rows < 1) throw ProblemError("fp64_attention: block_rows must be >= 1");
  const int64_t head_dim = problem.head_dim, seqlen_q = problem.seqlen_q;
  const int64_t q_row_stride = problem.num_heads_q * head_dim;    // between rows i of one head
  const int64_t kv_row_stride = problem.num_heads_kv * head_dim;  // between keys j of one head
  const double scale = problem.scale();
  AttentionOutputs out;
  out.o = Tensor<double>(problem.q_shape());
  out.lse = Tensor<double>(problem.lse_shape());
  out.out_dtype = DType::fp64;
  const int64_t blocks_per_head = (seqlen_q + options.block_rows - 1) / options.block_rows;
  const int64_t items = problem.batch * problem.num_heads_q * blocks_per_head;
  ProgressMeter meter(options.progress, "truth: fp64 on cpu", items);

  parallel_for(items, options.threads, [&](int64_t item) {
    const int64_t block = item % blocks_per_head;
    const int64_t h = (item / blocks_per_head) % problem.num_heads_q;
    const int64_t b = item / (blocks_per_head * problem.num_heads_q);
    const int64_t h_kv = problem.kv_head(h);
    const int64_t num_keys = problem.keys_in_batch(b);
    const int64_t row_first = block * options.block_rows;
    const int64_t rows = std::min(options.block_rows, seqlen_q - row_first);
    // Keys any row of the block can see: the union of the rows' visible ranges (mask.h).
    int64_t key_first = num_keys, key_last = 0;
    for (int64_t i = row_first; i < row_first + rows; ++i) {
      const KeyRange r = visible_key_range(problem.mask, i, seqlen_q, num_keys);
      if (r.first < r.last) {
        key_first = std::min(key_first, r.first);
        key_last = std::max(key_last, r.last);
      }
    }
    StridedRowsOut o_block(&out.o(b, row_first, h, 0), rows, head_dim, Eigen::OuterStride<>(q_row_stride));
    if (key_first >= key_last) {  // every row of the block is fully masked
      o_block.setZero();
      for (int64_t i = row_first; i < row_first + rows; ++i) out.lse(b, h, i) = -std::numeric_limits<double>::infinity();
      meter.advance();
      return;
    }
    const int64_t keys = key_last - key_first;
    const StridedRows q_block(&inputs.q(b, row_first, h, 0), rows, head_dim, Eigen::OuterStride<>(q_row_stride));  // (rows, D)
    const StridedRows k_block(&inputs.k(b, key_first, h_kv, 0), keys, head_dim, Eigen::OuterStride<>(kv_row_stride));  // (keys, D)
    const StridedRows v_block(&inputs.v(b, key_first, h_kv, 0), keys, head_dim, Eigen::OuterStride<>(kv_row_stride));  // (keys, D)
    // Scores (rows, keys): the dot products first, then the scale, as the plain reference does.
    RowMajorMatrix scores = q_block * k_block.transpose();
    scores *= scale;
    std::vector<double> row_sums(static_cast<size_t>(rows));
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t i = row_first + r;
      double row_max = -std::numeric_limits<double>::infinity();
      bool any_visible = false;
      for (int64_t c = 0; c < keys; ++c)
        if (problem.visible(b, i, key_first + c)) {
          row_max = any_visible ? std::max(row_max, scores(r, c)) : scores(r, c);
          any_visible = true;
        }
      // P in place: masked keys get exactly 0 (so they add nothing to P V); the row sum in
      // ascending key order, as in attention_row.h.
      double row_sum = 0.0;
      for (int64_t c = 0; c < keys; ++c) {
        const double p = any_visible && problem.visible(b, i, key_first + c) ? std::exp(scores(r, c) - row_max) : 0.0;
        scores(r, c) = p;
        row_sum += p;
      }
      row_sums[static_cast<size_t>(r)] = row_sum;
      out.lse(b, h, i) = any_visible ? row_max + std::log(row_sum) : -std::numeric_limits<double>::infinity();
    }
    o_block.noalias() = scores * v_block;  // (rows, D) = (rows, keys) x (keys, D)
    for (int64_t r = 0; r < rows; ++r) {
      const double l = row_sums[static_cast<size_t>(r)];
      if (l > 0.0)
        o_block.row(r) /= l;  // division, one rounding per element, as attention_row.h
      else
        o_block.row(r).setZero();  // fully masked row: defined as 0
    }
    meter.advance();
  });
  return out;
}

}  // namespace attn
