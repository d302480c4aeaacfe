// test_emulator.cpp: the CPU FA2 emulator against an independent plain FP64 attention written
// here (every stage exact must agree to ~1e-12), determinism across runs and thread counts, the
// FlashAttention rule against a same-precision naive baseline, fully masked rows, tile edges.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <vector>

#include "analysis/metrics.h"
#include "analysis/emulator.h"
#include "core/generators.h"

using namespace attn;

namespace {

/// Plain attention in double: for each row, softmax over visible keys, then the weighted sum.
Tensor<double> plain_attention(const Problem& p, const AttentionInputs& in) {
  Tensor<double> o(p.q_shape());
  for (int64_t b = 0; b < p.batch; ++b)
    for (int64_t h = 0; h < p.num_heads_q; ++h)
      for (int64_t i = 0; i < p.seqlen_q; ++i) {
        const int64_t kh = p.kv_head(h);
        std::vector<double> s(static_cast<size_t>(p.seqlen_k), -INFINITY);
        double mx = -INFINITY;
        for (int64_t j = 0; j < p.keys_in_batch(b); ++j) {
          if (!p.visible(b, i, j)) continue;
          double dot = 0;
          for (int64_t d = 0; d < p.head_dim; ++d) dot += in.q(b, i, h, d) * in.k(b, j, kh, d);
          s[static_cast<size_t>(j)] = dot * p.scale();
          mx = std::max(mx, s[static_cast<size_t>(j)]);
        }
        if (mx == -INFINITY) continue;  // fully masked: zeros
        double l = 0;
        for (double& x : s) l += (x = std::exp(x - mx));
        for (int64_t d = 0; d < p.head_dim; ++d) {
          double acc = 0;
          for (int64_t j = 0; j < p.keys_in_batch(b); ++j) acc += s[static_cast<size_t>(j)] * in.v(b, j, kh, d);
          o(b, i, h, d) = acc / l;
        }
      }
  return o;
}

/// Same-precision naive baseline (the FlashAttention tests' peer): S in FP16 (FP32 accumulate),
/// softmax in FP32 then P in FP16, O = P V accumulated in FP32, rounded to FP16.
Tensor<double> naive_fp16(const Problem& p, const AttentionInputs& in) {
  Tensor<double> o(p.q_shape());
  auto f16 = [](double x) { return round_to(DType::fp16, x); };
  auto f32 = [](double x) { return static_cast<double>(static_cast<float>(x)); };
  for (int64_t b = 0; b < p.batch; ++b)
    for (int64_t h = 0; h < p.num_heads_q; ++h)
      for (int64_t i = 0; i < p.seqlen_q; ++i) {
        const int64_t kh = p.kv_head(h);
        std::vector<double> s(static_cast<size_t>(p.seqlen_k), -INFINITY);
        double mx = -INFINITY;
        for (int64_t j = 0; j < p.seqlen_k; ++j) {
          if (!p.visible(b, i, j)) continue;
          double dot = 0;
          for (int64_t d = 0; d < p.head_dim; ++d) dot = f32(dot + in.q(b, i, h, d) * in.k(b, j, kh, d));
          s[static_cast<size_t>(j)] = f16(f16(dot) * f16(p.scale()));
          mx = std::max(mx, s[static_cast<size_t>(j)]);
        }
        if (mx == -INFINITY) continue;
        double l = 0;
        for (double& x : s) l = f32(l + (x = f32(std::exp(f32(x - mx)))));
        for (double& x : s) x = f16(f32(x / l));
        for (int64_t d = 0; d < p.head_dim; ++d) {
          double acc = 0;
          for (int64_t j = 0; j < p.seqlen_k; ++j) acc = f32(acc + s[static_cast<size_t>(j)] * in.v(b, j, kh, d));
          o(b, i, h, d) = f16(acc);
        }
      }
  return o;
}

double max_abs_diff(const Tensor<double>& a, const Tensor<double>& b) {
  double m = 0;
  for (int64_t e = 0; e < a.numel(); ++e) m = std::max(m, std::fabs(a.flat(e) - b.flat(e)));
  return m;
}
double max_abs(const Tensor<double>& a) {
  double m = 0;
  for (int64_t e = 0; e < a.numel(); ++e) m = std::max(m, std::fabs(a.flat(e)));
  return m;
}

Problem make_problem(int64_t sq, int64_t sk, int64_t hq, int64_t hkv, int64_t d, MaskKind mask = MaskKind::causal_bottom_right) {
  Problem p;
  p.batch = 2;
  p.seqlen_q = sq;
  p.seqlen_k = sk;
  p.num_heads_q = hq;
  p.num_heads_kv = hkv;
  p.head_dim = d;
  p.mask.kind = mask;
  return p;
}

}  // namespace

TEST_CASE("emulator: every stage exact equals plain FP64 attention", "[emulator]") {
  struct Case {
    Problem problem;
    int block_m, block_n, splits;
    KvBlockOrder order;
  };
  const std::vector<Case> cases = {
      {make_problem(70, 100, 4, 2, 64), 64, 64, 1, KvBlockOrder::forward},
      {make_problem(70, 100, 4, 2, 64), 32, 32, 3, KvBlockOrder::reverse},
      {make_problem(33, 33, 2, 1, 32, MaskKind::none), 16, 16, 2, KvBlockOrder::random},
      {make_problem(5, 130, 2, 2, 128), 64, 64, 4, KvBlockOrder::forward},
  };
  for (const Case& c : cases) {
    const AttentionInputs in = generate_inputs(c.problem, InputSpec{Distribution::normal, 7});
    EmulatorConfig config;
    config.algorithm.tiles = {c.block_m, c.block_n, c.splits, c.order, 3};
    config.policy = PrecisionPolicy::all_exact();
    const Tensor<double> ref = plain_attention(c.problem, in);
    const AttentionOutputs out = emulate_attention(c.problem, in, config);
    INFO(c.problem.label() << " " << config.algorithm.describe());
    CHECK(max_abs_diff(out.o, ref) <= 1e-12 * max_abs(ref));
  }
}

TEST_CASE("emulator: kernel mode is deterministic across runs and thread counts", "[emulator]") {
  const Problem p = make_problem(100, 100, 2, 1, 64);
  const AttentionInputs in = generate_inputs(p, InputSpec{Distribution::normal, 11});
  for (int splits : {1, 3}) {
    EmulatorConfig config;
    config.algorithm.tiles.num_splits = splits;
    config.algorithm.tiles.block_m = 16;
    config.threads = 1;
    const AttentionOutputs one = emulate_attention(p, in, config);
    config.threads = 2;
    const AttentionOutputs two = emulate_attention(p, in, config);
    const AttentionOutputs again = emulate_attention(p, in, config);
    REQUIRE(std::memcmp(one.o.data(), two.o.data(), sizeof(double) * static_cast<size_t>(one.o.numel())) == 0);
    REQUIRE(std::memcmp(two.o.data(), again.o.data(), sizeof(double) * static_cast<size_t>(one.o.numel())) == 0);
    // Outputs are FP16 values.
    for (int64_t e = 0; e < one.o.numel(); ++e) REQUIRE(round_to(DType::fp16, one.o.flat(e)) == one.o.flat(e));
  }
}

TEST_CASE("emulator: kernel-mode error within the FlashAttention rule of the naive FP16 baseline", "[emulator]") {
  for (Distribution dist : {Distribution::normal, Distribution::uniform}) {
    const Problem p = make_problem(256, 256, 2, 2, 64);
    const AttentionInputs in = generate_inputs(p, InputSpec{dist, 5});
    const Tensor<double> truth = plain_attention(p, in);
    EmulatorConfig config;
    const double kernel_error = max_abs_diff(emulate_attention(p, in, config).o, truth);
    const double baseline_error = max_abs_diff(naive_fp16(p, in), truth);
    INFO("kernel " << kernel_error << " baseline " << baseline_error);
    CHECK(kernel_error > 0);
    CHECK(fa_rule(kernel_error, baseline_error, true).pass);
  }
}

TEST_CASE("emulator: fully masked rows output zeros and LSE -inf, never NaN", "[emulator]") {
  // S_q > S_k under bottom-right causal: the first S_q - S_k rows see no key.
  const Problem p = make_problem(40, 24, 2, 2, 64);
  const AttentionInputs in = generate_inputs(p, InputSpec{Distribution::normal, 3});
  for (int splits : {1, 2}) {
    EmulatorConfig config;
    config.algorithm.tiles.num_splits = splits;
    config.algorithm.tiles.block_n = 16;
    const AttentionOutputs out = emulate_attention(p, in, config);
    const Tensor<double> ref = plain_attention(p, in);
    for (int64_t b = 0; b < p.batch; ++b)
      for (int64_t h = 0; h < p.num_heads_q; ++h)
        for (int64_t i = 0; i < p.seqlen_q; ++i) {
          const bool empty = i < p.seqlen_q - p.seqlen_k;
          CHECK(std::isnan(out.lse(b, h, i)) == false);
          if (empty) CHECK(out.lse(b, h, i) == -INFINITY);
          for (int64_t d = 0; d < p.head_dim; ++d) {
            REQUIRE(std::isfinite(out.o(b, i, h, d)));
            if (empty) REQUIRE(out.o(b, i, h, d) == 0.0);
          }
        }
    CHECK(max_abs_diff(out.o, ref) < 4e-3);
  }
}

TEST_CASE("emulator: rejects what it cannot model, naming the problem", "[emulator]") {
  Problem p = make_problem(8, 8, 1, 1, 64);
  AlgorithmConfig algorithm;
  algorithm.tiles.block_n = 24;
  REQUIRE(emulator_invalid_reason(p, algorithm).has_value());
  CHECK(emulator_invalid_reason(p, algorithm)->find("BLOCK_N") != std::string::npos);
  p.dtype = DType::fp32;
  CHECK(emulator_invalid_reason(p, AlgorithmConfig{})->find("fp32") != std::string::npos);
}

TEST_CASE("emulator: precise P (hi + lo) removes the P-cast error; BF16 obeys the FA rule", "[emulator]") {
  Problem p = make_problem(128, 128, 1, 1, 64);
  p.batch = 1;
  for (DType dtype : {DType::fp16, DType::bf16}) {
    p.dtype = dtype;
    const AttentionInputs in = generate_inputs(p, InputSpec{Distribution::normal, 17});
    const Tensor<double> truth = plain_attention(p, in);
    // Output rounding off, so the P-cast error is visible: the precise mode must be far closer.
    EmulatorConfig plain, precise;
    plain.policy.stage[static_cast<size_t>(Stage::output_round)] = StagePrecision::exact;
    precise.policy = plain.policy;
    precise.algorithm.p_cast = PCastMode::split_hi_lo;
    const double plain_error = max_abs_diff(emulate_attention(p, in, plain).o, truth);
    const double precise_error = max_abs_diff(emulate_attention(p, in, precise).o, truth);
    INFO(dtype_name(dtype) << " plain " << plain_error << " precise " << precise_error);
    CHECK(precise_error < 0.05 * plain_error);
    CHECK(precise_error > 0);
  }
}

TEST_CASE("emulator: lazy rescaling (threshold 8) stays at rounding level", "[emulator]") {
  const Problem p = make_problem(192, 192, 1, 1, 64);
  const AttentionInputs in = generate_inputs(p, InputSpec{Distribution::normal, 9});
  const Tensor<double> truth = plain_attention(p, in);
  EmulatorConfig eager, lazy;
  lazy.algorithm.rescale_threshold_log2 = 8;
  const double eager_error = max_abs_diff(emulate_attention(p, in, eager).o, truth);
  const double lazy_error = max_abs_diff(emulate_attention(p, in, lazy).o, truth);
  CHECK(lazy_error <= 2 * eager_error);
}

#include "references/truth.h"

TEST_CASE("emulator: every stage exact equals compute_truth (references/truth.h)", "[emulator]") {
  Problem p = make_problem(48, 80, 4, 2, 64);
  p.batch = 1;
  for (DType dtype : {DType::fp16, DType::bf16}) {
    p.dtype = dtype;
    const AttentionInputs in = generate_inputs(p, InputSpec{Distribution::outliers, 23});
    const Truth truth = compute_truth(p, in);
    EmulatorConfig exact;
    exact.policy = PrecisionPolicy::all_exact();
    exact.algorithm.tiles.num_splits = 2;
    const AttentionOutputs out = emulate_attention(p, in, exact);
    INFO(truth.method);
    CHECK(max_abs_diff(out.o, truth.o) <= 1e-12 * max_abs(truth.o));
    for (int64_t e = 0; e < truth.lse.numel(); ++e) REQUIRE(out.lse.flat(e) == Approx(truth.lse.flat(e)).epsilon(1e-12));
  }
}
