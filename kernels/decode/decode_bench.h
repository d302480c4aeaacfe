// decode_bench.h: timing of the decode kernels on device-resident pseudo-random caches with CUDA
// events, the method experiments/peers/bench_torch_decode.py uses for the PyTorch peers: "cold" =
// median of single launches each after a 256 MiB memset evicted L2 (K/V come from HBM), "warm" =
// mean of back-to-back launches. Bandwidth counts the unique K and V bytes of the cache (each
// byte once). Plain C++ interface; built only with CUDA. Not a correctness check: `attnscope
// bench --decode` validates every configuration against the GPU truth before timing it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/float_format.h"
#include "kernels/decode/register_decode_kernels.h"

namespace attn {

/// One of our decode configurations in the benchmark table (a DecodeVariant without a name).
struct DecodeBenchCase {
  std::string label;             ///< column name: "mma", "mma.paged16", "bulk", "cuda-cores", "bulk.fp8", ...
  DecodeVariant variant;         ///< kind, split plan, paging, FP8 (dtype / head_dim set per run)
};

/// The benchmark's configurations: the tensor-core kernel (mma: heuristic split, paged 16 / 256,
/// fixed 256-key split); bulk (heuristic split), bulk paged 16 / 256, bulk fixed 256-key
/// split (batch-invariant), bulk FP8 cache, bulk one head per CTA (two CTAs per SM, or one with
/// deeper stages); CUDA cores (the production kernel): contiguous, paged 16 / 256, fixed 256-key
/// split (batch-invariant).
std::vector<DecodeBenchCase> decode_bench_cases();

struct DecodeBenchShape {
  DType dtype = DType::fp16;
  int batch = 8, heads_q = 32, heads_kv = 8, head_dim = 128, keys = 4096, seqlen_q = 1;
};

struct DecodeTiming {
  double cold_us = 0, warm_us = 0;
  double bytes = 0;             ///< unique K and V bytes read (2 x B x L x H_kv x D x element bytes)
  double cold_tbps = 0, warm_tbps = 0;
  int splits = 0, keys_per_split = 0, heads_per_cta = 1, stages = 0;
};

/// Times `bench_case` on `shape` (contiguous or paged cache of keys pseudo-random values, every
/// entry full). Throws attn::Error on a CUDA failure or a shape the kernel cannot run.
DecodeTiming time_decode_case(const DecodeBenchCase& bench_case, const DecodeBenchShape& shape, int warmup, int iterations);

}  // namespace attn
