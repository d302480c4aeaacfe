// prefill_bench.h: timing of one prefill variant on device-resident random inputs with CUDA
// events (median of many launches after warm-up). Plain C++ interface; built only with CUDA.
// Not a correctness check: `attnscope bench` and tests/gpu validate before timing.
#pragma once

#include "core/problem.h"
#include "kernels/prefill_variants.h"

namespace attn {

/// Result of timing one variant on one problem.
struct PrefillTiming {
  double median_ms = 0, min_ms = 0, max_ms = 0;
  int iterations = 0;
  double flops = 0;    ///< 4 B H S_q S_k D, halved under a causal mask with S_q == S_k (FA convention)
  double tflops = 0;   ///< flops / median
};

/// FLOPs of the attention forward as FlashAttention's benchmarks count them.
double attention_flops(const Problem& problem);

/// Times `variant` on `problem` (inputs uniform in [-1, 1), generated on the device).
/// Throws attn::Error on a CUDA failure or an invalid problem.
PrefillTiming time_prefill(const PrefillVariant& variant, const Problem& problem, int warmup, int iterations);

/// "NVIDIA H100 80GB HBM3, driver 580.x, CUDA runtime 13.0" of device 0.
std::string gpu_description();

}  // namespace attn
