// Generators: Philox known answers, reproducibility (fixed checksums), statistics of every
// distribution, and the portable log that keeps normal samples bit-identical across machines.
#include <catch2/catch.hpp>

#include <cmath>
#include <random>

#include "core/generators.h"
#include "core/philox.h"

namespace {
attn::Problem small_problem() {
  attn::Problem p;
  p.batch = 2;
  p.seqlen_q = 33;
  p.seqlen_k = 47;
  p.num_heads_q = 4;
  p.num_heads_kv = 2;
  p.head_dim = 64;
  return p;
}
double mean_of(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s / static_cast<double>(v.size());
}
double variance_of(const std::vector<double>& v) {
  const double m = mean_of(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return s / static_cast<double>(v.size());
}
}  // namespace

TEST_CASE("Philox4x32-10 known-answer vectors (Random123 kat_vectors)") {
  const attn::PhiloxBlock zero = attn::philox4x32_10(0, 0, 0, 0, 0, 0);
  CHECK(zero.v[0] == 0x6627e8d5u);
  CHECK(zero.v[1] == 0xe169c58du);
  CHECK(zero.v[2] == 0xbc57ac4cu);
  CHECK(zero.v[3] == 0x9b00dbd8u);
  const attn::PhiloxBlock ones = attn::philox4x32_10(~0u, ~0u, ~0u, ~0u, ~0u, ~0u);
  CHECK(ones.v[0] == 0x408f276du);
  CHECK(ones.v[1] == 0x41c83b0eu);
  CHECK(ones.v[2] == 0xa20bc7c6u);
  CHECK(ones.v[3] == 0x6d5451fdu);
  const attn::PhiloxBlock pi = attn::philox4x32_10(0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u, 0xa4093822u, 0x299f31d0u);
  CHECK(pi.v[0] == 0xd16cfe09u);
  CHECK(pi.v[1] == 0x94fdccebu);
  CHECK(pi.v[2] == 0x5001e420u);
  CHECK(pi.v[3] == 0x24126ea1u);
}

TEST_CASE("portable_log is within 2 ulp of the C library's log") {
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> mantissa(1.0, 2.0);
  std::uniform_int_distribution<int> exponent(-1074, 1023);
  for (int i = 0; i < 200000; ++i) {
    const double x = std::ldexp(mantissa(rng), exponent(rng));
    if (x == 0 || !std::isfinite(x)) continue;
    const double a = attn::portable_log(x), b = std::log(x);
    const double ulp = std::nextafter(std::fabs(b), INFINITY) - std::fabs(b);
    REQUIRE(std::fabs(a - b) <= 2 * ulp + 1e-300);
  }
  CHECK(attn::portable_log(1.0) == 0.0);
}

TEST_CASE("inputs are reproducible bit for bit: fixed checksums") {
  // Produced once by this generator (Philox4x32-10, polar method with portable_log, values
  // rounded to fp16); any change to the bits of any distribution changes these numbers.
  const attn::Problem p = small_problem();
  const attn::InputSpec base{attn::Distribution::normal, 1234};
  for (attn::Distribution d : {attn::Distribution::normal, attn::Distribution::uniform, attn::Distribution::outliers,
                               attn::Distribution::large_logits, attn::Distribution::sink}) {
    attn::InputSpec spec = base;
    spec.distribution = d;
    const attn::AttentionInputs a = attn::generate_inputs(p, spec), b = attn::generate_inputs(p, spec);
    CHECK(attn::checksum(a.q) == attn::checksum(b.q));
    CHECK(attn::checksum(a.k) == attn::checksum(b.k));
    spec.seed = 1235;
    CHECK(attn::checksum(attn::generate_inputs(p, spec).q) != attn::checksum(a.q));
    INFO(attn::distribution_name(d) << " q=" << attn::checksum(a.q) << " k=" << attn::checksum(a.k)
                                    << " v=" << attn::checksum(a.v));
    CHECK(attn::checksum(a.q) != attn::checksum(a.k));  // streams differ
  }
  const attn::AttentionInputs n = attn::generate_inputs(p, base);
  CHECK(attn::checksum(n.q) == 0x5edff2f46da794aeull);
  CHECK(attn::checksum(n.k) == 0xcbd92c434eeb2e4dull);
  CHECK(attn::checksum(n.v) == 0xcf27f7ca38590214ull);
}

TEST_CASE("distribution statistics") {
  attn::Problem p = small_problem();
  p.seqlen_q = p.seqlen_k = 256;
  auto gen = [&](attn::Distribution d) {
    attn::InputSpec s{d, 99};
    return attn::generate_inputs_unquantized(p, s);
  };
  const auto normal = gen(attn::Distribution::normal);
  CHECK(std::fabs(mean_of(normal.q.storage())) < 0.01);
  CHECK(std::fabs(variance_of(normal.q.storage()) - 1.0) < 0.02);
  const auto uniform = gen(attn::Distribution::uniform);
  CHECK(std::fabs(variance_of(uniform.k.storage()) - 1.0 / 3.0) < 0.01);
  for (double x : uniform.k.storage()) REQUIRE((x > -1.0 && x < 1.0));
  const auto outliers = gen(attn::Distribution::outliers);
  int64_t big = 0;
  for (double x : outliers.v.storage()) big += std::fabs(x) > 6.0;  // N(0,1) alone: ~2e-9 beyond 6
  const double fraction = static_cast<double>(big) / static_cast<double>(outliers.v.numel());
  CHECK(fraction > 0.0004);
  CHECK(fraction < 0.0012);  // 0.1% outliers, ~55% of which exceed 6 in magnitude (std 10)
  CHECK(std::fabs(variance_of(outliers.v.storage()) - 1.1) < 0.1);  // 1 + 100 * 0.001
  // large logits: scaled scores q.k * scale have std ~ logit_std
  const auto large = gen(attn::Distribution::large_logits);
  std::vector<double> scores;
  for (int64_t i = 0; i < 64; ++i)
    for (int64_t j = 0; j < 64; ++j) {
      double s = 0;
      for (int64_t d = 0; d < p.head_dim; ++d) s += large.q(0, i, 0, d) * large.k(0, j, 0, d);
      scores.push_back(s * p.scale());
    }
  CHECK(std::sqrt(variance_of(scores)) == Approx(1e3).epsilon(0.1));
  // attention sink: the first keys take most of the softmax mass of a typical query
  const auto sink = gen(attn::Distribution::sink);
  double sink_mass = 0;
  for (int64_t i = 0; i < 32; ++i) {
    std::vector<double> s(static_cast<size_t>(p.seqlen_k));
    double mx = -1e300;
    for (int64_t j = 0; j < p.seqlen_k; ++j) {
      double dot = 0;
      for (int64_t d = 0; d < p.head_dim; ++d) dot += sink.q(0, i, 0, d) * sink.k(0, j, 0, d);
      s[j] = dot * p.scale();
      mx = std::max(mx, s[j]);
    }
    double total = 0, head = 0;
    for (int64_t j = 0; j < p.seqlen_k; ++j) {
      const double e = std::exp(s[j] - mx);
      total += e;
      if (j < 4) head += e;
    }
    sink_mass += head / total / 32;
  }
  CHECK(sink_mass > 0.5);
}

// growing-max: the staircase is chosen so that the FP16-rounded rescale factor of every tile size
// errs the same way each period and is never near a rounding tie; the generated scores are exact
// in BF16 and FP16 (a same-precision baseline sees exact scores) and the running max grows in
// every key tile of every BLOCK_N 16..128, for every row under a causal mask, with GQA.
TEST_CASE("growing-max: the staircase's rescale factors are far from FP16 ties and err every period") {
  for (int64_t d : {32, 64, 128, 256}) {
    const double scale = 1.0 / std::sqrt(static_cast<double>(d));
    const attn::GrowingMaxStaircase st = attn::growing_max_staircase(scale);
    INFO("head_dim " << d);
    CHECK(std::log2(st.quantum) == std::floor(std::log2(st.quantum)));  // a power of two
    CHECK(st.exact_keys >= 4096);
    const double scale_log2 = static_cast<float>(static_cast<float>(scale) * static_cast<float>(1.4426950408889634));
    for (int size = 0; size < 4; ++size) {
      const int sub_blocks = 1 << size;  // BLOCK_N = 16 x sub_blocks
      double error = 0;
      for (int tile = 0; tile < 8 / sub_blocks; ++tile) {
        int growth = 0;
        for (int i = 0; i < sub_blocks; ++i) growth += st.steps[tile * sub_blocks + i];
        CHECK(growth > 0);
        const double alpha = std::exp2(-growth * st.quantum * scale_log2);
        int e = 0;
        std::frexp(alpha, &e);
        const double ulps = std::ldexp(alpha, 11 - e);  // alpha in FP16 ULPs
        CHECK(std::fabs(ulps - std::floor(ulps) - 0.5) >= 0.1);
        error += (attn::round_to(attn::DType::fp16, alpha) - alpha) / alpha;
      }
      CHECK(error == Approx(st.fp16_error_per_period[size]));
      CHECK(std::fabs(error) > 1e-4);  // at least ~0.2 FP16 ULP per period of 128 keys
    }
  }
}

TEST_CASE("growing-max: exact scores, the running max grows in every tile of every BLOCK_N") {
  for (attn::DType dtype : {attn::DType::bf16, attn::DType::fp16}) {
    attn::Problem p;
    p.batch = 2;
    p.seqlen_q = 37;
    p.seqlen_k = 4096 + 37;
    p.num_heads_q = 8;
    p.num_heads_kv = 2;
    p.head_dim = 64;
    p.dtype = dtype;
    const attn::AttentionInputs raw = attn::generate_inputs_unquantized(p, {attn::Distribution::growing_max, 5});
    const attn::AttentionInputs in = attn::generate_inputs(p, {attn::Distribution::growing_max, 5});
    const attn::GrowingMaxStaircase st = attn::growing_max_staircase(p.scale());
    for (int64_t b = 0; b < p.batch; ++b)
      for (int64_t h = 0; h < p.num_heads_q; ++h) {
        const int64_t hk = p.kv_head(h);
        for (int64_t i = 0; i < p.seqlen_q; ++i) {
          // One coordinate equal to 1: the score is that coordinate of K.
          int64_t nonzero = 0, c = -1;
          for (int64_t d = 0; d < p.head_dim; ++d)
            if (in.q(b, i, h, d) != 0) ++nonzero, c = d;
          REQUIRE(nonzero == 1);
          REQUIRE(in.q(b, i, h, c) == 1.0);
          const int64_t visible = i + 1 + (p.seqlen_k - p.seqlen_q);  // bottom-right causal
          for (int block_n : {16, 32, 64, 128}) {
            double running = -INFINITY;
            for (int64_t first = 0; first + block_n <= visible; first += block_n) {
              double tile_max = -INFINITY;
              for (int64_t j = first; j < first + block_n; ++j) tile_max = std::max(tile_max, in.k(b, j, hk, c));
              INFO(attn::dtype_name(dtype) << " b" << b << " h" << h << " row " << i << " BLOCK_N " << block_n
                                           << " tile at " << first);
              if (first > 0) REQUIRE(tile_max > running);  // every full tile raises the running max
              running = tile_max;
            }
          }
        }
        // Exact: the dtype did not move a score (the same-precision baseline's scores are exact).
        for (int64_t j = 0; j < p.seqlen_k; ++j) {
          int64_t c = 0;
          while (in.q(b, 0, h, c) == 0) ++c;
          REQUIRE(in.k(b, j, hk, c) == raw.k(b, j, hk, c));
          REQUIRE(std::fabs(in.k(b, j, hk, c) / st.quantum) <= 256);
        }
      }
    // V is +-1: positive before the turn, negative after, per coordinate sign.
    for (double x : in.v.storage()) REQUIRE(std::fabs(x) == 1.0);
  }
}
