// decode_launch.h: host-visible launch interface of the KV-cache decode kernels (split-KV
// flash-decoding + combine) and the cache append kernel. Plain C++ (no CUDA types), so the
// registration code compiles with the host compiler. Not the kernels: kernels/decode/
// (decode_split.cuh, decode_combine.cuh, append.cu; launchers in decode.cu).
// Layouts: Q/O [B, S_q, H_q, D], LSE [B, H_q, S_q] (FP32, natural), cache K/V contiguous
// [B, S_max, H_kv, D] or paged [num_pages, page_size, H_kv, D] with a block table (kv_layout.h),
// FP16/BF16 or (bulk kernel, tensor-core kernel's 12-warp form) E4M3 bytes with per-KV-head
// power-of-two scales (cache/fp8_kv.h).
#pragma once

#include <cstdint>

#include "core/float_format.h"
#include "core/hd.h"
#include "core/kernel_config.h"
#include "core/mask.h"
#include "kernels/cache/kv_layout.h"

namespace attn {

/// Pipeline depth of the split kernel unless DecodeParams::stages says otherwise. Two stages
/// measured faster than three on the H100 (reports/h100/decode/README.md: three stages cost the
/// third resident CTA per SM at D = 128 and lose 3 % at 4k keys, 15 % at 64k).
inline constexpr int kDecodeDefaultStages = 2;

/// Which split kernel a launch runs (both compute the same contract, analysis/decode_emulator.h,
/// except for the score product).
enum class DecodeKernelKind : uint8_t {
  cuda_cores,  ///< v7 (decode_split.cuh): cp.async tiles, every product on CUDA cores (fma_halves scores)
  bulk,        ///< v8 (decode_bulk.cuh): cp.async.bulk stages fed by a producer warp, several KV heads
               ///< per CTA, scores on the tensor cores (mma), PV on CUDA cores; FP8 caches too
  mma,         ///< v11 (decode_mma.cuh): every warp its own key stream (cp.async stages, no CTA barrier
               ///< in the loop), scores and PV on the tensor cores (P split hi + lo), warps merged by
               ///< the LSE combine; one KV head's block of 16 or 8 query rows per CTA
};

/// Runtime parameters of one decode launch (device pointers).
struct DecodeParams {
  const void* q = nullptr;
  const void* k_cache = nullptr;
  const void* v_cache = nullptr;
  void* o = nullptr;
  float* lse = nullptr;             ///< [B, H_q, S_q]
  float* partial_o = nullptr;       ///< [max_splits, B, H_q, S_q, D] FP32 (normalized per split)
  float* partial_lse = nullptr;     ///< [max_splits, B, H_q, S_q]
  int* split_counters = nullptr;    ///< decode_counter_count() ints, zero before the first launch
                                    ///< (each launch leaves them zero again)
  const int* seqlens_k = nullptr;   ///< [B] valid keys (cache fill after the append)
  KvLayout layout{};                ///< contiguous (block_table null) or paged
  int batch = 1, seqlen_q = 1, num_heads_q = 1, num_heads_kv = 1, head_dim = 128;
  int capacity = 1;                 ///< keys one entry can hold (paged: pages_per_seq * page_size)
  int keys_per_split = 64;          ///< multiple of 64; split s covers keys [s*kps, (s+1)*kps)
  int max_splits = 1;
  float scale = 0.f;
  Mask mask{};
  bool cache_path = true;           ///< is_cache_path(problem): where the cache-path mutants act
  int stages = kDecodeDefaultStages; ///< cuda_cores: K/V tiles in flight + 1 (2 or 3); bulk: pipeline stages (2..8)
  DecodeKernelKind kind = DecodeKernelKind::cuda_cores;
  int heads_per_cta = 1;            ///< bulk: KV heads of one CTA (1, 2 or 4; divides H_kv)
  int ctas_per_sm = 1;              ///< bulk: 1 or 2 resident CTAs per SM (sizes the stages); mma: 3 with
                                    ///< 4 warps is the co-resident form (decode_mma_co_resident), else 1
  bool fp8_cache = false;           ///< bulk, mma (12 warps): K/V caches hold E4M3 bytes, value = byte * scale
  const float* k_scale = nullptr;   ///< fp8_cache: [H_kv] powers of two (kernels/cache/fp8_kv.h)
  const float* v_scale = nullptr;   ///< fp8_cache: [H_kv]
  int mma_warps = 4;                ///< mma: key streams per CTA: 12 of 16-key tiles, 8-row blocks (every dtype, D: the
                                    ///< registered form); 4 of 32-key tiles (every dtype, D); 8 of 16-key tiles (FP16, D 128)
  /// mma (8-row forms of 8 or 12 warps): the splits of one (entry, KV head) launched as one thread
  /// block cluster, which combines them in rank 0's shared memory (decode_mma.cuh), wherever one row
  /// block holds every query row, 2 <= max_splits <= 8 and every cluster is resident at once
  /// (decode_mma_launch.cuh); elsewhere, or false, the last CTA combines from global memory
  /// (decode_combine.cuh). The same bits either way.
  bool cluster_combine = true;
};

/// Largest S_q x (H_q / H_kv) rows of one (batch entry, KV head): the GQA group's query rows.
inline constexpr int kDecodeMaxRows = 128;
/// Rows one CTA holds (Q and O accumulators in FP32 shared memory); more rows take several CTAs
/// along grid.y, each reading the same keys.
inline constexpr int kDecodeRowsPerCta = 64;

/// CTAs of the split kernel resident at once on this GPU (SMs x blocks per SM at this row count's
/// shared memory): the heuristic split plan fills one wave and no partial second one.
int64_t decode_resident_ctas(DType dtype, int head_dim, int rows, int stages = kDecodeDefaultStages);

/// Rows of one KV head the bulk kernel holds (S_q x group, one m16 tile of the score MMA).
inline constexpr int kDecodeBulkMaxRowsPerHead = 16;
/// The bulk kernel's launch shape for a problem, or why it cannot run it (then the cuda_cores one does).
struct DecodeBulkShape {
  int heads_per_cta = 1;  ///< largest of 4, 2, 1 dividing H_kv with heads x round_up4(rows) <= 16 and a stage <= 64 KiB
  int stages = 0;         ///< pipeline stages in the shared memory of 1/ctas_per_sm of an SM (at most 8)
  size_t smem_bytes = 0;
  const char* invalid = nullptr;  ///< non-null: why not
};
/// `max_heads_per_cta` caps the choice (1: one KV head per CTA, contiguous per-key copies of D elements).
DecodeBulkShape decode_bulk_shape(int head_dim, bool fp8_cache, int num_heads_kv, int rows_per_head, int ctas_per_sm,
                                  int max_heads_per_cta = 4);
/// CTAs of the bulk kernel resident at once (SMs x ctas_per_sm when the shape fits, else 0).
int64_t decode_bulk_resident_ctas(int ctas_per_sm);

/// Rows of one CTA of the tensor-core kernel (one m16 tile of both MMAs); more rows: several CTAs.
inline constexpr int kDecodeMmaMaxRows = 16;
/// CTAs of the tensor-core kernel resident at once on this GPU (SMs x blocks per SM).
int64_t decode_mma_resident_ctas(DType dtype, int head_dim, int warps = 4, int ctas_per_sm = 1);

/// The tensor-core kernel's co-resident form (a bench shape; decode_mma_launch.cuh): 4 warps
/// of 16-key tiles, 8-row blocks, 3 CTAs per SM (the 12-warp form's warps per SM in 3 CTAs).
inline bool decode_mma_co_resident(int warps, int ctas_per_sm) { return warps == 4 && ctas_per_sm == 3; }

/// Rows of the tensor-core kernel's smallest row block (its 8-row form).
inline constexpr int kDecodeMmaMinRows = 8;
/// Row blocks of `rows_per_head` query rows at `block_rows` rows per CTA.
ATTN_HD constexpr int decode_mma_row_blocks(int rows_per_head, int block_rows) {
  return (rows_per_head + block_rows - 1) / block_rows;
}

/// Ints of DecodeParams::split_counters: one per (batch entry, KV head, row block), row blocks of
/// the smallest block any decode kernel uses (the tensor-core kernel's 8 rows; the CUDA-core
/// kernel's 64-row blocks use a prefix).
inline int64_t decode_counter_count(int batch, int num_heads_q, int num_heads_kv, int seqlen_q) {
  const int rows = seqlen_q * (num_heads_q / num_heads_kv);
  return static_cast<int64_t>(batch) * num_heads_kv * decode_mma_row_blocks(rows, kDecodeMmaMinRows);
}

/// Split kernel (with the combine in its last CTA per row block) on `stream` (a cudaStream_t; null:
/// default stream). dtype FP16 or BF16, head_dim 64 or 128; a planted mutant (the production
/// kernel: Mutant::none) is compiled for D = 128 and two stages only (kernels/variants.toml).
/// Throws attn::Error on an unsupported combination or a launch error.
void launch_decode(const DecodeParams& p, DType dtype, Mutant mutant, void* stream);

/// Like launch_append for an E4M3 cache: each new FP16/BF16 (`dtype`) value x is stored as
/// E4M3(x / scale[head]) (round to nearest even, saturating; kernels/cache/fp8_kv.h's quantize_e4m3).
void launch_append_fp8(const void* new_k, const void* new_v, void* k_cache, void* v_cache, const KvLayout& layout,
                       const int* old_lens, int batch, int new_tokens, int capacity, int num_heads_kv, int head_dim,
                       DType dtype, const float* k_scale, const float* v_scale, int* overflow_flag, void* stream);

/// Copies new K/V [B, S_new, H_kv, D] into the caches at logical rows old_lens[b] ..
/// old_lens[b]+S_new-1 (through the block table when `layout` is paged; `capacity` is the logical
/// capacity). Device-side second line of defence: an entry that would overflow is not written and
/// sets *overflow_flag to 1 (the host checks, check_append_fits / check_block_table, run first).
void launch_append(const void* new_k, const void* new_v, void* k_cache, void* v_cache, const KvLayout& layout,
                   const int* old_lens, int batch, int new_tokens, int capacity, int num_heads_kv, int head_dim,
                   int* overflow_flag, void* stream);

}  // namespace attn
