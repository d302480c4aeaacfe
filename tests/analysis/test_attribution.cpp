// test_attribution.cpp: exact Shapley values on a game with a known answer, efficiency (stage
// shares plus the semantic part sum to the total error) on real emulator runs, consistency of the
// cached subset evaluation with independent emulator runs, and thread-count independence.
#include <catch2/catch.hpp>

#include <cmath>

#include "analysis/attribution.h"
#include "analysis/emulator.h"
#include "core/generators.h"

using namespace attn;

namespace {
Problem small_problem() {
  Problem p;
  p.batch = 1;
  p.seqlen_q = 96;
  p.seqlen_k = 160;
  p.num_heads_q = 2;
  p.num_heads_kv = 1;
  p.head_dim = 64;
  return p;
}
double mse(const Tensor<double>& a, const Tensor<double>& b) {
  double s = 0;
  for (int64_t e = 0; e < a.numel(); ++e) s += (a.flat(e) - b.flat(e)) * (a.flat(e) - b.flat(e));
  return s / static_cast<double>(a.numel());
}
}  // namespace

TEST_CASE("shapley: additive game plus one pairwise interaction", "[attribution]") {
  // v(T) = sum_{i in T} a_i + b [0 in T and 2 in T]: phi_i = a_i, plus b/2 for players 0 and 2.
  const double a[] = {1.0, 2.0, 4.0, 8.0};
  const double b = 3.0;
  std::vector<double> v(16);
  for (int subset = 0; subset < 16; ++subset) {
    for (int i = 0; i < 4; ++i)
      if (subset >> i & 1) v[static_cast<size_t>(subset)] += a[i];
    if ((subset & 1) && (subset & 4)) v[static_cast<size_t>(subset)] += b;
  }
  const std::vector<double> phi = shapley_values(v, 4);
  CHECK(phi[0] == Approx(1.0 + 1.5).epsilon(1e-14));
  CHECK(phi[1] == Approx(2.0).epsilon(1e-14));
  CHECK(phi[2] == Approx(4.0 + 1.5).epsilon(1e-14));
  CHECK(phi[3] == Approx(8.0).epsilon(1e-14));
  CHECK_THROWS_AS(shapley_values(std::vector<double>(15), 4), Error);
}

TEST_CASE("attribution: shares sum to the total; subsets match independent emulator runs", "[attribution]") {
  const Problem p = small_problem();
  const AttentionInputs in = generate_inputs(p, InputSpec{Distribution::normal, 21});
  AttributionOptions options;
  options.algorithm.tiles.block_m = 32;
  options.algorithm.tiles.num_splits = 2;
  const AttributionResult r = attribute_error(p, in, options);
  double sum_mse = r.semantic_mse, sum_max = r.semantic_max_abs, cat_mse = r.semantic_mse;
  for (const StageAttribution& s : r.stages) {
    sum_mse += s.shapley_mse;
    sum_max += s.shapley_max_abs;
  }
  for (const CategoryAttribution& c : r.categories) cat_mse += c.shapley_mse;
  CHECK(r.total_mse > 0);
  CHECK(sum_mse == Approx(r.total_mse).epsilon(1e-12));
  CHECK(cat_mse == Approx(r.total_mse).epsilon(1e-12));
  CHECK(sum_max == Approx(r.total_max_abs).epsilon(1e-12));
  CHECK(r.semantic_mse < 1e-28);  // every stage exact: double rounding only
  // The cached subsets equal full emulator runs with the same policies.
  EmulatorConfig exact;
  exact.algorithm = options.algorithm;
  exact.policy = PrecisionPolicy::all_exact();
  const Tensor<double> truth = emulate_attention(p, in, exact).o;
  for (int subset : {127, 0b1000000, 0b0001000, 0b0110101}) {
    EmulatorConfig config;
    config.algorithm = options.algorithm;
    for (int s = 0; s < kNumStages; ++s)
      config.policy.stage[static_cast<size_t>(s)] = (subset >> s & 1) ? StagePrecision::kernel : StagePrecision::exact;
    INFO("subset " << subset);
    CHECK(mse(emulate_attention(p, in, config).o, truth) == Approx(r.subset_mse[static_cast<size_t>(subset)]).epsilon(1e-12));
  }
  // FP16 output: output rounding and the P cast dominate; FP32 accumulation is tiny.
  const auto& round = r.stages[static_cast<size_t>(Stage::output_round)];
  const auto& qk = r.stages[static_cast<size_t>(Stage::qk_product)];
  CHECK(round.shapley_mse > 0.3 * r.total_mse);
  CHECK(std::fabs(qk.shapley_mse) < 0.05 * r.total_mse);
}

TEST_CASE("attribution: the same numbers for 1 and 2 threads", "[attribution]") {
  const Problem p = small_problem();
  const AttentionInputs in = generate_inputs(p, InputSpec{Distribution::uniform, 4});
  AttributionOptions options;
  options.threads = 1;
  const AttributionResult one = attribute_error(p, in, options);
  options.threads = 2;
  const AttributionResult two = attribute_error(p, in, options);
  for (size_t s = 0; s < one.subset_mse.size(); ++s) {
    REQUIRE(one.subset_mse[s] == two.subset_mse[s]);
    REQUIRE(one.subset_max_abs[s] == two.subset_max_abs[s]);
  }
}

TEST_CASE("attribution: precise mode moves the P-cast share to (nearly) zero", "[attribution]") {
  const Problem p = small_problem();
  const AttentionInputs in = generate_inputs(p, InputSpec{Distribution::normal, 5});
  AttributionOptions plain, precise;
  precise.algorithm.p_cast = PCastMode::split_hi_lo;
  const AttributionResult a = attribute_error(p, in, plain), b = attribute_error(p, in, precise);
  const double plain_share = a.stages[static_cast<size_t>(Stage::p_cast)].shapley_mse / a.total_mse;
  const double precise_share = b.stages[static_cast<size_t>(Stage::p_cast)].shapley_mse / b.total_mse;
  INFO("p_cast share plain " << plain_share << " precise " << precise_share);
  CHECK(plain_share > 0.1);
  CHECK(std::fabs(precise_share) < 0.02);
}
