// fp8_operands.cpp: host mirror of the FP8 quantization pre-pass (see fp8_operands.h).
#include "analysis/fp8_operands.h"

#include <algorithm>
#include <cmath>

#include "core/errors.h"
#include "core/float_format.h"
#include "core/pipeline/fp8.h"

namespace attn {
namespace {

/// One tensor's quantization: blocks of `block_rows` rows per (batch, head); `valid(b)` rows hold
/// data; scale groups per block, per head (head_scales) or per tensor.
struct TensorQuantization {
  const Tensor<double>* src = nullptr;
  Tensor<double>* dst = nullptr;
  std::vector<float>* scale = nullptr;  ///< per block, or per head when head_scales
  int64_t block_rows = 1, blocks = 1;
  bool rotate = false, head_scales = false, per_tensor = false;
  uint64_t seed = 0;
};

void quantize_tensor(const TensorQuantization& t, const std::vector<int64_t>& valid) {
  const Tensor<double>& x = *t.src;
  const int64_t B = x.shape()[0], S = x.shape()[1], H = x.shape()[2], D = x.shape()[3];
  // The rows as the device stages them: FP32, rotated when asked.
  auto staged_row = [&](int64_t b, int64_t i, int64_t h, std::vector<float>& row) {
    for (int64_t d = 0; d < D; ++d) row[static_cast<size_t>(d)] = static_cast<float>(x(b, i, h, d));  // exact: 16-bit values
    if (t.rotate)
      pipeline::hadamard_rotate([&row](int d) -> float& { return row[static_cast<size_t>(d)]; }, static_cast<int>(D),
                                t.seed);
  };
  std::vector<float> row(static_cast<size_t>(D));
  std::vector<float> block_amax(static_cast<size_t>(B * H * t.blocks), 0.f);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < valid[static_cast<size_t>(b)]; ++i) {
        staged_row(b, i, h, row);
        float& amax = block_amax[static_cast<size_t>((b * H + h) * t.blocks + i / t.block_rows)];
        for (float v : row) amax = std::max(amax, std::fabs(v));  // fmaxf: a NaN never wins
      }
  t.scale->assign(static_cast<size_t>(t.head_scales ? B * H : B * H * t.blocks), 1.f);
  const float tensor_amax = *std::max_element(block_amax.begin(), block_amax.end());
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h) {
      const auto first = block_amax.begin() + (b * H + h) * t.blocks;
      const float head_amax = *std::max_element(first, first + t.blocks);
      for (int64_t blk = 0; blk < t.blocks; ++blk) {
        const float group_amax = t.per_tensor ? tensor_amax : t.head_scales ? head_amax : first[blk];
        const float scale = pipeline::fp8_scale(group_amax), inverse = pipeline::fp8_inverse_scale(scale);
        (*t.scale)[static_cast<size_t>(t.head_scales ? b * H + h : (b * H + h) * t.blocks + blk)] = scale;
        for (int64_t i = blk * t.block_rows; i < std::min(S, (blk + 1) * t.block_rows); ++i) {
          if (i >= valid[static_cast<size_t>(b)]) {
            for (int64_t d = 0; d < D; ++d) (*t.dst)(b, i, h, d) = 0.0;  // unwritten cache rows
            continue;
          }
          staged_row(b, i, h, row);
          for (int64_t d = 0; d < D; ++d)  // RN(x * RN(1 / scale)) in FP32, then E4M3 with satfinite
            (*t.dst)(b, i, h, d) =
                round_to_format_satfinite(static_cast<double>(row[static_cast<size_t>(d)] * inverse), kE4M3);
        }
      }
    }
}

}  // namespace

Fp8HostOperands quantize_fp8_operands(const Problem& problem, const AttentionInputs& inputs, const Fp8Config& fp8,
                                      int64_t block_m, int64_t block_n) {
  if (!fp8.enabled()) throw Error("quantize_fp8_operands: the configuration has no FP8 scaling");
  if (fp8.rotate && (problem.head_dim & (problem.head_dim - 1)) != 0)
    throw Error("quantize_fp8_operands: the Hadamard rotation needs a power-of-two head_dim, not " +
                std::to_string(problem.head_dim));
  Fp8HostOperands ops;
  ops.q = Tensor<double>(inputs.q.shape());
  ops.k = Tensor<double>(inputs.k.shape());
  ops.v = Tensor<double>(inputs.v.shape());
  ops.q_blocks = (problem.seqlen_q + block_m - 1) / block_m;
  ops.k_blocks = (problem.seqlen_k + block_n - 1) / block_n;
  const bool per_tensor = fp8.scaling == Fp8Scaling::per_tensor;
  std::vector<int64_t> q_rows(static_cast<size_t>(problem.batch), problem.seqlen_q), kv_rows;
  for (int64_t b = 0; b < problem.batch; ++b) kv_rows.push_back(std::min(problem.keys_in_batch(b), problem.seqlen_k));
  quantize_tensor({&inputs.q, &ops.q, &ops.q_scale, block_m, ops.q_blocks, fp8.rotate, false, per_tensor, fp8.rotation_seed},
                  q_rows);
  quantize_tensor({&inputs.k, &ops.k, &ops.k_scale, block_n, ops.k_blocks, fp8.rotate, false, per_tensor, fp8.rotation_seed},
                  kv_rows);
  // V is not rotated (Q K^T is invariant under the rotation, P V is not); one scale per head.
  quantize_tensor({&inputs.v, &ops.v, &ops.v_scale, block_n, ops.k_blocks, false, true, per_tensor, 0}, kv_rows);
  return ops;
}

}  // namespace attn
