// forward_kernel.cuh: the FlashAttention-3-style prefill forward for sm_90a and its host
// launcher. One persistent CTA per SM; warpgroup 0 produces (TMA loads, 24-32 registers),
// warpgroups 1..W consume (wgmma + softmax, 160-240 registers, setmaxnreg), 64 query rows each;
// tiles come from the persistent scheduler (scheduler.cuh).
// Per-stage arithmetic — the kernel contract of analysis/emulator.h, the same as the FA2 kernel,
// the stages themselves from core/pipeline (online_softmax.h with Fp32DeviceArithmetic):
//   S = Q K^T: wgmma FP32 accumulate, k16 steps in increasing d order (one m64nNk16 per step);
//   exp, rescale, row sums: ex2.approx.ftz of one fma; the FP32 P feeds the per-thread partial
//   row sums, columns 8n + 2q + c in the same order as FA2;
//   p_cast: RNE to the input dtype in registers (precise mode: hi + lo, two products per step);
//   pv: wgmma FP32 accumulate, 16 keys per k-step in increasing key order, P from registers;
//   O = RN(O * alpha) before each tile's PV (the overlapped schedule keeps this order);
//   normalize: quad sum of the partial row sums (lanes xor 1, then xor 2), O * (1/l); RNE output.
// What differs from FA2 is the instruction (wgmma instead of mma.sync: whether its k16 step
// rounds like mma.sync's is what kernels/probes/wgmma_probe.cu measures) and the tile shape.
// FP8 variants (FA3's FP8 forward; stages in core/pipeline/fp8.h): a pre-pass quantizes Q, K, V
// to E4M3 with scales (fp8_quantize.h; optionally rotating Q and K by a random Hadamard matrix);
// QK^T is wgmma k32 on E4M3 with FP32 accumulation; the Q block and K tile scales enter the
// tile's score scale; P = 256 exp2(...) is cast to E4M3 in registers; V comes transposed from
// the pre-pass (FP8 wgmma has no transposed B: V^T in global memory, loaded by TMA like K); PV is
// wgmma k32 on E4M3 with P from registers; V's scale enters the normalization; O is rounded to
// the 16-bit input dtype.
// Not the registry (register_gpu_kernels.cpp) and not the variant list (kernels/variants.toml).
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "core/errors.h"
#include "kernels/hopper/epilogue.cuh"
#include "kernels/hopper/fp8_quantize.h"
#include "kernels/hopper/launch_support.h"
#include "kernels/hopper/mainloop.cuh"
#include "kernels/hopper/tensor_map.h"

namespace attn::hopper {

template <class Traits>
__global__ void __launch_bounds__(Traits::kThreads, 1) fa3_forward_kernel(const __grid_constant__ HopperKernelParams kp) {
  using L = SmemLayout<Traits>;
  extern __shared__ __align__(1024) uint8_t smem_raw[];
  // The 128-byte swizzle is a function of address bits 7..9: tiles need 1024-byte alignment.
  uint8_t* smem = smem_raw + ((1024 - (smem_u32(smem_raw) & 1023u)) & 1023u);
  auto& bars = *reinterpret_cast<PipelineBarriers<Traits::kStages>*>(smem + L::kBarriers);
  const int warpgroup = __shfl_sync(0xffffffffu, static_cast<int>(threadIdx.x) / 128, 0);
  constexpr uint32_t kConsumerWarps = 4 * Traits::kConsumerWarpgroups;

  if (threadIdx.x == 0) {
    static_assert(Traits::kQStages <= kMaxQStages, "Q stages");
#pragma unroll
    for (int s = 0; s < Traits::kQStages; ++s) {
      mbarrier_init(&bars.q_full[s], 1);
      mbarrier_init(&bars.q_empty[s], kConsumerWarps);
    }
    mbarrier_init(&bars.ragged_tail, 1);
    mbarrier_init(&bars.o_free, Traits::kConsumerWarpgroups);
#pragma unroll
    for (int s = 0; s < Traits::kStages; ++s) {
      mbarrier_init(&bars.k_full[s], 1);
      mbarrier_init(&bars.k_empty[s], kConsumerWarps);
      mbarrier_init(&bars.v_full[s], 1);
      mbarrier_init(&bars.v_empty[s], kConsumerWarps);
    }
    fence_barrier_init();
  }
  __syncthreads();

  const TileSchedule& schedule = kp.schedule;
  if (warpgroup == 0) {
    // ---- producer: one warp issues every TMA load; the other three have nothing to do ---------
    setmaxnreg_decrease<Traits::kProducerRegisters>();
    if (threadIdx.x / 32 == 0) {
      const int lane = threadIdx.x % 32;
      if (lane == 0) {
        tma_prefetch_descriptor(&kp.tma_q);
        tma_prefetch_descriptor(&kp.tma_k);
        tma_prefetch_descriptor(&kp.tma_v);
      }
      PipelineState<Traits::kStages> kv;
      QState<Traits> q;
      uint32_t ragged_phase = 0, o_phase = 0;
      for_each_work_tile(schedule, [&](const WorkTile& w) {
        producer_tile<Traits>(kp, w, tile_keys<Traits>(kp, w), smem, bars, kv, q, ragged_phase, o_phase, lane);
      });
    }
  } else {
    // ---- consumers ----------------------------------------------------------------------------
    setmaxnreg_increase<Traits::kConsumerRegisters>();
    const int wg = warpgroup - 1, thread_in_wg = threadIdx.x % 128;
    // The first consumer warpgroup holds the first GEMM turn.
    if (Traits::kPingPong && wg == 0) named_barrier_arrive(kBarrierSchedulerBase, 256);
    PipelineState<Traits::kStages> kv;
    QState<Traits> q;
    ConsumerAccumulators<Traits> acc;
    for_each_work_tile(schedule, [&](const WorkTile& w) {
      consumer_tile<Traits>(kp, w, tile_keys<Traits>(kp, w), smem_u32(smem), bars, kv, q, wg, thread_in_wg, acc);
      epilogue_tile<Traits>(kp, w, acc, smem, wg, thread_in_wg);
    });
    // The last turn handed to the first warpgroup is never taken: take it, so no named
    // barrier is left half-arrived when the CTA exits.
    if (Traits::kPingPong && wg == 0) named_barrier_sync(kBarrierSchedulerBase, 256);
    if (thread_in_wg == 0) tma_store_wait_all();
  }
}

/// Host launcher of one variant: tensor maps, tile schedule, persistent grid. FP8 variants first
/// quantize the inputs (on `stream`) unless `reuse_quantized` says the workspace already holds
/// this problem's operands (the benchmark's attention-only timing; fp8_quantize.h).
template <class Traits>
void launch_fa3_forward(const PrefillParams& p, cudaStream_t stream, bool reuse_quantized = false) {
  HopperKernelParams kp{};
  kp.p = p;
  const int64_t D = Traits::kHeadDim;
  const void *q = p.q, *k = p.k, *v = p.v;
  int64_t vt_keys = 0;
  if constexpr (Traits::kFp8) {
    Fp8QuantizeSetup setup;
    setup.scaling = Traits::kFp8Scaling;
    setup.rotate = Traits::kRotate;
    setup.rotation_seed = Fp8Config{}.rotation_seed;
    setup.block_m = Traits::kBlockM;
    setup.block_n = Traits::kBlockN;
    const Fp8Operands ops = quantize_fp8_inputs(p, Traits::kElem, Traits::kHeadDim, setup, stream, reuse_quantized);
    q = ops.q; k = ops.k; v = ops.vt;
    kp.q_scale = ops.q_scale; kp.k_scale = ops.k_scale; kp.v_scale = ops.v_scale;
    kp.q_blocks = ops.q_blocks; kp.k_blocks = ops.k_blocks;
    vt_keys = ops.vt_keys;
    kp.rotation_inverse = Traits::kRotate ? 1.f / static_cast<float>(D) : 1.f;
  }
  const int bytes = Traits::kOperandBytes, cols = Traits::kOperandColumns;
  // Packed GQA rows (pack_gqa.cuh): Q and O boxes of {columns, pack heads, rows / pack queries}.
  const int pack = Traits::kPackGqa ? gqa_pack(p.seqlen_q, p.num_heads_q, p.num_heads_kv) : 1;
  kp.pack = pack;
  kp.tma_q = make_tensor_map({q, p.batch, p.seqlen_q, p.num_heads_q, D, bytes, Traits::kBlockM / pack, cols, pack});
  if (p.layout.paged()) {
    // A paged cache: the page pool [pages, page_size, H_kv, D] as the map's [B, S, H, D], boxes
    // of min(page_size, BLOCK_N) rows (mainloop.cuh's load_paged_kv_tile).
    if (auto why = fa3_paged_refusal(p.layout.page_size, Traits::kBlockN, Traits::kFp8)) throw Error("fa3 prefill: " + *why);
    if (p.layout.pool_pages < 1) throw Error("fa3 prefill: the paged cache does not give its pool's page count (KvLayout::pool_pages)");
    const int box = std::min(p.layout.page_size, Traits::kBlockN);
    kp.tma_k = make_tensor_map({k, p.layout.pool_pages, p.layout.page_size, p.num_heads_kv, D, bytes, box, cols});
    kp.tma_v = make_tensor_map({v, p.layout.pool_pages, p.layout.page_size, p.num_heads_kv, D, bytes, box, cols});
  } else {
    kp.tma_k = make_tensor_map({k, p.batch, p.seqlen_k, p.num_heads_kv, D, bytes, Traits::kBlockN, cols});
    if constexpr (Traits::kFp8)  // V^T [B, D, H_kv, vt_keys] as the map's [B, S, H, D]: boxes of D rows x BLOCK_N keys
      kp.tma_v = make_tensor_map({v, p.batch, D, p.num_heads_kv, vt_keys, 1, Traits::kHeadDim, Traits::kBlockN});
    else kp.tma_v = make_tensor_map({v, p.batch, p.seqlen_k, p.num_heads_kv, D, bytes, Traits::kBlockN, cols});
  }
  kp.tma_o = make_tensor_map({p.o, p.batch, p.seqlen_q, p.num_heads_q, D, 2, kRowsPerWarpgroup / pack, kSwizzleColumns, pack});
  kp.watchdog.words = watchdog_device_words();
  const DeviceShape device = current_device_shape();
  TileSchedule& s = kp.schedule;
  s.num_m_blocks = static_cast<int>((static_cast<int64_t>(p.seqlen_q) * pack + Traits::kBlockM - 1) / Traits::kBlockM);
  s.num_heads = p.num_heads_q / pack;  // head blocks: query heads, or the KV heads' groups when packed
  s.batch = p.batch;
  const int64_t pairs = static_cast<int64_t>(p.batch) * s.num_heads;
  // Sections whose K and V take at most half of L2 (GQA: the heads of a group share theirs).
  const int64_t group = std::max(1, p.num_heads_q / std::max(1, p.num_heads_kv) / pack);
  const int64_t kv_bytes_per_pair = std::max<int64_t>(1, static_cast<int64_t>(p.seqlen_k) * D * 2 * 2 / group);
  s.pairs_per_section = static_cast<int>(std::clamp<int64_t>(device.l2_bytes / 2 / kv_bytes_per_pair, 1, pairs));
  // Causal masks pair heavy and light m_blocks into one unit, but only where the tiles outnumber
  // the CTAs: with fewer, every tile gets a CTA of its own at once (pairs would run two tiles in
  // a row on half the CTAs: a packed 64-query chunk at group 4 ran at 0.51x, reports/h200/
  // hopper-prefill/session26 call 2).
  const bool causal = p.mask.kind == MaskKind::causal_bottom_right || p.mask.kind == MaskKind::causal_top_left;
  s.heavy_rows_last = causal && pairs * s.num_m_blocks > device.multiprocessors;
  s.units_per_pair = schedule_units_per_pair(s.num_m_blocks, s.heavy_rows_last);
  const int64_t total = pairs * s.units_per_pair;
  if (pairs * s.num_m_blocks > 0x7fffffff) throw Error("fa3 prefill: more than 2^31 - 1 work tiles");
  s.total_units = static_cast<int>(total);
  auto kernel = fa3_forward_kernel<Traits>;
  static bool configured = false;  // the opt-in above 48 KB is per function, once per process
  if (!configured) {
    cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, Traits::kSmemBytes);
    configured = true;
  }
  const int grid = static_cast<int>(std::min<int64_t>(total, device.multiprocessors));
  kernel<<<grid, Traits::kThreads, Traits::kSmemBytes, stream>>>(kp);
}

/// The launcher of a default tile's variant: its packed-GQA twin where packing leaves fewer work
/// tiles (gqa_packing_pays: short chunks and decode-like S_q with GQA), else itself. The same bits
/// either way (tests/gpu/test_hopper.cpp [schedule]), so the variant's numerics stay one.
template <class Traits>
void launch_fa3_default(const PrefillParams& p, cudaStream_t stream) {
  static_assert(!Traits::kFp8 && Traits::kMutant == Mutant::none && !Traits::kPackGqa);
  if (gqa_packing_pays(p.seqlen_q, p.num_heads_q, p.num_heads_kv, Traits::kBlockM))
    launch_fa3_forward<typename WithPackGqa<Traits>::type>(p, stream);
  else
    launch_fa3_forward<Traits>(p, stream);
}

}  // namespace attn::hopper
