// test_fp64_attention.cpp: the Eigen FP64 reference against the plain templated
// full_attention<double>. They differ only in the summation order of Q K^T and P V, so they
// must agree within a first-order rounding bound derived below (a few double ulps in
// practice); thread count does not change a bit.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>

#include "core/generators.h"
#include "references/fp64_attention.h"
#include "references/full_attention.h"
#include "reference_test_util.h"

namespace attn {
namespace {

constexpr double kUnitRoundoff = 0x1p-53;
double gamma(int64_t n) { return n * kUnitRoundoff / (1 - n * kUnitRoundoff); }

/// Largest |fp64 - plain| / bound over the problem, where per row (b, h, i) and column d
///   delta  = gamma(D + 1) * scale * max_j sum_d |q_d k_jd|     (error of one scaled score)
///   bound  = [2 (4 delta + u) + 4 gamma(n) + 2 u] * max_j |v_jd| + tiny
/// Each result perturbs a score by <= delta, so exp(s_j - m) relatively by <= 2 delta + u
/// (score and max); the ratio sum p v / sum p moves by <= 2 x that relative change times
/// max |v|; P V and the row sum each add gamma(n) (n visible keys); the division adds u.
/// Both results err, hence the factors 2.
double worst_ratio_to_bound(const Problem& p, const AttentionInputs& in, const AttentionOutputs& fast,
                            const ReferenceResult<double>& plain, double* max_abs_diff, double* max_ulps) {
  double worst = 0;
  for (int64_t b = 0; b < p.batch; ++b)
    for (int64_t h = 0; h < p.num_heads_q; ++h)
      for (int64_t i = 0; i < p.seqlen_q; ++i) {
        const int64_t h_kv = p.kv_head(h), keys = p.keys_in_batch(b);
        double max_abs_dot = 0;
        int64_t visible = 0;
        for (int64_t j = 0; j < keys; ++j) {
          if (!p.visible(b, i, j)) continue;
          ++visible;
          double a = 0;
          for (int64_t d = 0; d < p.head_dim; ++d) a += std::fabs(in.q(b, i, h, d) * in.k(b, j, h_kv, d));
          max_abs_dot = std::max(max_abs_dot, a);
        }
        const double delta = gamma(p.head_dim + 1) * p.scale() * max_abs_dot * (1 + 1e-10);
        for (int64_t d = 0; d < p.head_dim; ++d) {
          double max_v = 0;
          for (int64_t j = 0; j < keys; ++j)
            if (p.visible(b, i, j)) max_v = std::max(max_v, std::fabs(in.v(b, j, h_kv, d)));
          const double bound =
              (2 * (4 * delta + kUnitRoundoff) + 4 * gamma(visible) + 2 * kUnitRoundoff) * max_v + 1e-300;
          const double diff = std::fabs(fast.o(b, i, h, d) - plain.o(b, i, h, d));
          worst = std::max(worst, diff / bound);
          *max_abs_diff = std::max(*max_abs_diff, diff);
          const double scale_of_row = std::max(max_v, 1e-300);
          *max_ulps = std::max(*max_ulps, diff / (scale_of_row * 2 * kUnitRoundoff));
        }
        const double lse_diff = std::fabs(fast.lse(b, h, i) - plain.lse(b, h, i));
        if (std::isinf(plain.lse(b, h, i))) CHECK(fast.lse(b, h, i) == plain.lse(b, h, i));
        else CHECK(lse_diff <= 4 * delta + 8 * gamma(visible) * (1 + std::fabs(plain.lse(b, h, i))));
      }
  return worst;
}

}  // namespace

TEST_CASE("fp64 (Eigen) agrees with plain reference<double> within the derived rounding bound", "[fp64]") {
  struct Case {
    Problem problem;
    Distribution distribution;
  };
  std::vector<Case> cases;
  cases.push_back({test::make_problem(2, 300, 300, 4, 2, 64), Distribution::normal});          // causal, 3 row blocks (not a multiple of 128)
  cases.push_back({test::make_problem(1, 37, 520, 8, 1, 128), Distribution::outliers});        // S_q < S_k, MQA, D 128
  cases.push_back({test::make_problem(1, 64, 64, 2, 2, 32, Mask{MaskKind::none}), Distribution::large_logits});
  cases.push_back({test::make_problem(1, 200, 150, 2, 1, 16, Mask{MaskKind::sliding_window, 20, 4}), Distribution::sink});
  // fp32 inputs: products are still exact in double but their sums are not, so the GEMM's
  // summation order shows in the scores too.
  cases.push_back({test::make_problem(1, 150, 700, 2, 1, 128, Mask{}, DType::fp32), Distribution::normal});
  Problem ragged = test::make_problem(3, 40, 90, 4, 4, 64, Mask{MaskKind::causal_top_left});
  ragged.seqlens_k = {90, 17, 0};
  ragged.gqa = GqaMapping::interleaved;
  cases.push_back({ragged, Distribution::uniform});
  for (const Case& c : cases) {
    const AttentionInputs in = generate_inputs(c.problem, InputSpec{c.distribution, 17});
    const AttentionOutputs fast = fp64_attention(c.problem, in);
    const ReferenceResult<double> plain = full_attention<double>(c.problem, in);
    double max_abs = 0, max_ulps = 0;
    const double ratio = worst_ratio_to_bound(c.problem, in, fast, plain, &max_abs, &max_ulps);
    std::printf("fp64 vs plain %-34s %-12s max |diff| %.3e (%.2f ulps of max|v|), worst diff/bound %.2e\n",
                c.problem.label().c_str(), distribution_name(c.distribution).c_str(), max_abs, max_ulps, ratio);
    INFO(c.problem.label());
    CHECK(ratio <= 1.0);
    CHECK(max_ulps <= 16);  // "a few double ulps" of the row's value scale, as measured (<= 1.5)
    CHECK(fast.out_dtype == DType::fp64);
    for (int64_t n = 0; n < fast.o.numel(); ++n) REQUIRE(!std::isnan(fast.o.flat(n)));
  }
}

TEST_CASE("fp64 (Eigen): thread count does not change a bit; fully masked blocks are zero", "[fp64]") {
  Problem p = test::make_problem(2, 260, 100, 4, 2, 32);  // S_q > S_k: the first 160 rows see no key
  const AttentionInputs in = generate_inputs(p, InputSpec{Distribution::normal, 5});
  const AttentionOutputs one = fp64_attention(p, in, Fp64AttentionOptions{.threads = 1, .block_rows = 64, .progress = {}});
  const AttentionOutputs two = fp64_attention(p, in, Fp64AttentionOptions{.threads = 2, .block_rows = 64, .progress = {}});
  CHECK(test::count_bit_differences(one.o, two.o) == 0);
  CHECK(test::count_bit_differences(one.lse, two.lse) == 0);
  for (int64_t i = 0; i < 160; ++i) {
    CHECK(std::isinf(one.lse(1, 3, i)));
    CHECK(test::same_bits(one.o(1, i, 3, 31), 0.0));
  }
  CHECK(std::isfinite(one.lse(1, 3, 160)));
}

}  // namespace attn
