// test_stage_agreement.cpp (GPU): the GPU kernels, the emulator and the diagnosis run the same
// core/pipeline/ stages, so they give the same answer stage by stage. For every registered GPU
// variant that plants a bug (and the correct variants of the same designs), on a cache-path
// problem where the bug shows:
//  * FA2 and fa3 (Hopper) prefill, chunked variants: the GPU output equals the all-kernel emulator of the variant's
//    own algorithm (KernelInfo::algorithm) except where ex2.approx differs from the modelled exp2f
//    (< 5 % of the elements, a few ULPs of the row's scale: element ULPs reach tens on outputs
//    near zero, reports/h200/stages-check/README.md);
//  * every variant, decode included (an E4M3 cache's mutants on the dequantized cache they read):
//    the GPU output is within rounding (excess <= kExcessRounding)
//    of the diagnosis's exact attention under the same planted semantics (pipeline::plant_bug,
//    the split plan of the kernel), and the diagnosis names the planted category.
// Run by experiments/device/stages_check.sh ([stages] tag).
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "analysis/diagnosis.h"
#include "analysis/emulator.h"
#include "analysis/metrics.h"
#include "core/generators.h"
#include "core/pipeline/semantics.h"
#include "experiments/register_all.h"
#include "kernels/cache/fp8_kv.h"
#include "tests/gpu/bit_diff.h"
#include "tests/gpu/decode_test_util.h"

namespace attn {
namespace {

/// A cache-path problem for a kernel: S_q < S_k, ragged lengths, GQA 4, lengths off the tiles.
Problem problem_for(const KernelInfo& k) {
  Problem p;
  p.batch = 2;
  p.seqlen_q = k.path == KernelPath::decode ? 4 : 37;
  p.seqlen_k = 700;
  p.seqlens_k = {700, 333};
  p.num_heads_q = 8;
  p.num_heads_kv = 2;
  p.head_dim = k.head_dim;
  p.dtype = *k.dtype;
  return p;
}

/// Split plan the diagnosis must follow to reproduce a kernel's combine (decode mutants: fixed
/// 64-key splits; the FA2 designs: none).
int64_t split_keys_of(const KernelInfo& k) { return k.path == KernelPath::decode ? 64 : 0; }

}  // namespace

TEST_CASE("stage agreement: GPU, emulator and diagnosis plant each bug identically", "[gpu][stages]") {
  int checked = 0;
  for (const Kernel* k : all_kernels().all()) {
    const KernelInfo& info = k->info;
    if (!info.needs_gpu || info.design.empty()) continue;
    // Every mutant, and each design's default correct variant as the control.
    if (info.mutant == Mutant::none && !info.is_default) continue;
    const Problem p = problem_for(info);
    if (k->invalid_reason && k->invalid_reason(p)) continue;
    const AttentionInputs in = generate_inputs(p, InputSpec{Distribution::normal, 23});
    const AttentionOutputs gpu = k->run(p, in);
    // An E4M3 cache's kernel (its FP8 mutants) computes on the dequantized cache: the emulator,
    // the exact attention and the diagnosis below are given what it read (kernels/cache/fp8_kv.h).
    const AttentionInputs seen = is_fp8_cache_kernel(*k) ? dequantized_kv(p, in, fp8_kv_scales(p, in)) : in;
    INFO(info.name << " on " << p.label());

    // 1. GPU vs emulator (FA2 designs: the emulator models them).
    if (info.algorithm) {
      EmulatorConfig cfg;
      cfg.algorithm = *info.algorithm;
      const AttentionOutputs emu = emulate_attention(p, seen, cfg);
      const BitDiff diff = bit_diff(gpu.o, emu.o, p.dtype);
      const double fraction = diff.fraction();
      const int64_t max_ulps = diff.max_ulps;
      std::printf("stages %-58s gpu vs emulator: %lld of %lld differ (%.4f%%), max %lld ulp, %.2f row-scale ulp\n",
                  info.name.c_str(), static_cast<long long>(diff.differ), static_cast<long long>(diff.total),
                  100 * fraction, static_cast<long long>(max_ulps), diff.max_row_ulps);
      CHECK(fraction < 0.05);
      CHECK(diff.max_row_ulps <= 4);
    }

    // 2. GPU vs the diagnosis's exact attention under the same planted semantics (the rescaling
    //    mutants change the arithmetic, not the meaning: the emulator comparison above is theirs).
    ++checked;
    if (std::string(mutant_category(info.mutant)) == "rescaling") continue;
    pipeline::Semantics declared;
    declared.mask = p.mask;
    declared.gqa = p.gqa;
    declared.scale = p.scale();
    const int tile = info.algorithm ? info.algorithm->tiles.block_n : 64;
    const pipeline::Semantics planted = pipeline::plant_bug(declared, info.mutant, is_cache_path(p), tile);
    const bool split_bug = info.mutant == Mutant::base2_lse_natural_combine;
    Tensor<double> exact;
    if (split_bug && split_keys_of(info) > 0) {
      // Fixed-size splits: as many runs of split_keys keys as the longest entry needs.
      const int64_t per = split_keys_of(info);
      exact = exact_attention_under(p, seen, planted, static_cast<int>((p.seqlen_k + per - 1) / per), per);
    } else {
      exact = exact_attention_under(p, seen, planted);
    }
    const ErrorMetrics err = compute_metrics(gpu.o, exact, p.dtype);
    const double floor = rounding_floor(exact, p.dtype).rmse;
    const double excess = floor > 0 ? err.rmse / floor : 0;
    std::printf("stages %-58s gpu vs exact planted semantics: excess %.2f\n", info.name.c_str(), excess);
    CHECK(excess <= kExcessRounding);

    // 3. The diagnosis names the planted category (or none for a correct kernel).
    const Diagnosis dx = diagnose(p, seen, gpu.o, p.dtype);
    if (info.mutant == Mutant::none) {
      CHECK(dx.verdict == "no semantic bug");
    } else {
      bool listed = dx.category == mutant_category(info.mutant);
      for (const std::string& m : dx.also_matching) listed = listed || m.rfind(std::string(mutant_category(info.mutant)) + ":", 0) == 0;
      CHECK(dx.verdict == "semantic bug");
      CHECK(listed);
    }
  }
  CHECK(checked >= 20);
}

}  // namespace attn
