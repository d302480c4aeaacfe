// unavailable_kernel.h: the registry entry a GPU kernel factory returns in a build without CUDA —
// named, marked needs_gpu, invalid for every problem with the reason, and throwing if run anyway.
#pragma once

#include <optional>
#include <string>

#include "core/errors.h"
#include "core/kernel.h"

namespace attn {

inline Kernel unavailable_kernel(const std::string& name) {
  Kernel k;
  k.info.name = name;
  k.info.needs_gpu = true;
  k.invalid_reason = [](const Problem&) { return std::optional<std::string>("this build has no CUDA"); };
  k.run = [name](const Problem&, const AttentionInputs&) -> AttentionOutputs {
    throw Error(name + ": this build has no CUDA");
  };
  return k;
}

}  // namespace attn
