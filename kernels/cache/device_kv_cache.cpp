// device_kv_cache.cpp: builds the device KV cache of device_kv_cache.h (CUDA builds only).
#if defined(ATTNSCOPE_HAVE_CUDA)
#include "kernels/cache/device_kv_cache.h"

#include <algorithm>
#include <numeric>

#include "kernels/cache/cache_plan.h"
#include "kernels/decode/decode_launch.h"

namespace attn {
namespace {

/// Fisher-Yates with splitmix64: the same permutation on every platform for a seed.
std::vector<int> shuffled(int n, uint64_t seed) {
  std::vector<int> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  for (int i = n - 1; i > 0; --i) {
    seed += 0x9E3779B97F4A7C15ull;
    uint64_t z = seed;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    std::swap(order[static_cast<size_t>(i)], order[static_cast<size_t>(z % static_cast<uint64_t>(i + 1))]);
  }
  return order;
}

}  // namespace

KvLayout DeviceKvCache::layout() const {
  KvLayout l;
  if (page_size_ > 0) {
    l.block_table = table_.as<const int>();
    l.page_size = page_size_;
    l.pages_per_seq = pages_per_seq_;
    l.pool_pages = static_cast<int>(storage_rows_ / page_size_);
  }
  return l;
}

DeviceKvCache::DeviceKvCache(const Problem& pr, const AttentionInputs& in, int page_size, int64_t fresh,
                             const Fp8KvScales* fp8) {
  const int64_t B = pr.batch, Hkv = pr.num_heads_kv, D = pr.head_dim, row = Hkv * D;
  for (int64_t b = 0; b < B; ++b) lengths_.push_back(pr.keys_in_batch(b));
  std::vector<int64_t> old_lens(lengths_);
  for (auto& n : old_lens) n -= fresh;
  page_size_ = page_size;
  int64_t rows_total = 0;  // physical rows of storage
  std::vector<int> table;
  if (page_size == 0) {
    capacity_ = static_cast<int>(pr.seqlen_k);
    rows_total = B * pr.seqlen_k;
  } else {
    pages_per_seq_ = static_cast<int>((pr.seqlen_k + page_size - 1) / page_size);
    capacity_ = pages_per_seq_ * page_size;
    int used = 0;
    for (int64_t n : lengths_) used += static_cast<int>((n + page_size - 1) / page_size);
    const int pool = used + 2;  // two spare pages nobody maps: poison that a wrong table would read
    const std::vector<int> physical = shuffled(pool, 0x5EEDull + static_cast<uint64_t>(page_size));
    table.assign(static_cast<size_t>(B * pages_per_seq_), -1);
    int next = 0;
    for (int64_t b = 0; b < B; ++b)
      for (int64_t lp = 0; lp < (lengths_[static_cast<size_t>(b)] + page_size - 1) / page_size; ++lp)
        table[static_cast<size_t>(b * pages_per_seq_ + lp)] = physical[static_cast<size_t>(next++)];
    check_block_table(table, pages_per_seq_, page_size, pool, old_lens, lengths_);
    rows_total = static_cast<int64_t>(pool) * page_size;
  }
  check_append_fits(old_lens, fresh, capacity_);
  storage_rows_ = rows_total;

  KvLayout host_layout;  // the same addressing on the host, through the host copy of the table
  if (page_size > 0) {
    host_layout.block_table = table.data();
    host_layout.page_size = page_size;
    host_layout.pages_per_seq = pages_per_seq_;
  }
  const size_t elems = static_cast<size_t>(rows_total * row);
  std::vector<uint16_t> kc(fp8 ? 0 : elems, 0xFFFF), vc(kc.size(), 0xFFFF);  // FP16/BF16 storage
  std::vector<uint8_t> kq(fp8 ? elems : 0, 0xFF), vq(kq.size(), 0xFF);         // E4M3 storage
  std::vector<uint16_t> nk(static_cast<size_t>(B * fresh * row)), nv(nk.size());  // fresh rows, FP16/BF16
  for (int64_t b = 0; b < B; ++b)
    for (int64_t j = 0; j < lengths_[static_cast<size_t>(b)]; ++j) {
      const int64_t old = old_lens[static_cast<size_t>(b)];
      const bool cached = j < old;
      const int64_t base = cached ? kv_row(host_layout, static_cast<int>(b), static_cast<int>(j), capacity_) * row
                                  : (b * fresh + (j - old)) * row;
      for (int64_t h = 0; h < Hkv; ++h)
        for (int64_t d = 0; d < D; ++d) {
          const size_t at = static_cast<size_t>(base + h * D + d);
          const double k = in.k(b, j, h, d), v = in.v(b, j, h, d);
          if (cached && fp8) {
            kq[at] = quantize_e4m3(k, fp8->k[static_cast<size_t>(h)]);
            vq[at] = quantize_e4m3(v, fp8->v[static_cast<size_t>(h)]);
          } else {
            (cached ? kc : nk)[at] = dtype_bits(k, pr.dtype);
            (cached ? vc : nv)[at] = dtype_bits(v, pr.dtype);
          }
        }
    }
  k_ = fp8 ? upload(kq, "copy K cache") : upload(kc, "copy K cache");
  v_ = fp8 ? upload(vq, "copy V cache") : upload(vc, "copy V cache");
  if (fp8) {
    k_scale_ = upload(fp8->k, "copy K scales");
    v_scale_ = upload(fp8->v, "copy V scales");
  }
  table_ = upload(table, "copy block table");
  std::vector<int> old32(old_lens.begin(), old_lens.end()), lens32(lengths_.begin(), lengths_.end());
  lens_ = upload(lens32, "copy seq_lens");
  if (fresh == 0) return;
  const DeviceBuffer dnk = upload(nk, "copy new K"), dnv = upload(nv, "copy new V"), dold = upload(old32, "copy old seq_lens");
  DeviceBuffer flag(4);
  cuda_check(cudaMemset(flag.ptr, 0, 4), "clear overflow flag");
  if (fp8)
    launch_append_fp8(dnk.ptr, dnv.ptr, k_.ptr, v_.ptr, layout(), dold.as<const int>(), static_cast<int>(B),
                      static_cast<int>(fresh), capacity_, static_cast<int>(Hkv), static_cast<int>(D), pr.dtype, k_scale(),
                      v_scale(), flag.as<int>(), nullptr);
  else
    launch_append(dnk.ptr, dnv.ptr, k_.ptr, v_.ptr, layout(), dold.as<const int>(), static_cast<int>(B),
                  static_cast<int>(fresh), capacity_, static_cast<int>(Hkv), static_cast<int>(D), flag.as<int>(), nullptr);
  int overflow = 0;
  cuda_check(cudaMemcpy(&overflow, flag.ptr, 4, cudaMemcpyDeviceToHost), "read overflow flag");
  if (overflow) throw CacheOverflowError("the append kernel refused an overflowing entry (device check)");
}

}  // namespace attn
#endif
