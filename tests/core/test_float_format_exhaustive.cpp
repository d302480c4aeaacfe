// Exhaustive tests of the exact-rounding core (core/float_format.h) for FP16, BF16 and the OCP
// FP8 formats E4M3 and E5M2, in the cpfloat spirit: expected values are built from integer
// fields (sign, exponent, mantissa) or from MPFR's rounding, never from float arithmetic.
// Every bit pattern is decoded and round-tripped; every rounding boundary (each midpoint between
// adjacent values, one double ulp either side of it, the overflow threshold, the subnormals) is
// rounded by us and by MPFR, for the IEEE-style cast and for the saturating (satfinite) cast.
#include <catch2/catch.hpp>

#include <mpfr.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>

#include "core/errors.h"
#include "core/float_format.h"
#include "core/half.h"

using attn::FloatFormat;

namespace {

int bit_width(const FloatFormat& f) { return 1 + f.exponent_bits + f.mantissa_bits(); }

/// What a bit pattern is, from its integer fields alone.
enum class PatternKind { finite, infinity, nan };

PatternKind kind_from_fields(uint32_t bits, const FloatFormat& f) {
  const uint32_t exp_mask = (1u << f.exponent_bits) - 1;
  const uint32_t mantissa_mask = (1u << f.mantissa_bits()) - 1;
  const uint32_t exponent = (bits >> f.mantissa_bits()) & exp_mask;
  const uint32_t mantissa = bits & mantissa_mask;
  if (exponent != exp_mask) return PatternKind::finite;
  if (f.specials == attn::SpecialValues::finite_nan_only)  // OCP e4m3: only S.1111.111 is special
    return mantissa == mantissa_mask ? PatternKind::nan : PatternKind::finite;
  return mantissa ? PatternKind::nan : PatternKind::infinity;
}

/// Value of a finite bit pattern from its integer fields alone (the bias from exponent_bits).
double value_from_fields(uint32_t bits, const FloatFormat& f) {
  const int mbits = f.mantissa_bits();
  const int bias = (1 << (f.exponent_bits - 1)) - 1;
  const uint32_t mantissa = bits & ((1u << mbits) - 1);
  const uint32_t exponent = (bits >> mbits) & ((1u << f.exponent_bits) - 1);
  const bool negative = (bits >> (mbits + f.exponent_bits)) & 1;
  double magnitude;
  if (exponent == 0) magnitude = std::ldexp(static_cast<double>(mantissa), 1 - bias - mbits);  // subnormal
  else magnitude = std::ldexp(static_cast<double>((1u << mbits) | mantissa), static_cast<int>(exponent) - bias - mbits);
  return negative ? -magnitude : magnitude;
}

/// MPFR's round-to-nearest-even of x to the format's precision, with its subnormals, and with
/// the exponent range `extra_binades` above the format's top (0: MPFR's own overflow to inf).
double mpfr_round_to(double x, const FloatFormat& f, int extra_binades) {
  const mpfr_exp_t old_emin = mpfr_get_emin(), old_emax = mpfr_get_emax();
  // MPFR exponents are for significands in [0.5, 1): emax + 1, and emin - p + 2 for subnormalize.
  mpfr_set_emin(f.emin - f.precision + 2);
  mpfr_set_emax(f.emax + 1 + extra_binades);
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

/// The non-saturating cast as IEEE 754 / OCP define it, rounding by MPFR: an IEEE format
/// overflows to inf by MPFR's own overflow; a format without infinity (e4m3) rounds with one
/// binade of headroom and a result beyond max_finite (or an infinite x) is NaN.
double mpfr_reference_round(double x, const FloatFormat& f) {
  if (std::isnan(x)) return x;
  if (f.has_infinity()) return mpfr_round_to(x, f, 0);
  const double r = mpfr_round_to(x, f, 1);
  const double max_finite = value_from_fields(((1u << (bit_width(f) - 1)) - 1) - 1, f);  // S.1..1.1..10
  if (std::isinf(r) || std::fabs(r) > max_finite) return std::numeric_limits<double>::quiet_NaN();
  return r;
}

/// The saturating cast (satfinite) by definition: the non-saturating result, with overflow and
/// infinities clamped to +-max_finite and NaN kept.
double mpfr_reference_round_satfinite(double x, const FloatFormat& f, double max_finite) {
  if (std::isnan(x)) return x;
  const double r = mpfr_reference_round(x, f);
  if (std::isinf(r) || std::isnan(r)) return std::copysign(max_finite, x);
  return r;
}

bool same_value(double a, double b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
  return a == b && std::signbit(a) == std::signbit(b);
}

struct PatternCounts {
  int64_t finite = 0, infinities = 0, nans = 0;
};

PatternCounts check_every_pattern(const FloatFormat& f) {
  const int width = bit_width(f);
  PatternCounts counts;
  for (uint32_t bits = 0; bits < (1u << width); ++bits) {
    const double decoded = attn::decode_bits(bits, f);
    switch (kind_from_fields(bits, f)) {
      case PatternKind::nan:
        ++counts.nans;
        REQUIRE(std::isnan(decoded));
        REQUIRE(std::isnan(attn::decode_bits(attn::encode_bits(decoded, f), f)));
        REQUIRE(std::isnan(attn::round_to_format(decoded, f)));
        REQUIRE(std::isnan(attn::round_to_format_satfinite(decoded, f)));
        continue;
      case PatternKind::infinity:
        ++counts.infinities;
        REQUIRE(std::isinf(decoded));
        REQUIRE(std::signbit(decoded) == static_cast<bool>(bits >> (width - 1)));
        REQUIRE(attn::encode_bits(decoded, f) == bits);
        REQUIRE(attn::round_to_format(decoded, f) == decoded);
        continue;
      case PatternKind::finite:
        ++counts.finite;
        REQUIRE(decoded == value_from_fields(bits, f));
        REQUIRE(std::signbit(decoded) == static_cast<bool>(bits >> (width - 1)));
        REQUIRE(attn::encode_bits(decoded, f) == bits);                      // round trip, -0 included
        REQUIRE(same_value(attn::round_to_format(decoded, f), decoded));     // representable values are fixed points
        REQUIRE(same_value(attn::round_to_format_satfinite(decoded, f), decoded));
        REQUIRE(std::fabs(decoded) <= f.max_finite());
        continue;
    }
  }
  return counts;
}

/// Every boundary between adjacent non-negative finite values, and the overflow threshold: the
/// midpoint and its double neighbours, the lower value and its successor, both signs, rounded by
/// us and by MPFR; both casts. Returns the number of points checked.
int64_t check_every_boundary(const FloatFormat& f) {
  const double max_finite = f.max_finite();
  const uint32_t positive_patterns = 1u << (bit_width(f) - 1);
  int64_t checked = 0;
  for (uint32_t bits = 0; bits + 1 < positive_patterns; ++bits) {
    const double lo = attn::decode_bits(bits, f);
    const double hi = attn::decode_bits(bits + 1, f);
    if (!std::isfinite(lo)) continue;
    // After the largest finite value the next (unrepresentable) point is max + ulp(max): the
    // midpoint to it is the overflow threshold (fp16 65520, e5m2 61440, e4m3 464).
    const bool overflow_edge = !std::isfinite(hi);
    const double upper = overflow_edge ? max_finite + attn::ulp_of(max_finite, f) : hi;
    const double mid = lo + (upper - lo) / 2;  // exact: lo and upper are close in magnitude
    double points[] = {mid, std::nextafter(mid, 0.0), std::nextafter(mid, INFINITY), lo,
                       std::nextafter(lo, INFINITY), upper, 2 * upper, 1e300, INFINITY};
    const int count = overflow_edge ? 9 : 5;
    for (int i = 0; i < count; ++i) {
      for (double s : {points[i], -points[i]}) {
        const double expected = mpfr_reference_round(s, f);
        const double got = attn::round_to_format(s, f);
        if (!same_value(got, expected)) {
          FAIL_CHECK("format " << f.name << ": x=" << s << " rounds to " << got << ", MPFR says " << expected);
          return checked;
        }
        const double expected_sat = mpfr_reference_round_satfinite(s, f, max_finite);
        const double got_sat = attn::round_to_format_satfinite(s, f);
        if (!same_value(got_sat, expected_sat)) {
          FAIL_CHECK("format " << f.name << ": x=" << s << " satfinite-rounds to " << got_sat << ", MPFR says "
                                << expected_sat);
          return checked;
        }
        ++checked;
      }
    }
  }
  return checked;
}

/// Bits of round_to_format(x) for an 8-bit format (the non-saturating cast).
uint64_t cast_bits(double x, const FloatFormat& f) { return attn::encode_bits(attn::round_to_format(x, f), f); }
uint64_t satfinite_bits(double x, const FloatFormat& f) {
  return attn::encode_bits(attn::round_to_format_satfinite(x, f), f);
}

}  // namespace

TEST_CASE("fp16: every bit pattern decodes from its fields and round-trips") {
  const PatternCounts c = check_every_pattern(attn::kFp16);
  CHECK(c.nans == 2 * 1023);
  CHECK(c.infinities == 2);
  CHECK(c.finite == 65536 - 2 * 1024);
}
TEST_CASE("bf16: every bit pattern decodes from its fields and round-trips") {
  const PatternCounts c = check_every_pattern(attn::kBf16);
  CHECK(c.nans == 2 * 127);
  CHECK(c.infinities == 2);
  CHECK(c.finite == 65536 - 2 * 128);
}
TEST_CASE("e4m3: all 256 bit patterns decode from their fields and round-trip") {
  const PatternCounts c = check_every_pattern(attn::kE4M3);
  CHECK(c.nans == 2);        // S.1111.111
  CHECK(c.infinities == 0);  // OCP e4m3 has none
  CHECK(c.finite == 254);
}
TEST_CASE("e5m2: all 256 bit patterns decode from their fields and round-trip") {
  const PatternCounts c = check_every_pattern(attn::kE5M2);
  CHECK(c.nans == 6);  // S.11111.{01,10,11}
  CHECK(c.infinities == 2);
  CHECK(c.finite == 248);
}
TEST_CASE("fp16: rounding at every boundary agrees with MPFR") { CHECK(check_every_boundary(attn::kFp16) == 2 * (5 * 31743 + 9)); }
TEST_CASE("bf16: rounding at every boundary agrees with MPFR") { CHECK(check_every_boundary(attn::kBf16) == 2 * (5 * 32639 + 9)); }
TEST_CASE("e4m3: rounding (both casts) at every boundary agrees with MPFR") {
  CHECK(check_every_boundary(attn::kE4M3) == 2 * (5 * 126 + 9));  // 0x00..0x7E: 126 gaps, then overflow
}
TEST_CASE("e5m2: rounding (both casts) at every boundary agrees with MPFR") {
  CHECK(check_every_boundary(attn::kE5M2) == 2 * (5 * 123 + 9));  // 0x00..0x7B: 123 gaps, then overflow
}

TEST_CASE("e4m3 and e5m2: named values and edges from the OCP definition") {
  const FloatFormat& e4m3 = attn::kE4M3;
  const FloatFormat& e5m2 = attn::kE5M2;
  e4m3.validate();
  e5m2.validate();
  CHECK(e4m3.max_finite() == 448.0);
  CHECK(e5m2.max_finite() == 57344.0);
  CHECK(e4m3.min_normal() == std::ldexp(1.0, -6));
  CHECK(e4m3.min_subnormal() == std::ldexp(1.0, -9));
  CHECK(e5m2.min_normal() == std::ldexp(1.0, -14));
  CHECK(e5m2.min_subnormal() == std::ldexp(1.0, -16));
  CHECK(attn::decode_bits(0x7E, e4m3) == 448.0);
  CHECK(attn::decode_bits(0x78, e4m3) == 256.0);  // exponent field 1111 is a normal binade
  CHECK(std::isnan(attn::decode_bits(0x7F, e4m3)));
  CHECK(std::isnan(attn::decode_bits(0xFF, e4m3)));
  CHECK(attn::decode_bits(0x7B, e5m2) == 57344.0);
  CHECK(std::isinf(attn::decode_bits(0x7C, e5m2)));
  CHECK(attn::encode_bits(NAN, e4m3) == 0x7F);
  CHECK_THROWS_AS(attn::encode_bits(INFINITY, e4m3), attn::Error);
  CHECK_THROWS_AS(attn::encode_bits(1.0625, e4m3), attn::Error);  // not representable (3 mantissa bits)

  // e4m3 overflow: 464 ties to even (448 = 1.110b x 2^8, not the unrepresentable 480 = 1.111b);
  // anything above it is NaN without saturation and 448 with it. inf: NaN / 448.
  CHECK(cast_bits(464.0, e4m3) == 0x7E);
  CHECK(std::isnan(attn::round_to_format(std::nextafter(464.0, 1e9), e4m3)));
  CHECK(std::isnan(attn::round_to_format(INFINITY, e4m3)));
  CHECK(std::isnan(attn::round_to_format(-1e6, e4m3)));
  CHECK(satfinite_bits(std::nextafter(464.0, 1e9), e4m3) == 0x7E);
  CHECK(satfinite_bits(-INFINITY, e4m3) == 0xFE);
  CHECK(satfinite_bits(1e300, e4m3) == 0x7E);
  CHECK(std::isnan(attn::round_to_format_satfinite(NAN, e4m3)));
  // e5m2 overflow: 61440 ties to even away from 57344 = 1.11b x 2^15: inf, or 57344 saturated.
  CHECK(cast_bits(std::nextafter(61440.0, 0.0), e5m2) == 0x7B);
  CHECK(cast_bits(61440.0, e5m2) == 0x7C);
  CHECK(cast_bits(-61440.0, e5m2) == 0xFC);
  CHECK(satfinite_bits(61440.0, e5m2) == 0x7B);
  CHECK(satfinite_bits(INFINITY, e5m2) == 0x7B);
  CHECK(satfinite_bits(-INFINITY, e5m2) == 0xFB);
  // Subnormals: half the smallest subnormal ties to zero; just above rounds up; 3/2 of it ties to 2.
  CHECK(cast_bits(std::ldexp(1.0, -10), e4m3) == 0x00);
  CHECK(cast_bits(std::nextafter(std::ldexp(1.0, -10), 1.0), e4m3) == 0x01);
  CHECK(cast_bits(3 * std::ldexp(1.0, -10), e4m3) == 0x02);
  CHECK(cast_bits(-std::ldexp(1.0, -17), e5m2) == 0x80);  // -0
  CHECK(cast_bits(std::ldexp(1.0, -6) - std::ldexp(1.0, -10), e4m3) == 0x08);  // 7.5 quanta ties up to min normal
  // A value between two e4m3 points of a softmax probability: 0.3 -> 0.3125 (0x2A: 1.010b x 2^-2).
  CHECK(cast_bits(0.3, e4m3) == 0x2A);
  CHECK(cast_bits(0.3, e5m2) == 0x35);  // 1.01b x 2^-2 = 0.3125 as well (2 mantissa bits)
}

TEST_CASE("float formats: names parse, inconsistent structs are rejected") {
  CHECK(&attn::parse_float_format("e4m3") == &attn::kE4M3);
  CHECK(&attn::parse_float_format("float8_e4m3fn") == &attn::kE4M3);
  CHECK(&attn::parse_float_format("e5m2") == &attn::kE5M2);
  CHECK(&attn::parse_float_format("bf16") == &attn::kBf16);
  CHECK(&attn::parse_float_format("float32") == &attn::kFp32);
  CHECK_THROWS_AS(attn::parse_float_format("e3m4"), attn::ProblemError);
  // e4m3 as an IEEE format would have emax 7 (max 240): emax 8 with ieee specials is inconsistent.
  const FloatFormat ieee_e4m3{4, -6, 8, 4, "bad", attn::SpecialValues::ieee};
  CHECK_THROWS_AS(ieee_e4m3.validate(), attn::Error);
  const FloatFormat fn_e5m2{3, -14, 15, 5, "bad", attn::SpecialValues::finite_nan_only};
  CHECK_THROWS_AS(fn_e5m2.validate(), attn::Error);
}

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
  CHECK(attn::round_to_format_satfinite(1e6, attn::kFp16) == 65504.0);
  CHECK(attn::round_to_format_satfinite(-INFINITY, attn::kFp16) == -65504.0);
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
