// fuzz_limits.h: what every harness sets before it parses: a small memory limit, so that a
// header declaring gigabytes is refused by attnscope's own check (as it must be) instead of
// exhausting the fuzzer's RSS limit.
#pragma once

#include "core/memory_budget.h"

namespace attn::fuzz {
inline constexpr uint64_t kMemoryLimit = 64ull << 20;  // 64 MiB of decoded doubles per input
inline void set_limits() { set_memory_limit_bytes(kMemoryLimit); }
}  // namespace attn::fuzz
