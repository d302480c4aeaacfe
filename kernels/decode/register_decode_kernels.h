// register_decode_kernels.h: the KV-cache decode CUDA variants (split-KV flash-decoding over a
// contiguous or paged cache) and their cache-path mutants, as registry kernels.
#pragma once

#include <string>
#include <vector>

#include "core/float_format.h"
#include "core/kernel_config.h"
#include "core/registry.h"

namespace attn {

/// One decode configuration. Registered: kernels/variants.toml's [decode] variants (heuristic
/// split, fixed 256-key splits, paged 16 / 256 per dtype and D, and the mutants); tests build
/// others (page sizes that are not powers of two, split counts).
struct DecodeVariant {
  std::string name;
  DType dtype = DType::fp16;
  int head_dim = 128;
  int fixed_split_keys = 0;  ///< > 0: fixed split size (batch-invariant); 0: see fixed_splits
  int fixed_splits = 0;      ///< > 0: this many splits of the longest entry; both 0: heuristic
  int page_size = 0;         ///< 0: contiguous cache; 16..256: paged
  Mutant mutant = Mutant::none;
};

/// Every registered decode variant (generated from kernels/variants.toml).
const std::vector<DecodeVariant>& decode_variants();

/// The registry entry of a decode configuration (needs a GPU to run; builds without one).
Kernel make_decode_kernel(const DecodeVariant& variant);

void register_decode_kernels(Registry& registry);

}  // namespace attn
