// mma_probe.h: runs batches of single mma.sync m16n8k16 (FP16/BF16 in, FP32 accumulate) on the
// device so their bits can be compared with analysis/tensor_core_model.h. Plain C++ interface;
// built only with CUDA. Not a benchmark.
#pragma once

#include <cstdint>
#include <vector>

#include "core/float_format.h"

namespace attn {

/// For each of `count` MMAs: A (16x16, row-major bits), B stored as (8 n) x (16 k) bits, C (16x8
/// FP32 row-major); returns D = A B + C (16x8 FP32 row-major per MMA) as the hardware computes it.
std::vector<float> run_mma_sync_probe(const std::vector<uint16_t>& a, const std::vector<uint16_t>& b,
                                      const std::vector<float>& c, int count, DType dtype);

}  // namespace attn
