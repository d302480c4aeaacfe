// launch_support.h: host-side facts the Hopper launchers need once per process — the device's
// multiprocessor count and L2 size (persistent grid, scheduler sections) — and the watchdog
// buffer: host-mapped words a deadlocked barrier wait fills before it traps, readable after the
// trap has killed the CUDA context. Plain C++ (usable from the registry code).
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace attn::hopper {

/// Multiprocessors and L2 bytes of the current device (read once per process).
struct DeviceShape {
  int multiprocessors = 132;
  int l2_bytes = 50 << 20;
};
DeviceShape current_device_shape();

/// Why the fa3 kernel, with KV tiles of `block_n` keys, cannot read a paged cache of `page_size`-key
/// pages, or nothing. Its TMA boxes are whole pages inside a tile, or a tile's rows inside one
/// page: the page size divides BLOCK_N or is a multiple of it, and is a multiple of 8 rows (each
/// box starts a 1024-byte swizzle atom); the FP8 forward (fp8_forward) quantizes a contiguous K / V
/// first (an E4M3 *cache* arrives as a dequantized 16-bit copy, which is fine). The launcher also
/// needs the pool's page count (KvLayout::pool_pages), which a cache gives, not a variant.
std::optional<std::string> fa3_paged_refusal(int page_size, int block_n, bool fp8_forward);

/// Query heads per work tile of a packed-GQA variant (HopperTraits::kPackGqa, pack_gqa.cuh): the
/// group H_q / H_kv when it divides 64 (a warpgroup's rows, the O store's box: groups 2, 4, .. 64)
/// and the packed rows S_q x group stay below 2^30; otherwise 1, the unpacked kernel.
int gqa_pack(int64_t seqlen_q, int num_heads_q, int num_heads_kv);

/// Whether packing the group (gqa_pack > 1) leaves fewer work tiles of block_m rows than one head
/// per tile: H_kv ceil(S_q G / BLOCK_M) < H_q ceil(S_q / BLOCK_M), i.e. the unpacked tiles would
/// be partly empty (short chunks, decode-like S_q). Fewer tiles of the same keys never take more
/// waves; the bits are the same either way.
bool gqa_packing_pays(int64_t seqlen_q, int num_heads_q, int num_heads_kv, int block_m);

/// Device pointer of the 8 host-mapped watchdog words (null when mapped memory is unavailable).
unsigned int* watchdog_device_words();
/// "" when the watchdog has not fired; else which wait site, block, thread and parity it saw
/// (and the words are cleared).
std::string watchdog_message();

}  // namespace attn::hopper
