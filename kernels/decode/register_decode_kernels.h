// register_decode_kernels.h: KV-cache decode, chunked-prefill and split-KV CUDA variants.
#pragma once

#include "core/registry.h"

namespace attn {
void register_decode_kernels(Registry& registry);
}
