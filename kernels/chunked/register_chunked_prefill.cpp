// register_chunked_prefill.cpp: host runner and registration of the chunked-prefill variants
// (register_chunked_prefill.h). The run(): builds the device cache (kernels/cache/
// device_kv_cache.h: the chunk's K/V arrive through the append kernel, unused rows poisoned),
// launches the default FA2 (or fa3) prefill variant of the dtype and head_dim
// (or a GPU mutant) on the
// cache with per-entry lengths and the block table, O and LSE poisoned beforehand. An E4M3 cache
// (fp8_cache) is dequantized into a 16-bit copy of its storage first (kernels/cache/dequantize_kv.h).
#include "kernels/chunked/register_chunked_prefill.h"

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

#include "kernels/cache/dequantize_kv.h"
#include "kernels/cache/device_kv_cache.h"
#include "kernels/cache/fp8_kv.h"
#include "kernels/device_buffer.h"
#include "kernels/gpu_variant_info.h"
#include "kernels/hopper/hopper_variants.h"
#include "kernels/hopper/launch_support.h"
#include "kernels/prefill_variants.h"
#endif

namespace attn {

#if !defined(ATTNSCOPE_HAVE_CUDA)
Kernel make_chunked_prefill_kernel(const ChunkedPrefillVariant& variant) { return unavailable_kernel(variant.name); }
void register_chunked_prefill_kernels(Registry&) {}
#else

const PrefillVariant& chunked_prefill_variant(const ChunkedPrefillVariant& c) {
  for (const PrefillVariant& v : prefill_variants())
    if (v.name == c.prefill) return v;
  for (const HopperVariant& h : hopper_prefill_variants())
    if (h.base.name == c.prefill) return h.base;
  throw Error("chunked prefill: " + c.name + " launches " + c.prefill + ", which no prefill variant is");
}

namespace {

bool is_fa3(const ChunkedPrefillVariant& c) { return c.prefill.rfind("fa3.", 0) == 0; }

std::optional<std::string> invalid_reason(const ChunkedPrefillVariant& c, const Problem& pr) {
  const PrefillVariant& v = chunked_prefill_variant(c);
  if (pr.dtype != v.dtype)
    return "dtype " + std::string(dtype_name(pr.dtype)) + " but the variant is " + std::string(dtype_name(v.dtype));
  if (pr.head_dim != v.head_dim) return "head_dim " + std::to_string(pr.head_dim) + " but the variant is d" + std::to_string(v.head_dim);
  if (pr.gqa != GqaMapping::contiguous) return std::string("GQA mapping ") + gqa_name(pr.gqa) + " is not a kernel mode";
  if (pr.mask.kind == MaskKind::causal_top_left)
    return std::string("top-left causal has no meaning over a KV cache (it would align each chunk to key 0)");
  if (is_fa3(c) && c.page_size != 0)
    if (auto why = hopper::fa3_paged_refusal(c.page_size, v.algorithm.tiles.block_n, v.algorithm.fp8.enabled())) return why;
  if (pr.batch > 65535 || pr.num_heads_q > 65535) return std::string("batch and H_q must be <= 65535 (grid limits)");
  if (pr.seqlen_k > std::numeric_limits<int32_t>::max() / 2) return std::string("cache capacity above 2^30");
  return std::nullopt;
}

AttentionOutputs run_chunked(const ChunkedPrefillVariant& c, const Problem& pr, const AttentionInputs& in) {
  pr.validate();
  if (auto why = invalid_reason(c, pr)) throw ProblemError(c.name + ": " + *why);
  const PrefillVariant& v = chunked_prefill_variant(c);
  int64_t shortest = pr.keys_in_batch(0);
  for (int64_t b = 1; b < pr.batch; ++b) shortest = std::min(shortest, pr.keys_in_batch(b));
  // The chunk's K/V arrive through the append kernel when every entry holds the whole chunk.
  std::optional<Fp8KvScales> scales;
  if (c.fp8_cache) scales = fp8_kv_scales(pr, in);
  const DeviceKvCache cache(pr, in, c.page_size, shortest >= pr.seqlen_q ? pr.seqlen_q : 0, scales ? &*scales : nullptr);
  // E4M3: the whole storage (every row, poisoned ones stay NaN) dequantized into a 16-bit copy of
  // the same layout, which the prefill kernel reads through the same block table.
  DeviceBuffer k16, v16;
  if (c.fp8_cache) {
    const size_t elems = static_cast<size_t>(cache.storage_rows() * pr.num_heads_kv * pr.head_dim);
    k16 = DeviceBuffer(elems * 2);
    v16 = DeviceBuffer(elems * 2);
    const int hkv = static_cast<int>(pr.num_heads_kv), d = static_cast<int>(pr.head_dim);
    launch_dequantize_kv_e4m3(cache.k(), k16.ptr, cache.storage_rows(), hkv, d, cache.k_scale(), pr.dtype, nullptr);
    launch_dequantize_kv_e4m3(cache.v(), v16.ptr, cache.storage_rows(), hkv, d, cache.v_scale(), pr.dtype, nullptr);
  }
  const std::vector<uint16_t> q = to_bits(in.q, pr.dtype);
  const size_t nlse = static_cast<size_t>(pr.batch * pr.num_heads_q * pr.seqlen_q);
  const DeviceBuffer dq = upload(q, "copy Q");
  DeviceBuffer dout(q.size() * 2), dlse(nlse * 4);
  cuda_check(cudaMemset(dout.ptr, 0xFF, q.size() * 2), "poison O");
  cuda_check(cudaMemset(dlse.ptr, 0xFF, nlse * 4), "poison LSE");
  PrefillParams p = make_prefill_params(pr);
  p.q = dq.ptr; p.o = dout.ptr; p.lse = dlse.as<float>();
  p.k = c.fp8_cache ? k16.ptr : cache.k();
  p.v = c.fp8_cache ? v16.ptr : cache.v();
  p.seqlens_k = cache.seqlens();
  p.layout = cache.layout();
  p.seqlen_k = cache.capacity();
  v.launch(p, nullptr);
  cuda_check(cudaGetLastError(), c.name + " launch");
  cuda_check(cudaDeviceSynchronize(), c.name + " execution");
  return download_outputs(dout, dlse, pr);
}

}  // namespace

Kernel make_chunked_prefill_kernel(const ChunkedPrefillVariant& c) {
  const PrefillVariant& v = chunked_prefill_variant(c);
  const AlgorithmConfig& a = v.algorithm;
  Kernel kernel;
  // The prefill kernel's algorithm, reading the cache in place. An E4M3 cache has none of its own:
  // the algorithm runs on the dequantized cache, not on the inputs (as the FP8 decode variants).
  set_gpu_variant_info(kernel.info, c.name, "chunked", v.dtype, v.head_dim, KernelPath::chunked_prefill, a.mutant,
                       v.is_default && c.page_size == 0 && !c.fp8_cache && !is_fa3(c),
                       c.fp8_cache ? std::optional<AlgorithmConfig>() : std::optional<AlgorithmConfig>(a));
  kernel.info.description = "chunked prefill over a KV cache (" + v.name +
                            (c.fp8_cache ? " reading a dequantized copy of an E4M3 cache), " : " reading the cache in place), ") +
                            (c.page_size ? "paged, page " + std::to_string(c.page_size) : std::string("contiguous")) +
                            (a.mutant != Mutant::none ? std::string(", MUTANT ") + mutant_name(a.mutant) : "");
  auto& t = kernel.info.traits;
  t["dtype"] = std::string(dtype_name(v.dtype));
  t["head_dim"] = std::to_string(v.head_dim);
  t["path"] = kernel_path_name(KernelPath::chunked_prefill);
  t["prefill_kernel"] = v.name;
  t["cache_layout"] = c.page_size ? "paged, page " + std::to_string(c.page_size) : "contiguous [B, S_max, H_kv, D]";
  t["block_m"] = std::to_string(a.tiles.block_m);
  t["block_n"] = std::to_string(a.tiles.block_n);
  t["p_cast"] = a.p_cast == PCastMode::split_hi_lo ? "split_hi_lo" : "input_dtype";
  t["rescale_threshold_log2"] = std::to_string(static_cast<int>(a.rescale_threshold_log2));
  t["exp"] = "ex2.approx.ftz, scale*log2e folded into one fma";
  t["mutant"] = mutant_name(a.mutant);
  t["fp8_cache"] = c.fp8_cache ? "true" : "false";
  if (c.fp8_cache) t["kv_quantization"] = "E4M3 with per-head power-of-two scales, dequantized exactly before the prefill kernel";
  kernel.invalid_reason = [c](const Problem& pr) { return invalid_reason(c, pr); };
  kernel.run = [c](const Problem& pr, const AttentionInputs& in) { return run_chunked(c, pr, in); };
  return kernel;
}

void register_chunked_prefill_kernels(Registry& registry) {
  for (const ChunkedPrefillVariant& c : chunked_variants()) registry.add(make_chunked_prefill_kernel(c));
}

#endif

}  // namespace attn
