// kv_layout.h: where key row `key` of batch entry b lives in a KV cache — contiguous
// [B, capacity, H_kv, D] or paged as vLLM / FlashInfer lay it out: a pool of pages
// [num_pages, page_size, H_kv, D] and a block table [B, pages_per_seq] giving, for each batch
// entry, the physical page of each logical page (logical page p holds keys p*page_size ..
// (p+1)*page_size - 1). Host and device. Not the planning or checks (cache_plan.h).
#pragma once

#include <cstdint>

#include "core/hd.h"

namespace attn {

/// Smallest and largest page sizes the kernels accept (any value in between, powers of two or not).
inline constexpr int kMinPageSize = 16;
inline constexpr int kMaxPageSize = 256;

struct KvLayout {
  const int* block_table = nullptr;  ///< [B, pages_per_seq] physical page ids; null: contiguous
  int page_size = 0;
  int pages_per_seq = 0;             ///< logical capacity = pages_per_seq * page_size
  int pool_pages = 0;                ///< physical pages in the pool (what a TMA map of it spans); 0: not given
  ATTN_HD bool paged() const { return block_table != nullptr; }
};

/// Row index (in units of H_kv * D elements) of key `key` of batch entry `b`. `capacity` is the
/// contiguous layout's S_max (ignored when paged). The caller guarantees key < the entry's length.
ATTN_HD int64_t kv_row(const KvLayout& layout, int b, int key, int capacity) {
  if (layout.block_table == nullptr) return static_cast<int64_t>(b) * capacity + key;
  const int page = layout.block_table[static_cast<int64_t>(b) * layout.pages_per_seq + key / layout.page_size];
  return static_cast<int64_t>(page) * layout.page_size + key % layout.page_size;
}

}  // namespace attn
