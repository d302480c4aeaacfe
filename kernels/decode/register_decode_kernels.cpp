// register_decode_kernels.cpp: registers the KV-cache decode variants (split-KV flash-decoding,
// FP16/BF16, D = 64/128, heuristic or fixed split size) and the four cache-path mutants. The host
// run(): uploads the cache with the last S_q rows of every entry missing and the unused capacity
// poisoned (NaN), appends those rows with the append kernel (host overflow check first), poisons
// the outputs and partials (NaN), launches split + combine and copies O and LSE back.
// Without CUDA: registers nothing. Not the kernels (decode.cu) nor the split planning (cache_plan).
#include "kernels/decode/register_decode_kernels.h"

#if defined(ATTNSCOPE_HAVE_CUDA)
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "core/errors.h"
#include "core/half.h"
#include "core/kernel_config.h"
#include "kernels/cache/cache_plan.h"
#include "kernels/decode/decode_launch.h"
#endif

namespace attn {

#if !defined(ATTNSCOPE_HAVE_CUDA)
void register_decode_kernels(Registry&) {}
#else

namespace {

void check(cudaError_t e, const std::string& what) {
  if (e != cudaSuccess) throw Error("CUDA (decode): " + what + ": " + cudaGetErrorString(e));
}

/// Device buffer freed on scope exit.
struct Buffer {
  void* ptr = nullptr;
  explicit Buffer(size_t bytes) { check(cudaMalloc(&ptr, bytes == 0 ? 16 : bytes), "cudaMalloc"); }
  ~Buffer() { cudaFree(ptr); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
};

struct DecodeVariant {
  std::string name;
  bool bf16 = false;
  int head_dim = 128;
  int fixed_split_keys = 0;  ///< 0: heuristic split count (not batch-invariant)
  Mutant mutant = Mutant::none;
};

int mutant_flags(Mutant m) {
  switch (m) {
    case Mutant::stale_seqlens: return kDecodeStaleSeqlens;
    case Mutant::interleaved_gqa_in_cache_path: return kDecodeInterleavedGqa;
    case Mutant::top_left_in_cache_path: return kDecodeTopLeft;
    case Mutant::base2_lse_natural_combine: return kDecodeBase2Lse;
    default: return kDecodeCorrect;
  }
}

uint16_t bits_of(double x, bool bf16) { return bf16 ? BFloat16(x).bits() : Half(x).bits(); }

std::optional<std::string> invalid_reason(const DecodeVariant& v, const Problem& pr) {
  const DType want = v.bf16 ? DType::bf16 : DType::fp16;
  if (pr.dtype != want) return "dtype " + std::string(dtype_name(pr.dtype)) + " but the variant is " + std::string(dtype_name(want));
  if (pr.head_dim != v.head_dim) return "head_dim " + std::to_string(pr.head_dim) + " but the variant is d" + std::to_string(v.head_dim);
  if (pr.gqa != GqaMapping::contiguous) return std::string("GQA mapping ") + gqa_name(pr.gqa) + " is not a kernel mode";
  if (pr.seqlen_q * pr.group_size() > kDecodeMaxRows)
    return "S_q x group = " + std::to_string(pr.seqlen_q * pr.group_size()) + " rows per CTA; decode packs at most " +
           std::to_string(kDecodeMaxRows) + " (S_q <= 16 at group 8)";
  if (pr.batch > 65535 || pr.num_heads_kv > 65535) return std::string("batch and H_kv must be <= 65535 (grid limits)");
  if (pr.seqlen_k > std::numeric_limits<int32_t>::max() / 2) return std::string("cache capacity above 2^30");
  return std::nullopt;
}

AttentionOutputs run_decode(const DecodeVariant& v, const Problem& pr, const AttentionInputs& in) {
  pr.validate();
  if (auto why = invalid_reason(v, pr)) throw ProblemError(v.name + ": " + *why);
  const int64_t B = pr.batch, Sq = pr.seqlen_q, cap = pr.seqlen_k, Hq = pr.num_heads_q, Hkv = pr.num_heads_kv,
                D = pr.head_dim;
  std::vector<int64_t> lens(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) lens[static_cast<size_t>(b)] = pr.keys_in_batch(b);
  // The last S_q valid rows of each entry arrive through the append kernel when every entry has them.
  const bool append = *std::min_element(lens.begin(), lens.end()) >= Sq;
  const int64_t fresh = append ? Sq : 0;
  std::vector<int64_t> old_lens(lens);
  for (auto& n : old_lens) n -= fresh;
  check_append_fits(old_lens, fresh, cap);

  // Cache image: rows >= old_len are 0xFFFF (NaN in FP16/BF16): reading them would poison O.
  const size_t cache_elems = static_cast<size_t>(B * cap * Hkv * D);
  std::vector<uint16_t> kc(cache_elems, 0xFFFF), vc(cache_elems, 0xFFFF);
  std::vector<uint16_t> nk(static_cast<size_t>(B * fresh * Hkv * D)), nv(nk.size());
  for (int64_t b = 0; b < B; ++b)
    for (int64_t j = 0; j < lens[static_cast<size_t>(b)]; ++j)
      for (int64_t h = 0; h < Hkv; ++h)
        for (int64_t d = 0; d < D; ++d) {
          const uint16_t kb = bits_of(in.k(b, j, h, d), v.bf16), vb = bits_of(in.v(b, j, h, d), v.bf16);
          const int64_t old = old_lens[static_cast<size_t>(b)];
          if (j < old) {
            const size_t at = static_cast<size_t>(((b * cap + j) * Hkv + h) * D + d);
            kc[at] = kb;
            vc[at] = vb;
          } else {
            const size_t at = static_cast<size_t>(((b * fresh + (j - old)) * Hkv + h) * D + d);
            nk[at] = kb;
            nv[at] = vb;
          }
        }
  std::vector<uint16_t> qb(static_cast<size_t>(in.q.numel()));
  for (int64_t i = 0; i < in.q.numel(); ++i) qb[static_cast<size_t>(i)] = bits_of(in.q.flat(i), v.bf16);

  const SplitPlan plan = v.fixed_split_keys > 0 ? plan_fixed_splits(lens, v.fixed_split_keys)
                                                : plan_heuristic_splits(lens, Hkv, kDecodeTargetCtas);
  const size_t rows = static_cast<size_t>(B * Hq * Sq);
  Buffer dq(qb.size() * 2), dk(cache_elems * 2), dv(cache_elems * 2), dnk(nk.size() * 2), dnv(nv.size() * 2),
      dout(qb.size() * 2), dlse(rows * 4), dpo(static_cast<size_t>(plan.max_splits) * rows * D * 4),
      dplse(static_cast<size_t>(plan.max_splits) * rows * 4), dold(static_cast<size_t>(B) * 4),
      dlens(static_cast<size_t>(B) * 4), dflag(4);
  std::vector<int> old32(old_lens.begin(), old_lens.end()), lens32(lens.begin(), lens.end());
  check(cudaMemcpy(dq.ptr, qb.data(), qb.size() * 2, cudaMemcpyHostToDevice), "copy Q");
  check(cudaMemcpy(dk.ptr, kc.data(), cache_elems * 2, cudaMemcpyHostToDevice), "copy K cache");
  check(cudaMemcpy(dv.ptr, vc.data(), cache_elems * 2, cudaMemcpyHostToDevice), "copy V cache");
  if (!nk.empty()) {
    check(cudaMemcpy(dnk.ptr, nk.data(), nk.size() * 2, cudaMemcpyHostToDevice), "copy new K");
    check(cudaMemcpy(dnv.ptr, nv.data(), nv.size() * 2, cudaMemcpyHostToDevice), "copy new V");
  }
  check(cudaMemcpy(dold.ptr, old32.data(), old32.size() * 4, cudaMemcpyHostToDevice), "copy seq_lens");
  check(cudaMemcpy(dlens.ptr, lens32.data(), lens32.size() * 4, cudaMemcpyHostToDevice), "copy seqlens_k");
  check(cudaMemset(dflag.ptr, 0, 4), "clear flag");
  // Poison: every O, LSE and partial the kernels should write starts as NaN.
  check(cudaMemset(dout.ptr, 0xFF, qb.size() * 2), "poison O");
  check(cudaMemset(dlse.ptr, 0xFF, rows * 4), "poison LSE");
  check(cudaMemset(dpo.ptr, 0xFF, static_cast<size_t>(plan.max_splits) * rows * D * 4), "poison partial O");
  check(cudaMemset(dplse.ptr, 0xFF, static_cast<size_t>(plan.max_splits) * rows * 4), "poison partial LSE");

  launch_append(dnk.ptr, dnv.ptr, dk.ptr, dv.ptr, static_cast<const int*>(dold.ptr), static_cast<int>(B),
                static_cast<int>(fresh), static_cast<int>(cap), static_cast<int>(Hkv), static_cast<int>(D),
                static_cast<int*>(dflag.ptr), nullptr);
  int flag = 0;
  check(cudaMemcpy(&flag, dflag.ptr, 4, cudaMemcpyDeviceToHost), "read overflow flag");
  if (flag) throw CacheOverflowError(v.name + ": the append kernel refused an overflowing entry (device check)");

  DecodeParams p;
  p.q = dq.ptr; p.k_cache = dk.ptr; p.v_cache = dv.ptr; p.o = dout.ptr; p.lse = static_cast<float*>(dlse.ptr);
  p.partial_o = static_cast<float*>(dpo.ptr); p.partial_lse = static_cast<float*>(dplse.ptr);
  p.seqlens_k = static_cast<const int*>(dlens.ptr);
  p.batch = static_cast<int>(B); p.seqlen_q = static_cast<int>(Sq); p.capacity = static_cast<int>(cap);
  p.num_heads_q = static_cast<int>(Hq); p.num_heads_kv = static_cast<int>(Hkv); p.head_dim = static_cast<int>(D);
  p.keys_per_split = static_cast<int>(plan.keys_per_split); p.max_splits = static_cast<int>(plan.max_splits);
  p.scale = static_cast<float>(pr.scale());  // scale rounded once to FP32
  p.mask = pr.mask;
  p.mutant_flags = mutant_flags(v.mutant);
  launch_decode(p, v.bf16, nullptr);
  check(cudaDeviceSynchronize(), v.name + " execution");
  std::vector<uint16_t> o(qb.size());
  std::vector<float> lse(rows);
  check(cudaMemcpy(o.data(), dout.ptr, o.size() * 2, cudaMemcpyDeviceToHost), "copy O back");
  check(cudaMemcpy(lse.data(), dlse.ptr, rows * 4, cudaMemcpyDeviceToHost), "copy LSE back");
  AttentionOutputs out;
  out.out_dtype = pr.dtype;
  out.o = Tensor<double>(pr.q_shape());
  out.lse = Tensor<double>(pr.lse_shape());
  for (size_t i = 0; i < o.size(); ++i)
    out.o.flat(static_cast<int64_t>(i)) = v.bf16 ? BFloat16::from_bits(o[i]).to_double() : Half::from_bits(o[i]).to_double();
  for (size_t i = 0; i < rows; ++i) out.lse.flat(static_cast<int64_t>(i)) = lse[i];
  return out;
}

std::vector<DecodeVariant> decode_variants() {
  std::vector<DecodeVariant> out;
  for (bool bf16 : {false, true})
    for (int d : {64, 128}) {
      const std::string stem = std::string("decode.") + (bf16 ? "bf16" : "fp16") + ".d" + std::to_string(d);
      out.push_back({stem + ".split", bf16, d, 0, Mutant::none});
      out.push_back({stem + ".fixed256", bf16, d, 256, Mutant::none});
    }
  // Mutants on a 64-key fixed split so that any depth > 64 has several splits to combine.
  for (Mutant m : {Mutant::stale_seqlens, Mutant::interleaved_gqa_in_cache_path, Mutant::top_left_in_cache_path,
                   Mutant::base2_lse_natural_combine})
    for (bool bf16 : {false, true})
      out.push_back({std::string("mutant.decode.") + (bf16 ? "bf16" : "fp16") + ".d128." + mutant_name(m), bf16, 128, 64, m});
  return out;
}

}  // namespace

void register_decode_kernels(Registry& registry) {
  static const std::vector<DecodeVariant> variants = decode_variants();
  for (const DecodeVariant& v : variants) {
    Kernel kernel;
    kernel.info.name = v.name;
    kernel.info.family = v.mutant == Mutant::none ? "cuda" : "mutant";
    kernel.info.planted_bug = mutant_category(v.mutant);
    kernel.info.needs_gpu = true;
    kernel.info.description = std::string("KV-cache decode, split-KV + LSE combine, ") + (v.bf16 ? "bf16" : "fp16") +
                              " d" + std::to_string(v.head_dim) +
                              (v.fixed_split_keys ? ", fixed split " + std::to_string(v.fixed_split_keys) + " keys (batch-invariant)"
                                                  : std::string(", heuristic splits")) +
                              (v.mutant != Mutant::none ? std::string(", MUTANT ") + mutant_name(v.mutant) : "");
    auto& t = kernel.info.traits;
    t["dtype"] = v.bf16 ? "bf16" : "fp16";
    t["head_dim"] = std::to_string(v.head_dim);
    t["path"] = "decode";
    t["cache_layout"] = "contiguous [B, S_max, H_kv, D]";
    t["block_n"] = "64";
    t["split"] = v.fixed_split_keys ? "fixed:" + std::to_string(v.fixed_split_keys) : "heuristic";
    t["batch_invariant"] = v.fixed_split_keys ? "true" : "false";
    t["exp"] = "expf (FP32), natural-log LSE";
    t["p_cast"] = "none (P stays FP32)";
    t["mutant"] = mutant_name(v.mutant);
    const DecodeVariant* vp = &v;
    kernel.invalid_reason = [vp](const Problem& pr) { return invalid_reason(*vp, pr); };
    kernel.run = [vp](const Problem& pr, const AttentionInputs& in) { return run_decode(*vp, pr, in); };
    registry.add(std::move(kernel));
  }
}

#endif

}  // namespace attn
