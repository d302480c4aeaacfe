#include "analysis/register_emulator_kernels.h"

namespace attn {
void register_emulator_kernels(Registry&) {}  // filled in by the emulator work
}
