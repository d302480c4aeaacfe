// test_mutants_emulator.cpp: every emulator mutant changes the output by far more than rounding
// on a problem where its bug can show (cache path for the cache-path mutants), the correct
// emulator on the same problem stays at rounding level, and attribution puts the rescaling
// mutants on the "rescaling" category and the semantic ones on "semantic".
#include <catch2/catch.hpp>

#include <cmath>

#include "analysis/attribution.h"
#include "analysis/emulator.h"
#include "core/generators.h"

using namespace attn;

namespace {

Problem problem_of(int64_t sq, int64_t sk, int64_t hq, int64_t hkv) {
  Problem p;
  p.seqlen_q = sq;
  p.seqlen_k = sk;
  p.num_heads_q = hq;
  p.num_heads_kv = hkv;
  p.head_dim = 64;
  return p;
}

double max_abs_error(const Problem& p, const AttentionInputs& in, const AlgorithmConfig& algorithm,
                     const Tensor<double>& truth) {
  EmulatorConfig config;
  config.algorithm = algorithm;
  const Tensor<double> o = emulate_attention(p, in, config).o;
  double m = 0;
  for (int64_t e = 0; e < o.numel(); ++e) m = std::max(m, std::fabs(o.flat(e) - truth.flat(e)));
  return m;
}

/// Inputs where the running max grows by less than FP16's resolution below 1 per tile, over many
/// tiles (a slow positional trend in the scores): an FP16 rescale factor rounds to 1 every time,
/// so early keys keep too much weight. V is +1 on the first half of the keys, -1 on the second.
AttentionInputs slow_max_growth(const Problem& p) {
  AttentionInputs in;
  in.q = Tensor<double>(p.q_shape());
  in.k = Tensor<double>(p.kv_shape());
  in.v = Tensor<double>(p.kv_shape());
  for (int64_t i = 0; i < p.seqlen_q; ++i) in.q(0, i, 0, 0) = 1.0;
  for (int64_t j = 0; j < p.seqlen_k; ++j) {
    in.k(0, j, 0, 0) = round_to(DType::fp16, 0.01 + 1e-4 * static_cast<double>(j));
    for (int64_t d = 0; d < p.head_dim; ++d) in.v(0, j, 0, d) = j < p.seqlen_k / 2 ? 1.0 : -1.0;
  }
  return in;
}

}  // namespace

TEST_CASE("mutants: each changes the output far beyond rounding where its bug can show", "[mutants]") {
  struct Case {
    Mutant mutant;
    Problem problem;
    int block_n;
    int splits;
    bool slow_max;  // use the slow-max-growth inputs
  };
  Problem no_mask = problem_of(16, 1024, 1, 1);
  no_mask.mask.kind = MaskKind::none;
  const Case cases[] = {
      {Mutant::top_left_in_cache_path, problem_of(16, 80, 1, 1), 64, 1, false},
      {Mutant::unmasked_tile_edges, problem_of(32, 32, 1, 1), 64, 1, false},
      {Mutant::interleaved_gqa_in_cache_path, problem_of(8, 64, 4, 2), 64, 1, false},
      {Mutant::stale_seqlens, problem_of(4, 64, 1, 1), 64, 1, false},
      {Mutant::p_cast_before_final_max, problem_of(256, 256, 1, 1), 64, 1, false},
      {Mutant::rescale_in_fp16, no_mask, 16, 1, true},
      {Mutant::base2_lse_natural_combine, problem_of(256, 256, 1, 1), 64, 4, false},
  };
  for (const Case& c : cases) {
    const AttentionInputs in = c.slow_max ? slow_max_growth(c.problem) : generate_inputs(c.problem, InputSpec{Distribution::normal, 8});
    AlgorithmConfig correct;
    correct.tiles.block_n = c.block_n;
    correct.tiles.num_splits = c.splits;
    EmulatorConfig exact;
    exact.algorithm = correct;
    exact.policy = PrecisionPolicy::all_exact();
    const Tensor<double> truth = emulate_attention(c.problem, in, exact).o;
    AlgorithmConfig planted = correct;
    planted.mutant = c.mutant;
    const double rounding = max_abs_error(c.problem, in, correct, truth);
    const double bug = max_abs_error(c.problem, in, planted, truth);
    INFO(mutant_name(c.mutant) << ": correct " << rounding << ", mutant " << bug);
    CHECK(bug > 10 * rounding);
    CHECK(bug > 1e-3);
  }
}

TEST_CASE("mutants: attribution names the category of the planted bug", "[mutants]") {
  {  // rescaling mutants: the error lives in the rescale stage
    const Problem p = problem_of(256, 256, 1, 1);
    const AttentionInputs in = generate_inputs(p, InputSpec{Distribution::normal, 8});
    AttributionOptions options;
    options.algorithm.mutant = Mutant::p_cast_before_final_max;
    const AttributionResult r = attribute_error(p, in, options);
    CHECK(dominant_category(r) == "rescaling");
    CHECK(r.stages[static_cast<size_t>(Stage::rescale)].shapley_mse > 0.9 * r.total_mse);
  }
  {
    Problem p = problem_of(16, 1024, 1, 1);
    p.mask.kind = MaskKind::none;
    const AttentionInputs in = slow_max_growth(p);
    AttributionOptions options;
    options.algorithm.tiles.block_n = 16;
    options.algorithm.mutant = Mutant::rescale_in_fp16;
    const AttributionResult r = attribute_error(p, in, options);
    CHECK(dominant_category(r) == "rescaling");
  }
  {  // semantic mutants survive every stage exact
    const Problem p = problem_of(16, 80, 1, 1);
    const AttentionInputs in = generate_inputs(p, InputSpec{Distribution::normal, 8});
    AttributionOptions options;
    options.algorithm.mutant = Mutant::top_left_in_cache_path;
    const AttributionResult r = attribute_error(p, in, options);
    CHECK(dominant_category(r) == "semantic");
    CHECK(r.semantic_mse > 0.9 * r.total_mse);
  }
}

TEST_CASE("mutants: cache-path mutants are inert outside the cache path", "[mutants]") {
  const Problem p = problem_of(64, 64, 4, 2);  // S_q = S_k, no seqlens_k: not the cache path
  REQUIRE_FALSE(is_cache_path(p));
  const AttentionInputs in = generate_inputs(p, InputSpec{Distribution::normal, 2});
  EmulatorConfig correct;
  const Tensor<double> reference = emulate_attention(p, in, correct).o;
  for (Mutant m : {Mutant::top_left_in_cache_path, Mutant::interleaved_gqa_in_cache_path, Mutant::stale_seqlens}) {
    EmulatorConfig config;
    config.algorithm.mutant = m;
    const Tensor<double> o = emulate_attention(p, in, config).o;
    INFO(mutant_name(m));
    CHECK(o.storage() == reference.storage());
  }
}
