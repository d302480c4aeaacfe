// device_kv_cache.h: a problem's KV cache on the device, as the cache kernels' host runners
// (decode, chunked prefill) build it: every entry holds keys_in_batch(b) - fresh rows, the last
// `fresh` rows of every entry arrive through the append kernel (host checks first, then the
// device flag). Storage is contiguous [B, capacity, H_kv, D] or paged: a pool of pages in a
// shuffled physical order (so a kernel that ignores the block table reads the wrong keys), two
// spare pages, unused block-table slots -1. Every row not holding a key is 0xFFFF (NaN in FP16
// and BF16; 0xFF, NaN, in an E4M3 cache): a kernel that reads past seq_lens poisons its output.
// Only built with CUDA.
// Not the kernels (kernels/decode/decode.cu) nor the host checks (cache_plan.h).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/generators.h"
#include "core/problem.h"
#include "kernels/cache/fp8_kv.h"
#include "kernels/cache/kv_layout.h"
#include "kernels/device_buffer.h"

namespace attn {

class DeviceKvCache {
 public:
  /// page_size 0: contiguous with capacity problem.seqlen_k; otherwise paged with
  /// ceil(seqlen_k / page_size) pages per entry. fresh: rows appended by the append kernel (0 or
  /// at most every entry's length). Throws CacheOverflowError / ProblemError / attn::Error.
  /// fp8: an E4M3 cache with these per-head scales (kernels/cache/fp8_kv.h): the old rows are
  /// quantized on the host, the fresh ones by the quantizing append kernel; unused bytes 0xFF (NaN).
  DeviceKvCache(const Problem& problem, const AttentionInputs& inputs, int page_size, int64_t fresh,
                const Fp8KvScales* fp8 = nullptr);

  const void* k() const { return k_.ptr; }
  const void* v() const { return v_.ptr; }
  KvLayout layout() const;
  int capacity() const { return capacity_; }                  ///< logical keys per entry
  int64_t storage_rows() const { return storage_rows_; }      ///< physical rows of H_kv x D elements (pool or B x capacity)
  const int* seqlens() const { return lens_.as<const int>(); }  ///< [B] on the device, after the append
  const std::vector<int64_t>& lengths() const { return lengths_; }
  const float* k_scale() const { return k_scale_.as<const float>(); }  ///< [H_kv] (FP8 cache), else null
  const float* v_scale() const { return v_scale_.as<const float>(); }

 private:
  DeviceBuffer k_, v_, lens_, table_, k_scale_, v_scale_;
  int capacity_ = 0, page_size_ = 0, pages_per_seq_ = 0;
  int64_t storage_rows_ = 0;
  std::vector<int64_t> lengths_;
};

}  // namespace attn
