// test_fp32_elementary.cpp: exp_fp32 / log_fp32 (core/pipeline/fp32_elementary.h), the decode
// kernels' exp and log, against the correctly rounded values (exp / log in double, rounded once:
// double has more than 2 x 24 + 2 bits, so the only double rounding that could bite is at an exact
// float midpoint, which exp and log of a float never hit): within 1 ulp on a dense sample of every
// range the kernels use, mostly correctly rounded; the special values exact. That the GPU computes
// the same bits is checked on the device (tests/gpu/test_decode.cpp, "[decode][emulator]").
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "core/pipeline/fp32_elementary.h"

using namespace attn::pipeline;

namespace {

float from_bits(uint32_t u) {
  float x;
  std::memcpy(&x, &u, sizeof x);
  return x;
}

/// |y - exact| in units of the FP32 spacing at the exact value.
double ulp_error(float y, double exact) {
  const float r = static_cast<float>(exact);
  const double spacing = r == 0.0f ? std::ldexp(1.0, -149)
                                   : static_cast<double>(std::nextafter(std::fabs(r), INFINITY)) - std::fabs(r);
  return std::fabs(static_cast<double>(y) - exact) / spacing;
}

struct Sweep {
  int64_t samples = 0, not_correctly_rounded = 0;
  double max_ulp = 0;
};

}  // namespace

TEST_CASE("exp_fp32 is within 1 ulp of e^x on [-104, 0] (every 31st float) and on [0, 88]", "[fp32_elementary]") {
  Sweep s;
  // Negative floats from -0 (0x80000000) to -104 (0xC2D00000): the softmax's range.
  for (uint32_t u = 0x80000000u; u <= 0xC2D00000u; u += 31) {
    const float x = from_bits(u);
    const double exact = std::exp(static_cast<double>(x));
    const float y = exp_fp32(x);
    s.max_ulp = std::max(s.max_ulp, ulp_error(y, exact));
    s.not_correctly_rounded += y != static_cast<float>(exact);
    ++s.samples;
  }
  for (uint32_t u = 0x00000000u; u <= 0x42B00000u; u += 997) {  // [0, 88]
    const float x = from_bits(u);
    s.max_ulp = std::max(s.max_ulp, ulp_error(exp_fp32(x), std::exp(static_cast<double>(x))));
    ++s.samples;
  }
  INFO(s.samples << " samples, " << s.not_correctly_rounded << " not correctly rounded, max " << s.max_ulp << " ulp");
  CHECK(s.samples > 30'000'000);
  CHECK(s.max_ulp < 1.0);
  CHECK(s.not_correctly_rounded < s.samples / 100);  // measured: 0.45 %
}

TEST_CASE("log_fp32 is within 1 ulp of ln x on every 61st positive float", "[fp32_elementary]") {
  Sweep s;
  for (uint32_t u = 1; u < 0x7F800000u; u += 61) {
    const float x = from_bits(u);
    const double exact = std::log(static_cast<double>(x));
    const float y = log_fp32(x);
    s.max_ulp = std::max(s.max_ulp, ulp_error(y, exact));
    s.not_correctly_rounded += y != static_cast<float>(exact);
    ++s.samples;
  }
  INFO(s.samples << " samples, " << s.not_correctly_rounded << " not correctly rounded, max " << s.max_ulp << " ulp");
  CHECK(s.samples > 30'000'000);
  CHECK(s.max_ulp < 1.0);
  CHECK(s.not_correctly_rounded < s.samples / 50);  // measured: 0.63 %
}

TEST_CASE("exp_fp32 and log_fp32 special values", "[fp32_elementary]") {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  CHECK(exp_fp32(0.0f) == 1.0f);  // exactly: the rescale factor of an unchanged max is 1
  CHECK(exp_fp32(-0.0f) == 1.0f);
  CHECK(exp_fp32(-inf) == 0.0f);
  CHECK_FALSE(std::signbit(exp_fp32(-inf)));
  CHECK(exp_fp32(-104.5f) == 0.0f);
  CHECK(exp_fp32(89.0f) == inf);
  CHECK(std::isnan(exp_fp32(nan)));
  // Subnormal results are rounded once: e^-100 = 3.72e-44 is 27 x 2^-149 (26.55 rounds up).
  CHECK(exp_fp32(-100.0f) == static_cast<float>(std::exp(-100.0)));
  CHECK(log_fp32(1.0f) == 0.0f);
  CHECK(log_fp32(0.0f) == -inf);
  CHECK(std::isnan(log_fp32(-1.0f)));
  CHECK(log_fp32(inf) == inf);
  CHECK(std::isnan(log_fp32(nan)));
  CHECK(log_fp32(from_bits(1)) == static_cast<float>(std::log(std::ldexp(1.0, -149))));  // smallest subnormal
}
