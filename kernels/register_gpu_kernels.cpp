// register_gpu_kernels.cpp: adds every compiled prefill variant (kernels/prefill_variants.h: FA2;
// kernels/hopper/hopper_variants.h: the sm_90a FA3-style kernels) and its GPU mutants to the
// registry, with a host run() that uploads the quantized inputs as FP16/BF16 bits, poisons the
// outputs (NaN) so an unwritten element cannot pass, launches and copies back. Without CUDA:
// registers nothing and says why. Not the kernels themselves.
#include "kernels/register_gpu_kernels.h"

#if defined(ATTNSCOPE_HAVE_CUDA)
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "core/errors.h"
#include "core/float_format.h"
#include "core/half.h"
#include "kernels/device_buffer.h"
#include "kernels/gpu_variant_info.h"
#include "kernels/hopper/hopper_variants.h"
#include "kernels/hopper/launch_support.h"
#include "kernels/prefill_variants.h"
#endif

namespace attn {

#if !defined(ATTNSCOPE_HAVE_CUDA)
void register_gpu_kernels(Registry&) {}
bool gpu_available(std::string* why) {
  if (why) *why = "this build has no CUDA (nvcc was not found or ATTNSCOPE_ENABLE_CUDA=OFF)";
  return false;
}
#else

namespace {

std::optional<std::string> prefill_invalid_reason(const PrefillVariant& v, const Problem& pr) {
  if (pr.dtype != v.dtype)
    return "dtype " + std::string(dtype_name(pr.dtype)) + " but the variant is " + std::string(dtype_name(v.dtype));
  if (pr.head_dim != v.head_dim) return "head_dim " + std::to_string(pr.head_dim) + " but the variant is d" + std::to_string(v.head_dim);
  if (pr.gqa != GqaMapping::contiguous) return std::string("GQA mapping ") + gqa_name(pr.gqa) + " is not a kernel mode (diagnosis only)";
  if (pr.batch > 65535 || pr.num_heads_q > 65535) return std::string("batch and H_q must be <= 65535 (grid limits)");
  const int64_t int_max = std::numeric_limits<int32_t>::max();
  if (pr.seqlen_q > int_max || pr.seqlen_k > int_max) return std::string("sequence lengths above 2^31-1");
  return std::nullopt;
}

AttentionOutputs run_prefill(const PrefillVariant& v, const Problem& pr, const AttentionInputs& in) {
  pr.validate();
  if (auto why = prefill_invalid_reason(v, pr)) throw ProblemError(v.name + ": " + *why);
  const auto q = to_bits(in.q, pr.dtype), k = to_bits(in.k, pr.dtype), vv = to_bits(in.v, pr.dtype);
  const size_t nlse = static_cast<size_t>(pr.batch * pr.num_heads_q * pr.seqlen_q);
  DeviceBuffer dq(q.size() * 2), dk(k.size() * 2), dv(vv.size() * 2), dout(q.size() * 2), dlse(nlse * 4);
  cuda_check(cudaMemcpy(dq.ptr, q.data(), q.size() * 2, cudaMemcpyHostToDevice), "copy Q");
  cuda_check(cudaMemcpy(dk.ptr, k.data(), k.size() * 2, cudaMemcpyHostToDevice), "copy K");
  cuda_check(cudaMemcpy(dv.ptr, vv.data(), vv.size() * 2, cudaMemcpyHostToDevice), "copy V");
  // Poison: 0xFFFF is a NaN in FP16 and BF16, 0xFFFFFFFF in FP32; every element must be overwritten.
  cuda_check(cudaMemset(dout.ptr, 0xFF, q.size() * 2), "poison O");
  cuda_check(cudaMemset(dlse.ptr, 0xFF, nlse * 4), "poison LSE");
  std::vector<int> lens(pr.seqlens_k.begin(), pr.seqlens_k.end());
  DeviceBuffer dlens(lens.size() * 4);
  if (!lens.empty()) cuda_check(cudaMemcpy(dlens.ptr, lens.data(), lens.size() * 4, cudaMemcpyHostToDevice), "copy seqlens_k");
  PrefillParams p = make_prefill_params(pr);
  p.q = dq.ptr; p.k = dk.ptr; p.v = dv.ptr; p.o = dout.ptr; p.lse = static_cast<float*>(dlse.ptr);
  p.seqlens_k = lens.empty() ? nullptr : static_cast<const int*>(dlens.ptr);
  v.launch(p, nullptr);
  cuda_check(cudaGetLastError(), v.name + " launch");
  cuda_check(cudaDeviceSynchronize(), v.name + " execution");
  return download_outputs(dout, dlse, pr);
}

/// The registry entry of a compiled prefill variant of `design` ("fa2" or "fa3"): typed
/// metadata, description and the display traits both designs share.
Kernel make_prefill_kernel(const PrefillVariant& v, const char* design, const std::string& description) {
  const AlgorithmConfig& a = v.algorithm;
  Kernel kernel;
  set_gpu_variant_info(kernel.info, v.name, design, v.dtype, v.head_dim, KernelPath::full, a.mutant, v.is_default, a);
  kernel.info.description = description + ", " + std::string(dtype_name(v.dtype)) + " d" + std::to_string(v.head_dim) +
                            (a.p_cast == PCastMode::split_hi_lo ? ", precise P (hi+lo)" : "") +
                            (a.rescale_threshold_log2 > 0 ? ", lazy rescale" : "") +
                            (a.fp8.enabled() ? std::string(", FP8 E4M3 operands and P (") +
                                                   (a.fp8.scaling == Fp8Scaling::per_tensor ? "per-tensor" : "per-block") +
                                                   " scales" + (a.fp8.rotate ? ", Hadamard rotation of Q and K" : "") +
                                                   ")"
                                             : std::string()) +
                            (a.mutant != Mutant::none ? std::string(", MUTANT ") + mutant_name(a.mutant) : "");
  auto& t = kernel.info.traits;
  t["dtype"] = std::string(dtype_name(v.dtype));
  t["head_dim"] = std::to_string(v.head_dim);
  t["block_m"] = std::to_string(a.tiles.block_m);
  t["block_n"] = std::to_string(a.tiles.block_n);
  t["exp"] = "ex2.approx.ftz, scale*log2e folded into one fma";
  t["p_cast"] = a.p_cast == PCastMode::split_hi_lo ? "split_hi_lo" : "input_dtype";
  t["rescale_threshold_log2"] = std::to_string(static_cast<int>(a.rescale_threshold_log2));
  t["kv_order"] = "forward";
  t["mutant"] = mutant_name(a.mutant);
  t["default"] = v.is_default ? "true" : "false";
  if (a.fp8.enabled()) {
    t["fp8_scaling"] = a.fp8.scaling == Fp8Scaling::per_tensor ? "per_tensor" : "per_block";
    t["fp8_rotate"] = a.fp8.rotate ? "true" : "false";
  }
  const PrefillVariant* vp = &v;
  kernel.invalid_reason = [vp](const Problem& pr) { return prefill_invalid_reason(*vp, pr); };
  kernel.run = [vp](const Problem& pr, const AttentionInputs& in) { return run_prefill(*vp, pr, in); };
  return kernel;
}

}  // namespace

void register_gpu_kernels(Registry& registry) {
  for (const PrefillVariant& v : prefill_variants()) {
    Kernel kernel = make_prefill_kernel(v, "fa2", "FA2 prefill (mma.sync m16n8k16, cp.async x2)");
    auto& t = kernel.info.traits;
    t["warps"] = std::to_string(v.algorithm.tiles.block_m / 16);
    t["stages"] = "2";
    t["min_blocks_per_sm"] = std::to_string(v.min_blocks_per_sm);
    t["mma"] = "mma.sync.m16n8k16";
    registry.add(std::move(kernel));
  }
  // ---- Hopper (sm_90a): FA3-style, kernels/hopper/ ---------------------------------------------
  for (const HopperVariant& h : hopper_prefill_variants()) {
    Kernel kernel = make_prefill_kernel(
        h.base, "fa3", "FA3-style prefill (TMA, wgmma, warp-specialized" + std::string(h.ping_pong ? ", ping-pong" : "") + ")");
    auto& t = kernel.info.traits;
    t["warps"] = std::to_string(4 * (1 + h.consumer_warpgroups));
    t["stages"] = std::to_string(h.stages);
    t["consumer_warpgroups"] = std::to_string(h.consumer_warpgroups);
    t["ping_pong"] = h.ping_pong ? "true" : "false";
    t["intra_warpgroup_overlap"] = h.intra_overlap ? "true" : "false";
    t["mma"] = "wgmma.m64nNk16 (QK^T: A, B shared; PV: P in registers)";
    t["loads"] = "TMA 128B swizzle, persistent CTAs";
    const PrefillVariant* vp = &h.base;
    kernel.run = [vp](const Problem& pr, const AttentionInputs& in) {
      try {
        return run_prefill(*vp, pr, in);
      } catch (const Error& e) {  // a deadlocked barrier wait says where before the context died
        const std::string watchdog = hopper::watchdog_message();
        if (watchdog.empty()) throw;
        throw Error(std::string(e.what()) + " (" + watchdog + ")");
      }
    };
    registry.add(std::move(kernel));
  }
}

bool gpu_available(std::string* why) {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess || count == 0) {
    if (why) *why = e != cudaSuccess ? std::string("no usable CUDA device: ") + cudaGetErrorString(e) : "no CUDA device present";
    return false;
  }
  return true;
}

#endif

}  // namespace attn
