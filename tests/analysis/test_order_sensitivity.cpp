// test_order_sensitivity.cpp: changing only the KV-tile order or the split count moves the
// output by a nonzero but ULP-level amount; the batch-invariance check holds for the emulator.
#include <catch2/catch.hpp>

#include <cmath>

#include "analysis/emulator.h"
#include "analysis/order_sensitivity.h"
#include "core/generators.h"

using namespace attn;

TEST_CASE("order sensitivity: nonzero, ULP-level spread; batch invariant", "[order]") {
  Problem p;
  p.batch = 2;
  p.seqlen_q = 128;
  p.seqlen_k = 384;
  p.num_heads_q = 2;
  p.num_heads_kv = 2;
  p.head_dim = 64;
  const AttentionInputs in = generate_inputs(p, InputSpec{Distribution::normal, 13});
  OrderSensitivityOptions options;
  options.max_splits = 4;
  const OrderSensitivityResult r = order_sensitivity(p, in, options);
  REQUIRE(r.variants.size() == 1 + 1 + 2 + 3);  // base(forward), reverse, random1..2, split2..4
  double max_output = 0, truth_error = 0;
  for (const auto& v : r.variants) truth_error = std::max(truth_error, v.max_abs_vs_truth);
  for (int64_t e = 0; e < in.v.numel(); ++e) max_output = std::max(max_output, std::fabs(in.v.flat(e)));
  CHECK(r.spread_max_abs > 0);
  // A few FP16 ulps of the largest possible output (|O| <= max |V|), never more.
  CHECK(r.spread_max_abs <= 4 * ulp_of(max_output, kFp16));
  CHECK(r.spread_max_abs <= 2 * truth_error);
  CHECK(r.batch_invariant);
  CHECK(r.batch_invariance_detail.find("bit-identical") != std::string::npos);
  // The shared-score evaluation equals independent emulator runs of each variant.
  EmulatorConfig exact;
  exact.policy = PrecisionPolicy::all_exact();
  const Tensor<double> truth = emulate_attention(p, in, exact).o;
  for (const auto& v : r.variants) {
    EmulatorConfig config;
    config.algorithm.tiles = v.tiles;
    const Tensor<double> o = emulate_attention(p, in, config).o;
    double sum_squares = 0;  // same summation order as the library: equal bits expected
    for (int64_t e = 0; e < o.numel(); ++e) sum_squares += (o.flat(e) - truth.flat(e)) * (o.flat(e) - truth.flat(e));
    INFO(v.name);
    CHECK(std::sqrt(sum_squares / static_cast<double>(o.numel())) == v.rmse_vs_truth);
  }
}

TEST_CASE("order sensitivity: batch invariance holds with splits and a KV cache", "[order]") {
  Problem p;
  p.batch = 1;
  p.seqlen_q = 64;
  p.seqlen_k = 256;
  p.head_dim = 64;
  const AttentionInputs in = generate_inputs(p, InputSpec{Distribution::normal, 1});
  AlgorithmConfig algorithm;
  CHECK(check_batch_invariance(p, in, algorithm, TensorCoreModel::h100(), 2).empty());
  algorithm.tiles.num_splits = 3;
  p.seqlens_k = {200};  // cache path: 200 of 256 keys filled
  CHECK(check_batch_invariance(p, in, algorithm, TensorCoreModel::h100(), 2).empty());
}
