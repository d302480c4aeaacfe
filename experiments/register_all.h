// register_all.h: the process-wide registry of every implementation attnscope can run.
#pragma once

#include "core/registry.h"

namespace attn {
/// References, emulator configurations, CUDA prefill and decode variants (when built), mutants.
const Registry& all_kernels();
}
