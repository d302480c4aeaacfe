// gpu_references.h: references that run on the GPU so that large sweeps get truth in seconds:
// the FP64 truth (two-pass softmax, FP64 accumulation) and the same-precision naive baseline
// (FlashAttention's attention_ref without upcast). Plain C++ interface (no CUDA types); built
// only with CUDA. Not fast kernels: clarity first, one CTA per (batch, head, query row).
#pragma once

#include "core/generators.h"
#include "core/kernel.h"
#include "core/problem.h"

namespace attn {

/// Exact-as-FP64 attention of the quantized inputs: O [B,S_q,H_q,D] unrounded, LSE natural
/// log (-inf and O = 0 for fully masked rows). Throws attn::Error on CUDA failure.
AttentionOutputs gpu_truth_fp64(const Problem& problem, const AttentionInputs& inputs);

/// Same-precision naive baseline: q*scale rounded to the dtype, scores = dtype(fp32 dot),
/// softmax in FP32 of dtype scores rounded to the dtype, O = dtype(fp32 sum P V); the
/// "naive-fp16"/"naive-bf16" peer of the FlashAttention test rule. Fully masked rows give 0.
AttentionOutputs gpu_naive_baseline(const Problem& problem, const AttentionInputs& inputs);

}  // namespace attn
