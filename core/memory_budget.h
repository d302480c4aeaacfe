// memory_budget.h: how much memory one attnscope process may plan to use, and the check that
// refuses a problem, a sweep or a file up front (with the number) instead of dying in the
// allocator or swapping for hours. The limit defaults to the machine's physical memory;
// `--max-memory` sets another. Estimates are conservative upper bounds, not accounting.
#pragma once

#include <cstdint>
#include <string>

namespace attn {

/// Physical memory of this machine in bytes (sysconf), or 0 when unknown.
uint64_t physical_memory_bytes();
/// The current limit: --max-memory when given, else the physical memory (16 GiB when unknown).
uint64_t memory_limit_bytes();
void set_memory_limit_bytes(uint64_t bytes);

/// Throws EnvironmentError (exit 3) when `bytes` exceeds the limit, naming `what`, both numbers
/// and the flag that raises the limit.
void require_memory(uint64_t bytes, const std::string& what);

/// "123", "1.5e9", "512M", "16G", "2T" (binary units, K = 1024) -> bytes; throws Error otherwise.
uint64_t parse_byte_size(const std::string& text);
/// 1536 -> "1.5 KiB", 3.2e10 -> "29.8 GiB".
std::string format_bytes(double bytes);

/// a * b and a + b for sizes, saturating at UINT64_MAX instead of wrapping.
uint64_t saturating_mul(uint64_t a, uint64_t b);
uint64_t saturating_add(uint64_t a, uint64_t b);

}  // namespace attn
