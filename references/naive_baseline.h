// naive_baseline.h: the same-precision naive baseline — what FlashAttention's tests call the
// reference "without upcast" (attention_ref(..., upcast=False)): the attention PyTorch computes
// when every tensor it materializes is stored in the input dtype (FP16 or BF16). A kernel passes
// the FlashAttention rule if its error against the truth is within k x this baseline's error.
//
// The arithmetic, mirroring PyTorch ops on FP16/BF16 tensors (and references/gpu's
// gpu_naive_baseline, so the CPU and GPU baselines are one algorithm):
//   q' = dtype(fp32(q) * fp32(scale))          the scale is applied to q, as attention_ref does
//                                              (q * softmax_scale before the einsum); a PyTorch
//                                              elementwise op on a half tensor computes in fp32
//                                              and stores in the dtype
//   s_j = dtype(sum_d q'_d k_jd)               matmul: FP32 accumulation (fused multiply-add, d
//                                              ascending), result stored in the dtype
//   m = max_j s_j;  e_j = expf(s_j - m);  l = sum_j e_j (j ascending)   softmax of a half tensor
//   P_j = dtype(e_j / l)                       runs in FP32 and stores its result in the dtype
//   o_d = dtype(sum_j P_j v_jd)                matmul again: FP32 fma accumulation, j ascending
//   lse = m + log(l)                           (a by-product; attention_ref does not return it)
// Why this and not the brief's "scale after rounding the scores": the baseline is only useful as
// the FlashAttention rule's yardstick if it is the computation FlashAttention's tests actually
// run, and it must equal the GPU baseline's algorithm. Fully masked rows give O = 0, lse = -inf.
// Not a truth: its error is the error budget of a naive same-precision implementation.
//
// Two implementations of the same rounding sequence:
//  - naive_same_precision_attention_plain: the plain loops, one row at a time (the reference);
//  - naive_same_precision_attention: the fast one (every core; AVX2/FMA/F16C tiles of 4 query
//    rows x 16 keys where the CPU has them, naive_baseline_avx2.cpp). Each vector lane performs
//    exactly the scalar operation sequence of the plain loops (the same fma chains in the same
//    order, the same roundings), so the two are bit-identical; tests/references checks it.
#pragma once

#include <string>

#include "core/generators.h"
#include "core/kernel.h"
#include "core/problem.h"
#include "references/progress.h"

namespace attn {

struct BaselineOptions {
  int threads = 0;         ///< worker threads; <= 0: hardware concurrency
  bool allow_simd = true;  ///< false: the scalar row path even where AVX2/FMA/F16C exist (tests)
  ProgressCallback progress;  ///< progress lines on long runs (may be empty)
};

/// Naive same-precision attention for problem.dtype fp16 or bf16 (ProblemError otherwise).
/// Output values are exact in problem.dtype (out_dtype = problem.dtype). The fast version.
AttentionOutputs naive_same_precision_attention(const Problem& problem, const AttentionInputs& inputs,
                                                const BaselineOptions& options = {});

/// The same, as plain single-threaded loops over (batch, head, query row): the reference the
/// fast version is tested against bit for bit.
AttentionOutputs naive_same_precision_attention_plain(const Problem& problem, const AttentionInputs& inputs);

/// Which implementation naive_same_precision_attention uses on this CPU with `options`:
/// "cpu-avx2" or "cpu-scalar".
std::string naive_baseline_cpu_path(const BaselineOptions& options = {});

}  // namespace attn
