// Exhaustive FP16/BF16 tests in the cpfloat spirit: expected values are built from integer
// fields (sign, exponent, mantissa) or from MPFR's rounding, never from float arithmetic.
#include <catch2/catch.hpp>

#include <mpfr.h>

#include <cmath>
#include <cstdint>
#include <random>

#include "core/float_format.h"
#include "core/half.h"

using attn::FloatFormat;

namespace {

/// Value of a bit pattern from its integer fields alone.
double value_from_fields(uint32_t bits, const FloatFormat& f) {
  const int mbits = f.mantissa_bits();
  const uint32_t mantissa = bits & ((1u << mbits) - 1);
  const uint32_t exponent = (bits >> mbits) & ((1u << f.exponent_bits) - 1);
  const bool negative = (bits >> (mbits + f.exponent_bits)) & 1;
  double magnitude;
  if (exponent == 0) magnitude = std::ldexp(static_cast<double>(mantissa), f.emin - mbits);  // subnormal
  else magnitude = std::ldexp(static_cast<double>((1u << mbits) | mantissa), static_cast<int>(exponent) - f.emax - mbits);
  return negative ? -magnitude : magnitude;
}

/// MPFR's round-to-nearest-even of x into the format (precision, exponent range, subnormals).
double mpfr_reference_round(double x, const FloatFormat& f) {
  const mpfr_exp_t old_emin = mpfr_get_emin(), old_emax = mpfr_get_emax();
  // MPFR exponents are for significands in [0.5, 1): emax + 1, and emin - p + 2 for subnormalize.
  mpfr_set_emin(f.emin - f.precision + 2);
  mpfr_set_emax(f.emax + 1);
  mpfr_t r;
  mpfr_init2(r, f.precision);
  const int inexact = mpfr_set_d(r, x, MPFR_RNDN);
  mpfr_subnormalize(r, inexact, MPFR_RNDN);
  const double out = mpfr_get_d(r, MPFR_RNDN);
  mpfr_clear(r);
  mpfr_set_emin(old_emin);
  mpfr_set_emax(old_emax);
  return out;
}

void check_every_pattern(const FloatFormat& f) {
  const uint32_t exp_mask = (1u << f.exponent_bits) - 1;
  int64_t nan_count = 0, checked = 0;
  for (uint32_t bits = 0; bits < 65536; ++bits) {
    const uint32_t exponent = (bits >> f.mantissa_bits()) & exp_mask;
    const uint32_t mantissa = bits & ((1u << f.mantissa_bits()) - 1);
    const double decoded = attn::decode_bits(bits, f);
    if (exponent == exp_mask) {
      if (mantissa) {
        ++nan_count;
        REQUIRE(std::isnan(decoded));
        REQUIRE(std::isnan(attn::decode_bits(attn::encode_bits(decoded, f), f)));
      } else {
        REQUIRE(std::isinf(decoded));
        REQUIRE(attn::encode_bits(decoded, f) == bits);
      }
      continue;
    }
    REQUIRE(decoded == value_from_fields(bits, f));
    REQUIRE(std::signbit(decoded) == static_cast<bool>(bits >> 15));
    REQUIRE(attn::encode_bits(decoded, f) == bits);                 // round trip, -0 included
    REQUIRE(attn::round_to_format(decoded, f) == decoded);          // representable values are fixed points
    ++checked;
  }
  CHECK(nan_count == 2 * ((1 << f.mantissa_bits()) - 1));
  CHECK(checked == 65536 - 2 * (1 << f.mantissa_bits()));
}

/// Every boundary between adjacent finite values: the midpoint and its double neighbours, plus
/// the overflow threshold, rounded by us and by MPFR.
void check_every_boundary(const FloatFormat& f) {
  const double max_finite = f.max_finite();
  for (uint32_t bits = 0; bits < 0x7FFF; ++bits) {  // positive finite patterns and their successor
    const double lo = attn::decode_bits(bits, f);
    const double hi = attn::decode_bits(bits + 1, f);
    if (!std::isfinite(lo) || std::isnan(hi)) continue;
    const double upper = std::isinf(hi) ? max_finite + 0.5 * attn::ulp_of(max_finite, f) * 2 : hi;  // overflow boundary: max + ulp
    const double mid = lo + (upper - lo) / 2;  // exact: lo and upper are close in magnitude
    for (double x : {mid, std::nextafter(mid, 0.0), std::nextafter(mid, INFINITY), lo, std::nextafter(lo, INFINITY)}) {
      for (double s : {x, -x}) {
        const double expected = mpfr_reference_round(s, f);
        const double got = attn::round_to_format(s, f);
        if (!(got == expected || (std::isnan(got) && std::isnan(expected)))) {
          FAIL_CHECK("format " << f.name << ": x=" << s << " rounds to " << got << ", MPFR says " << expected);
          return;
        }
      }
    }
  }
}

}  // namespace

TEST_CASE("fp16: every bit pattern decodes from its fields and round-trips") { check_every_pattern(attn::kFp16); }
TEST_CASE("bf16: every bit pattern decodes from its fields and round-trips") { check_every_pattern(attn::kBf16); }
TEST_CASE("fp16: rounding at every boundary agrees with MPFR") { check_every_boundary(attn::kFp16); }
TEST_CASE("bf16: rounding at every boundary agrees with MPFR") { check_every_boundary(attn::kBf16); }

TEST_CASE("fp16/bf16 overflow and underflow edges") {
  // fp16 max 65504 = 0x7BFF; the midpoint 65520 ties to even -> inf; just below stays finite.
  CHECK(attn::Half(65519.99).bits() == 0x7BFF);
  CHECK(attn::Half(65520.0).bits() == 0x7C00);
  CHECK(attn::Half(-65520.0).bits() == 0xFC00);
  // half the smallest subnormal ties to even (zero); just above rounds up to 0x0001.
  CHECK(attn::Half(std::ldexp(1.0, -25)).bits() == 0x0000);
  CHECK(attn::Half(std::nextafter(std::ldexp(1.0, -25), 1.0)).bits() == 0x0001);
  CHECK(attn::Half(-0.0).bits() == 0x8000);
  CHECK(std::isnan(attn::Half(NAN).to_double()));
  // bf16: 1 + 2^-8 ties to even (1.0); 1 + 3 * 2^-8 ties to 1 + 2^-6 (even mantissa)
  CHECK(attn::BFloat16(1.0 + std::ldexp(1.0, -8)).bits() == 0x3F80);
  CHECK(attn::BFloat16(1.0 + 3 * std::ldexp(1.0, -8)).bits() == 0x3F82);
  CHECK(attn::kFp16.max_finite() == 65504.0);
  CHECK(attn::kBf16.max_finite() == std::ldexp(255.0, 120));
  attn::kFp16.validate();
  attn::kBf16.validate();
  attn::kFp32.validate();
}

TEST_CASE("fp32 format rounding equals the hardware's double -> float conversion") {
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<int> exponent(-160, 130);
  std::uniform_real_distribution<double> mantissa(1.0, 2.0);
  for (int i = 0; i < 2000000; ++i) {
    const double x = std::ldexp(mantissa(rng), exponent(rng)) * (i % 2 ? -1 : 1);
    const double expected = static_cast<double>(static_cast<float>(x));  // IEEE RNE with subnormals
    REQUIRE(attn::round_to_format(x, attn::kFp32) == expected);
  }
}

TEST_CASE("Half arithmetic rounds once from the exact result") {
  // 2049 is not representable in fp16 (spacing 2 in [2048, 4096)): 2048 + 1 ties to even -> 2048
  CHECK((attn::Half(2048.0) + attn::Half(1.0)).to_double() == 2048.0);
  CHECK((attn::Half(2048.0) + attn::Half(3.0)).to_double() == 2052.0);  // 2051 ties to even 2052
  CHECK((attn::Half(1.0) / attn::Half(3.0)).bits() == attn::Half(1.0 / 3.0).bits());
}
