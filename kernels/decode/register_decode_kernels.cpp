// register_decode_kernels.cpp: registers the KV-cache decode variants (split-KV flash-decoding,
// FP16/BF16, D = 64/128, heuristic, fixed-size or fixed-count splits, contiguous or paged cache;
// the CUDA-core kernel, the tensor-core one — with its FP8-cache form mma12-fp8-* — and the bulk
// one, whose FP8-cache form tests and the benchmark build) and the four cache-path mutants of
// each, with the emulator configuration of each (info.algorithm; none for an FP8 cache: the
// emulator runs the 16-bit twin on the dequantized cache).
// The host run(): builds the device cache with the last S_q rows of every entry missing and every
// unused row poisoned (NaN), appends those rows with the append kernel (quantizing for an FP8
// cache; kernels/cache/device_kv_cache.h), poisons the outputs and partials (NaN), launches the
// split kernel (combine in its last CTA) and copies O and LSE back. Without CUDA: registers nothing.
// Not the kernels (decode.cu) nor the split planning (cache_plan).
#include "kernels/decode/register_decode_kernels.h"

#include <optional>
#include <string>

#include "core/errors.h"
#include "kernels/unavailable_kernel.h"

#if defined(ATTNSCOPE_HAVE_CUDA)
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "kernels/cache/cache_plan.h"
#include "kernels/cache/device_kv_cache.h"
#include "kernels/cache/fp8_kv.h"
#include "kernels/decode/decode_launch.h"
#include "kernels/device_buffer.h"
#include "kernels/gpu_variant_info.h"
#include "kernels/register_gpu_kernels.h"
#endif

namespace attn {

AlgorithmConfig decode_variant_algorithm(const DecodeVariant& v) {
  AlgorithmConfig a;
  a.numerics = KernelNumerics::flash_decoding;
  a.tiles.block_m = kDecodeRowsPerCta;
  a.tiles.block_n = 64;
  a.mutant = v.mutant;
  a.decode.qk = v.kind == DecodeKernelKind::cuda_cores ? DecodeQk::fma_halves : DecodeQk::mma;
  if (v.kind == DecodeKernelKind::mma) {
    // The tensor-core kernel (decode_mma.cuh): row blocks of one m16 tile (8 rows for the
    // 12-warp form), warp key streams of 32-key (4 warps) or 16-key tiles, P split hi + lo for
    // the PV MMA. BLOCK_M only sizes the heuristic plan's work units (rows are independent).
    // The co-resident form (4 warps x 3 CTAs per SM): 8-row blocks, 16-key tiles.
    const bool co_resident = decode_mma_co_resident(v.mma_warps, v.ctas_per_sm);
    a.tiles.block_m = v.mma_warps == 12 || co_resident ? kDecodeMmaMinRows : kDecodeMmaMaxRows;
    a.tiles.block_n = v.mma_warps == 4 && !co_resident ? 32 : 16;
    a.p_cast = PCastMode::split_hi_lo;
    a.decode.warp_streams = v.mma_warps;
  }
  // Work units of the heuristic plan: (entry, KV head, row block) for both kernels; the bulk
  // kernel's target counts KV heads (decode_target_ctas), so heads_per_cta stays 1 here.
  a.decode.heads_per_cta = 1;
  if (v.fixed_split_keys > 0) {
    a.decode.plan = SplitPlanKind::fixed_keys;
    a.decode.split_keys = v.fixed_split_keys;
  } else if (v.fixed_splits > 0) {
    a.decode.plan = SplitPlanKind::count;
    a.tiles.num_splits = v.fixed_splits;
  } else {
    a.decode.plan = SplitPlanKind::heuristic;
    a.decode.target_ctas = static_cast<int>(decode_target_ctas(v));
  }
  return a;
}

#if !defined(ATTNSCOPE_HAVE_CUDA)
int64_t decode_target_ctas(const DecodeVariant&) { return 0; }
SplitPlan decode_split_plan(const DecodeVariant&, const std::vector<int64_t>&, int64_t, int64_t) {
  throw Error("decode: no CUDA in this build");
}
Kernel make_decode_kernel(const DecodeVariant& variant) { return unavailable_kernel(variant.name); }
void register_decode_kernels(Registry&) {}
#else

int64_t decode_target_ctas(const DecodeVariant& v) {
  if (!gpu_available()) return 0;
  if (v.kind == DecodeKernelKind::cuda_cores) return decode_resident_ctas(v.dtype, v.head_dim, 4);
  if (v.kind == DecodeKernelKind::mma) return decode_mma_resident_ctas(v.dtype, v.head_dim, v.mma_warps, v.ctas_per_sm);
  // The bulk kernel: resident CTAs x the KV heads one CTA holds at 4 query rows per head (H_kv 8).
  const DecodeBulkShape shape = decode_bulk_shape(v.head_dim, v.fp8_cache, 8, 4, v.ctas_per_sm, v.max_heads_per_cta);
  return shape.invalid ? 0 : decode_bulk_resident_ctas(v.ctas_per_sm) * shape.heads_per_cta;
}

SplitPlan decode_split_plan(const DecodeVariant& v, const std::vector<int64_t>& lens, int64_t num_heads_kv, int64_t rows) {
  if (v.fixed_split_keys > 0) return plan_fixed_splits(lens, v.fixed_split_keys);
  if (v.fixed_splits > 0) return plan_count_splits(lens, v.fixed_splits);
  // The heuristic: the emulator repeats it from decode_variant_algorithm (same target, same units:
  // (KV head, row block of BLOCK_M rows)).
  const int64_t block_m = decode_variant_algorithm(v).tiles.block_m;
  return plan_heuristic_splits(lens, num_heads_kv * ((rows + block_m - 1) / block_m), decode_target_ctas(v));
}

namespace {

std::optional<std::string> invalid_reason(const DecodeVariant& v, const Problem& pr) {
  if (pr.dtype != v.dtype)
    return "dtype " + std::string(dtype_name(pr.dtype)) + " but the variant is " + std::string(dtype_name(v.dtype));
  if (pr.head_dim != v.head_dim) return "head_dim " + std::to_string(pr.head_dim) + " but the variant is d" + std::to_string(v.head_dim);
  if (pr.gqa != GqaMapping::contiguous) return std::string("GQA mapping ") + gqa_name(pr.gqa) + " is not a kernel mode";
  if (pr.num_heads_q % pr.num_heads_kv != 0) return std::string("H_q not a multiple of H_kv");
  if (pr.seqlen_q * pr.group_size() > kDecodeMaxRows)
    return "S_q x group = " + std::to_string(pr.seqlen_q * pr.group_size()) + " query rows per KV head; decode packs at most " +
           std::to_string(kDecodeMaxRows) + " (S_q <= 16 at group 8); use a chunked-prefill variant";
  if (pr.batch > 65535 || pr.num_heads_kv * 2 > 65535) return std::string("batch and 2 x H_kv must be <= 65535 (grid limits)");
  if (pr.seqlen_k > std::numeric_limits<int32_t>::max() / 2) return std::string("cache capacity above 2^30");
  if (v.fp8_cache && (v.kind == DecodeKernelKind::cuda_cores || (v.kind == DecodeKernelKind::mma && v.mma_warps != 12) ||
                      (v.mutant != Mutant::none && v.kind != DecodeKernelKind::mma)))
    return std::string("FP8 cache: read by the bulk kernel and the tensor-core kernel's 12-warp form (its mutants: that form only)");
  if (v.kind == DecodeKernelKind::bulk) {
    const DecodeBulkShape shape = decode_bulk_shape(v.head_dim, v.fp8_cache, static_cast<int>(pr.num_heads_kv),
                                                    static_cast<int>(pr.seqlen_q * pr.group_size()), v.ctas_per_sm,
                                                    v.max_heads_per_cta);
    if (shape.invalid) return std::string("bulk decode kernel: ") + shape.invalid;
  }
  if (v.kind == DecodeKernelKind::mma && v.mma_warps == 8 && (pr.dtype != DType::fp16 || pr.head_dim != 128))
    return std::string("tensor-core decode kernel, 8 warps: compiled for FP16, D = 128 only");
  // The tensor-core kernel takes every S_q x group up to kDecodeMaxRows in row blocks along grid.x.
  return std::nullopt;
}

AttentionOutputs run_decode(const DecodeVariant& v, const Problem& pr, const AttentionInputs& in) {
  pr.validate();
  if (auto why = invalid_reason(v, pr)) throw ProblemError(v.name + ": " + *why);
  const int64_t B = pr.batch, Sq = pr.seqlen_q, Hq = pr.num_heads_q, D = pr.head_dim;
  std::vector<int64_t> lens(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) lens[static_cast<size_t>(b)] = pr.keys_in_batch(b);
  // The last S_q valid rows of each entry arrive through the append kernel when every entry has them.
  const int64_t fresh = *std::min_element(lens.begin(), lens.end()) >= Sq ? Sq : 0;
  std::optional<Fp8KvScales> scales;
  if (v.fp8_cache) scales = fp8_kv_scales(pr, in);
  const DeviceKvCache cache(pr, in, v.page_size, fresh, scales ? &*scales : nullptr);

  const SplitPlan plan = decode_split_plan(v, lens, pr.num_heads_kv, pr.seqlen_q * pr.group_size());
  const std::vector<uint16_t> qb = to_bits(in.q, pr.dtype);
  const size_t rows = static_cast<size_t>(B * Hq * Sq), splits = static_cast<size_t>(plan.max_splits);
  const DeviceBuffer dq = upload(qb, "copy Q");
  DeviceBuffer dout(qb.size() * 2), dlse(rows * 4), dpo(splits * rows * static_cast<size_t>(D) * 4), dplse(splits * rows * 4);
  // Poison: every O, LSE and partial the kernels should write starts as NaN.
  cuda_check(cudaMemset(dout.ptr, 0xFF, qb.size() * 2), "poison O");
  cuda_check(cudaMemset(dlse.ptr, 0xFF, rows * 4), "poison LSE");
  cuda_check(cudaMemset(dpo.ptr, 0xFF, splits * rows * static_cast<size_t>(D) * 4), "poison partial O");
  cuda_check(cudaMemset(dplse.ptr, 0xFF, splits * rows * 4), "poison partial LSE");
  const size_t counters = static_cast<size_t>(decode_counter_count(static_cast<int>(B), static_cast<int>(Hq),
                                                                   static_cast<int>(pr.num_heads_kv), static_cast<int>(Sq)));
  DeviceBuffer dcount(counters * 4);
  cuda_check(cudaMemset(dcount.ptr, 0, counters * 4), "clear split counters");

  DecodeParams p;
  p.q = dq.ptr; p.k_cache = cache.k(); p.v_cache = cache.v(); p.o = dout.ptr; p.lse = dlse.as<float>();
  p.partial_o = dpo.as<float>(); p.partial_lse = dplse.as<float>(); p.split_counters = dcount.as<int>();
  p.seqlens_k = cache.seqlens();
  p.layout = cache.layout();
  p.batch = static_cast<int>(B); p.seqlen_q = static_cast<int>(Sq); p.capacity = cache.capacity();
  p.num_heads_q = static_cast<int>(Hq); p.num_heads_kv = static_cast<int>(pr.num_heads_kv); p.head_dim = static_cast<int>(D);
  p.keys_per_split = static_cast<int>(plan.keys_per_split); p.max_splits = static_cast<int>(plan.max_splits);
  p.scale = static_cast<float>(pr.scale());  // scale rounded once to FP32
  p.mask = pr.mask;
  p.cache_path = is_cache_path(pr);
  if (v.kind == DecodeKernelKind::bulk) {
    const DecodeBulkShape shape = decode_bulk_shape(v.head_dim, v.fp8_cache, p.num_heads_kv, p.seqlen_q * (p.num_heads_q / p.num_heads_kv),
                                                    v.ctas_per_sm, v.max_heads_per_cta);
    p.kind = DecodeKernelKind::bulk;
    p.heads_per_cta = shape.heads_per_cta;
    p.stages = shape.stages;
    p.ctas_per_sm = v.ctas_per_sm;
  }
  if (v.kind == DecodeKernelKind::mma) {
    p.kind = DecodeKernelKind::mma;
    p.mma_warps = v.mma_warps;
    p.ctas_per_sm = v.ctas_per_sm;
    p.cluster_combine = v.cluster_combine;
  }
  p.fp8_cache = v.fp8_cache;
  p.k_scale = cache.k_scale();
  p.v_scale = cache.v_scale();
  launch_decode(p, v.dtype, v.mutant, nullptr);
  cuda_check(cudaDeviceSynchronize(), v.name + " execution");
  return download_outputs(dout, dlse, pr);
}

std::string split_trait(const DecodeVariant& v) {
  if (v.fixed_split_keys) return "fixed:" + std::to_string(v.fixed_split_keys);
  if (v.fixed_splits) return "count:" + std::to_string(v.fixed_splits);
  return "heuristic:" + std::to_string(decode_target_ctas(v));
}

}  // namespace

Kernel make_decode_kernel(const DecodeVariant& v) {
  Kernel kernel;
  // The production decode entry (the default a query with default_only finds: incremental,
  // sweeps, `run` without --kernel) is the faster kernel as measured: the tensor-core kernel's
  // 12-warp form (mma12-split), 1.16-1.43x the CUDA-core kernel at B 8 and 64 for every L >= 4k
  // on the H200 (reports/h200/decode/call7, call8); it runs every problem of its dtype and D that
  // the CUDA-core kernel runs (8-row blocks). The CUDA-core and bulk kernels stay named variants.
  const bool is_default = v.mutant == Mutant::none && v.page_size == 0 && v.fixed_split_keys == 0 && v.fixed_splits == 0 &&
                          v.kind == DecodeKernelKind::mma && v.mma_warps == 12 && !v.fp8_cache;
  // The emulator's configuration (analysis/decode_emulator.h), except for an FP8 cache: the
  // emulator runs it on the dequantized cache (kernels/cache/fp8_kv.h), not on these inputs.
  std::optional<AlgorithmConfig> algorithm;
  if (!v.fp8_cache) algorithm = decode_variant_algorithm(v);
  set_gpu_variant_info(kernel.info, v.name, "decode", v.dtype, v.head_dim, KernelPath::decode, v.mutant, is_default, algorithm);
  const bool bulk = v.kind == DecodeKernelKind::bulk, mma = v.kind == DecodeKernelKind::mma;
  kernel.info.description =
      std::string("KV-cache decode, split-KV + LSE combine, ") + std::string(dtype_name(v.dtype)) + " d" + std::to_string(v.head_dim) +
      (bulk ? ", bulk copies + tensor-core scores" : mma ? ", tensor cores (warp key streams, P hi + lo)" : ", CUDA cores") + (v.fp8_cache ? ", FP8 (E4M3) cache" : "") +
      (v.page_size ? ", paged cache (page " + std::to_string(v.page_size) + ")" : std::string(", contiguous cache")) +
      (v.fixed_split_keys ? ", fixed split " + std::to_string(v.fixed_split_keys) + " keys (batch-invariant)"
       : v.fixed_splits   ? ", " + std::to_string(v.fixed_splits) + " splits"
                          : std::string(", heuristic splits")) +
      (v.mutant != Mutant::none ? std::string(", MUTANT ") + mutant_name(v.mutant) : "");
  auto& t = kernel.info.traits;
  t["dtype"] = std::string(dtype_name(v.dtype));
  t["head_dim"] = std::to_string(v.head_dim);
  t["path"] = kernel_path_name(KernelPath::decode);
  t["kernel"] = bulk  ? "bulk (cp.async.bulk stages, producer warp, mma scores), " + std::to_string(v.ctas_per_sm) +
                            " CTA/SM, <= " + std::to_string(v.max_heads_per_cta) + " KV heads/CTA"
                : mma ? "tensor-cores (" + std::to_string(v.mma_warps) + " warp key streams of " +
                            std::to_string(v.mma_warps == 4 ? 32 : 16) + "-key cp.async tiles, mma scores and PV, LSE merge)"
                      : "cuda-cores (cp.async tiles, fma-chain scores)";
  t["cache_layout"] = (v.page_size ? "paged, page " + std::to_string(v.page_size) : std::string("contiguous [B, S_max, H_kv, D]")) +
                      (v.fp8_cache ? ", E4M3 with per-head power-of-two scales" : "");
  t["block_n"] = mma ? std::to_string(v.mma_warps == 4 ? 32 : 16) + " per warp stream" : "64";
  t["split"] = split_trait(v);
  t["batch_invariant"] = v.fixed_split_keys ? "true" : "false";
  t["fp8_cache"] = v.fp8_cache ? "true" : "false";
  t["qk"] = bulk || mma ? "mma.sync m16n8k16, FP32 accumulate" : "two FP32 fma chains over the halves of D";
  t["exp"] = "exp_fp32 / log_fp32 (core/pipeline/fp32_elementary.h), natural-log LSE";
  t["p_cast"] = mma ? "split hi + lo in the input format (PV: mma.sync, P at FP32 level)" : "none (P stays FP32)";
  t["mutant"] = mutant_name(v.mutant);
  kernel.invalid_reason = [v](const Problem& pr) { return invalid_reason(v, pr); };
  kernel.run = [v](const Problem& pr, const AttentionInputs& in) { return run_decode(v, pr, in); };
  return kernel;
}

void register_decode_kernels(Registry& registry) {
  for (const DecodeVariant& v : decode_variants()) registry.add(make_decode_kernel(v));
}

#endif

}  // namespace attn
