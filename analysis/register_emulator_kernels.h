// register_emulator_kernels.h: CPU emulator configurations (and emulator mutants) as kernels.
#pragma once

#include "core/registry.h"

namespace attn {
void register_emulator_kernels(Registry& registry);
}
