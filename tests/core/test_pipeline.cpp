// The pipeline's stages (core/pipeline/) against independent statements of what they compute:
// planted semantics and their reach, the tile and split plans against brute force, one online-
// softmax pass over tiles (exact arithmetic) against a two-pass softmax written here, the FP32
// arithmetic's roundings against float operations, the split combine against the unsplit
// softmax, and the planted split-combine bug against its closed form in either LSE base.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "core/pipeline/arithmetic.h"
#include "core/pipeline/numerics.h"
#include "core/pipeline/online_softmax.h"
#include "core/pipeline/semantics.h"
#include "core/pipeline/split_combine.h"
#include "core/pipeline/tile_plan.h"

using namespace attn;
using namespace attn::pipeline;

namespace {

std::vector<double> random_scores(int n, uint32_t seed, double spread, double masked_fraction = 0.0) {
  std::mt19937 rng(seed);
  std::normal_distribution<double> normal(0.0, spread);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  std::vector<double> s(static_cast<size_t>(n));
  for (double& x : s) x = u(rng) < masked_fraction ? kNegInf : normal(rng);
  return s;
}

/// Two-pass softmax weights of raw scores under scale (natural exp; plain loops).
std::vector<double> two_pass_softmax(const std::vector<double>& s, double scale) {
  double m = kNegInf;
  for (double x : s) m = std::max(m, x);
  std::vector<double> p(s.size(), 0.0);
  if (m == kNegInf) return p;
  double l = 0;
  for (size_t j = 0; j < s.size(); ++j) l += (p[j] = s[j] == kNegInf ? 0.0 : std::exp(scale * (s[j] - m)));
  for (double& x : p) x /= l;
  return p;
}

/// Exact online softmax of one row over tiles of `tile` scores, weights accumulated against
/// a value vector v: returns sum_j softmax_j v_j, through the stage functions.
struct OnlineResult {
  double out;
  double m, l;
};
template <class Arith>
OnlineResult online_row(const Arith& a, const std::vector<double>& s, const std::vector<double>& v, int tile,
                        double scale, RescaleRule<double> rule, Mutant bug = Mutant::none) {
  RowState<double> row;
  double o = 0;
  const double sl2 = a.scale_log2(scale);
  for (size_t t0 = 0; t0 < s.size(); t0 += static_cast<size_t>(tile)) {
    std::vector<double> p(s.begin() + static_cast<long>(t0), s.begin() + static_cast<long>(t0 + static_cast<size_t>(tile)));
    const double alpha = online_softmax(a, row, [&](int k) -> double& { return p[static_cast<size_t>(k)]; }, tile, sl2,
                                        rule, bug, NoReduce{}, NoReduce{});
    o = rescale_o(a, o, alpha);
    for (int k = 0; k < tile; ++k) o += p[static_cast<size_t>(k)] * v[t0 + static_cast<size_t>(k)];
  }
  return {normalize(a, o, row_normalizer(a, row.l)), row.m, row.l};
}

}  // namespace

TEST_CASE("pipeline numerics: scale_log2 is the double product rounded once to FP32") {
  for (double scale : {0.125, 1 / std::sqrt(128.0), 1 / std::sqrt(96.0), 1.0, 3.0}) {
    const float expect = static_cast<float>(scale * 1.4426950408889634);
    CHECK(scale_log2(scale) == expect);
  }
  CHECK(kLog2eF == static_cast<float>(kLog2e));
  CHECK(kLn2F == static_cast<float>(kLn2));
  CHECK(std::isinf(kNegInf));
  CHECK(kNegInf < 0);
}

TEST_CASE("planted semantics: each bug changes its one field, only within its reach") {
  Semantics declared;
  declared.mask = {MaskKind::causal_bottom_right};
  // Cache-path bugs act only on the cache path.
  CHECK(plant_bug(declared, Mutant::top_left_in_cache_path, true, 64).mask.kind == MaskKind::causal_top_left);
  CHECK(plant_bug(declared, Mutant::top_left_in_cache_path, false, 64).mask.kind == MaskKind::causal_bottom_right);
  CHECK(plant_bug(declared, Mutant::interleaved_gqa_in_cache_path, true, 64).gqa == GqaMapping::interleaved);
  CHECK(plant_bug(declared, Mutant::interleaved_gqa_in_cache_path, false, 64).gqa == GqaMapping::contiguous);
  CHECK(plant_bug(declared, Mutant::stale_seqlens, true, 64).key_delta == -1);
  CHECK(plant_bug(declared, Mutant::stale_seqlens, false, 64).key_delta == 0);
  // Top-left only replaces bottom-right.
  Semantics window = declared;
  window.mask = {MaskKind::sliding_window, 4, 0};
  CHECK(plant_bug(window, Mutant::top_left_in_cache_path, true, 64).mask.kind == MaskKind::sliding_window);
  // The leak and the combine bug act everywhere; the numeric bugs change no meaning.
  CHECK(plant_bug(declared, Mutant::unmasked_tile_edges, false, 32).leak_tile == 32);
  CHECK(plant_bug(declared, Mutant::base2_lse_natural_combine, false, 64).combine == LseCombine::base2_as_natural);
  for (Mutant m : {Mutant::none, Mutant::p_cast_before_final_max, Mutant::rescale_in_fp16}) {
    const Semantics s = plant_bug(declared, m, true, 64);
    CHECK(s.mask.kind == declared.mask.kind);
    CHECK(s.gqa == declared.gqa);
    CHECK(s.key_delta == 0);
    CHECK(s.leak_tile == 0);
    CHECK(s.combine == LseCombine::matched);
  }
  CHECK(is_cache_path(1, 300, false));
  CHECK(is_cache_path(64, 64, true));
  CHECK_FALSE(is_cache_path(64, 64, false));
  CHECK_FALSE(is_cache_path(65, 64, false));
}

TEST_CASE("planted semantics: keys, heads and the leaking tile edge") {
  Semantics stale;
  stale.key_delta = -1;
  CHECK(semantic_keys<int64_t>(stale, 10) == 9);
  CHECK(semantic_keys<int64_t>(stale, 0) == 0);
  CHECK(semantic_keys<int>(Semantics{}, 7) == 7);
  // Query heads of a KV head invert the KV-head map under both mappings.
  for (GqaMapping g : {GqaMapping::contiguous, GqaMapping::interleaved}) {
    Semantics s;
    s.gqa = g;
    for (int64_t hkv : {1, 2, 4})
      for (int64_t group : {1, 2, 3}) {
        const int64_t hq = hkv * group;
        std::vector<int> seen(static_cast<size_t>(hq), 0);
        for (int64_t k = 0; k < hkv; ++k)
          for (int64_t m = 0; m < group; ++m) {
            const int64_t h = semantic_query_head<int64_t>(s, k, m, hq, hkv);
            REQUIRE(h >= 0);
            REQUIRE(h < hq);
            CHECK(semantic_kv_head<int64_t>(s, h, hq, hkv) == k);
            ++seen[static_cast<size_t>(h)];
          }
        for (int c : seen) CHECK(c == 1);  // every query head exactly once
      }
  }
  // Leak: keys past L up to the next multiple of the tile are judged like key L-1.
  Semantics leak;
  leak.mask = {MaskKind::causal_bottom_right};
  leak.leak_tile = 16;
  const int64_t sq = 5, keys = 21;
  for (int64_t i = 0; i < sq; ++i)
    for (int64_t j = 0; j < 40; ++j) {
      bool expect;
      if (j < keys) expect = j <= i + (keys - sq);
      else expect = j < 32 && (keys - 1) <= i + (keys - sq);  // pad to 32 = round_up(21, 16)
      CHECK(semantic_key_visible<int64_t>(leak, i, j, sq, keys) == expect);
    }
  CHECK_FALSE(semantic_key_visible<int64_t>(leak, 0, 3, 1, 0));  // no key: nothing leaks
}

TEST_CASE("tile plan: visited tiles hold every visible key; fully visible tiles need no mask") {
  const std::vector<Mask> masks = {{MaskKind::causal_bottom_right}, {MaskKind::causal_top_left}, {MaskKind::none},
                                   {MaskKind::sliding_window, 5, 2}, {MaskKind::sliding_window, -1, 0}};
  for (const Mask& mask : masks)
    for (auto [sq, sk] : {std::pair<int64_t, int64_t>{10, 74}, {64, 64}, {65, 64}, {1, 300}, {7, 7}, {128, 40}})
      for (int64_t bm : {16, 64})
        for (int64_t bn : {16, 64}) {
          for (int64_t r0 = 0; r0 < sq; r0 += bm) {
            const int64_t r1 = std::min(r0 + bm, sq) - 1;
            const TilePlan<int64_t> plan = plan_tiles<int64_t>(mask, r0, r1, sq, sk);
            const IndexRange<int64_t> tiles = visited_tiles(plan, bn);
            bool any_visible = false;
            for (int64_t i = r0; i <= r1; ++i)
              for (int64_t j = 0; j < sk; ++j)
                if (key_visible(mask, i, j, sq, sk)) {
                  any_visible = true;
                  CHECK(j / bn >= tiles.begin);
                  CHECK(j / bn < tiles.end);
                }
            if (!any_visible) CHECK(tiles.begin == tiles.end);
            for (int64_t t = tiles.begin; t < tiles.end; ++t) {
              if (!tile_fully_visible(plan, t * bn, bn, sk)) continue;
              for (int64_t i = r0; i <= r1; ++i)
                for (int64_t j = t * bn; j < (t + 1) * bn; ++j) CHECK(key_visible(mask, i, j, sq, sk));
            }
          }
        }
}

TEST_CASE("split plan: splits tile [0, keys) without overlap; count plans use whole tiles") {
  for (int64_t keys : {0, 1, 63, 64, 65, 300, 4096})
    for (int64_t per : {64, 128, 512}) {
      const int64_t n = split_count(keys, per);
      CHECK(n >= 1);
      int64_t next = 0;
      for (int64_t s = 0; s < n; ++s) {
        const IndexRange<int64_t> r = split_key_range(s, per, keys);
        CHECK(r.begin == next);
        CHECK(r.end - r.begin <= per);
        if (keys > 0) CHECK(r.end > r.begin);
        next = r.end;
      }
      CHECK(next == keys);
    }
  // 5 tiles in 2 splits: 3 + 2 tiles; 5 tiles in 8 splits: 1 tile each, splits 5..7 empty.
  CHECK(keys_per_split_for_count<int64_t>(5, 2, 64) == 192);
  CHECK(keys_per_split_for_count<int64_t>(5, 8, 64) == 64);
  const IndexRange<int64_t> empty = split_key_range<int64_t>(6, 64, 320);
  CHECK(empty.begin == empty.end);
}

TEST_CASE("online softmax, exact arithmetic: any tiling and lazy threshold give the two-pass softmax") {
  const ExactArithmetic exact;
  for (uint32_t seed : {1u, 2u, 3u})
    for (double spread : {0.5, 4.0, 40.0})
      for (double masked : {0.0, 0.3}) {
        const std::vector<double> s = random_scores(128, seed, spread, masked);
        const std::vector<double> v = random_scores(128, seed + 100, 1.0);
        const double scale = 0.125;
        const std::vector<double> w = two_pass_softmax(s, scale);
        double expect = 0;
        for (size_t j = 0; j < s.size(); ++j) expect += w[j] * v[j];
        for (int tile : {16, 32, 128})
          for (double threshold : {0.0, 8.0}) {
            const OnlineResult r = online_row(exact, s, v, tile, scale, RescaleRule<double>::lazy_by(threshold));
            CHECK(r.out == Approx(expect).margin(1e-12));
          }
        const OnlineResult eager = online_row(exact, s, v, 16, scale, RescaleRule<double>::eager());
        CHECK(eager.out == Approx(expect).margin(1e-12));
        // LSE: log sum exp(scale * s) from the final state.
        double lse = 0, m = kNegInf;
        for (double x : s) m = std::max(m, x * scale);
        for (double x : s) lse += x == kNegInf ? 0.0 : std::exp(x * scale - m);
        CHECK(row_lse(exact, eager.m, eager.l) == Approx(m + std::log(lse)).epsilon(1e-12));
      }
}

TEST_CASE("online softmax: a fully masked row gives alpha 0, P 0, output 0 and LSE -inf") {
  const std::vector<double> s(64, kNegInf), v(64, 1.0);
  for (auto check : {0, 1}) {
    const OnlineResult r = check == 0 ? online_row(ExactArithmetic{}, s, v, 16, 0.125, RescaleRule<double>::lazy_by(0))
                                      : online_row(Fp32Arithmetic{}, s, v, 16, 0.125, RescaleRule<double>::lazy_by(0));
    CHECK(r.out == 0.0);
    CHECK(r.l == 0.0);
    CHECK(r.m == kNegInf);
    CHECK(row_lse(ExactArithmetic{}, r.m, r.l) == kNegInf);
  }
  const RescaleStep<double> first = rescale_step(ExactArithmetic{}, kNegInf, kNegInf, RescaleRule<double>::lazy_by(0), Mutant::none);
  CHECK(first.alpha == 0.0);
  CHECK(first.m_for_p == 0.0);
}

TEST_CASE("online softmax: slices with partial sums add up to the one-slice row sum") {
  // Four slices in the mma.sync C-fragment order (columns 8n + 2q + c), each keeping its own l.
  const ExactArithmetic a;
  const std::vector<double> s = random_scores(64, 9, 3.0, 0.2);
  const double sl2 = a.scale_log2(0.25);
  RowState<double> whole;
  std::vector<double> p_whole = s;
  online_softmax(a, whole, [&](int k) -> double& { return p_whole[static_cast<size_t>(k)]; }, 64, sl2,
                 RescaleRule<double>::lazy_by(0), Mutant::none, NoReduce{}, NoReduce{});
  double raw = kNegInf;
  for (double x : s) raw = std::max(raw, x);
  RowState<double> quads[4];
  std::vector<double> p = s;
  for (int q = 0; q < 4; ++q) {
    auto slice = [&](int k) -> double& { return p[static_cast<size_t>(8 * (k / 2) + 2 * q + k % 2)]; };
    online_softmax(a, quads[q], slice, 16, sl2, RescaleRule<double>::lazy_by(0), Mutant::none,
                   [&](double) { return raw; }, NoReduce{});
  }
  CHECK(quads[0].l + quads[1].l + quads[2].l + quads[3].l == Approx(whole.l).epsilon(1e-14));
  for (size_t j = 0; j < p.size(); ++j) CHECK(p[j] == p_whole[j]);
}

TEST_CASE("online softmax: a tree-ordered max gives the chain's state and P, element for element") {
  // TreeMax<N> is a schedule (the fa3 kernels' shorter dependent chain), never a numeric choice;
  // N need not be a power of two (the 176-key tile's slice has 44 elements).
  const Fp32Arithmetic a;
  for (uint32_t seed = 1; seed <= 40; ++seed) {
    const double masked = seed % 4 == 0 ? 1.0 : 0.1 * (seed % 4);  // every fourth slice fully masked
    const std::vector<double> s = random_scores(32, seed, 1.0 + seed % 7, masked);
    std::vector<double> chain = s, tree = s;
    auto of = [](std::vector<double>& v) { return [&v](int k) -> double& { return v[static_cast<size_t>(k)]; }; };
    CHECK(slice_max(a, of(chain), 32, TreeMax<32>{}) == slice_max(a, of(chain), 32));
    CHECK(slice_max(a, of(chain), 8, TreeMax<8>{}) == slice_max(a, of(chain), 8));
    CHECK(slice_max(a, of(chain), 11, TreeMax<11>{}) == slice_max(a, of(chain), 11));
    CHECK(slice_max(a, of(chain), 1, TreeMax<1>{}) == slice_max(a, of(chain), 1));
    std::vector<double> tail(s.begin() + 3, s.end());  // 29 elements
    CHECK(slice_max(a, of(tail), 29, TreeMax<29>{}) == slice_max(a, of(tail), 29));
    RowState<double> rc{2.0, 3.0}, rt{2.0, 3.0};  // a running state from earlier tiles
    const double sl2 = a.scale_log2(0.125);
    const double alpha_chain = online_softmax(a, rc, of(chain), 32, sl2, RescaleRule<double>::lazy_by(8), Mutant::none,
                                              NoReduce{}, NoReduce{});
    const double alpha_tree = online_softmax(a, rt, of(tree), 32, sl2, RescaleRule<double>::lazy_by(8), Mutant::none,
                                             NoReduce{}, NoReduce{}, SameExpEverywhere{}, TreeMax<32>{});
    CHECK(alpha_tree == alpha_chain);
    CHECK(rt.m == rc.m);
    CHECK(rt.l == rc.l);
    CHECK(tree == chain);
  }
}

TEST_CASE("online softmax: a tree-ordered max finds the largest score wherever it sits") {
  // Odd levels (N = 11, 44: the 176-key tile) leave a middle element to the next level.
  const Fp32Arithmetic a;
  auto everywhere = [&]<int N>() {
    for (int pos = 0; pos < N; ++pos) {
      std::vector<double> v(static_cast<size_t>(N), -3.0);
      v[static_cast<size_t>(pos)] = 7.0;
      INFO("N " << N << " largest at " << pos);
      CHECK(slice_max(a, [&v](int k) -> double& { return v[static_cast<size_t>(k)]; }, N, TreeMax<N>{}) == 7.0);
    }
  };
  everywhere.template operator()<1>();
  everywhere.template operator()<3>();
  everywhere.template operator()<11>();
  everywhere.template operator()<32>();
  everywhere.template operator()<44>();
}

TEST_CASE("online softmax: the planted rescale bugs change exactly what they say") {
  const Fp32Arithmetic a;
  // The max grows from 1 to 5 (log2 units): alpha = 2^-4 normally.
  const RescaleStep<double> ok = rescale_step(a, 1.0, 5.0, RescaleRule<double>::lazy_by(0), Mutant::none);
  CHECK(ok.m_new == 5.0);
  CHECK(ok.alpha == 0.0625);
  CHECK(ok.m_for_p == 5.0);
  const RescaleStep<double> stale = rescale_step(a, 1.0, 5.0, RescaleRule<double>::lazy_by(0), Mutant::p_cast_before_final_max);
  CHECK(stale.m_for_p == 1.0);  // P against the stale max
  CHECK(stale.alpha == 1.0);    // never rescaled
  CHECK(stale.m_new == 5.0);
  // alpha = 2^(-0.3) is no FP16 value: the FP16 bug rounds it.
  const RescaleStep<double> f16 = rescale_step(a, 0.0, 0.3, RescaleRule<double>::lazy_by(0), Mutant::rescale_in_fp16);
  const double alpha32 = ex2_approx_model(round_fp32(-0.3));
  CHECK(f16.alpha == round_to(DType::fp16, alpha32));
  CHECK(f16.alpha != alpha32);
  // Lazy: a growth of 3 below the threshold 8 keeps the old max and alpha = 1.
  const RescaleStep<double> lazy = rescale_step(a, 1.0, 4.0, RescaleRule<double>::lazy_by(8), Mutant::none);
  CHECK(lazy.m_new == 1.0);
  CHECK(lazy.alpha == 1.0);
}

TEST_CASE("FP32 arithmetic: every result an FP32 value, rounded as documented") {
  const Fp32Arithmetic a{DType::bf16};
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-8.f, 8.f);
  for (int n = 0; n < 2000; ++n) {
    const float x = u(rng), y = u(rng), z = u(rng);
    CHECK(a.row_sum_add(x, y) == static_cast<double>(x + y));
    CHECK(a.rescale_o(x, y) == static_cast<double>(x * y));
    CHECK(a.row_sum_update(x, y, z) == static_cast<double>(std::fmaf(x, y, z)));
    CHECK(a.p_residual(x, y) == static_cast<double>(x - y));
    CHECK(a.exp_score(x, 0.5, y) == ex2_approx_model(static_cast<double>(std::fmaf(x, 0.5f, -y))));
  }
  // One rounding in the FMA: 1 + 2^-24 times 1 - 2^-24, minus 1 is -2^-48 exactly; a
  // multiply-then-add would give 0.
  const double e = std::ldexp(1.0, -24);
  CHECK(fma_fp32(1 + 2 * e, 1 - 2 * e, -1.0) == round_fp32(-4 * e * e));
  CHECK(a.exp_score(kNegInf, 0.125, 3.0) == 0.0);
  CHECK(ex2_approx_model(-127.5) == 0.0);  // FP32 subnormal result flushed (ftz)
  CHECK(ex2_approx_model(-126.0) == std::ldexp(1.0, -126));
  CHECK(a.round_p(1.0 + 1.0 / 512) == 1.0);  // BF16 keeps 8 significant bits: ties to even
  CHECK(a.normalizer(0.0) == 0.0);
  CHECK(a.normalize(3.0, a.normalizer(4.0)) == 0.75);
  // Precise P: hi + lo is far closer to p than hi alone.
  const double p = 0.123456789;
  const double hi = cast_p(a, p), lo = cast_p_lo(a, p, hi);
  CHECK(std::fabs(hi + lo - p) < std::fabs(hi - p) / 100);
  const auto pair = cast_p_pair(a, p, 0.5);
  CHECK(pair.first == hi);
  CHECK(cast_p_lo_pair(a, pair, p, 0.5).first == lo);
}

TEST_CASE("staged arithmetic: each operation follows its stage's policy") {
  PrecisionPolicy policy;
  const StagedArithmetic all_kernel(policy, DType::fp16);
  const Fp32Arithmetic k{DType::fp16};
  const ExactArithmetic x;
  CHECK(all_kernel.exp_score(1.1, 0.3, 0.2) == k.exp_score(1.1, 0.3, 0.2));
  CHECK(all_kernel.round_p(0.1) == k.round_p(0.1));
  policy.stage[static_cast<int>(Stage::exp)] = StagePrecision::exact;
  const StagedArithmetic exact_exp(policy, DType::fp16);
  CHECK(exact_exp.exp_score(1.1, 0.3, 0.2) == x.exp_score(1.1, 0.3, 0.2));
  CHECK(exact_exp.scale_log2(0.1) == 0.1 * kLog2e);
  CHECK(exact_exp.rescale_factor(-0.1, 0.0) == k.rescale_factor(-0.1, 0.0));  // rescale still kernel
  CHECK(exact_exp.numeric_bug(Mutant::rescale_in_fp16) == Mutant::rescale_in_fp16);
  policy.stage[static_cast<int>(Stage::rescale)] = StagePrecision::exact;
  const StagedArithmetic exact_rescale(policy, DType::fp16);
  CHECK(exact_rescale.numeric_bug(Mutant::rescale_in_fp16) == Mutant::none);
  CHECK(exact_rescale.numeric_bug(Mutant::p_cast_before_final_max) == Mutant::none);
  CHECK(exact_rescale.numeric_bug(Mutant::top_left_in_cache_path) == Mutant::none);  // semantic: not numeric
  CHECK(exact_rescale.rescale_o(0.1, 0.3) == 0.1 * 0.3);
}

namespace {
/// Natural-log LSE arithmetic (like the decode kernels), exact: for the base-independence check.
struct ExactBase2StateNaturalLse : ExactArithmetic {
  static constexpr bool kNaturalLse = true;
  double split_lse(double m, double l) const { return m * kLn2 + std::log(l); }  // m in log2 units
  double combine_exp(double v) const { return std::exp(v); }
  double combine_log(double v) const { return std::log(v); }
};

/// Per split: normalized partial output and its LSE (base of `a`), from exact online softmax.
template <class Arith>
void partials(const Arith& a, const std::vector<double>& s, const std::vector<double>& v, int64_t per, double scale,
              LseCombine combine, std::vector<double>& lse, std::vector<double>& out) {
  lse.clear();
  out.clear();
  const int64_t keys = static_cast<int64_t>(s.size());
  for (int64_t sp = 0; sp < split_count(keys, per); ++sp) {
    const IndexRange<int64_t> r = split_key_range(sp, per, keys);
    std::vector<double> ss(s.begin() + r.begin, s.begin() + r.end), vv(v.begin() + r.begin, v.begin() + r.end);
    const OnlineResult o = online_row(ExactArithmetic{}, ss, vv, static_cast<int>(r.end - r.begin), scale,
                                      RescaleRule<double>::lazy_by(0));
    out.push_back(o.out);
    lse.push_back(split_lse(a, o.m, o.l, combine));
  }
}
}  // namespace

TEST_CASE("split combine: partial results merge to the unsplit softmax; the planted bug to its closed form") {
  const ExactArithmetic a;
  const std::vector<double> s = random_scores(300, 11, 3.0, 0.1);
  const std::vector<double> v = random_scores(300, 12, 1.0);
  const double scale = 0.2;
  const std::vector<double> w = two_pass_softmax(s, scale);
  double expect = 0;
  for (size_t j = 0; j < s.size(); ++j) expect += w[j] * v[j];
  std::vector<double> lse, out;
  for (int64_t per : {64, 128, 300}) {
    partials(a, s, v, per, scale, LseCombine::matched, lse, out);
    double o = 0;
    const double total = combine_splits(a, static_cast<int>(lse.size()), [&](int k) { return lse[static_cast<size_t>(k)]; },
                                        [&](int k) { return &out[static_cast<size_t>(k)]; }, 1, &o, LseCombine::matched);
    CHECK(o == Approx(expect).margin(1e-12));
    // The combined LSE (base 2) is the row's: log2 sum 2^(s * scale * log2 e).
    double m = kNegInf, sum = 0;
    for (double x : s) m = std::max(m, x * scale);
    for (double x : s) sum += x == kNegInf ? 0.0 : std::exp(x * scale - m);
    CHECK(total == Approx((m + std::log(sum)) * kLog2e).epsilon(1e-12));
  }
  // The bug: weights e^{lse2_s} / sum e^{lse2_t} (lse2 the correct base-2 partial LSEs), in a
  // base-2 arithmetic (read as natural) and a natural one (written in base 2) alike.
  partials(a, s, v, 64, scale, LseCombine::matched, lse, out);
  double top = kNegInf, norm = 0, buggy = 0;
  for (double x : lse) top = std::max(top, x);
  for (double x : lse) norm += std::exp(x - top);
  for (size_t k = 0; k < lse.size(); ++k) buggy += std::exp(lse[k] - top) / norm * out[k];
  REQUIRE(std::fabs(buggy - expect) > 1e-3);  // the bug is visible on this input
  double o2 = 0;
  partials(a, s, v, 64, scale, LseCombine::base2_as_natural, lse, out);
  combine_splits(a, static_cast<int>(lse.size()), [&](int k) { return lse[static_cast<size_t>(k)]; },
                 [&](int k) { return &out[static_cast<size_t>(k)]; }, 1, &o2, LseCombine::base2_as_natural);
  CHECK(o2 == Approx(buggy).margin(1e-12));
  const ExactBase2StateNaturalLse n;
  double on = 0;
  partials(n, s, v, 64, scale, LseCombine::base2_as_natural, lse, out);
  combine_splits(n, static_cast<int>(lse.size()), [&](int k) { return lse[static_cast<size_t>(k)]; },
                 [&](int k) { return &out[static_cast<size_t>(k)]; }, 1, &on, LseCombine::base2_as_natural);
  CHECK(on == Approx(buggy).margin(1e-12));
  // Correct natural combine equals the correct base-2 one.
  partials(n, s, v, 64, scale, LseCombine::matched, lse, out);
  combine_splits(n, static_cast<int>(lse.size()), [&](int k) { return lse[static_cast<size_t>(k)]; },
                 [&](int k) { return &out[static_cast<size_t>(k)]; }, 1, &on, LseCombine::matched);
  CHECK(on == Approx(expect).margin(1e-12));
  // Every split empty: zeros and -inf.
  const std::vector<double> none_lse(3, kNegInf), none_out(3, 7.0);
  double oz = 1;
  CHECK(combine_splits(a, 3, [&](int k) { return none_lse[static_cast<size_t>(k)]; },
                       [&](int k) { return &none_out[static_cast<size_t>(k)]; }, 1, &oz, LseCombine::matched) == kNegInf);
  CHECK(oz == 0.0);
}
