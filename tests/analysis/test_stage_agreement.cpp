// test_stage_agreement.cpp: the emulator and the diagnosis run the same core/pipeline/ stages, so
// they must give the same answer stage by stage (the GPU side of the same comparison is
// tests/gpu/test_stage_agreement.cpp). For each planted semantic bug (mask corner, GQA map, cache
// length, tile-edge leak, split-LSE combine) and for the correct semantics, on a cache-path
// problem with ragged lengths: the all-exact emulator with the bug planted equals the diagnosis's
// exact attention under pipeline::plant_bug (to double rounding), the bug is visible (far from the
// correct output), and the diagnosis of the all-kernel emulator's output names the bug's category.
// Also the lazy-rescale rule: exact in exact arithmetic (the emulator equals the unlazy truth).
#include <catch2/catch.hpp>

#include <cmath>
#include <string>

#include "analysis/diagnosis.h"
#include "analysis/emulator.h"
#include "core/generators.h"
#include "core/pipeline/semantics.h"

using namespace attn;

namespace {

Problem cache_problem() {
  Problem p;
  p.batch = 2;
  p.seqlen_q = 7;
  p.seqlen_k = 300;
  p.seqlens_k = {300, 150};  // entry 1 ends inside a tile: padded keys exist in both entries
  p.num_heads_q = 8;
  p.num_heads_kv = 2;
  p.head_dim = 64;
  p.dtype = DType::fp16;
  return p;
}

double max_abs(const Tensor<double>& a) {
  double m = 0;
  for (int64_t e = 0; e < a.numel(); ++e) m = std::max(m, std::fabs(a.flat(e)));
  return m;
}
double max_diff(const Tensor<double>& a, const Tensor<double>& b) {
  double m = 0;
  for (int64_t e = 0; e < a.numel(); ++e) m = std::max(m, std::fabs(a.flat(e) - b.flat(e)));
  return m;
}

}  // namespace

TEST_CASE("stage agreement: emulator and diagnosis plant each bug identically", "[stages]") {
  const Problem p = cache_problem();
  REQUIRE(is_cache_path(p));
  const AttentionInputs in = generate_inputs(p, InputSpec{Distribution::normal, 17});
  pipeline::Semantics declared;
  declared.mask = p.mask;
  declared.gqa = p.gqa;
  declared.scale = p.scale();
  const Tensor<double> correct = exact_attention_under(p, in, declared);
  const Mutant bugs[] = {Mutant::none, Mutant::top_left_in_cache_path, Mutant::interleaved_gqa_in_cache_path,
                         Mutant::stale_seqlens, Mutant::unmasked_tile_edges, Mutant::base2_lse_natural_combine};
  for (Mutant bug : bugs) {
    INFO("planted: " << mutant_name(bug));
    const int splits = bug == Mutant::base2_lse_natural_combine ? 4 : 1;
    EmulatorConfig exact;
    exact.algorithm.tiles.num_splits = splits;
    exact.algorithm.mutant = bug;
    exact.policy = PrecisionPolicy::all_exact();
    const Tensor<double> emulated = emulate_attention(p, in, exact).o;
    const pipeline::Semantics planted = pipeline::plant_bug(declared, bug, is_cache_path(p), 64);
    const Tensor<double> diagnosed = exact_attention_under(p, in, planted, splits, 64);
    // Same stages, exact arithmetic: equal up to the order of double sums.
    CHECK(max_diff(emulated, diagnosed) <= 1e-12 * max_abs(diagnosed));
    // The bug shows on this problem (the correct semantics: no difference at all).
    if (bug == Mutant::none) CHECK(max_diff(diagnosed, correct) == 0.0);
    else CHECK(max_diff(diagnosed, correct) > 1e-2);

    // The kernel-arithmetic emulator's output is diagnosed in the bug's own category.
    EmulatorConfig kernel = exact;
    kernel.policy = PrecisionPolicy::all_kernel();
    const Diagnosis dx = diagnose(p, in, emulate_attention(p, in, kernel).o, p.dtype);
    if (bug == Mutant::none) {
      CHECK(dx.verdict == "no semantic bug");
    } else {
      CHECK(dx.verdict == "semantic bug");
      bool listed = dx.category == mutant_category(bug);
      for (const std::string& m : dx.also_matching) listed = listed || m.rfind(std::string(mutant_category(bug)) + ":", 0) == 0;
      CHECK(listed);
    }
  }
}

TEST_CASE("stage agreement: lazy rescaling and the split combine are exact in exact arithmetic", "[stages]") {
  const Problem p = cache_problem();
  InputSpec spec{Distribution::outliers, 5};
  const AttentionInputs in = generate_inputs(p, spec);
  pipeline::Semantics declared;
  declared.scale = p.scale();
  const Tensor<double> truth = exact_attention_under(p, in, declared);
  for (int splits : {1, 3}) {
    for (float threshold : {0.0f, 8.0f}) {
      EmulatorConfig c;
      c.algorithm.tiles.block_n = 32;
      c.algorithm.tiles.num_splits = splits;
      c.algorithm.rescale_threshold_log2 = threshold;
      c.policy = PrecisionPolicy::all_exact();
      INFO("splits " << splits << " threshold " << threshold);
      CHECK(max_diff(emulate_attention(p, in, c).o, truth) <= 1e-12 * max_abs(truth));
    }
  }
}
