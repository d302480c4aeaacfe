// Metrics on constructed errors with known answers. Expected values are built from integers
// and powers of two, never from the code under test.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "analysis/metrics.h"
#include "core/errors.h"

using attn::DType;
using attn::Tensor;

namespace {
Tensor<double> filled(std::vector<double> values) {
  Tensor<double> t({static_cast<int64_t>(values.size())});
  for (size_t i = 0; i < values.size(); ++i) t.flat(static_cast<int64_t>(i)) = values[i];
  return t;
}
}  // namespace

TEST_CASE("one element off by exactly 3 fp16 ulps") {
  // truth 1.0 (ulp 2^-10 in fp16), 0.75 (ulp 2^-11), 3.0 (ulp 2^-9)
  Tensor<double> truth = filled({1.0, 0.75, 3.0, -2.0});
  Tensor<double> out = truth;
  out.flat(2) = 3.0 + 3 * std::ldexp(1.0, -9);
  const attn::ErrorMetrics m = attn::compute_metrics(out, truth, DType::fp16);
  CHECK(m.max_abs == 3 * std::ldexp(1.0, -9));
  CHECK(m.argmax_flat == 2);
  CHECK(m.ulp_max == 3.0);
  CHECK(m.mean_abs == 3 * std::ldexp(1.0, -9) / 4);
  CHECK(m.rmse == Approx(std::sqrt(9 * std::ldexp(1.0, -18) / 4)).epsilon(1e-15));
  CHECK(m.rel_fro == Approx(3 * std::ldexp(1.0, -9) / std::sqrt(1 + 0.5625 + 9 + 4)).epsilon(1e-15));
  CHECK(m.ulp_histogram[0] == 3);  // three exact elements
  CHECK(m.ulp_histogram[3] == 1);  // 3 ulps lies in [2, 4)
  CHECK(m.nan_count == 0);
  CHECK(m.count == 4);
}

TEST_CASE("bf16 ulps and a zero truth element") {
  // bf16 has 8 significant bits: ulp(1) = 2^-7; ulp(0) = smallest subnormal 2^-133.
  Tensor<double> truth = filled({1.0, 0.0});
  Tensor<double> out = filled({1.0 + std::ldexp(1.0, -8), std::ldexp(1.0, -133)});
  const attn::ErrorMetrics m = attn::compute_metrics(out, truth, DType::bf16);
  CHECK(m.ulp_max == 1.0);  // zero truth: 1 subnormal step
  CHECK(m.max_abs == std::ldexp(1.0, -8));
  CHECK(m.ulp_histogram[1] == 1);  // half an ulp lies in [0.5, 1)
  CHECK(m.ulp_histogram[2] == 1);  // exactly 1 ulp lies in [1, 2)
}

TEST_CASE("NaN and Inf are counted and make the error infinite, never skipped") {
  Tensor<double> truth = filled({1.0, 2.0, 3.0});
  Tensor<double> out = filled({1.0, std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity()});
  const attn::ErrorMetrics m = attn::compute_metrics(out, truth, DType::fp16);
  CHECK(m.nan_count == 1);
  CHECK(m.inf_count == 1);
  CHECK(std::isinf(m.max_abs));
  CHECK(std::isinf(m.rmse));
  CHECK(m.ulp_histogram.back() == 2);
}

TEST_CASE("rounding floor: zero for representable truth, half an ulp at a midpoint") {
  CHECK(attn::rounding_floor(filled({1.0, -0.5, 1024.0}), DType::fp16).max_abs == 0.0);
  // 1 + 2^-11 is the midpoint between 1 and 1 + 2^-10 (ties to even: 1.0): error 2^-11 = 0.5 ulp
  const attn::ErrorMetrics f = attn::rounding_floor(filled({1.0 + std::ldexp(1.0, -11)}), DType::fp16);
  CHECK(f.max_abs == std::ldexp(1.0, -11));
  CHECK(f.ulp_max == Approx(0.5).epsilon(1e-3));  // ulp taken at the truth (same binade)
  CHECK(attn::rounding_floor(filled({0.1, 0.2}), DType::fp64).max_abs == 0.0);
}

TEST_CASE("rel_fro of a uniformly scaled output and p99") {
  Tensor<double> truth({100});
  for (int i = 0; i < 100; ++i) truth.flat(i) = 1.0 + i;
  Tensor<double> out = truth;
  for (int i = 0; i < 100; ++i) out.flat(i) = truth.flat(i) * 1.0625;  // exact in double
  CHECK(attn::compute_metrics(out, truth, DType::fp32).rel_fro == Approx(0.0625).epsilon(1e-14));
  // p99 of 100 elements: the 99th smallest. Errors of k ulps for k = 0..99 (fp16, truth 1.0).
  Tensor<double> ones({100}, 1.0), shifted({100});
  for (int i = 0; i < 100; ++i) shifted.flat(i) = 1.0 + i * std::ldexp(1.0, -10);
  const attn::ErrorMetrics m = attn::compute_metrics(shifted, ones, DType::fp16);
  CHECK(m.ulp_p99 == 98.0);
  CHECK(m.ulp_max == 99.0);
}

TEST_CASE("shape mismatch is an error naming both shapes") {
  CHECK_THROWS_WITH(attn::compute_metrics(Tensor<double>({2, 3}), Tensor<double>({3, 2}), DType::fp16),
                    Catch::Contains("[2, 3]") && Catch::Contains("[3, 2]"));
}

// The one FlashAttention rule: bound = k x baseline + slack, ratio = error / bound (holds at <= 1).
// Before it existed the sweep's ratio was error / (baseline + 1e-5) (passing at 2) and the
// incremental experiment's error / (2 x baseline + 1e-5) (passing at 1).
TEST_CASE("fa_rule: one bound, one ratio, one verdict") {
  const attn::FaRuleVerdict at_bound = attn::fa_rule(2.0e-3 + 1e-5, 1e-3, true);
  CHECK(at_bound.bound == 2.0e-3 + 1e-5);
  CHECK(at_bound.ratio == 1.0);
  CHECK(at_bound.pass);
  const attn::FaRuleVerdict above = attn::fa_rule(2.1e-3, 1e-3, true);
  CHECK(above.ratio == Approx(2.1e-3 / 2.01e-3));
  CHECK_FALSE(above.pass);
  CHECK(attn::fa_rule(1e-6, 0.0, true).pass);            // exact baseline: the slack admits rounding
  CHECK_FALSE(attn::fa_rule(1e-3, 1e-3, false).pass);    // NaN/Inf in the output never passes
  CHECK(std::isinf(attn::fa_rule(1e-3, 1e-3, false).ratio));
  CHECK_FALSE(attn::fa_rule(NAN, 1e-3, true).pass);
  CHECK_FALSE(attn::fa_rule(1e-3, NAN, true).pass);
  CHECK(attn::fa_rule(3e-3, 1e-3, true, attn::FaRule{4.0, 1e-5}).pass);  // a tolerance file's own factor
  attn::ErrorMetrics kernel, baseline;
  kernel.max_abs = 1e-3;
  baseline.max_abs = 1e-3;
  kernel.inf_count = 1;
  CHECK_FALSE(attn::fa_rule(kernel, baseline).pass);
  CHECK(attn::fa_rule_text() == "max_abs <= 2 x baseline + 1e-05");
}

TEST_CASE("row-scale ULPs: an error on a near-zero element is measured in ULPs of its row's scale") {
  // Two rows of D = 2 ([2, 2]): row 0 = {2.0, 2^-20}, row 1 = {0.5, -0.25}. fp16: ulp(2) = 2^-9,
  // ulp(0.5) = 2^-11. An error of 2^-20 on the element 2^-20 (whose own fp16 ULP is 2^-24:
  // 16 element ULPs) is 2^-11 row ULPs; 2^-12 on -0.25 is half a row ULP of row 1.
  Tensor<double> truth({2, 2});
  truth.flat(0) = 2.0;
  truth.flat(1) = std::ldexp(1.0, -20);
  truth.flat(2) = 0.5;
  truth.flat(3) = -0.25;
  Tensor<double> out = truth;
  out.flat(1) += std::ldexp(1.0, -20);
  const attn::ErrorMetrics near_zero = attn::compute_metrics(out, truth, DType::fp16);
  CHECK(near_zero.ulp_max == 16.0);
  CHECK(near_zero.row_ulp_max == std::ldexp(1.0, -11));
  out.flat(3) -= std::ldexp(1.0, -12);
  const attn::ErrorMetrics both = attn::compute_metrics(out, truth, DType::fp16);
  CHECK(both.row_ulp_max == 0.5);
  CHECK(both.ulp_max == 16.0);
}

TEST_CASE("max_abs_error: the largest |a - b|, a NaN anywhere infinite, shapes must agree") {
  attn::Tensor<double> a({1, 2, 1, 2}, 0.0), b({1, 2, 1, 2}, 0.0);
  a.flat(1) = 0.25;
  b.flat(1) = -0.5;  // |0.25 - (-0.5)| = 0.75
  b.flat(3) = 0.125;
  CHECK(attn::max_abs_error(a, b) == 0.75);
  a.flat(2) = std::numeric_limits<double>::quiet_NaN();  // a poisoned, unwritten element
  CHECK(std::isinf(attn::max_abs_error(a, b)));
  CHECK_THROWS_AS(attn::max_abs_error(a, attn::Tensor<double>({1, 2, 1, 1}, 0.0)), attn::Error);
}

TEST_CASE("fp8_agreement: held to the emulator's error, a wrong kernel or a NaN fails") {
  // truth 0; emulator error 0.1 in every element (rmse 0.1).
  attn::Tensor<double> truth({1, 4, 1, 4}, 0.0), emu({1, 4, 1, 4}, 0.1), out({1, 4, 1, 4}, 0.1);
  out.flat(0) = 0.1 + 0.08;  // rmse(out - emulator) = 0.08 / 4 = 0.02 <= 0.25 x 0.1
  attn::Fp8Agreement a = attn::fp8_agreement(out, emu, truth);
  CHECK(a.rmse_emulator == Approx(0.1));
  CHECK(a.rmse_gap == Approx(0.02));
  CHECK(a.rmse_kernel == Approx(std::sqrt((15 * 0.01 + 0.18 * 0.18) / 16)));  // 0.1067 <= 1.1 x 0.1
  CHECK(a.pass);
  for (int64_t i = 0; i < out.numel(); ++i) out.flat(i) = i % 2 ? 0.1 : -0.1;  // a sign flip: error 0.2 off the emulator
  a = attn::fp8_agreement(out, emu, truth);
  CHECK(a.rmse_gap == Approx(std::sqrt(0.5 * 0.04)));
  CHECK_FALSE(a.pass);
  out = emu;
  out.flat(5) = std::numeric_limits<double>::quiet_NaN();
  CHECK_FALSE(attn::fp8_agreement(out, emu, truth).pass);
  CHECK_THROWS_AS(attn::fp8_agreement(out, emu, attn::Tensor<double>({1, 4, 1, 2}, 0.0)), attn::Error);
}
