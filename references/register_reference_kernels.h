// register_reference_kernels.h: the references at low precision registered as "kernels"
// (naive-fp16, naive-bf16, naive-fp32): the same-precision baselines of the FlashAttention rule.
#pragma once

#include "core/registry.h"

namespace attn {
void register_reference_kernels(Registry& registry);
}
