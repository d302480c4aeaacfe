// gpu_references.h: references that run on the GPU so that production sizes (S = 8k-32k) get
// their truth and baseline in seconds: the FP64 truth (two-pass softmax, FP64 accumulation) and
// the same-precision naive baseline (FlashAttention's attention_ref without upcast, the rounding
// sequence of naive_baseline.h). Tiled: 64 query rows per CTA, keys in tiles of 64, no [S_q, S_k]
// matrix anywhere (gpu_references.cu). Plain C++ interface (no CUDA types); built only with CUDA.
// Callers normally go through compute_truth / same_precision_baseline (reference_device.h),
// which pick the device and record it.
#pragma once

#include <cstdint>
#include <string>

#include "core/generators.h"
#include "core/kernel.h"
#include "core/problem.h"

namespace attn {

/// Exact-as-FP64 attention of the inputs: O [B,S_q,H_q,D] unrounded, LSE natural log (-inf and
/// O = 0 for fully masked rows). Throws attn::Error on CUDA failure or too little device memory.
AttentionOutputs gpu_truth_fp64(const Problem& problem, const AttentionInputs& inputs);

/// Same-precision naive baseline: q*scale rounded to the dtype, scores = dtype(fp32 fma chain),
/// softmax in FP32 of dtype scores (row sum in ascending key order) rounded to the dtype,
/// O = dtype(fp32 fma chain of P V). Differs from the CPU baseline only through expf
/// (float(exp(double)) here, the host libm's there: they disagree on 8.7e-5 of the arguments).
AttentionOutputs gpu_naive_baseline(const Problem& problem, const AttentionInputs& inputs);

/// True when a CUDA device can be used; otherwise false and the reason in *why.
bool gpu_references_available(std::string* why = nullptr);

/// Device memory one gpu_truth_fp64 / gpu_naive_baseline call allocates for `problem`.
uint64_t gpu_reference_device_bytes(const Problem& problem);

}  // namespace attn
