// register_chunked_prefill.h: chunked prefill over a KV cache — a chunk of S_q new tokens appended
// to a cache already holding seq_lens[b] - S_q of them, its queries attending (bottom-right) to
// all seq_lens[b] keys — built from the FA2 prefill kernel reading the cache in place, contiguous
// or paged, or the fa3 (Hopper) kernel (its TMA loads and ragged seq_lens: a contiguous cache is
// its [B, S_k, H_kv, D] input with per-entry key counts; a paged one a pool its producer reads
// page by page through the block table), 16-bit or E4M3 (through a dequantized copy). The variants
// (chunked.<dtype>.d<D>.<tile>[.[fp8-]paged<page>|.fp8|.fa3[-fp8][-paged<page>]][.mutant-NAME]) are
// kernels/variants.toml's, listed by chunked_variants() (kernels/generated/cache_variant_table.cpp).
#pragma once

#include <string>
#include <vector>

#include "core/kernel_config.h"
#include "core/registry.h"

namespace attn {

struct ChunkedPrefillVariant {
  std::string name;
  std::string prefill;  ///< the prefill variant it launches (fa2.*: kernels/prefill_variants.h; fa3.*: hopper_variants.h)
  int page_size = 0;    ///< 0: contiguous cache
  /// An E4M3 cache (per-KV-head power-of-two scales, kernels/cache/fp8_kv.h): the chunk's rows
  /// arrive through the quantizing append, and the cache is dequantized into a 16-bit copy of the
  /// same layout (kernels/cache/dequantize_kv.h) that the prefill kernel reads: any S_q x group
  /// (the decode kernel's FP8 path takes at most kDecodeMaxRows rows per KV head).
  bool fp8_cache = false;
};

/// Every registered chunked-prefill variant (generated from kernels/variants.toml).
const std::vector<ChunkedPrefillVariant>& chunked_variants();

/// The registry entry of a chunked-prefill configuration (needs a GPU to run).
Kernel make_chunked_prefill_kernel(const ChunkedPrefillVariant& variant);

struct PrefillVariant;
/// The prefill variant a chunked variant launches: an FA2 one (kernels/prefill_variants.h) or an
/// fa3 one (kernels/hopper/hopper_variants.h); both take the same PrefillParams. CUDA builds only;
/// throws attn::Error for a name no prefill variant has.
const PrefillVariant& chunked_prefill_variant(const ChunkedPrefillVariant& variant);

void register_chunked_prefill_kernels(Registry& registry);

}  // namespace attn
