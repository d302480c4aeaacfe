// test_naive_baseline.cpp: the same-precision naive baselines (naive-fp16, naive-bf16,
// naive-fp32) — registered names, family and invalid reasons; outputs exact in their dtype;
// fully masked rows zero; and their error against the certified truth is of the expected
// order: above the rounding floor (round_T(truth)) and within a few dozen ULPs. The fast
// baseline (every core, AVX2 tiles) equals the plain loops bit for bit over masks, GQA, ragged
// key lengths, awkward sizes, thread counts and inputs that overflow the dtype; its vector
// roundings equal round_to_format on every float class (ties, subnormals, overflow, NaN).
#include <catch2/catch.hpp>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "core/generators.h"
#include "core/registry.h"
#include "references/naive_baseline.h"
#include "references/naive_baseline_avx2.h"
#include "references/reference_device.h"
#include "references/register_reference_kernels.h"
#include "references/truth.h"
#include "reference_test_util.h"

namespace attn {
namespace {

struct ErrorSummary {
  double rmse = 0;
  double max_scale_ulps = 0;  ///< max |o - truth| in ULPs of `dtype` at max |truth| (the output's scale)
};

/// rmse and max error of `o` against `truth`. The max is measured in ULPs at the output's scale,
/// not at each element: near-zero outputs have tiny ULPs but errors set by the row's magnitude.
ErrorSummary error_against(const Tensor<double>& o, const Tensor<double>& truth, DType dtype) {
  ErrorSummary e;
  double sum_sq = 0, max_abs = 0, max_truth = 0;
  for (int64_t n = 0; n < o.numel(); ++n) {
    const double diff = std::fabs(o.flat(n) - truth.flat(n));
    sum_sq += diff * diff;
    max_abs = std::max(max_abs, diff);
    max_truth = std::max(max_truth, std::fabs(truth.flat(n)));
  }
  e.rmse = std::sqrt(sum_sq / static_cast<double>(o.numel()));
  e.max_scale_ulps = max_abs / ulp_of(max_truth, format_of(dtype));
  return e;
}

Registry reference_registry() {
  Registry registry;
  register_reference_kernels(registry);
  return registry;
}

}  // namespace

TEST_CASE("naive baselines: names, family, invalid reasons", "[naive]") {
  const Registry registry = reference_registry();
  REQUIRE(registry.size() == 3);
  Problem p = test::make_problem(1, 4, 4, 1, 1, 8);
  for (const char* name : {"naive-fp16", "naive-bf16", "naive-fp32"}) CHECK(registry.get(name).info.family == "reference");
  p.dtype = DType::bf16;
  CHECK(registry.get("naive-fp16").invalid_reason(p).value_or("") == "naive-fp16 needs --dtype fp16");
  CHECK_FALSE(registry.get("naive-bf16").invalid_reason(p).has_value());
  CHECK_FALSE(registry.get("naive-fp32").invalid_reason(p).has_value());
  p.dtype = DType::fp16;
  CHECK(registry.get("naive-bf16").invalid_reason(p).value_or("") == "naive-bf16 needs --dtype bf16");
  p.dtype = DType::fp64;
  CHECK(registry.get("naive-fp32").invalid_reason(p).value_or("").find("naive-fp32 needs") == 0);
}

TEST_CASE("naive baselines: error vs truth is of the expected order, above the rounding floor", "[naive]") {
  const Registry registry = reference_registry();
  struct Case {
    DType dtype;
    Distribution distribution;
    double max_rmse_ratio;  // order-of-magnitude bound on rmse / floor rmse (measured values printed)
  };
  // naive-fp32 is not rounded to a narrower dtype at the end, so its floor (fp32 rounding of the
  // truth) is smaller relative to its accumulation error than for fp16/bf16: a wider ratio.
  const Case cases[] = {{DType::fp16, Distribution::normal, 8}, {DType::bf16, Distribution::normal, 8},
                        {DType::fp16, Distribution::outliers, 8}, {DType::bf16, Distribution::sink, 8},
                        {DType::fp32, Distribution::normal, 64}};
  for (const Case& c : cases) {
    Problem p = test::make_problem(1, 192, 192, 4, 2, 64, Mask{}, c.dtype);
    const AttentionInputs in = generate_inputs(p, InputSpec{c.distribution, 99});
    const Truth truth = compute_truth(p, in);
    REQUIRE(truth.method == "fp64");
    const Kernel& k = registry.get("naive-" + std::string(dtype_name(c.dtype)));
    REQUIRE_FALSE(k.invalid_reason(p).has_value());
    const AttentionOutputs out = k.run(p, in);
    CHECK(out.out_dtype == c.dtype);
    for (int64_t n = 0; n < out.o.numel(); ++n) REQUIRE(round_to(c.dtype, out.o.flat(n)) == out.o.flat(n));
    Tensor<double> floor = truth.o;
    for (auto& x : floor.storage()) x = round_to(c.dtype, x);
    const ErrorSummary naive = error_against(out.o, truth.o, c.dtype), perfect = error_against(floor, truth.o, c.dtype);
    std::printf("%s %-9s vs truth: rmse %.3e (floor %.3e, ratio %.2f), max %.2f ulps at output scale (floor %.2f)\n",
                k.info.name.c_str(), distribution_name(c.distribution).c_str(), naive.rmse, perfect.rmse,
                naive.rmse / perfect.rmse, naive.max_scale_ulps, perfect.max_scale_ulps);
    INFO(k.info.name << " " << distribution_name(c.distribution));
    CHECK(perfect.max_scale_ulps <= 0.5);
    CHECK(naive.rmse > perfect.rmse);  // rounding S and P on the way: worse than a perfect kernel
    CHECK(naive.rmse < c.max_rmse_ratio * perfect.rmse);
    CHECK(naive.max_scale_ulps <= 16);
  }
}

TEST_CASE("naive baselines: fully masked rows are zero, never NaN", "[naive]") {
  const Registry registry = reference_registry();
  Problem p = test::make_problem(2, 8, 5, 2, 1, 16);  // S_q > S_k: three rows see nothing
  p.seqlens_k = {5, 0};
  for (const char* name : {"naive-fp16", "naive-fp32"}) {
    const AttentionOutputs out = registry.get(name).run(p, generate_inputs(p, InputSpec{}));
    for (int64_t d = 0; d < 16; ++d) {
      CHECK(test::same_bits(out.o(0, 2, 1, d), 0.0));
      CHECK(test::same_bits(out.o(1, 7, 0, d), 0.0));
    }
    CHECK(std::isinf(out.lse(0, 1, 2)));
    CHECK(std::isfinite(out.lse(0, 1, 3)));
  }
}

TEST_CASE("naive baseline: vector roundings equal round_to_format on every float class", "[naive][rounding]") {
  if (!naive_detail::cpu_has_avx2_fma_f16c()) {  // then the vector roundings are never used: say so, and check it
    WARN("this CPU has no AVX2/FMA/F16C: only the scalar baseline path runs here");
    CHECK(naive_baseline_cpu_path() == "cpu-scalar");
    return;
  }
  // Every (sign, exponent, top 7 mantissa bits) pattern, with the low 16 bits set to values that
  // decide fp16 rounding (bit 13 is fp16's kept lsb from normal floats, bits 12..0 the rest) and
  // bf16 rounding (bit 16 kept lsb, bit 15 the half): ties, one above and below, all ones, zero.
  std::vector<uint32_t> lows;
  for (uint32_t k = 0; k < 8; ++k)
    for (uint32_t t : {0x0u, 0x1u, 0xFFFu, 0x1000u, 0x1001u, 0x1FFFu}) lows.push_back((k << 13) | t);
  for (uint32_t t : {0x7FFFu, 0x8000u, 0x8001u, 0xFFFFu}) lows.push_back(t);
  std::vector<float> in, out;
  for (uint32_t high = 0; high < 0x10000u; ++high)
    for (uint32_t low : lows) in.push_back(std::bit_cast<float>((high << 16) | low));
  while (in.size() % 8) in.push_back(0.0f);
  out.resize(in.size());
  for (DType dtype : {DType::fp16, DType::bf16}) {
    naive_detail::round_floats_avx2(in.data(), out.data(), static_cast<int64_t>(in.size()), dtype);
    int64_t differ = 0;
    for (size_t n = 0; n < in.size(); ++n) {
      const float expected = static_cast<float>(round_to(dtype, static_cast<double>(in[n])));
      differ += std::bit_cast<uint32_t>(expected) == std::bit_cast<uint32_t>(out[n]) ? 0 : 1;
    }
    INFO(dtype_name(dtype) << ": " << in.size() << " floats");
    CHECK(differ == 0);
  }
}

TEST_CASE("naive baseline: the fast version equals the plain loops bit for bit", "[naive][fast]") {
  struct Case {
    Problem problem;
    Distribution distribution;
  };
  std::vector<Case> cases;
  const Mask masks[] = {parse_mask("causal"), parse_mask("top-left"), parse_mask("none"), parse_mask("window:5,3"),
                        parse_mask("window:0,0")};
  for (DType dtype : {DType::fp16, DType::bf16})
    for (const Mask& mask : masks) {
      cases.push_back({test::make_problem(2, 37, 53, 4, 2, 72, mask, dtype), Distribution::normal});
      cases.push_back({test::make_problem(1, 70, 19, 2, 1, 40, mask, dtype), Distribution::outliers});
    }
  // Ragged key lengths (an empty batch entry), S_q > S_k (fully masked rows), D not a multiple
  // of 8, MHA, GQA 8, and scores that overflow the dtype (inf - inf = NaN inside the softmax).
  Problem ragged = test::make_problem(3, 21, 40, 8, 1, 24, parse_mask("causal"), DType::fp16);
  ragged.seqlens_k = {40, 0, 17};
  cases.push_back({ragged, Distribution::sink});
  cases.push_back({test::make_problem(1, 200, 129, 3, 3, 5, parse_mask("causal"), DType::bf16), Distribution::uniform});
  cases.push_back({test::make_problem(1, 33, 33, 2, 2, 128, parse_mask("causal"), DType::fp16), Distribution::large_logits});
  cases.push_back({test::make_problem(1, 33, 33, 2, 2, 128, parse_mask("none"), DType::bf16), Distribution::large_logits});
  for (const Case& c : cases) {
    InputSpec spec{c.distribution, 5};
    spec.logit_std = 1e5;  // large-logits: scores beyond fp16's range
    const AttentionInputs in = generate_inputs(c.problem, spec);
    const AttentionOutputs plain = naive_same_precision_attention_plain(c.problem, in);
    INFO(c.problem.label() << " " << distribution_name(c.distribution));
    for (int threads : {1, 3}) {
      for (bool simd : {true, false}) {
        INFO("threads " << threads << (simd ? ", vector path" : ", scalar path"));
        const AttentionOutputs fast = naive_same_precision_attention(c.problem, in, BaselineOptions{threads, simd, {}});
        CHECK(fast.out_dtype == plain.out_dtype);
        CHECK(test::count_bit_differences(fast.o, plain.o) == 0);
        CHECK(test::count_bit_differences(fast.lse, plain.lse) == 0);
      }
    }
  }
}

TEST_CASE("same_precision_baseline: the peer of each dtype, where it ran, equal to the registered kernel", "[naive]") {
  const Registry registry = reference_registry();
  for (DType dtype : {DType::fp16, DType::bf16, DType::fp32}) {
    const Problem p = test::make_problem(1, 30, 40, 4, 2, 16, Mask{}, dtype);
    const AttentionInputs in = generate_inputs(p, InputSpec{Distribution::normal, 8});
    const std::optional<BaselineResult> b = same_precision_baseline(p, in, ReferenceDevice::cpu);
    REQUIRE(b.has_value());
    CHECK(b->name == "naive-" + std::string(dtype_name(dtype)));
    CHECK(b->implementation == (dtype == DType::fp32 ? "cpu-plain" : naive_baseline_cpu_path()));
    CHECK(b->seconds >= 0);
    const AttentionOutputs registered = registry.get(b->name).run(p, in);
    CHECK(test::count_bit_differences(b->outputs.o, registered.o) == 0);
    CHECK(b->outputs.out_dtype == registered.out_dtype);
  }
  const Problem fp64 = test::make_problem(1, 3, 3, 1, 1, 8, Mask{}, DType::fp64);
  CHECK_FALSE(same_precision_baseline(fp64, generate_inputs(fp64, InputSpec{}), ReferenceDevice::cpu).has_value());
}

TEST_CASE("naive baseline: the vector path is the one used where the CPU has it", "[naive][fast]") {
  CHECK(naive_baseline_cpu_path(BaselineOptions{0, false, {}}) == "cpu-scalar");
  CHECK(naive_baseline_cpu_path() == (naive_detail::cpu_has_avx2_fma_f16c() ? "cpu-avx2" : "cpu-scalar"));
}

TEST_CASE("expf of this libm vs float(exp(double)) on every float in [-104, 0] (the GPU baseline's expf)", "[.expf]") {
  // A measurement behind references/gpu/gpu_references.cu's choice of expf; about 2 minutes.
  int64_t count = 0, differ = 0;
  for (uint32_t bits = 0x80000000u;; ++bits) {
    const float x = std::bit_cast<float>(bits);
    if (!(x >= -104.0f)) break;
    ++count;
    differ += std::bit_cast<uint32_t>(std::exp(x)) == std::bit_cast<uint32_t>(static_cast<float>(std::exp(static_cast<double>(x)))) ? 0 : 1;
  }
  std::printf("expf vs float(exp(double)): %lld of %lld floats in [-104, 0] differ (%.2g)\n", static_cast<long long>(differ),
              static_cast<long long>(count), static_cast<double>(differ) / static_cast<double>(count));
  CHECK(differ <= count / 10000);  // glibc 2.36: 97,052 of 1,120,927,745
}

}  // namespace attn
