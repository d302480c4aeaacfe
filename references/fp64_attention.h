// fp64_attention.h: the fast FP64 reference — the same two-pass formula as full_attention.h
// (scores = (Q K^T) * scale, max-subtracted exp, P V, final division by the row sum) with the
// two products done by Eigen's blocked GEMM on blocks of query rows, multithreaded over
// (batch, head, row block). Only the summation order of the two products differs from the plain
// reference<double>; the row max, exp, row sum (ascending j) and division are the same code
// shape. Keys outside every row's visible range in a block are never multiplied (causal masks
// cost about half). Measured on the shared 2-core build machine (test_references "[.timing]"):
// S = 8192, D = 128, causal: 1.7 s for one head, 12.3 s for 8 heads (Eigen without AVX flags).
// Memory: the output plus one block_rows x S_k score block per thread, never [S_q, S_k].
// This is compute_truth's CPU path; it is checked against full_attention<double> in
// tests/references. Not a truth by itself: truth.h certifies it.
#pragma once

#include "core/generators.h"
#include "core/kernel.h"
#include "core/problem.h"
#include "references/progress.h"

namespace attn {

struct Fp64AttentionOptions {
  int threads = 0;        ///< worker threads; <= 0: hardware concurrency
  int64_t block_rows = 128;  ///< query rows per work item (score block is block_rows x S_k doubles)
  ProgressCallback progress; ///< progress lines on long runs (may be empty)
};

/// FP64 attention: o [B, S_q, H_q, D] and lse [B, H_q, S_q] unrounded (out_dtype fp64);
/// fully masked rows give o = 0 and lse = -inf. Validates problem and shapes (ProblemError).
AttentionOutputs fp64_attention(const Problem& problem, const AttentionInputs& inputs,
                                const Fp64AttentionOptions& options = {});

}  // namespace attn
