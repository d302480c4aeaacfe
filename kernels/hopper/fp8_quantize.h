// fp8_quantize.h: the quantization pre-pass of the FP8 (E4M3) Hopper forward: Q, K, V given in
// FP16/BF16 ([B, S, H, D]) become E4M3 tensors of the same layout plus their scales, by the
// stages of core/pipeline/fp8.h (optional Hadamard rotation of Q and K, amax / 448 scales per
// block, head or tensor, RNE cast with saturation). Keys past seqlens_k[b] (unwritten cache rows)
// take no part in a scale and are written as zeros. Runs on the device in two passes (block amax,
// then scale + cast); the result lives in a process-wide workspace that grows on demand (not
// thread-safe; one launch at a time, as every attnscope launcher). Plain C++ interface.
// Not the attention kernel (forward_kernel.cuh) and not the emulator's quantization, which calls
// the same core/pipeline/fp8.h functions on the host (analysis/fp8_emulator.h).
#pragma once

#include <cstdint>

#include "core/float_format.h"
#include "core/kernel_config.h"
#include "kernels/params.h"

namespace attn::hopper {

/// How the inputs are quantized (the variant's FP8 knobs and its tiles, which set the blocks).
struct Fp8QuantizeSetup {
  Fp8Scaling scaling = Fp8Scaling::per_block;
  bool rotate = false;          ///< incoherent processing: Q and K times the same random +-1 Hadamard matrix
  uint64_t rotation_seed = 0;
  int block_m = 128;            ///< rows of one Q scale block (the kernel's BLOCK_M)
  int block_n = 128;            ///< keys of one K scale block (the kernel's BLOCK_N)
};

/// The quantized operands in the workspace (device pointers).
struct Fp8Operands {
  const uint8_t* q = nullptr;   ///< E4M3 [B, S_q, H_q, D]
  const uint8_t* k = nullptr;   ///< E4M3 [B, S_k, H_kv, D]; rows past seqlens_k[b] are 0
  const uint8_t* v = nullptr;   ///< E4M3 [B, S_k, H_kv, D]; rows past seqlens_k[b] are 0
  const float* q_scale = nullptr;  ///< [B, H_q, q_blocks]: Q block (b, h, m) dequantizes by q_scale
  const float* k_scale = nullptr;  ///< [B, H_kv, k_blocks]
  const float* v_scale = nullptr;  ///< [B, H_kv]
  int q_blocks = 0, k_blocks = 0;  ///< ceil(S_q / block_m), ceil(S_k / block_n)
};

/// Quantizes p.q, p.k, p.v (16-bit values of `elem`, contiguous layout) on `stream` (a
/// cudaStream_t). With `reuse_previous`, the kernels are skipped when the previous call had the
/// same pointers, shapes and setup (the benchmark's attention-only timing: the inputs must not
/// have changed in between). Throws attn::Error for a paged layout or a head dim other than 64
/// or 128.
Fp8Operands quantize_fp8_inputs(const PrefillParams& p, DType elem, int head_dim, const Fp8QuantizeSetup& setup,
                                void* stream, bool reuse_previous = false);

}  // namespace attn::hopper
