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

/// FLOPs of the attention forward as FlashAttention's benchmarks count them: 4 B H_q S_q S_k D,
/// halved under a causal mask with S_q == S_k (their convention); with S_q != S_k (chunked
/// prefill over a cache), 4 B H_q D times the (query, key) pairs the causal mask lets through.
double attention_flops(const Problem& problem);

/// Where K and V live during a timing: the plain [B, S_k, H_kv, D] inputs, or a KV cache read as
/// chunked prefill reads it: per-entry key counts given (every entry S_k), contiguous
/// [B, S_k, H_kv, D] (page_size 0) or a pool of page_size-key pages in shuffled order behind a
/// block table (kernels/cache/kv_layout.h).
struct BenchKv {
  bool cache = false;
  int page_size = 0;
};

/// Times `variant` on `problem` (inputs uniform in [-1, 1), generated on the device; K / V held as
/// `kv` says). Throws attn::Error on a CUDA failure or an invalid problem.
PrefillTiming time_prefill(const PrefillVariant& variant, const Problem& problem, int warmup, int iterations,
                           BenchKv kv = {});

/// "NVIDIA H100 80GB HBM3, driver 580.x, CUDA runtime 13.0" of device 0.
std::string gpu_description();

}  // namespace attn
