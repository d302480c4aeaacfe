// register_decode_kernels.cpp: registers the KV-cache decode variants (split-KV flash-decoding,
// FP16/BF16, D = 64/128, heuristic, fixed-size or fixed-count splits, contiguous or paged cache)
// and the four cache-path mutants. The host run(): builds the device cache with the last S_q rows
// of every entry missing and every unused row poisoned (NaN), appends those rows with the append
// kernel (kernels/cache/device_kv_cache.h), poisons the outputs and partials (NaN), launches
// the split kernel (combine in its last CTA) and copies O and LSE back. Without CUDA: registers nothing.
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
#include "kernels/decode/decode_launch.h"
#include "kernels/device_buffer.h"
#include "kernels/gpu_variant_info.h"
#endif

namespace attn {

#if !defined(ATTNSCOPE_HAVE_CUDA)
Kernel make_decode_kernel(const DecodeVariant& variant) { return unavailable_kernel(variant.name); }
void register_decode_kernels(Registry&) {}
#else

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
  return std::nullopt;
}

SplitPlan plan_for(const DecodeVariant& v, const std::vector<int64_t>& lens, const Problem& pr) {
  if (v.fixed_split_keys > 0) return plan_fixed_splits(lens, v.fixed_split_keys);
  const int64_t longest = std::max<int64_t>(1, *std::max_element(lens.begin(), lens.end()));
  if (v.fixed_splits > 0) {  // this many splits of the longest entry, each a whole number of 64-key tiles
    const int64_t per = ((longest + v.fixed_splits - 1) / v.fixed_splits + 63) / 64 * 64;
    return plan_fixed_splits(lens, per);
  }
  const int rows = static_cast<int>(pr.seqlen_q * pr.group_size());
  const int64_t row_blocks = (rows + kDecodeRowsPerCta - 1) / kDecodeRowsPerCta;
  return plan_heuristic_splits(lens, pr.num_heads_kv * row_blocks, decode_resident_ctas(v.dtype, v.head_dim, rows));
}

AttentionOutputs run_decode(const DecodeVariant& v, const Problem& pr, const AttentionInputs& in) {
  pr.validate();
  if (auto why = invalid_reason(v, pr)) throw ProblemError(v.name + ": " + *why);
  const int64_t B = pr.batch, Sq = pr.seqlen_q, Hq = pr.num_heads_q, D = pr.head_dim;
  std::vector<int64_t> lens(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) lens[static_cast<size_t>(b)] = pr.keys_in_batch(b);
  // The last S_q valid rows of each entry arrive through the append kernel when every entry has them.
  const int64_t fresh = *std::min_element(lens.begin(), lens.end()) >= Sq ? Sq : 0;
  const DeviceKvCache cache(pr, in, v.page_size, fresh);

  const SplitPlan plan = plan_for(v, lens, pr);
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
  launch_decode(p, v.dtype, v.mutant, nullptr);
  cuda_check(cudaDeviceSynchronize(), v.name + " execution");
  return download_outputs(dout, dlse, pr);
}

std::string split_trait(const DecodeVariant& v) {
  if (v.fixed_split_keys) return "fixed:" + std::to_string(v.fixed_split_keys);
  if (v.fixed_splits) return "count:" + std::to_string(v.fixed_splits);
  return "heuristic";
}

}  // namespace

Kernel make_decode_kernel(const DecodeVariant& v) {
  Kernel kernel;
  const bool is_default = v.mutant == Mutant::none && v.page_size == 0 && v.fixed_split_keys == 0 && v.fixed_splits == 0;
  // No emulator model (algorithm nullopt): FP32 CUDA-core numerics, not the FA2 emulator's.
  set_gpu_variant_info(kernel.info, v.name, "decode", v.dtype, v.head_dim, KernelPath::decode, v.mutant, is_default,
                       std::nullopt);
  kernel.info.description =
      std::string("KV-cache decode, split-KV + LSE combine, ") + std::string(dtype_name(v.dtype)) + " d" + std::to_string(v.head_dim) +
      (v.page_size ? ", paged cache (page " + std::to_string(v.page_size) + ")" : std::string(", contiguous cache")) +
      (v.fixed_split_keys ? ", fixed split " + std::to_string(v.fixed_split_keys) + " keys (batch-invariant)"
       : v.fixed_splits   ? ", " + std::to_string(v.fixed_splits) + " splits"
                          : std::string(", heuristic splits")) +
      (v.mutant != Mutant::none ? std::string(", MUTANT ") + mutant_name(v.mutant) : "");
  auto& t = kernel.info.traits;
  t["dtype"] = std::string(dtype_name(v.dtype));
  t["head_dim"] = std::to_string(v.head_dim);
  t["path"] = kernel_path_name(KernelPath::decode);
  t["cache_layout"] = v.page_size ? "paged, page " + std::to_string(v.page_size) : "contiguous [B, S_max, H_kv, D]";
  t["block_n"] = "64";
  t["split"] = split_trait(v);
  t["batch_invariant"] = v.fixed_split_keys ? "true" : "false";
  t["exp"] = "expf (FP32), natural-log LSE";
  t["p_cast"] = "none (P stays FP32)";
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
