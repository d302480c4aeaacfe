// decode_emulator.h: the KV-cache decode kernels (kernels/decode/: split-KV flash-decoding with
// FP32 scores and P) run on the CPU exactly as the GPU runs them — the split plan, the per-split
// online softmax over 64-key tiles, the CUDA-core FMA chains, the warp reductions, the LSE combine
// in the kernel's order — with the precision policy per stage of analysis/emulator.h. Every stage
// between the products is core/pipeline/'s with pipeline::StagedNaturalArithmetic (the kernels
// call the same stages with Fp32NaturalDeviceArithmetic); exp and log are
// core/pipeline/fp32_elementary.h's on both sides. The goal is the GPU's output bit for bit.
// It is a HeadEmulator (analysis/emulator.h): emulate_attention, the attribution, the order
// sensitivity and `attnscope attribute` run it for AlgorithmConfig::numerics = flash_decoding.
// What it is not: the FA2 emulator (analysis/emulator.cpp) or a reference.
//
// ============================== THE DECODE KERNEL CONTRACT ==============================
// Per (batch b, query head h, query row i); K/V of KV head kv_head(h) (core/pipeline/semantics.h);
// L = keys of entry b after the planted bug (stale seq_lens: L - 1). "RN": FP32 round to nearest
// even; exp_fp32 / log_fp32: core/pipeline/fp32_elementary.h.
//  0. split plan (core/pipeline/tile_plan.h), one keys_per_split (kps, a multiple of 64) per
//     launch from the longest DECLARED entry: fixed (DecodeConfig::split_keys), count
//     (TileConfig::num_splits runs of whole tiles) or heuristic (heuristic_split_count over
//     B x ceil(H_kv / heads_per_cta) x ceil(S_q x group / block_m) work units and target_ctas).
//     Entry b has split_count(L, kps) splits; split s holds keys [s kps, min((s + 1) kps, L)).
//  1. qk_product, scale folded in (scale_f = RN(softmax_scale)):
//       fma_halves: s = RN(RN(c0 + c1) * scale_f), c_h the FP32 fma chain over the dims
//                   [h D/2, (h + 1) D/2) in ascending order, from 0 (CUDA cores);
//       mma:        s = RN(mma * scale_f), mma the chain of m16n8k16 k-steps over D from 0
//                   (analysis/tensor_core_model.h; Q and K enter as FP16/BF16 values).
//     Exact: the double dot product times softmax_scale.
//  2. masking: s = -inf where semantic_key_visible says the key is invisible, and for keys >= L.
//  3. per 64-key tile of the split (forward order on the GPU; lane l of the row's warp holds the
//     tile's keys l and l + 32):
//       rescale stage: eager max m_new = max(m_old, max_j s_j), m_sub = m_new (0 while -inf);
//                      alpha = exp_fp32(RN(m_old - m_sub)), 0 while m_old = -inf;
//                      lane sum RN(p_l + p_{l+32}), tile sum = the 32-lane butterfly of RN adds;
//                      l = fma(l, alpha, tile sum); O = fma(O, alpha, pv).
//       exp stage:     p = exp_fp32(RN(s - m_sub)); a masked key gives 0.   Exact: e^(s - m).
//       p_cast:        none (P stays FP32): the stage changes nothing.
//       pv_accumulate: per column, c0 = FP32 fma chain over the tile's keys 8g + 0..3 and c1 over
//                      8g + 4..7 (g = 0..7 ascending), from 0; pv = RN(c0 + c1); padded keys enter
//                      with p = 0 and V = 0.   Exact: double sums.
// 3b. the tensor-core kernel (kernels/decode/decode_mma.cuh; DecodeConfig::warp_streams = W > 1,
//     BLOCK_N = 32 (W = 4) or 16 (W = 8), qk mma, P cast split_hi_lo) replaces 3 and 4 per split:
//     the split's BLOCK_N-key tiles are cut into W contiguous runs (pipeline::stream_tile_range:
//     warp w takes tiles [w n / W, (w + 1) n / W)), each its own online softmax in forward order:
//     the same rescale and exp stages, the four lanes of a quad as the slices (lane t holds keys
//     nt*8 + 2t + c, nt = 0..BLOCK_N/8 - 1, c = 0, 1, summed in that order), the tile sum the quad butterfly (offset 2,
//     then 1) of RN adds; P cast: hi = RN_dtype(p), lo = RN_dtype(RN(p - hi)) (the FP16/BF16
//     input format; exact: hi = p, lo = 0); pv = the tensor-core chain from 0 over the tile's
//     16-key k-steps, each a hi step then a lo step (tc_group_fma, analysis/tensor_core_model.h);
//     O = fma(O, alpha, pv). Per stream: O_w = RN(O / l), LSE_w = RN(m + log_fp32(l)) (-inf for
//     l = 0).
// 3c. the streams merged in warp order (pipeline::merge_partials, pv_accumulate stage but the
//     final division): M = max LSE_w, W = sum of w_w = exp_fp32(RN(LSE_w - M)) over non-empty
//     streams from 0, acc = fma(w_w, O_w, acc), O_s = RN(acc / W), LSE_s = RN(M + log_fp32(W))
//     (M = -inf: O_s = 0, LSE_s = -inf); step 4 then leaves them unchanged (O_s / 1, LSE_s + 0).
//  4. per split: O_s = RN(O / l) (normalize stage; 0 when l = 0); LSE_s = RN(m + log_fp32(l))
//     (pv_accumulate stage; -inf when l = 0; written as RN(LSE_s * log2 e) by base2-lse-combine).
//  5. combine, one split: O = O_0, LSE = LSE_0. Several (pv_accumulate stage, except the final
//     division): M = max_s LSE_s; M = -inf gives O = 0, LSE = -inf; else w_s = exp_fp32(RN(LSE_s
//     - M)), W = the 32-lane butterfly of lane sums (lane l adds splits l, l + 32 in order, from
//     0), acc = fma(w_s, O_s, acc) over s ascending from 0, O = RN(acc / W) (normalize stage),
//     LSE = RN(M + log_fp32(W)).
//  6. output_round: O rounded to FP16/BF16 (RNE).
// FP8 caches (E4M3 with per-head power-of-two scales, kernels/cache/fp8_kv.h) compute exactly
// this on the dequantized cache: the scales are powers of two, so every rounding commutes with
// them (checked on the GPU: FP8 path == FP16 path on the dequantized cache, bit for bit).
// ==========================================================================================
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "analysis/emulator.h"

namespace attn {

/// The decode kernels' tile (keys per online-softmax step and per K/V stage).
inline constexpr int kDecodeTileKeys = 64;
/// The tensor-core kernel's warp tile (keys per online-softmax step of one warp stream; its
/// eight-warp form: half of it).
inline constexpr int kDecodeStreamTileKeys = 32;

/// Empty when the decode emulator can run `problem` with `algorithm` (numerics flash_decoding);
/// otherwise why not (FP16/BF16, BLOCK_N = 64, an eager rescale, no P cast, a valid split plan).
std::optional<std::string> decode_emulator_invalid_reason(const Problem& problem, const AlgorithmConfig& algorithm);

/// keys_per_split of the decode split plan for `problem` (contract step 0).
int64_t decode_keys_per_split(const Problem& problem, const AlgorithmConfig& algorithm);

/// The decode HeadEmulator (called by make_head_emulator).
std::unique_ptr<HeadEmulator> make_decode_head_emulator(const Problem& problem, const AttentionInputs& inputs,
                                                        int64_t batch, int64_t head_q, const AlgorithmConfig& algorithm,
                                                        const TensorCoreModel& tensor_core);

/// The decode configuration of the GPU kernels' default contract: 64-row CTAs, 64-key tiles,
/// fma_halves scores, the given plan (count: `splits`; fixed_keys: `split_keys`).
AlgorithmConfig decode_algorithm(SplitPlanKind plan, int splits_or_keys, DecodeQk qk = DecodeQk::fma_halves);
/// The tensor-core kernel's contract (kernels/decode/decode_mma.cuh; steps 3b, 3c): mma scores, P
/// split hi + lo, the given plan, and `warp_streams` key streams per CTA: 12 (the registered,
/// production form: 8-row blocks, 16-key tiles) or 4 (16-row blocks, 32-key tiles).
AlgorithmConfig decode_tensor_core_algorithm(SplitPlanKind plan, int splits_or_keys, int warp_streams);

}  // namespace attn
