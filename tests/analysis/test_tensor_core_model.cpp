// test_tensor_core_model.cpp: the H100 MMA model on hand-built cases where per-term truncation,
// round-toward-zero and round-to-nearest give different FP32 results (expected values built from
// integers with ldexp), the bit-pattern entry point, and a property test against the exact sum.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <vector>

#include "analysis/tensor_core_model.h"

using namespace attn;

namespace {
uint16_t fp16_bits(double x) { return static_cast<uint16_t>(encode_bits(x, kFp16)); }
}  // namespace

TEST_CASE("tensor core: final rounding is toward zero, RNE differs", "[tensor_core]") {
  // 1 + 3*2^-25 = 1 + 0.75 ulp(1): RZ gives 1, RNE gives 1 + 2^-23, exact is neither.
  const double a[] = {1.0, std::ldexp(1, -12)};
  const double b[] = {1.0, std::ldexp(3, -13)};
  const TensorCoreModel h100 = TensorCoreModel::h100();
  CHECK(tc_group_fma(a, b, 2, 0.0, h100) == 1.0);
  CHECK(tc_group_fma(a, b, 2, 0.0, TensorCoreModel::wide_nearest()) == 1.0 + std::ldexp(1, -23));
  // Same through the bit-pattern entry point used by the device comparison.
  const uint16_t abits[] = {fp16_bits(1.0), fp16_bits(std::ldexp(1, -12))};
  const uint16_t bbits[] = {fp16_bits(1.0), fp16_bits(std::ldexp(3, -13))};
  CHECK(mma_dot(abits, bbits, 2, 0.0f, DType::fp16) == 1.0f);
  CHECK(mma_dot(abits, bbits, 2, 0.0f, DType::fp16, TensorCoreModel::wide_nearest()) ==
        static_cast<float>(1.0 + std::ldexp(1, -23)));
}

TEST_CASE("tensor core: each term is truncated at alignment before the sum", "[tensor_core]") {
  // c = 1 and two products 3*2^-26: exact sum 1 + 0.75 ulp. With 2 extra bits the quantum is
  // 2^-25, each 3*2^-26 truncates to 2^-25, the sum is 1 + 0.5 ulp, truncated to 1. With more
  // alignment bits and RNE the exact sum rounds up.
  const double a[] = {std::ldexp(1, -13), std::ldexp(1, -13)};
  const double b[] = {std::ldexp(3, -13), std::ldexp(3, -13)};
  TensorCoreModel model = TensorCoreModel::h100();
  CHECK(tc_group_fma(a, b, 2, 1.0, model) == 1.0);
  model.final_rounding = TcFinalRounding::nearest_even;  // 1 + 2^-24 is a tie: even is 1
  CHECK(tc_group_fma(a, b, 2, 1.0, model) == 1.0);
  model.extra_alignment_bits = 3;  // quantum 2^-26: terms kept, sum 1 + 0.75 ulp, RNE up
  CHECK(tc_group_fma(a, b, 2, 1.0, model) == 1.0 + std::ldexp(1, -23));
  // Negative terms truncate toward zero too: 1 - 3*2^-26 -> 1 - 2^-25 -> RZ to 1 - 2^-24.
  const double bn[] = {-std::ldexp(3, -13)};
  CHECK(tc_group_fma(a, bn, 1, 1.0, TensorCoreModel::h100()) == 1.0 - std::ldexp(1, -24));
}

TEST_CASE("tensor core: products align to their nominal exponent e_a + e_b", "[tensor_core]") {
  // 1.5 * 1.5 = 2.25 has nominal exponent 0 but its leading bit at 1. Fifteen products of 2^-25:
  // aligned to the nominal exponent (quantum 2^-25) they survive, 15 * 2^-25 = 1.875 ulp(2.25),
  // RZ gives 2.25 + 2^-22; aligned to the leading bit (quantum 2^-24) they vanish.
  std::vector<double> a(16, std::ldexp(1, -12)), b(16, std::ldexp(1, -13));
  a[0] = 1.5;
  b[0] = 1.5;
  TensorCoreModel model = TensorCoreModel::h100();
  CHECK(tc_group_fma(a.data(), b.data(), 16, 0.0, model) == 2.25 + std::ldexp(1, -22));
  model.align_to_nominal_product_exponent = false;
  CHECK(tc_group_fma(a.data(), b.data(), 16, 0.0, model) == 2.25);
}

TEST_CASE("tensor core: the accumulator is aligned like a product, groups chain in FP32", "[tensor_core]") {
  // A small accumulator below the quantum of a large product vanishes entirely.
  const double a[] = {std::ldexp(1, 10)};
  const double b[] = {1.0};
  CHECK(tc_group_fma(a, b, 1, std::ldexp(1, -20), TensorCoreModel::h100()) == 1024.0);
  // k = 32 is two chained steps: the first step's FP32 result feeds the second.
  std::vector<double> x(32, 1.0), y(32, 1.0);
  y[31] = std::ldexp(1, -22);  // last element of the second group: 16 + 15 + 2^-22
  CHECK(tc_dot(x.data(), y.data(), 32, 0.0, TensorCoreModel::h100()) == 31.0);  // 2^-22 < quantum at 2^4
}

TEST_CASE("tensor core: property: model within its truncation bound of the exact sum", "[tensor_core]") {
  // For all-positive terms truncation only lowers the sum: exact - bound <= model <= exact, with
  // bound = (n + 1) quanta + one FP32 ulp of the result.
  const TensorCoreModel model = TensorCoreModel::h100();
  for (uint64_t trial = 0; trial < 2000; ++trial) {
    double a[16], b[16];
    double exact = 0, largest = 0;
    for (int t = 0; t < 16; ++t) {
      const uint32_t r = static_cast<uint32_t>((trial * 2654435761ULL + static_cast<uint64_t>(t) * 40503ULL) % 2048);
      a[t] = round_to_format(std::ldexp(1 + r / 2048.0, static_cast<int>(r % 13) - 6), kFp16);
      b[t] = round_to_format(std::ldexp(1 + (r * 7 % 2048) / 2048.0, static_cast<int>(r % 5) - 2), kFp16);
      exact += a[t] * b[t];  // exact enough: the bound below is 2^20 times coarser
      largest = std::max(largest, a[t] * b[t]);
    }
    const double result = tc_group_fma(a, b, 16, 0.0, model);
    const int e = std::ilogb(largest);
    const double bound = 17 * std::ldexp(1, e - 25) + std::ldexp(1, std::ilogb(exact) - 23);
    REQUIRE(result <= exact);
    REQUIRE(result >= exact - bound);
    REQUIRE(static_cast<double>(static_cast<float>(result)) == result);
  }
}

TEST_CASE("tensor core: a subnormal input's nominal exponent is emin", "[tensor_core]") {
  // 2^-24 (FP16 subnormal) * 2^10 = 2^-14 has nominal exponent -14 + 10 = -4 (exponent field 0
  // read as emin = -14), so the quantum is 2^-29 and the product 2^-14 * 2^-21 = 2^-35 is
  // truncated away; with the true exponent (-24 + 10 = -14) the quantum is 2^-39 and it survives.
  const uint16_t a[] = {fp16_bits(std::ldexp(1, -24)), fp16_bits(std::ldexp(1, -14))};
  const uint16_t b[] = {fp16_bits(std::ldexp(1, 10)), fp16_bits(std::ldexp(1, -21))};
  CHECK(mma_dot(a, b, 2, 0.0f, DType::fp16) == std::ldexp(1.0f, -14));
  const double av[] = {std::ldexp(1, -24), std::ldexp(1, -14)};
  const double bv[] = {std::ldexp(1, 10), std::ldexp(1, -21)};
  TensorCoreModel true_exponent = TensorCoreModel::h100();
  true_exponent.input_min_exponent = -1000;
  CHECK(tc_group_fma(av, bv, 2, 0.0, true_exponent) == std::ldexp(1, -14) + std::ldexp(1, -35));
  CHECK(tc_group_fma(av, bv, 2, 0.0, TensorCoreModel::h100(DType::fp16)) == std::ldexp(1, -14));
}

TEST_CASE("tensor core: model parameters are validated with a message", "[tensor_core]") {
  TensorCoreModel m;
  m.group_size = 0;
  CHECK_THROWS_WITH(m.validate(), Catch::Contains("group_size"));
  m = TensorCoreModel::h100();
  m.extra_alignment_bits = 30;
  CHECK_THROWS_WITH(m.validate(), Catch::Contains("extra_alignment_bits"));
  const uint16_t x[] = {0};
  CHECK_THROWS_WITH(mma_dot(x, x, 1, 0.0f, DType::fp32), Catch::Contains("fp16 or bf16"));
}

TEST_CASE("tensor core: FP8 decoding (E4M3, E5M2) on every code", "[tensor_core][fp8]") {
  // Known values built from integers (OCP FP8): E4M3 max 448 = 1.75 * 2^8, min subnormal 2^-9,
  // min normal 2^-6, S.1111.111 NaN; E5M2 max 57344 = 1.75 * 2^15, infinity 0x7C, min subnormal 2^-16.
  CHECK(decode_fp8(0x7E, Fp8Format::e4m3) == 448.0);
  CHECK(decode_fp8(0x01, Fp8Format::e4m3) == std::ldexp(1, -9));
  CHECK(decode_fp8(0x08, Fp8Format::e4m3) == std::ldexp(1, -6));
  CHECK(decode_fp8(0x38, Fp8Format::e4m3) == 1.0);
  CHECK(decode_fp8(0xB8, Fp8Format::e4m3) == -1.0);
  CHECK(std::isnan(decode_fp8(0x7F, Fp8Format::e4m3)));
  CHECK(std::isnan(decode_fp8(0xFF, Fp8Format::e4m3)));
  CHECK(decode_fp8(0x7B, Fp8Format::e5m2) == 57344.0);
  CHECK(std::isinf(decode_fp8(0x7C, Fp8Format::e5m2)));
  CHECK(std::isnan(decode_fp8(0x7D, Fp8Format::e5m2)));
  CHECK(decode_fp8(0x01, Fp8Format::e5m2) == std::ldexp(1, -16));
  CHECK(decode_fp8(0x3C, Fp8Format::e5m2) == 1.0);
  // Positive codes are strictly increasing up to the largest finite one, in both formats.
  for (Fp8Format f : {Fp8Format::e4m3, Fp8Format::e5m2}) {
    const int last = f == Fp8Format::e4m3 ? 0x7E : 0x7B;
    for (int code = 1; code <= last; ++code)
      CHECK(decode_fp8(static_cast<uint8_t>(code), f) > decode_fp8(static_cast<uint8_t>(code - 1), f));
  }
}

TEST_CASE("tensor core: narrow accumulation (negative extra bits) truncates more", "[tensor_core][fp8]") {
  // 1 + 2^-14: kept with 0 extra bits (24-bit quantum 2^-23), dropped with -10 (quantum 2^-13).
  const double a[] = {1.0, std::ldexp(1, -7)};
  const double b[] = {1.0, std::ldexp(1, -7)};
  TensorCoreModel model = TensorCoreModel::h100();
  model.extra_alignment_bits = 0;
  CHECK(tc_group_fma(a, b, 2, 0.0, model) == 1.0 + std::ldexp(1, -14));
  model.extra_alignment_bits = -10;
  CHECK(tc_group_fma(a, b, 2, 0.0, model) == 1.0);
  model.extra_alignment_bits = -21;
  CHECK_THROWS(model.validate());
}
