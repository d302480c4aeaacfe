// fp8_quantize.h: the quantization pre-pass of the FP8 (E4M3) Hopper forward: Q, K, V given in
// FP16/BF16 ([B, S, H, D]) become E4M3 tensors plus their scales, by the stages of
// core/pipeline/fp8.h (optional Hadamard rotation of Q and K, amax / 448 scales per block, head
// or tensor, RNE cast with saturation). Q and K keep the [B, S, H, D] layout; V is written
// transposed, V^T [B, D, H_kv, S_pad] (S_pad: S_k rounded up to the key block, each 32 keys in the
// order of pipeline::fp8_pv_key_of_k), the K-major B operand of the FP8 PV wgmma, so the attention
// kernel loads it with TMA and transposes nothing. Keys past seqlens_k[b] (unwritten cache rows)
// take no part in a scale and are written as zeros (so are V^T's padding keys). Runs on the device
// in at most two launches: the block amaxes of the tensors whose scale spans several blocks (V's
// per-head scale; everything with per-tensor scales), then one launch that quantizes Q, K and V
// (a block whose scale is its own takes its amax in the same pass). The result lives in a
// process-wide workspace that grows on demand (not thread-safe; one launch at a time, as every
// attnscope launcher). Plain C++ interface.
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
  int block_n = 128;            ///< keys of one K scale block (the kernel's BLOCK_N); 128: V^T's TMA box
};

/// The quantized operands in the workspace (device pointers).
struct Fp8Operands {
  const uint8_t* q = nullptr;   ///< E4M3 [B, S_q, H_q, D]
  const uint8_t* k = nullptr;   ///< E4M3 [B, S_k, H_kv, D]; rows past seqlens_k[b] are 0
  const uint8_t* vt = nullptr;  ///< E4M3 V^T [B, D, H_kv, vt_keys]; keys past seqlens_k[b] are 0
  int vt_keys = 0;                 ///< S_k rounded up to block_n (the V^T row length, bytes)
  const float* q_scale = nullptr;  ///< [B, H_q, q_blocks]: Q block (b, h, m) dequantizes by q_scale
  const float* k_scale = nullptr;  ///< [B, H_kv, k_blocks]
  const float* v_scale = nullptr;  ///< [B, H_kv]
  int q_blocks = 0, k_blocks = 0;  ///< ceil(S_q / block_m), ceil(S_k / block_n)
};

/// Quantizes p.q, p.k, p.v (16-bit values of `elem`, contiguous layout) on `stream` (a
/// cudaStream_t). With `reuse_previous`, the kernels are skipped when the previous call had the
/// same pointers, shapes and setup (the benchmark's attention-only timing: the inputs must not
/// have changed in between). Throws attn::Error for a paged layout, a head dim other than 64
/// or 128, block_m outside 32..128 or not a multiple of 32, or block_n other than 128.
Fp8Operands quantize_fp8_inputs(const PrefillParams& p, DType elem, int head_dim, const Fp8QuantizeSetup& setup,
                                void* stream, bool reuse_previous = false);

}  // namespace attn::hopper
