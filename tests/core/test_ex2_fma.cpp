// test_ex2_fma.cpp: ex2_fma (core/pipeline/ex2_fma.h), the FP8 forward's exponential on the FMA
// pipes, against 2^x in FP64: within its stated 0.952 ulp (the error in units of the FP32 spacing
// of the exact value's binade, 2^(floor(log2 2^x) - 23): stricter than the spacing at the rounded
// value just below a power of two), the special values exact. The CI case checks every float x
// with 2^-8 <= |x| <= 1/2 (the reduced argument f = x - rint(x) of any x lies in [-1/2, 1/2] and
// y / 2^n depends on f alone: these binades are where the polynomial's error peaks) and a stride
// of every float in [-126, 9); "[.ex2-fma-exhaustive]" checks every float in [-126, 127.5) and
// prints the numbers quoted in the header. The emulator's use of the same function (bit for bit)
// is tests/analysis/test_fp8_emulator.cpp's; the GPU's, tests/gpu/test_hopper_fp8.cpp's.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <thread>
#include <vector>

#include "core/pipeline/ex2_fma.h"

using namespace attn::pipeline;

namespace {

// Bit views: fp32_elementary.h's, as ex2_fma uses them.
uint32_t to_bits(float x) { return float_bits(x); }

/// |y - 2^x| in units of 2^(floor(log2 2^x) - 23) (2^x normal: x >= -126).
double ulp_error(float y, double exact) {
  int e = 0;
  std::frexp(exact, &e);  // exact = m 2^e, m in [1/2, 1)
  return std::fabs(static_cast<double>(y) - exact) / std::ldexp(1.0, e - 1 - 23);
}

struct Sweep {
  int64_t samples = 0, correctly_rounded = 0;
  double max_ulp = 0;
  float worst_x = 0;
  void add(float x) {
    const double exact = std::exp2(static_cast<double>(x));
    const float y = ex2_fma(x);
    const double u = ulp_error(y, exact);
    ++samples;
    if (y == static_cast<float>(exact)) ++correctly_rounded;
    if (u > max_ulp) {
      max_ulp = u;
      worst_x = x;
    }
  }
  void merge(const Sweep& o) {
    samples += o.samples;
    correctly_rounded += o.correctly_rounded;
    if (o.max_ulp > max_ulp) {
      max_ulp = o.max_ulp;
      worst_x = o.worst_x;
    }
  }
};

/// Every `stride`-th float of the bit range [lo, hi) of one sign, split over `threads` threads.
Sweep sweep_bits(uint32_t lo, uint32_t hi, bool negative, uint32_t stride, int threads) {
  std::vector<Sweep> part(static_cast<size_t>(threads));
  std::vector<std::thread> pool;
  const uint64_t count = (static_cast<uint64_t>(hi) - lo + stride - 1) / stride;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      for (uint64_t i = count * t / threads; i < count * (t + 1) / threads; ++i)
        part[static_cast<size_t>(t)].add(bits_float(static_cast<uint32_t>(lo + i * stride) | (negative ? 0x80000000u : 0u)));
    });
  for (std::thread& th : pool) th.join();
  Sweep all;
  for (const Sweep& s : part) all.merge(s);
  return all;
}

constexpr double kStatedMaxUlp = 0.952;  // ex2_fma.h's bound (ex2.approx.ftz.f32: 2 ulp)

}  // namespace

TEST_CASE("ex2_fma: special values, integers exact, ftz below -126", "[ex2_fma][fp8]") {
  const float inf = std::numeric_limits<float>::infinity();
  CHECK(ex2_fma(0.0f) == 1.0f);
  CHECK(ex2_fma(-0.0f) == 1.0f);
  for (int n = -126; n <= 127; ++n) CHECK(ex2_fma(static_cast<float>(n)) == std::ldexp(1.0f, n));
  CHECK(to_bits(ex2_fma(-inf)) == 0u);  // +0: a masked score
  for (float x : {-126.0001f, -126.5f, -127.0f, -149.0f, -200.0f, -1e30f}) CHECK(to_bits(ex2_fma(x)) == 0u);
  CHECK(std::isnan(ex2_fma(std::numeric_limits<float>::quiet_NaN())));
  CHECK(ex2_fma(127.25f) == static_cast<float>(std::exp2(127.25)));
  CHECK(ex2_fma(127.5f) == inf);  // outside the domain [.., 127.5): documented
  CHECK(ex2_fma(128.0f) == inf);
  // P's largest argument in the FP8 softmax: 8 + a rounding (2^8 scaled P).
  CHECK(ex2_fma(8.0f) == 256.0f);
  CHECK(ulp_error(ex2_fma(8.0001f), std::exp2(8.0001)) <= kStatedMaxUlp);
}

TEST_CASE("exp_on_fma: the last n8 column block of every period", "[ex2_fma][fp8]") {
  int on = 0;
  for (int b = 0; b < 16; ++b) {
    CHECK_FALSE(exp_on_fma(b, 0));
    CHECK(exp_on_fma(b, 4) == (b == 3 || b == 7 || b == 11 || b == 15));
    CHECK(exp_on_fma(b, 8) == (b == 7 || b == 15));
    on += exp_on_fma(b, 4);
  }
  CHECK(on == 4);
}

TEST_CASE("ex2_fma: within 0.952 ulp of 2^x (FP64) where the polynomial's error peaks", "[ex2_fma][fp8]") {
  Sweep all;
  // Every float with 2^-8 <= |x| <= 1/2 (both signs): 2 x 7 binades x 2^23.
  for (bool negative : {false, true}) all.merge(sweep_bits(to_bits(0x1p-8f), to_bits(0.5f) + 1, negative, 1, 2));
  // [-126, 9): every 61st float (the softmax's range; 2^x normal).
  all.merge(sweep_bits(0, to_bits(126.0f) + 1, true, 61, 2));
  all.merge(sweep_bits(0, to_bits(9.0f), false, 61, 2));
  std::printf("ex2_fma: %lld floats, max %.4f ulp at x = %a, %.4f%% correctly rounded\n",
              static_cast<long long>(all.samples), all.max_ulp, static_cast<double>(all.worst_x),
              100.0 * static_cast<double>(all.correctly_rounded) / static_cast<double>(all.samples));
  CHECK(all.samples > 150000000);  // 2 x 7 x 2^23 + the strides: 153,758,203
  CHECK(all.max_ulp <= kStatedMaxUlp);
  CHECK(all.max_ulp > 0.5);  // the sweep reaches the error peak (0.9516 at x = -0x1.fbe9f6p-2)
}

TEST_CASE("ex2_fma: every float in [-126, 127.5) (exhaustive, about 2.2e9; prints the numbers)",
          "[.ex2-fma-exhaustive]") {
  const int threads = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  Sweep all = sweep_bits(0, to_bits(126.0f) + 1, true, 1, threads);
  all.merge(sweep_bits(0, to_bits(127.5f), false, 1, threads));
  std::printf("ex2_fma exhaustive [-126, 127.5): %lld floats, max %.4f ulp at x = %a, %.4f%% correctly rounded\n",
              static_cast<long long>(all.samples), all.max_ulp, static_cast<double>(all.worst_x),
              100.0 * static_cast<double>(all.correctly_rounded) / static_cast<double>(all.samples));
  CHECK(all.max_ulp <= kStatedMaxUlp);
}
