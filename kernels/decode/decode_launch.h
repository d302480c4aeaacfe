// decode_launch.h: host-visible launch interface of the KV-cache decode kernels (split-KV
// flash-decoding + combine) and the cache append kernel. Plain C++ (no CUDA types), so the
// registration code compiles with the host compiler. Not the kernels: kernels/decode/decode.cu.
// Layouts: Q/O [B, S_q, H_q, D], cache K/V [B, S_max, H_kv, D], LSE [B, H_q, S_q] (FP32, natural).
#pragma once

#include <cstdint>

#include "core/mask.h"

namespace attn {

/// Planted cache-path bugs (bit flags), each one of core/kernel_config.h's Mutant values.
enum DecodeMutantFlags : int {
  kDecodeCorrect = 0,
  kDecodeStaleSeqlens = 1,     ///< reads seq_lens[b] - 1 keys (the newest key is lost)
  kDecodeInterleavedGqa = 2,   ///< query head h reads KV head h % H_kv
  kDecodeTopLeft = 4,          ///< causal mask aligned top-left in the cache path
  kDecodeBase2Lse = 8,         ///< partial LSE written in base 2, combined with natural exp
};

/// Runtime parameters of one decode launch (device pointers).
struct DecodeParams {
  const void* q = nullptr;
  const void* k_cache = nullptr;
  const void* v_cache = nullptr;
  void* o = nullptr;
  float* lse = nullptr;             ///< [B, H_q, S_q]
  float* partial_o = nullptr;       ///< [max_splits, B, H_q, S_q, D] FP32 (normalized per split)
  float* partial_lse = nullptr;     ///< [max_splits, B, H_q, S_q]
  const int* seqlens_k = nullptr;   ///< [B] valid keys (cache fill after the append)
  int batch = 1, seqlen_q = 1, capacity = 1, num_heads_q = 1, num_heads_kv = 1, head_dim = 128;
  int keys_per_split = 64;          ///< multiple of 64; split s covers keys [s*kps, (s+1)*kps)
  int max_splits = 1;
  float scale = 0.f;
  Mask mask{};
  int mutant_flags = kDecodeCorrect;
};

/// Largest S_q x (H_q / H_kv) rows one CTA holds (shared memory: Q and O accumulators in FP32).
inline constexpr int kDecodeMaxRows = 128;

/// CTAs the heuristic split plan aims for: one wave on an H100 SXM (132 SMs) at 4 resident CTAs
/// per SM (the D = 128 split kernel uses 121 registers x 128 threads), so no partial second wave.
inline constexpr int64_t kDecodeTargetCtas = 4 * 132;

/// Split kernel then combine kernel on `stream` (a cudaStream_t; null: default stream).
/// bf16: element type BF16 (else FP16). head_dim 64 or 128. Throws attn::Error on a launch error.
void launch_decode(const DecodeParams& p, bool bf16, void* stream);

/// Copies new K/V [B, S_new, H_kv, D] into the caches at rows old_lens[b] .. old_lens[b]+S_new-1.
/// Device-side second line of defence: an entry that would overflow is not written and sets
/// *overflow_flag to 1 (the host check, check_append_fits, must run before this launch).
void launch_append(const void* new_k, const void* new_v, void* k_cache, void* v_cache, const int* old_lens,
                   int batch, int new_tokens, int capacity, int num_heads_kv, int head_dim, int* overflow_flag,
                   void* stream);

}  // namespace attn
