// register_decode_kernels.h: the KV-cache decode CUDA variants (split-KV flash-decoding over a
// contiguous or paged cache; the CUDA-core, bulk-copy (FP8 caches too) and tensor-core kernels)
// and their cache-path mutants, as registry kernels with their emulator configuration.
#pragma once

#include <string>
#include <vector>

#include "core/float_format.h"
#include "core/kernel_config.h"
#include "core/registry.h"
#include "kernels/cache/cache_plan.h"
#include "kernels/decode/decode_launch.h"

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
  DecodeKernelKind kind = DecodeKernelKind::cuda_cores;  ///< v7 (CUDA cores) or v8 (bulk copies, mma scores)
  int ctas_per_sm = 1;       ///< bulk: 1 or 2 resident CTAs per SM; mma: 3 with 4 warps (the co-resident form)
  int max_heads_per_cta = 4; ///< bulk: cap on the KV heads one CTA reads (1: one head, per-key copies of D elements)
  bool fp8_cache = false;    ///< bulk, mma (12 warps): E4M3 cache with per-head power-of-two scales (appended with quantization)
  int mma_warps = 12;        ///< mma: key streams per CTA (12: the registered form, 16-key tiles, 8-row
                             ///< blocks, every dtype and D; 4: 32-key tiles; 8: 16-key tiles, FP16 D 128)
  bool cluster_combine = true;  ///< mma: DecodeParams::cluster_combine (false: the global last-CTA combine)
};

/// The emulator's configuration of a decode variant (analysis/decode_emulator.h): its score
/// product, its split plan and, for the heuristic plan, this GPU's CTA target (0 without a GPU).
AlgorithmConfig decode_variant_algorithm(const DecodeVariant& variant);

/// The split plan's CTA target of a heuristic variant on this GPU (0 without a GPU): the same
/// number for every problem, so that the emulator can repeat the plan.
int64_t decode_target_ctas(const DecodeVariant& variant);

/// The split plan of a variant for entries of `lens` keys and `rows` (S_q x group) query rows per
/// KV head: its fixed size or count, or the heuristic over (KV head, BLOCK_M row block) units that
/// the emulator repeats. Needs a GPU for the heuristic's target (throws without CUDA).
SplitPlan decode_split_plan(const DecodeVariant& variant, const std::vector<int64_t>& lens, int64_t num_heads_kv, int64_t rows);

/// Every registered decode variant (generated from kernels/variants.toml).
const std::vector<DecodeVariant>& decode_variants();

/// The registry entry of a decode configuration (needs a GPU to run; builds without one).
Kernel make_decode_kernel(const DecodeVariant& variant);

void register_decode_kernels(Registry& registry);

}  // namespace attn
