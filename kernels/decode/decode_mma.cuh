// decode_mma.cuh: the tensor-core split-KV decode kernel (v11). One CTA = (split, row block, KV
// head, batch entry): a block of kRows (16 or 8) of the GQA group's S_q x group query rows, as one
// m16 tile (the rows past the block's zeros); kWarps warps, each an
// independent key stream: a contiguous run of the split's 32-key tiles (pipeline::
// stream_tile_range), its own cp.async stages in its own slice of shared memory (waits are
// per-thread cp.async groups + __syncwarp: no CTA-wide barrier in the main loop), its own running
// max / sum / O in registers. Per tile: scores on the tensor cores (mma.sync m16n8k16, Q fragments
// held in registers for the whole split, K B-fragments by ldmatrix), the online softmax in
// registers (core/pipeline/online_softmax.h, natural exp_fp32, the quad's butterfly), P split
// hi + lo in the input format (online_softmax.h step 7: the precise cast) so that P keeps FP32-level
// accuracy through the FP16/BF16 PV MMAs (V B-fragments by ldmatrix.trans), the tile's PV summed
// on the tensor cores from 0 and added to O on the CUDA cores (O = fma(O, alpha, PV), round to
// nearest: no truncating tensor-core accumulation across tiles). After the loop each warp writes
// its normalized O and LSE over its own stages, and the warps merge with the LSE combine
// (pipeline::merge_partials); the CTA's result is then one split's, combined across CTAs by
// rank 0 of the launch's cluster (v15) or by the last CTA of the row group (decode_combine.cuh).
// Not the launcher (decode_mma.cu).
//
// Numerics: analysis/decode_emulator.h's contract with DecodeQk::mma, P cast split_hi_lo and
// warp_streams = kWarps (contract steps 3b, 3c).
//
// Versions (v1..v7: decode_split.cuh; v8: decode_bulk.cuh):
//  v9  per-warp key streams, tensor-core QK and PV (hi + lo P), LSE merge of the warps.
//  v10 no spills: an 8-row form for S_q x group <= 8 (rows 8..15 of the m16 tile are constant
//      zeros, their accumulators dropped: D 128 frees 48 registers), Q read from shared memory
//      by ldmatrix per tile where the register cap is below 255 (12 warps: 168), each k-step's Q
//      fragments fetched once for all n8 tiles. The same bits as v9 (reports/h200/decode/call6).
//  v11 row blocks: S_q x group up to kDecodeMaxRows in ceil(rows / kRows) CTAs along grid.x
//      (the split's blocks adjacent), each its own split counter; the 12-warp 8-row form for
//      FP16 / BF16 and D 64 / 128 (the registered mma12- variants, the production default).
//  v12 FP8 (E4M3) caches (Fp8Cache): the tile's bytes by cp.async into a raw stage (half the
//      bytes of FP16), dequantized by the warp into one FP16/BF16 tile of the layout above
//      (value = E4M3 x the head's power-of-two scale: exact in both formats, kernels/cache/
//      fp8_dequantize.cuh), which ldmatrix / mma read unchanged: the FP8 path is the 16-bit path on the
//      dequantized cache, bit for bit. The raw stage is free once converted, so every raw stage
//      holds a tile in flight while the warp computes.
//  v13 co-resident CTAs (DecodeMmaTraits::kCtasPerSm): the same 12 warps per SM as 3 CTAs of 4
//      warps (16-key tiles, 8-row blocks, Q in shared memory at the 168-register cap), so that the
//      heuristic plan launches 3 x SMs CTAs (B 8: 6 splits, 384 CTAs) instead of SMs (2 splits,
//      128 CTAs; reports/h200/profile: 128 CTAs cap even a math-free stream near 3.95 TB/s).
//  v14 K/V tiles in unpadded rows with XOR-swizzled 16-byte chunks (kv_chunk_offset) instead of
//      rows padded to D x 2 + 16 bytes: the padded destinations made L1TEX split each cp.async
//      and ask the L2 for 1.5x the cache's sectors (2.6x its requests). The same values reach the
//      same fragments: the same bits.
//  v15 the split combine in a thread block cluster (DecodeParams::cluster_combine): the splits of
//      one (entry, KV head) are one cluster; each sends its merged partial into a slot of rank 0's
//      shared memory that nothing else writes (st.shared::cluster after a barrier.cluster phase
//      that says every CTA has started, before one that says every partial is there) and rank 0
//      combines from there with the same combine_partials as the last-CTA path from global
//      memory (no partial buffers, fence, counter or L2 reads on the critical path; call 21
//      measured that path at ~6 % of a B 8, L 4k launch). Only where every cluster is resident
//      at once (decode_mma_launch.cuh). The same bits.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "core/pipeline/fp32_device.cuh"
#include "core/pipeline/online_softmax.h"
#include "core/pipeline/semantics.h"
#include "core/pipeline/split_combine.h"
#include "core/pipeline/tile_plan.h"
#include "kernels/cache/fp8_dequantize.cuh"
#include "kernels/cache/kv_layout.h"
#include "kernels/decode/decode_combine.cuh"
#include "kernels/decode/decode_elements.cuh"
#include "kernels/decode/decode_launch.h"
#include "kernels/decode/decode_tile.cuh"
#include "kernels/prefill/mma.cuh"

namespace attn {

/// One tensor-core decode instantiation: element type, head dim, warps (key streams), keys per
/// warp tile, cp.async stages per warp, planted mutant, and the query rows it holds: 16 (the m16
/// tile), or 8 for S_q x group <= 8 (the GQA-4 / GQA-8 decode step): then rows 8..15 of both MMAs'
/// A operands are the constant 0 and their accumulators are never kept, which frees half of the
/// Q fragments and of O (D 128: 48 registers). Rows 0..7 run the same instructions on the same
/// operands either way (an MMA's row r depends on A's row r only), so both give the same bits.
template <DType Elem, int HeadDim, int Warps, int WarpTileKeys, int Stages, Mutant PlantedMutant = Mutant::none,
          int Rows = kDecodeMmaMaxRows, bool Fp8Cache = false>
struct DecodeMmaTraits {
  static constexpr DType kElem = Elem;
  static constexpr int kHeadDim = HeadDim;
  static constexpr int kWarps = Warps;
  static constexpr int kThreads = 32 * Warps;
  static constexpr int kWarpTileKeys = WarpTileKeys;  ///< keys per online-softmax step of a warp (BLOCK_N)
  static constexpr int kStages = Stages;              ///< a warp's K/V tiles in flight + 1
  static constexpr Mutant kMutant = PlantedMutant;
  static constexpr int kRows = Rows;  ///< 16, or 8: rows 8..15 are padding by construction
  /// Resident CTAs per SM (__launch_bounds__ min blocks): 3 for the co-resident form, the only
  /// one of 4 warps with 16-key tiles (decode_mma_launch.cuh's DecodeMmaCoResident), else 1.
  static constexpr int kCtasPerSm = Warps == 4 && WarpTileKeys == 16 ? 3 : 1;
  /// A row of Q in shared memory (kQShared): D elements + 16 bytes, so that the 8 rows of an
  /// ldmatrix 8x8 matrix start 4 banks apart (conflict-free) and every row stays 16-byte aligned.
  static constexpr int kPitchBytes = HeadDim * 2 + 16;
  /// A key row of a K or V tile in shared memory: D elements, unpadded, its 16-byte chunks
  /// swizzled (decode::kv_chunk_offset). Why not the padded pitch: a cp.async whose 16-byte
  /// destinations straddle shared memory's 128-byte lines differently from its sources' global
  /// lines is split by L1TEX, and each part asks the L2 again for the sectors it shares with the
  /// others (.cg: nothing kept in L1): the padded rows asked for 1.5x the cache's sectors
  /// (reports/h200/decode/call12/ncu-l2; the probe's copy into unpadded slots: 1.0x, call 16).
  static constexpr int kKvRowBytes = HeadDim * 2;
  /// E4M3 cache (1 byte per element, per-KV-head power-of-two scales): cp.async lands raw bytes
  /// (D bytes per key row, read once, lane-linear, by the warp's dequantization); else 2 bytes.
  static constexpr bool kFp8Cache = Fp8Cache;
  static constexpr int kCacheElemBytes = Fp8Cache ? 1 : 2;
  static constexpr int kLandPitchBytes = Fp8Cache ? HeadDim : kKvRowBytes;  ///< a key row of a stage
  static constexpr int kStageBytes = 2 * WarpTileKeys * kLandPitchBytes;    ///< (K|V, WarpTileKeys, land pitch)
  /// E4M3: the tile dequantized to Elem, (K|V, WarpTileKeys, kKvRowBytes swizzled), what ldmatrix reads.
  static constexpr int kConvertedBytes = Fp8Cache ? 2 * WarpTileKeys * kKvRowBytes : 0;
  static constexpr int kWarpBytes = Stages * kStageBytes + kConvertedBytes;
  /// Tiles in flight when a warp's tile computation starts: S - 1 (the stage being read is the
  /// S-th), or S for an E4M3 cache (its raw stage is refilled right after the dequantization).
  static constexpr int kTilesAhead = Fp8Cache ? Stages : Stages - 1;
  /// Q's A fragments: in registers for the whole split (D 128: 32 per thread, 16 with 8 rows), or,
  /// where the register cap is below 255 (more than 8 warps per SM: 168 at 12), read from shared memory
  /// by ldmatrix at every tile (kRows x pitch bytes, one copy for the CTA): the cap is what the
  /// 12-warp form spilled against.
  static constexpr bool kQShared = Warps * kCtasPerSm > 8;
  static constexpr int kQBytes = kQShared ? kRows * kPitchBytes : 0;
  /// The split combine through the cluster's shared memory (decode::cluster_*; DecodeParams::
  /// cluster_combine), for the forms of 8 and 12 warps (one CTA per SM) whose warp merge leaves
  /// at most one (row, 4 columns) item per thread: a CTA's merged partial stays in registers until
  /// it is sent into slot `split` of rank 0, a region of its own after sL that no cp.async writes.
  static constexpr int kPartialBytes = 4 * (kRows * HeadDim + kRows);  ///< a split's O / l and LSE
  static constexpr bool kClusterCombine = Warps >= 8 && kRows * HeadDim / 4 <= 32 * Warps;
  static constexpr int kSmemBaseBytes = Warps * kWarpBytes + kQBytes + 2 * kRows * 4;
  static constexpr int kClusterSlotsFit = (227 * 1024 - kSmemBaseBytes) / kPartialBytes;
  /// Splits one cluster combines: the portable cluster size (8), or the slots that fit.
  static constexpr int kMaxClusterSplits = !kClusterCombine ? 0 : kClusterSlotsFit < 8 ? kClusterSlotsFit : 8;
  /// Dynamic shared memory: the warps' stages, then sQ (kQShared), then sM, sL of the cross-CTA
  /// combine, then the cluster combine's slots.
  static constexpr int kSmemBytes = kSmemBaseBytes + kMaxClusterSplits * kPartialBytes;

  static_assert(Elem == DType::fp16 || Elem == DType::bf16, "FP16 or BF16 caches");
  static_assert(HeadDim == 64 || HeadDim == 128, "head dims 64 and 128 are instantiated");
  static_assert(WarpTileKeys == 16 || WarpTileKeys == 32 || WarpTileKeys == 64, "whole PV k16 steps, split sizes multiples of it");
  static_assert(64 % WarpTileKeys == 0, "the split plan's 64-key units hold whole warp tiles");
  static_assert(Stages >= 2 && Stages <= 8, "two to eight cp.async stages per warp");
  static_assert(Rows == 8 || Rows == 16, "the m16 tile, or its upper half only");
  static_assert(kWarpBytes >= 4 * (kRows * HeadDim + kRows), "a warp's stages hold its normalized O and LSE after the loop");
  static_assert(kSmemBytes <= 227 * 1024, "shared memory of one CTA");
  static_assert(kCtasPerSm * (kSmemBytes + 1024) <= 228 * 1024, "kCtasPerSm CTAs fit one SM's shared memory");
  static_assert(!kClusterCombine || kMaxClusterSplits >= 2, "a cluster combines at least two splits");
  static_assert(PlantedMutant == Mutant::none || PlantedMutant == Mutant::stale_seqlens ||
                    PlantedMutant == Mutant::interleaved_gqa_in_cache_path ||
                    PlantedMutant == Mutant::top_left_in_cache_path || PlantedMutant == Mutant::base2_lse_natural_combine,
                "decode plants the cache-path and split-combine bugs");
};

namespace decode {

/// The byte offset of 16-byte chunk `chunk` of key row `row` in a K or V tile of unpadded rows of
/// `RowBytes` (FP16/BF16: D x 2): the chunk lands at position chunk ^ (row % 8) of its row. The 8
/// rows of an ldmatrix 8x8 matrix (one chunk column, 8 consecutive rows) then fall in 8 distinct
/// bank groups (conflict-free), and a row's chunks stay within its own 128-byte lines (the XOR
/// touches the chunk index's low 3 bits only), so a cp.async of whole global lines writes whole
/// shared lines (DecodeMmaTraits::kKvRowBytes says why that matters).
template <int RowBytes>
__device__ __forceinline__ int kv_chunk_offset(int row, int chunk) {
  static_assert(RowBytes % 128 == 0, "whole 128-byte lines per row (D 64 and D 128 at 2 bytes)");
  return row * RowBytes + ((chunk ^ (row & 7)) << 4);
}

/// A 16-byte cp.async of a K/V row chunk: the plain form (no src-size operand) where the chunk is
/// in the cache, the zero-filling form (src-size 0, nothing read) past key_end. The same bytes land
/// either way (never the bits). Measured against fa2::cp_async_16's register src-size on every
/// chunk, in one H200 call (reports/h200/decode/call13): 1.00-1.01x at B 8, 1.01-1.03x at B 64;
/// the L2 sector and request counts (1.5x the data's sectors, call 12) are the same in both forms.
__device__ __forceinline__ void stream_cp_async_16(void* smem, const void* gmem, bool valid) {
  asm volatile(
      "{\n"
      "  .reg .pred p;\n"
      "  setp.ne.b32 p, %2, 0;\n"
      "  @p cp.async.cg.shared.global [%0], [%1], 16;\n"
      "  @!p cp.async.cg.shared.global [%0], [%1], 16, 0;\n"
      "}\n" ::"r"(fa2::smem_addr(smem)),
      "l"(gmem), "r"(static_cast<int>(valid)));
}

/// The CTAs of this launch's cluster (1: launched without one) and this CTA's rank in it.
__device__ __forceinline__ unsigned cluster_ctas() {
  unsigned n;
  asm volatile("mov.u32 %0, %%cluster_nctarank;\n" : "=r"(n));
  return n;
}
__device__ __forceinline__ unsigned cluster_rank() {
  unsigned r;
  asm volatile("mov.u32 %0, %%cluster_ctarank;\n" : "=r"(r));
  return r;
}
/// barrier.cluster: arrive relaxed (no ordering: "this CTA has started"), arrive with release
/// (this thread's earlier writes, shared::cluster ones included, become visible to the threads
/// that then wait with acquire), wait with acquire. Threads that exited count as arrived (PTX exit).
__device__ __forceinline__ void cluster_arrive_relaxed() { asm volatile("barrier.cluster.arrive.relaxed.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void cluster_arrive_release() { asm volatile("barrier.cluster.arrive.release.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void cluster_wait_acquire() { asm volatile("barrier.cluster.wait.acquire.aligned;\n" ::: "memory"); }
/// The shared::cluster address of `local` (this CTA's shared memory) in the CTA of rank `rank`.
__device__ __forceinline__ uint32_t cluster_map(const void* local, unsigned rank) {
  uint32_t remote;
  asm volatile("mapa.shared::cluster.u32 %0, %1, %2;\n" : "=r"(remote) : "r"(fa2::smem_addr(local)), "r"(rank));
  return remote;
}
__device__ __forceinline__ void cluster_store(uint32_t addr, float4 v) {
  asm volatile("st.shared::cluster.v4.f32 [%0], {%1, %2, %3, %4};\n" ::"r"(addr), "f"(v.x), "f"(v.y), "f"(v.z), "f"(v.w) : "memory");
}
__device__ __forceinline__ void cluster_store(uint32_t addr, float v) {
  asm volatile("st.shared::cluster.f32 [%0], %1;\n" ::"r"(addr), "f"(v) : "memory");
}

/// Waits until at most `pending` committed cp.async groups of this thread are in flight.
template <int pending>
__device__ __forceinline__ void mma_cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(pending));
}

/// Max / sum over the 4 lanes of a quad (the lanes holding one row of an m16n8 fragment). The sum
/// is the butterfly pipeline::butterfly_sum models (offset 2, then 1).
__device__ __forceinline__ float quad_max(float x) {
  x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 2));
  return fmaxf(x, __shfl_xor_sync(0xffffffffu, x, 1));
}
__device__ __forceinline__ float quad_sum(float x) {
  x = pipeline::add_rn(x, __shfl_xor_sync(0xffffffffu, x, 2));
  return pipeline::add_rn(x, __shfl_xor_sync(0xffffffffu, x, 1));
}

/// d += a b (m16n8k16). With Lower (rows 8..15 real) the plain MMA; without, a's rows 8..15 are
/// the caller's constant zeros and d[2], d[3] enter as 0 and are dropped: only d[0], d[1] stay live.
template <DType Elem, bool Lower>
__device__ __forceinline__ void mma_rows(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  if constexpr (Lower) {
    fa2::mma_16816<Elem>(d, a, b0, b1);
  } else {
    float t[4] = {d[0], d[1], 0.f, 0.f};
    fa2::mma_16816<Elem>(t, a, b0, b1);
    d[0] = t[0];
    d[1] = t[1];
  }
}

template <class Traits>
__global__ void __launch_bounds__(Traits::kThreads, Traits::kCtasPerSm) decode_mma_kernel(const DecodeParams p) {
  using T = Element<Traits::kElem>;
  constexpr int D = Traits::kHeadDim, W = Traits::kWarps, TW = Traits::kWarpTileKeys, S = Traits::kStages;
  constexpr int PITCH = Traits::kPitchBytes, ROWB = Traits::kKvRowBytes, NT = TW / 8, KS = TW / 16, DK = D / 16, DN = D / 8, CH = D / 8;
  constexpr int EB = Traits::kCacheElemBytes, LANDP = Traits::kLandPitchBytes, AHEAD = Traits::kTilesAhead;
  constexpr int R = Traits::kRows;
  constexpr bool kLower = R == 16;  // rows 8..15 (the lane's second row) exist
  constexpr int HALVES = kLower ? 2 : 1;
  const pipeline::Fp32NaturalDeviceArithmetic arith;
  const pipeline::Fp32DeviceArithmetic<Traits::kElem> p_cast;  // P rounded to the input format (step 7)
  // Row block rb of the KV head's S_q x group rows: rows row0 .. row0 + rows - 1 (at most R). The
  // row blocks of one split are adjacent along grid.x (co-resident: the later ones read the
  // split's K/V from L2). A row's result depends on its own Q row only (an MMA's row r on A's row
  // r; softmax, merge and combine per row), so the blocking never changes a bit.
  const int group = p.num_heads_q / p.num_heads_kv, row_blocks = decode_mma_row_blocks(p.seqlen_q * group, R);
  const int rb = blockIdx.x % row_blocks, split = blockIdx.x / row_blocks, hk = blockIdx.y, b = blockIdx.z;
  const int row0 = rb * R, rows = min(R, p.seqlen_q * group - row0);
  const SplitKeys work = split_keys_of<Traits::kMutant>(p, b, split);
  const pipeline::Semantics sem = work.sem;
  const int keys = work.keys, num_splits = work.num_splits;
  if (split >= num_splits) return;  // the combine reads only this entry's splits
  // The cluster combine's first phase: this CTA has started, so its slots exist (shared memory of
  // another CTA may be written only once that CTA runs); waited for before the partials are sent.
  if (Traits::kClusterCombine && num_splits > 1 && cluster_ctas() > 1) cluster_arrive_relaxed();
  const int key_begin = work.begin, key_end = work.end;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  // This warp's key stream: tiles [t_first, t_first + n_tiles) of the split.
  const pipeline::IndexRange<int> run = pipeline::stream_tile_range((key_end - key_begin + TW - 1) / TW, warp, W);
  const int n_tiles = run.end - run.begin;
  // Every mask is an interval of keys per query row (core/mask.h), so a row that sees the first
  // and the last key of this stream's run sees every key between them: when that holds for all
  // of the warp's real rows, the per-tile mask reduces to key < key_end (warp-uniform).
  bool run_visible = true;
  if (n_tiles > 0) {
    const int first_key = key_begin + run.begin * TW, last_key = min(key_begin + run.end * TW, key_end) - 1;
#pragma unroll
    for (int h = 0; h < (Traits::kRows == 16 ? 2 : 1); ++h) {
      const int rr = lane / 4 + h * 8;
      if (rr < rows)
        run_visible = run_visible && pipeline::semantic_key_visible(sem, (row0 + rr) % p.seqlen_q, first_key, p.seqlen_q, keys) &&
                      pipeline::semantic_key_visible(sem, (row0 + rr) % p.seqlen_q, last_key, p.seqlen_q, keys);
    }
  }
  run_visible = __all_sync(0xffffffffu, run_visible);

  extern __shared__ __align__(128) uint8_t smem[];
  uint8_t* sWarp = smem + warp * Traits::kWarpBytes;  // (S, K|V, TW, LANDP): this warp's only
  uint8_t* sQ = smem + W * Traits::kWarpBytes;                                          // (R, PITCH) if kQShared
  float* sM = reinterpret_cast<float*>(smem + W * Traits::kWarpBytes + Traits::kQBytes);  // (R): the cross-CTA combine's
  float* sL = sM + R;                                                   // (R)

  auto head_of = [&](int member) { return pipeline::semantic_query_head(sem, hk, member, p.num_heads_q, p.num_heads_kv); };
  const uint8_t* gK = static_cast<const uint8_t*>(p.k_cache);
  const uint8_t* gV = static_cast<const uint8_t*>(p.v_cache);
  // cp.async of the warp's tile t into `stage`: lane (key j0 + i * KP of pass i, 16-byte chunk
  // `chunk`); keys at or past key_end zero-filled, never read from global (poison, or no page).
  // A 16-bit cache lands in the swizzled tile layout (kv_chunk_offset); an E4M3 cache: the same
  // copy of D bytes per key row (16-byte chunks of 16 elements) into a linear raw stage of pitch D.
  // Rows of one tile are consecutive in the cache where the layout is contiguous, or paged with
  // tiles inside one page (page_size a multiple of TW: the split's tiles start at multiples of
  // TW): one base row per tile, the passes a fixed stride apart; the page of the warp's next tile
  // is read one tile ahead (rNextPage), off the copy's critical path. Other page sizes: the page
  // of every key (kv_row).
  constexpr int CC = D * EB / 16, KP = 32 / CC, PASSES = TW / KP;  // chunks per key row, keys per pass (D 128: 2), passes
  const int j0 = lane / CC, chunk = lane % CC;
  const int64_t key_bytes = static_cast<int64_t>(p.num_heads_kv) * D * EB;  // one cache row (every KV head)
  const int64_t lane_bytes = static_cast<int64_t>(hk) * D * EB + chunk * 16;
  const int* table = p.layout.block_table;
  const int page_size = p.layout.page_size;
  const bool tile_rows = table == nullptr || page_size % TW == 0;
  auto page_of_tile = [&](int t) {  // the block-table entry of the warp's tile t (paged, tile_rows)
    const int key0 = key_begin + (run.begin + t) * TW;
    return __ldg(table + static_cast<int64_t>(b) * p.layout.pages_per_seq + key0 / page_size);
  };
  int rNextPage = table != nullptr && tile_rows && n_tiles > 0 ? page_of_tile(0) : 0;
  auto land_offset = [&](int j) {  // of this lane's chunk of key row j in a stage's K (or V) tile
    if constexpr (Traits::kFp8Cache) return j * LANDP + chunk * 16;
    else return kv_chunk_offset<ROWB>(j, chunk);
  };
  auto load_tile = [&](int t, int stage) {
    uint8_t* sK = sWarp + stage * Traits::kStageBytes;  // (TW, LANDP)
    uint8_t* sV = sK + TW * LANDP;                      // (TW, LANDP)
    const int key0 = key_begin + (run.begin + t) * TW;
    if (tile_rows) {
      int64_t row0;
      if (table == nullptr) {
        row0 = static_cast<int64_t>(b) * p.capacity + key0;
      } else {
        row0 = static_cast<int64_t>(rNextPage) * page_size + key0 % page_size;
        if (t + 1 < n_tiles) rNextPage = page_of_tile(t + 1);
      }
      const int64_t first = (row0 + j0) * key_bytes + lane_bytes, step = KP * key_bytes;
#pragma unroll
      for (int i = 0; i < PASSES; ++i) {
        const int j = j0 + i * KP;
        const bool valid = key0 + j < key_end;
        const int64_t off = valid ? first + i * step : 0;
        stream_cp_async_16(sK + land_offset(j), gK + off, valid);
        stream_cp_async_16(sV + land_offset(j), gV + off, valid);
      }
      return;
    }
#pragma unroll 4
    for (int i = 0; i < PASSES; ++i) {
      const int j = j0 + i * KP, key = key0 + j;
      const bool valid = key < key_end;
      const int64_t off = valid ? kv_row(p.layout, b, key, p.capacity) * key_bytes + lane_bytes : 0;
      stream_cp_async_16(sK + land_offset(j), gK + off, valid);
      stream_cp_async_16(sV + land_offset(j), gV + off, valid);
    }
  };
  // E4M3: the landed raw stage (K|V, TW, D bytes) dequantized into sConv (K|V, TW, ROWB swizzled)
  // in the input format. Lane: 8 bytes of one key row (D 128: 16 lanes a row, two rows a pass;
  // reads lane-linear, each 8 lanes' stores one 128-byte line, permuted: no bank conflicts).
  uint8_t* sConv = sWarp + S * Traits::kStageBytes;  // (K|V, TW, ROWB), E4M3 only
  auto dequantize_tile = [&](int stage) {
    constexpr int ROW_LANES = D / 8, ROWS_PER_PASS = 32 / ROW_LANES;
    const uint8_t* raw = sWarp + stage * Traits::kStageBytes;
    const int c = lane % ROW_LANES;
    // Two key rows in flight per lane (not the whole tile: the 12-warp form is at its register cap).
#pragma unroll 1
    for (int kv = 0; kv < 2; ++kv) {
      // The head's scale, read per tile (L1) rather than held: no register to spare across the loop.
      const uint32_t scale = kv_fp8::e4m3_scale_bits<Traits::kElem>(__ldg((kv ? p.v_scale : p.k_scale) + hk));
#pragma unroll 2
      for (int i = 0; i < TW / ROWS_PER_PASS; ++i) {
        const int j = kv * TW + i * ROWS_PER_PASS + lane / ROW_LANES;
        const uint2 bytes = *reinterpret_cast<const uint2*>(raw + j * D + c * 8);
        // row j % TW of K|V: the same j % 8
        *reinterpret_cast<uint4*>(sConv + kv_chunk_offset<ROWB>(j, c)) = kv_fp8::dequantize_e4m3x8<Traits::kElem>(bytes, scale);
      }
    }
  };
  // The first AHEAD tiles; one commit group per tile slot, empty or not (wait_group counts tiles).
#pragma unroll
  for (int s = 0; s < AHEAD; ++s) {
    if (s < n_tiles) load_tile(s, s);
    fa2::cp_async_commit();
  }

  // Q as the A operand of the score MMA: in registers for the whole split (decode_tile.cuh), or
  // (kQShared) its R rows in shared memory, zero past `rows`, read back per tile by ldmatrix.
  constexpr int QREGS = Traits::kQShared ? 1 : DK;
  uint32_t rQ[QREGS][4];
  if constexpr (Traits::kQShared) {
    const uint16_t* gQ = static_cast<const uint16_t*>(p.q);
    for (int e = threadIdx.x; e < R * CH; e += Traits::kThreads) {
      const int rr = e / CH, c = e % CH;
      uint4 v = make_uint4(0u, 0u, 0u, 0u);
      if (rr < rows) {
        const int member = (row0 + rr) / p.seqlen_q, i = (row0 + rr) % p.seqlen_q;
        v = *reinterpret_cast<const uint4*>(gQ + ((static_cast<int64_t>(b) * p.seqlen_q + i) * p.num_heads_q + head_of(member)) * D + c * 8);
      }
      *reinterpret_cast<uint4*>(sQ + rr * PITCH + c * 16) = v;
    }
    __syncthreads();  // sQ complete (once, before the warps' streams)
  } else {
    load_q_fragments<D>(rQ, p, b, rows, lane, head_of, row0);
  }
  // The A fragment of k-step kk: registers, or ldmatrix of sQ (matrices a0..a3 = rows 0-7 / 8-15
  // x dims lo / hi of the k-step; lane l gives the row address of matrix l / 8). Rows 8..15 of an
  // 8-row instantiation: constant zeros.
  auto q_fragment = [&](int kk, uint32_t (&a)[4]) {
    if constexpr (Traits::kQShared) {
      if constexpr (kLower) {
        fa2::ldmatrix_x4(a, sQ + (lane % 8 + ((lane / 8) & 1) * 8) * PITCH + (kk * 16 + (lane / 16) * 8) * 2);
      } else {
        uint32_t r2[2];
        asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0,%1}, [%2];\n"
                     : "=r"(r2[0]), "=r"(r2[1]) : "r"(fa2::smem_addr(sQ + (lane % 8) * PITCH + (kk * 16 + ((lane / 8) & 1) * 8) * 2)));
        a[0] = r2[0];
        a[2] = r2[1];
      }
    } else {
      a[0] = rQ[kk][0];
      a[1] = rQ[kk][1];
      a[2] = rQ[kk][2];
      a[3] = rQ[kk][3];
    }
    if constexpr (!kLower) a[1] = a[3] = 0u;
  };
  // The lane's two rows (h = 0: lane / 4, h = 1: lane / 4 + 8): state and O columns n*8 + 2t, +1.
  pipeline::RowState<float> row[2];
  float rO[DN][4];
#pragma unroll
  for (int n = 0; n < DN; ++n) rO[n][0] = rO[n][1] = rO[n][2] = rO[n][3] = 0.f;

  for (int t = 0; t < n_tiles; ++t) {
    mma_cp_async_wait<AHEAD - 1>();
    __syncwarp();  // tile t landed for every lane; stage (t - 1) % S (E4M3: sConv) was read by every lane
    if constexpr (Traits::kFp8Cache) {
      dequantize_tile(t % S);
      __syncwarp();  // sConv written by every lane; raw stage t % S read by every lane
    }
    // The next tile into the stage just freed: (t - 1) % S, or (E4M3) t % S.
    if (t + AHEAD < n_tiles) load_tile(t + AHEAD, (t + AHEAD) % S);
    fa2::cp_async_commit();
    const uint8_t* sK = Traits::kFp8Cache ? sConv : sWarp + (t % S) * Traits::kStageBytes;  // (TW, ROWB swizzled)
    const uint8_t* sV = sK + TW * ROWB;                                                       // (TW, ROWB swizzled)
    const int key0 = key_begin + (run.begin + t) * TW;

    // ---- qk on the tensor cores: n8 tile nt = keys nt*8 ..; k-steps over D ascending from 0 (each
    // k-step's Q fragments fetched once for all n8 tiles). ldmatrix x4 of keys nt*8 + (lane % 8),
    // dims kk*16 + (lane / 8) * 8: b0, b1 of k-steps 2k2, 2k2 + 1.
    float rS[NT][4];
#pragma unroll
    for (int nt = 0; nt < NT; ++nt) rS[nt][0] = rS[nt][1] = rS[nt][2] = rS[nt][3] = 0.f;
#pragma unroll
    for (int k2 = 0; k2 < DK / 2; ++k2) {
      uint32_t rA0[4], rA1[4];
      q_fragment(2 * k2, rA0);
      q_fragment(2 * k2 + 1, rA1);
#pragma unroll
      for (int nt = 0; nt < NT; ++nt) {
        uint32_t rK[4];
        fa2::ldmatrix_x4(rK, sK + kv_chunk_offset<ROWB>(nt * 8 + lane % 8, k2 * 4 + lane / 8));
        mma_rows<Traits::kElem, kLower>(rS[nt], rA0, rK[0], rK[1]);
        mma_rows<Traits::kElem, kLower>(rS[nt], rA1, rK[2], rK[3]);
      }
    }
    // ---- scale and mask. C: rS[nt][c] = (row lane/4 + (c/2)*8, key nt*8 + 2t + c%2).
#pragma unroll
    for (int nt = 0; nt < NT; ++nt)
#pragma unroll
      for (int c = 0; c < 4; ++c) {
        const int rr = lane / 4 + (c >> 1) * 8, key = key0 + nt * 8 + (lane % 4) * 2 + (c & 1);
        const bool visible = rr < rows && key < key_end &&
                             (run_visible || pipeline::semantic_key_visible(sem, (row0 + rr) % p.seqlen_q, key, p.seqlen_q, keys));
        rS[nt][c] = visible ? pipeline::mul_rn(rS[nt][c], p.scale) : pipeline::kNegInfF;
      }
    // ---- online softmax per row: the lane's slice k = (nt, c%2) in nt-major order, the quad's
    // reductions; P overwrites the scores.
    float rAlpha[2];
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      if (h == 1 && (!kLower || rows <= 8)) {
        // Rows 8..15 are all padding (warp-uniform): what the softmax of a row of -inf scores
        // gives (state unchanged, alpha 0, P 0), without computing it.
#pragma unroll
        for (int nt = 0; nt < NT; ++nt) rS[nt][2] = rS[nt][3] = 0.f;
        rAlpha[1] = 0.f;
        continue;
      }
      rAlpha[h] = pipeline::online_softmax(
          arith, row[h], [&](int k) -> float& { return rS[k / 2][h * 2 + k % 2]; }, NT * 2, 1.f,
          pipeline::RescaleRule<float>::eager(), Traits::kMutant, [](float x) { return quad_max(x); },
          [](float x) { return quad_sum(x); });
    }
    // ---- P hi + lo as A operands of the PV MMA (k = keys): reg (row h = reg & 1, keys + 8 * (reg >> 1))
    // of k-step ks = the score fragment of n-tile 2ks + (reg >> 1), row half reg & 1.
    uint32_t rPhi[KS][4], rPlo[KS][4];
#pragma unroll
    for (int ks = 0; ks < KS; ++ks)
#pragma unroll
      for (int reg = 0; reg < 4; ++reg) {
        const float p0 = rS[2 * ks + (reg >> 1)][(reg & 1) * 2], p1 = rS[2 * ks + (reg >> 1)][(reg & 1) * 2 + 1];
        if (!kLower && (reg & 1)) {  // rows 8..15: the constant 0 (their P is 0)
          rPhi[ks][reg] = rPlo[ks][reg] = 0u;
          continue;
        }
        rPhi[ks][reg] = pipeline::cast_p_pair(p_cast, p0, p1);
        rPlo[ks][reg] = pipeline::cast_p_lo_pair(p_cast, rPhi[ks][reg], p0, p1);
      }
    // ---- PV on the tensor cores, per pair of n8 column tiles: for each k-step the hi then the lo
    // MMA, from 0; then O = fma(O, alpha, PV) per element (round to nearest, FP32).
    // ldmatrix.trans x4 of keys ks*16 + (lane % 8) + ((lane / 8) % 2) * 8, columns np*16 + (lane / 16) * 8.
#pragma unroll
    for (int np = 0; np < DN / 2; ++np) {
      float rPV[2][4] = {};
#pragma unroll
      for (int ks = 0; ks < KS; ++ks) {
        uint32_t rV[4];
        fa2::ldmatrix_x4_trans(rV, sV + kv_chunk_offset<ROWB>(ks * 16 + lane % 8 + ((lane / 8) & 1) * 8, np * 2 + lane / 16));
        mma_rows<Traits::kElem, kLower>(rPV[0], rPhi[ks], rV[0], rV[1]);
        mma_rows<Traits::kElem, kLower>(rPV[0], rPlo[ks], rV[0], rV[1]);
        mma_rows<Traits::kElem, kLower>(rPV[1], rPhi[ks], rV[2], rV[3]);
        mma_rows<Traits::kElem, kLower>(rPV[1], rPlo[ks], rV[2], rV[3]);
      }
#pragma unroll
      for (int x = 0; x < 2; ++x)
#pragma unroll
        for (int c = 0; c < 2 * HALVES; ++c)  // rows 8..15 of an 8-row instantiation: O stays 0, unused
          rO[np * 2 + x][c] = pipeline::rescale_accumulate_o(arith, rO[np * 2 + x][c], rAlpha[c >> 1], rPV[x][c]);
    }
  }

  // ---- this warp's stream as a partial result over its own stages: O / l and LSE per row.
  mma_cp_async_wait<0>();
  __syncwarp();
  float* sWO = reinterpret_cast<float*>(sWarp);  // (R, D)
  float* sWLse = sWO + R * D;                    // (R)
#pragma unroll
  for (int h = 0; h < HALVES; ++h) {
    const int rr = lane / 4 + h * 8;
    const float factor = pipeline::row_normalizer(arith, row[h].l);
#pragma unroll
    for (int n = 0; n < DN; ++n) {
      const int col = n * 8 + (lane % 4) * 2;
      *reinterpret_cast<float2*>(sWO + rr * D + col) =
          make_float2(pipeline::normalize(arith, rO[n][h * 2], factor), pipeline::normalize(arith, rO[n][h * 2 + 1], factor));
    }
    if (lane % 4 == 0) sWLse[rr] = pipeline::split_lse(arith, row[h].m, row[h].l, pipeline::LseCombine::matched);
  }
  __syncwarp();
  __syncthreads();  // every warp's partial is in shared memory

  // ---- merge the warps (LSE combine, warp order): thread (row r, 4 columns d..d+3).
  auto out_index = [&](int r, int d) {  // of the block's row r, column d
    const int member = (row0 + r) / p.seqlen_q, i = (row0 + r) % p.seqlen_q, h = head_of(member);
    return OutIndex{((static_cast<int64_t>(b) * p.seqlen_q + i) * p.num_heads_q + h) * D + d,
                    (static_cast<int64_t>(b) * p.num_heads_q + h) * p.seqlen_q + i};
  };
  auto warp_o = [&](int w) { return reinterpret_cast<const float*>(smem + w * Traits::kWarpBytes); };
  uint16_t* gO = static_cast<uint16_t*>(p.o);
  auto store = [&](int, int64_t x, float value) { gO[x] = from_float(value, static_cast<T*>(nullptr)); };
  const int64_t stride = static_cast<int64_t>(p.batch) * p.num_heads_q * p.seqlen_q;  // rows per split
  // The split combine through the cluster (one launch cluster = the splits of one (entry, KV head):
  // rank = split, launch_mma_traits): split s's merged partial goes straight into slot s of rank
  // 0's shared memory, and rank 0 combines from there: no partial in global memory, no fence,
  // no counter, no L2 round trips on the launch's critical path. The same values, combined by the
  // same combine_partials: the same bits as the global path.
  const bool via_cluster = Traits::kClusterCombine && num_splits > 1 && cluster_ctas() > 1;
  auto slot = [&](int s) { return reinterpret_cast<float*>(smem + Traits::kSmemBaseBytes + s * Traits::kPartialBytes); };
  float o[4] = {0.f, 0.f, 0.f, 0.f}, lse = 0.f;
  int mine_r = -1, mine_d = 0;  // the item this thread merged last (the cluster path: its only one)
  for (int e = threadIdx.x; e < rows * (D / 4); e += Traits::kThreads) {
    const int r = e / (D / 4), d = (e % (D / 4)) * 4;
    const pipeline::MergedRow<float> merged = pipeline::merge_partials(
        arith, W, [&](int w) { return warp_o(w)[R * D + r]; }, [&](int w) { return warp_o(w) + r * D + d; }, 4, o);
    lse = pipeline::split_lse(arith, merged.m, merged.l, sem.combine);  // a base-2 bug is written here
    mine_r = r;
    mine_d = d;
    if (via_cluster) break;  // at most one item per thread (kClusterCombine)
    const OutIndex at = out_index(r, d);
    if (num_splits == 1) {
#pragma unroll
      for (int c = 0; c < 4; ++c) gO[at.x + c] = from_float(o[c], static_cast<T*>(nullptr));
      if (d == 0 && p.lse) p.lse[at.y] = lse;
    } else {
      *reinterpret_cast<float4*>(p.partial_o + (split * stride + at.y) * D + d) = make_float4(o[0], o[1], o[2], o[3]);
      if (d == 0) p.partial_lse[split * stride + at.y] = lse;
    }
  }
  if (num_splits == 1) return;
  if (via_cluster) {
    cluster_wait_acquire();  // the first phase: every CTA of the cluster has started (rank 0's slots exist)
    const unsigned rank = cluster_rank();  // == split (the launch's cluster is grid.x's splits)
    if (mine_r >= 0) {
      float* mySlot = slot(rank);  // (R, D) O, then (R) LSE; in rank 0
      cluster_store(cluster_map(mySlot + mine_r * D + mine_d, 0), make_float4(o[0], o[1], o[2], o[3]));
      if (mine_d == 0) cluster_store(cluster_map(mySlot + R * D + mine_r, 0), lse);
    }
    cluster_arrive_release();  // the second phase: this CTA's partial is in rank 0
    if (rank != 0) return;
    cluster_wait_acquire();  // every split's partial is in this CTA's slots
  } else if (!is_last_split_cta(p, num_splits, (static_cast<int64_t>(b) * p.num_heads_kv + hk) * row_blocks + rb)) {
    return;  // the last CTA of this (entry, KV head, row block) to finish combines the splits
  }
  combine_partials<Traits>(
      p, rows, num_splits, sM, sL, out_index, store,
      [&](int s, int r, int64_t y) { return via_cluster ? slot(s)[R * D + r] : __ldcg(p.partial_lse + s * stride + y); },
      [&](int s, int r, int64_t y, int d) {
        return via_cluster ? *reinterpret_cast<const float4*>(slot(s) + r * D + d)
                           : __ldcg(reinterpret_cast<const float4*>(p.partial_o + (s * stride + y) * D + d));
      });
}

}  // namespace decode
}  // namespace attn
