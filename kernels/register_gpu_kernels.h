// register_gpu_kernels.h: adds every compiled CUDA variant (and its GPU mutants) to a registry.
// Without CUDA in the build it adds nothing; gpu_available() then says why.
#pragma once

#include <string>

#include "core/registry.h"

namespace attn {

void register_gpu_kernels(Registry& registry);
/// True when the build has CUDA and a device is present; otherwise `why` says which is missing.
bool gpu_available(std::string* why = nullptr);

}  // namespace attn
