// fp8_operands.h: the E4M3 operands of one problem as the FP8 pipeline's quantization pre-pass
// makes them (kernels/hopper/fp8_quantize.cu on the GPU), computed on the host from the same
// core/pipeline/fp8.h stages: rows staged in FP32, Q and K optionally rotated
// (pipeline::hadamard_rotate), the amax of each block over its valid rows, the scale of each
// block's group (block, head or tensor), x -> RNE_e4m3(RN(x * RN(1 / scale))) with satfinite,
// zeros past seqlens_k[b]. What the emulator's FP8 configurations read; the GPU tests compare the
// kernel against it. Not the attention (analysis/emulator.h).
#pragma once

#include <cstdint>
#include <vector>

#include "core/kernel.h"
#include "core/kernel_config.h"
#include "core/problem.h"
#include "core/tensor.h"

namespace attn {

struct Fp8HostOperands {
  Tensor<double> q, k, v;         ///< E4M3 values (before the scales), [B, S, H, D] like the inputs
  std::vector<float> q_scale;     ///< [B, H_q, q_blocks]: block (b, h, m) holds rows m BLOCK_M ..
  std::vector<float> k_scale;     ///< [B, H_kv, k_blocks]: key tile (b, h, t) holds keys t BLOCK_N ..
  std::vector<float> v_scale;     ///< [B, H_kv]
  int64_t q_blocks = 0, k_blocks = 0;
  float q_scale_of(int64_t b, int64_t h, int64_t m_block, int64_t heads_q) const {
    return q_scale[static_cast<size_t>((b * heads_q + h) * q_blocks + m_block)];
  }
  float k_scale_of(int64_t b, int64_t kv_head, int64_t tile, int64_t heads_kv) const {
    return k_scale[static_cast<size_t>((b * heads_kv + kv_head) * k_blocks + tile)];
  }
};

/// Quantizes the problem's (already 16-bit) inputs for an FP8 configuration with Q blocks of
/// block_m rows and K blocks of block_n keys. Throws attn::Error when fp8 is not enabled.
Fp8HostOperands quantize_fp8_operands(const Problem& problem, const AttentionInputs& inputs, const Fp8Config& fp8,
                                      int64_t block_m, int64_t block_n);

}  // namespace attn
