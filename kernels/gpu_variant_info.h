// gpu_variant_info.h: the typed registry metadata every compiled GPU variant carries (KernelInfo:
// kind, planted bug and its category, design, dtype, head dim, path, default, emulated algorithm),
// filled in one place for the prefill, decode and chunked-prefill registrations. Not the display
// traits (each registration writes its own) nor the launch.
#pragma once

#include <optional>
#include <string>

#include "core/kernel.h"

namespace attn {

inline void set_gpu_variant_info(KernelInfo& info, std::string name, std::string design, DType dtype, int head_dim,
                                 KernelPath path, Mutant mutant, bool is_default,
                                 std::optional<AlgorithmConfig> algorithm) {
  info.name = std::move(name);
  info.family = mutant == Mutant::none ? "cuda" : "mutant";
  info.planted_bug = mutant_category(mutant);
  info.needs_gpu = true;
  info.design = std::move(design);
  info.dtype = dtype;
  info.head_dim = head_dim;
  info.path = path;
  info.mutant = mutant;
  info.is_default = is_default;
  info.algorithm = std::move(algorithm);
}

}  // namespace attn
