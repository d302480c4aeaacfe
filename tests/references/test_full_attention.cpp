// test_full_attention.cpp: the full-sequence reference's semantics, checked against independent
// constructions: each row equals an unmasked one-row problem over exactly the keys an explicit
// predicate (written here, not core/mask.h) says it sees — for S_q <, =, > S_k, both causal
// alignments, windows, ragged and empty key lengths; fully masked rows are exactly 0 / -inf;
// GQA contiguous equals an explicit per-head MHA expansion and differs from interleaved; rows
// sum to one exactly (V = 1); the default scale is 1/sqrt(D); a closed-form two-key case.
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>

#include "core/generators.h"
#include "references/full_attention.h"
#include "reference_test_util.h"

namespace attn {
namespace {

using test::count_bit_differences;
using test::make_problem;
using test::same_bits;

/// The mask written out again from DESIGN.md's words, independently of core/mask.h.
bool sees(const Mask& mask, int64_t i, int64_t j, int64_t seqlen_q, int64_t keys) {
  if (j >= keys) return false;
  const int64_t last_br = i + keys - seqlen_q;  // bottom-right diagonal
  switch (mask.kind) {
    case MaskKind::causal_bottom_right: return j <= last_br;
    case MaskKind::causal_top_left: return j <= i;
    case MaskKind::sliding_window:
      return (mask.window_left < 0 || j >= last_br - mask.window_left) &&
             (mask.window_right < 0 || j <= last_br + mask.window_right);
    case MaskKind::none: return true;
  }
  return false;
}

/// Row (b, h, i) recomputed as a one-row, unmasked problem over the compacted visible keys.
/// Returns the number of differing bits against `full` (o and lse of that row).
int64_t row_vs_compacted(const Problem& p, const AttentionInputs& in, const ReferenceResult<double>& full, int64_t b,
                         int64_t h, int64_t i) {
  const int64_t keys = p.keys_in_batch(b), h_kv = p.kv_head(h);
  std::vector<int64_t> visible;
  for (int64_t j = 0; j < keys; ++j)
    if (sees(p.mask, i, j, p.seqlen_q, keys)) visible.push_back(j);
  int64_t differ = 0;
  if (visible.empty()) {  // fully masked: exactly zero, exactly -inf
    for (int64_t d = 0; d < p.head_dim; ++d) differ += same_bits(full.o(b, i, h, d), 0.0) ? 0 : 1;
    differ += same_bits(full.lse(b, h, i), -std::numeric_limits<double>::infinity()) ? 0 : 1;
    return differ;
  }
  Problem one = make_problem(1, 1, static_cast<int64_t>(visible.size()), 1, 1, p.head_dim, Mask{MaskKind::none});
  one.softmax_scale = p.scale();
  AttentionInputs sub{Tensor<double>(one.q_shape()), Tensor<double>(one.kv_shape()), Tensor<double>(one.kv_shape())};
  for (int64_t d = 0; d < p.head_dim; ++d) sub.q(0, 0, 0, d) = in.q(b, i, h, d);
  for (size_t c = 0; c < visible.size(); ++c)
    for (int64_t d = 0; d < p.head_dim; ++d) {
      sub.k(0, static_cast<int64_t>(c), 0, d) = in.k(b, visible[c], h_kv, d);
      sub.v(0, static_cast<int64_t>(c), 0, d) = in.v(b, visible[c], h_kv, d);
    }
  const ReferenceResult<double> r = full_attention<double>(one, sub);
  for (int64_t d = 0; d < p.head_dim; ++d) differ += same_bits(full.o(b, i, h, d), r.o(0, 0, 0, d)) ? 0 : 1;
  differ += same_bits(full.lse(b, h, i), r.lse(0, 0, 0)) ? 0 : 1;
  return differ;
}

}  // namespace

TEST_CASE("full reference: every row attends exactly the keys its mask names", "[full][mask]") {
  const std::vector<Mask> masks = {Mask{},
                                   Mask{MaskKind::causal_top_left},
                                   Mask{MaskKind::none},
                                   Mask{MaskKind::sliding_window, 2, 0},
                                   Mask{MaskKind::sliding_window, 1, 3},
                                   Mask{MaskKind::sliding_window, -1, 1}};
  struct Sizes {
    int64_t seqlen_q, seqlen_k;
    std::vector<int64_t> lengths;
  };
  const std::vector<Sizes> sizes = {{5, 9, {}}, {7, 7, {}}, {9, 4, {}}, {6, 12, {12, 3, 0}}, {4, 10, {1, 10, 4}}};
  int64_t fully_masked_seen = 0;
  for (const Mask& mask : masks)
    for (const Sizes& s : sizes) {
      Problem p = make_problem(s.lengths.empty() ? 2 : 3, s.seqlen_q, s.seqlen_k, 2, 1, 8, mask);
      p.seqlens_k = s.lengths;
      const AttentionInputs in = generate_inputs(p, InputSpec{Distribution::normal, 21});
      const ReferenceResult<double> full = full_attention<double>(p, in);
      INFO("problem " << p.label());
      int64_t differ = 0;
      for (int64_t b = 0; b < p.batch; ++b)
        for (int64_t h = 0; h < p.num_heads_q; ++h)
          for (int64_t i = 0; i < p.seqlen_q; ++i) differ += row_vs_compacted(p, in, full, b, h, i);
      CHECK(differ == 0);
      for (int64_t n = 0; n < full.o.numel(); ++n) REQUIRE(std::isfinite(full.o.flat(n)));  // never NaN
      fully_masked_seen += p.fully_masked_rows();
    }
  CHECK(fully_masked_seen > 0);  // the sweep above did exercise fully masked rows
}

TEST_CASE("full reference: fully masked rows are exactly zero with lse -inf in every scalar type", "[full][mask]") {
  Problem p = make_problem(2, 6, 3, 2, 2, 8);  // S_q > S_k under bottom-right causal: rows 0..2 see nothing
  p.seqlens_k = {3, 0};                        // and batch entry 1 has no keys at all
  const AttentionInputs in = generate_inputs(p, InputSpec{Distribution::normal, 3});
  const ReferenceResult<Half> r = full_attention<Half>(p, in);
  for (int64_t h = 0; h < 2; ++h)
    for (int64_t i = 0; i < 6; ++i) {
      const bool masked = i < 3;
      for (int64_t b = 0; b < 2; ++b) {
        const bool zero_row = masked || b == 1;
        if (zero_row) {
          CHECK(std::isinf(static_cast<double>(r.lse(b, h, i))));
          for (int64_t d = 0; d < 8; ++d) CHECK(r.o(b, i, h, d).bits() == 0);  // +0, not -0 or NaN
        } else {
          CHECK(std::isfinite(static_cast<double>(r.lse(b, h, i))));
        }
      }
    }
}

TEST_CASE("full reference: GQA contiguous = explicit MHA expansion h / g; interleaved = h % H_kv; they differ", "[full][gqa]") {
  for (const int64_t group : {int64_t{1}, int64_t{4}, int64_t{8}}) {
    const int64_t heads_kv = 2, heads_q = heads_kv * group;
    for (const GqaMapping mapping : {GqaMapping::contiguous, GqaMapping::interleaved}) {
      Problem p = make_problem(2, 5, 9, heads_q, heads_kv, 16);
      p.gqa = mapping;
      const AttentionInputs in = generate_inputs(p, InputSpec{Distribution::normal, 8});
      // Expand K/V to one KV head per query head with the rule written out here.
      Problem mha = p;
      mha.num_heads_kv = heads_q;
      AttentionInputs expanded{in.q, Tensor<double>(mha.kv_shape()), Tensor<double>(mha.kv_shape())};
      for (int64_t b = 0; b < 2; ++b)
        for (int64_t j = 0; j < 9; ++j)
          for (int64_t h = 0; h < heads_q; ++h) {
            const int64_t source = mapping == GqaMapping::contiguous ? h / group : h % heads_kv;
            for (int64_t d = 0; d < 16; ++d) {
              expanded.k(b, j, h, d) = in.k(b, j, source, d);
              expanded.v(b, j, h, d) = in.v(b, j, source, d);
            }
          }
      INFO("group " << group << " " << gqa_name(mapping));
      CHECK(count_bit_differences(full_attention<float>(p, in).o, full_attention<float>(mha, expanded).o) == 0);
    }
    if (group > 1) {  // with groups of more than one head the two mappings read different KV heads
      Problem p = make_problem(1, 4, 6, heads_q, heads_kv, 8);
      const AttentionInputs in = generate_inputs(p, InputSpec{Distribution::normal, 9});
      Problem q = p;
      q.gqa = GqaMapping::interleaved;
      CHECK(count_bit_differences(full_attention<double>(p, in).o, full_attention<double>(q, in).o) > 0);
    }
  }
}

TEMPLATE_TEST_CASE("full reference: rows sum to one exactly (V = 1 gives O = 1)", "[full][property]", double, float, Half,
                   BFloat16) {
  Problem p = make_problem(2, 9, 23, 4, 2, 8, Mask{MaskKind::sliding_window, 5, 2});
  p.seqlens_k = {23, 11};
  REQUIRE(p.fully_masked_rows() == 0);
  AttentionInputs in = generate_inputs(p, InputSpec{Distribution::outliers, 4});
  for (auto& x : in.v.storage()) x = 1.0;
  const ReferenceResult<TestType> r = full_attention<TestType>(p, in);
  // sum_j p_j * 1 accumulates the same values in the same order as the row sum: O = l / l = 1.
  for (int64_t n = 0; n < r.o.numel(); ++n) REQUIRE(static_cast<double>(r.o.flat(n)) == 1.0);
}

TEST_CASE("full reference: lse is log sum exp of the scaled visible scores", "[full][property]") {
  Problem p = make_problem(1, 6, 10, 2, 2, 16, Mask{MaskKind::causal_bottom_right});
  const AttentionInputs in = generate_inputs(p, InputSpec{Distribution::large_logits, 2});
  const ReferenceResult<double> r = full_attention<double>(p, in);
  for (int64_t h = 0; h < 2; ++h)
    for (int64_t i = 0; i < 6; ++i) {
      long double max_s = -INFINITY, sum = 0;
      std::vector<long double> s;
      for (int64_t j = 0; j <= i + 4; ++j) {
        long double dot = 0;
        for (int64_t d = 0; d < 16; ++d) dot += static_cast<long double>(in.q(0, i, h, d)) * in.k(0, j, h, d);
        s.push_back(dot * 0.25L);
        max_s = std::max(max_s, s.back());
      }
      for (const long double x : s) sum += std::exp(x - max_s);
      const double expected = static_cast<double>(max_s + std::log(sum));
      CHECK(std::fabs(r.lse(0, h, i) - expected) <= 1e-12 * std::fabs(expected) + 1e-12);
    }
}

TEST_CASE("full reference: default scale is 1/sqrt(D); a closed-form two-key row", "[full][scale]") {
  Problem p = make_problem(1, 3, 5, 1, 1, 128, Mask{MaskKind::none});
  const AttentionInputs in = generate_inputs(p, InputSpec{Distribution::normal, 1});
  Problem explicit_scale = p;
  explicit_scale.softmax_scale = 1.0 / std::sqrt(128.0);
  CHECK(count_bit_differences(full_attention<double>(p, in).o, full_attention<double>(explicit_scale, in).o) == 0);
  Problem unit = p;
  unit.softmax_scale = 1.0;
  CHECK(count_bit_differences(full_attention<double>(p, in).o, full_attention<double>(unit, in).o) > 0);

  // D = 4 (scale 1/2): q = (1,0,0,0), k0 = (2,0,0,0), k1 = 0: scores 1 and 0.
  Problem two = make_problem(1, 1, 2, 1, 1, 4, Mask{MaskKind::none});
  AttentionInputs t{Tensor<double>(two.q_shape()), Tensor<double>(two.kv_shape()), Tensor<double>(two.kv_shape())};
  t.q(0, 0, 0, 0) = 1.0;
  t.k(0, 0, 0, 0) = 2.0;
  for (int64_t d = 0; d < 4; ++d) {
    t.v(0, 0, 0, d) = static_cast<double>(d + 1);
    t.v(0, 1, 0, d) = -static_cast<double>(d);
  }
  const ReferenceResult<double> r = full_attention<double>(two, t);
  const double e = std::exp(1.0);
  for (int64_t d = 0; d < 4; ++d) {
    const double expected = (e * (d + 1) - d) / (e + 1);
    CHECK(std::fabs(r.o(0, 0, 0, d) - expected) <= 4e-16 * std::fabs(expected) + 1e-300);
  }
  CHECK(std::fabs(r.lse(0, 0, 0) - std::log(e + 1)) <= 4e-16);
}

TEST_CASE("full reference: wrong input shapes are named", "[full]") {
  const Problem p = make_problem(1, 3, 5, 2, 1, 8);
  AttentionInputs in = generate_inputs(p, InputSpec{});
  in.v = Tensor<double>({1, 4, 1, 8});
  CHECK_THROWS_WITH(full_attention<double>(p, in), Catch::Contains("tensor v has shape [1, 4, 1, 8]"));
}

}  // namespace attn
