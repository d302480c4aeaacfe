// naive_baseline_avx2.h: the vectorized row blocks of the fast same-precision baseline
// (naive_baseline.h), internal to references/. The caller (naive_baseline.cpp) converts each
// (batch, KV head)'s K and V to float once — K transposed so that 8 consecutive keys are one
// vector — checks that the CPU has AVX2, FMA and F16C, and hands out row blocks to threads.
// Not a different algorithm: every lane runs the plain loops' scalar sequence (see the .cpp).
#pragma once

#include <cstdint>
#include <vector>

#include "core/kernel.h"
#include "core/problem.h"

namespace attn::naive_detail {

/// K and V of one (batch, KV head) in float, padded with zeros so that vector loads past the
/// last key or the last dimension stay inside the buffers.
struct KvFloat {
  int64_t keys = 0;         ///< keys_in_batch(b)
  int64_t keys_stride = 0;  ///< row length of k_transposed: round_up(keys, 16) + 16
  int64_t dim_stride = 0;   ///< row length of v: round_up(D, 16)
  std::vector<float> k_transposed;  // (D, keys_stride): k_transposed[d * keys_stride + j] = float(k[j][d])
  std::vector<float> v;             // (keys, dim_stride): v[j * dim_stride + d] = float(v[j][d])
};

/// KvFloat of batch entry b, KV head h_kv.
KvFloat convert_kv(const Problem& problem, const AttentionInputs& inputs, int64_t b, int64_t h_kv);

/// True when this CPU runs AVX2, FMA and F16C instructions (checked once, at run time).
bool cpu_has_avx2_fma_f16c();

/// Baseline rows [row_first, row_first + rows) of (batch b, query head h) into out.o / out.lse,
/// with `kv` = convert_kv(problem, inputs, b, problem.kv_head(h)). Needs cpu_has_avx2_fma_f16c().
void baseline_rows_avx2(const Problem& problem, const AttentionInputs& inputs, const KvFloat& kv, int64_t b,
                        int64_t h, int64_t row_first, int64_t rows, AttentionOutputs& out);

/// x rounded to the dtype (fp16 or bf16) and back to float, 8 lanes at a time over n values
/// (n a multiple of 8): the vector form of float(round_to_format(double(x), dtype)). Exposed
/// for the exhaustive-ish rounding test. Needs cpu_has_avx2_fma_f16c().
void round_floats_avx2(const float* in, float* out, int64_t n, DType dtype);

}  // namespace attn::naive_detail
