// test_prefill.cpp: device checks of the prefill kernels and the GPU references.
//  - the GPU FP64 truth against an independent CPU long-double reference on sampled rows;
//  - every registered correct prefill variant against the GPU truth within the FlashAttention
//    rule (max error <= 2 x the same-precision naive baseline's + 1e-5) over the S_q x S_k grid
//    {1, 7, 32, 63, 64, 65, 128, 1000, 4096} (the 4096 rows/columns subsampled), GQA 1/4/8, all
//    masks, FP16/BF16, four input distributions; outputs poisoned with NaN before each launch;
//  - every GPU mutant FAILS the rule on a problem that exercises its bug.
// Runs only where a GPU is present (tests/gpu_main.cpp exits 77 otherwise).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "analysis/metrics.h"
#include "core/float_format.h"
#include "core/generators.h"
#include "core/kernel_config.h"
#include "experiments/register_all.h"
#include "kernels/prefill_variants.h"
#include "references/gpu/gpu_references.h"

namespace attn {
namespace {

/// Spacing of `dtype` at |x| (subnormal spacing below the normal range).
double ulp_of(double x, DType dtype) {
  const int precision = dtype == DType::fp16 ? 11 : 8;
  const int emin = dtype == DType::fp16 ? -14 : -126;
  int e = x == 0 ? emin : std::max(emin, static_cast<int>(std::floor(std::log2(std::fabs(x)))));
  return std::ldexp(1.0, e - (precision - 1));
}

/// Independent CPU reference in long double (x87 80-bit), one row: plain two-pass softmax.
std::vector<long double> cpu_row(const Problem& pr, const AttentionInputs& in, int64_t b, int64_t i, int64_t h,
                                 long double* lse) {
  const int64_t D = pr.head_dim, hk = pr.kv_head(h), sk = pr.keys_in_batch(b);
  std::vector<long double> s(static_cast<size_t>(sk), -INFINITY);
  long double m = -INFINITY;
  for (int64_t j = 0; j < sk; ++j) {
    if (!pr.visible(b, i, j)) continue;
    long double dot = 0;
    for (int64_t d = 0; d < D; ++d) dot += static_cast<long double>(in.q(b, i, h, d)) * in.k(b, j, hk, d);
    s[static_cast<size_t>(j)] = dot * static_cast<long double>(pr.scale());
    m = std::max(m, s[static_cast<size_t>(j)]);
  }
  std::vector<long double> o(static_cast<size_t>(D), 0);
  long double l = 0;
  if (m != -INFINITY)
    for (int64_t j = 0; j < sk; ++j) {
      if (s[static_cast<size_t>(j)] == -INFINITY) continue;
      const long double p = std::exp(s[static_cast<size_t>(j)] - m);
      l += p;
      for (int64_t d = 0; d < D; ++d) o[static_cast<size_t>(d)] += p * in.v(b, j, hk, d);
    }
  for (auto& x : o) x = l > 0 ? x / l : 0;
  *lse = l > 0 ? m + std::log(l) : -INFINITY;
  return o;
}

Problem make_problem(DType dtype, int64_t d, int64_t sq, int64_t sk, int64_t group, Mask mask, int64_t batch) {
  Problem p;
  p.batch = batch;
  p.seqlen_q = sq;
  p.seqlen_k = sk;
  p.num_heads_q = 8;
  p.num_heads_kv = 8 / group;
  p.head_dim = d;
  p.dtype = dtype;
  p.mask = mask;
  return p;
}

struct RuleCheck {
  double kernel_error = 0, baseline_error = 0, bound = 0;
  bool all_written = true;   ///< no NaN left from the poison
  bool lse_ok = true;        ///< finite LSE within 1e-4 (1 + |truth|); -inf exactly where truth is
  bool masked_rows_zero = true;
  bool fa_pass = false;
  double ratio = 0;  ///< fa_rule's error / bound
  bool passes() const { return fa_pass && all_written && lse_ok && masked_rows_zero; }
};

RuleCheck check_rule(const Problem& pr, const AttentionOutputs& out, const AttentionOutputs& truth,
                     const AttentionOutputs& baseline) {
  RuleCheck r;
  r.kernel_error = max_abs_error(out.o, truth.o);
  r.baseline_error = max_abs_error(baseline.o, truth.o);
  for (int64_t i = 0; i < out.o.numel(); ++i) r.all_written &= !std::isnan(out.o.flat(i));
  const FaRuleVerdict rule = fa_rule(r.kernel_error, r.baseline_error, r.all_written);  // the one FlashAttention rule
  r.bound = rule.bound;
  r.ratio = rule.ratio;
  r.fa_pass = rule.pass;
  for (int64_t i = 0; i < out.lse.numel(); ++i) {
    const double t = truth.lse.flat(i), k = out.lse.flat(i);
    if (std::isinf(t)) {
      r.lse_ok &= std::isinf(k) && k < 0;
    } else {
      r.lse_ok &= std::fabs(k - t) <= 1e-4 * (1 + std::fabs(t));
    }
  }
  // Rows with LSE -inf in the truth saw no key: output exactly zero.
  for (int64_t b = 0; b < pr.batch; ++b)
    for (int64_t h = 0; h < pr.num_heads_q; ++h)
      for (int64_t i = 0; i < pr.seqlen_q; ++i)
        if (std::isinf(truth.lse(b, h, i)))
          for (int64_t d = 0; d < pr.head_dim; ++d) r.masked_rows_zero &= out.o(b, i, h, d) == 0.0;
  return r;
}

const Mask kMasks[] = {Mask{MaskKind::causal_bottom_right, -1, -1}, Mask{MaskKind::causal_top_left, -1, -1},
                       Mask{MaskKind::sliding_window, 48, 0}, Mask{MaskKind::none, -1, -1},
                       Mask{MaskKind::sliding_window, 100, 16}};
const Distribution kDistributions[] = {Distribution::normal, Distribution::outliers, Distribution::large_logits,
                                       Distribution::sink};

/// This file tests the prefill variants only, FA2 (mma.sync) and fa3 (the Hopper wgmma kernels)
/// with their mutants (decode kernels and their mutants have their own tests).
bool is_prefill_kernel(const Kernel& k) { return k.info.design == "fa2" || k.info.design == "fa3"; }

std::vector<const Kernel*> variants_for(const std::string& design, DType dtype, int64_t d, bool mutants) {
  std::vector<const Kernel*> out;
  for (const Kernel* k : all_kernels().select({.design = design, .dtype = dtype, .head_dim = static_cast<int>(d)})) {
    // The FP8 (E4M3) fa3 variants are not held to the 16-bit rule: test_hopper_fp8.cpp tests them.
    if (k->info.algorithm && k->info.algorithm->fp8.enabled()) continue;
    if ((k->info.mutant != Mutant::none) == mutants) out.push_back(k);
  }
  return out;
}

/// Inputs on which the running max grows a little on every KV tile (scores rise linearly with
/// the key index by 1.5 in total), so every tile rescales by a factor near 0.98, and V is +1 on
/// the first half of the keys and -1 on the second: an error in the rescale factors reweights
/// the halves against each other and shows directly in O (the FP16-rescale mutant's exposure).
AttentionInputs ramp_inputs(const Problem& pr) {
  AttentionInputs in{Tensor<double>(pr.q_shape()), Tensor<double>(pr.kv_shape()), Tensor<double>(pr.kv_shape())};
  const double unit = 1.0 / std::sqrt(static_cast<double>(pr.head_dim));  // |q| = 1
  const DType dt = pr.dtype;
  auto q16 = [&](double x) { return round_to_format(x, dt == DType::fp16 ? kFp16 : kBf16); };
  for (int64_t i = 0; i < in.q.numel(); ++i) in.q.flat(i) = q16(unit);
  for (int64_t b = 0; b < pr.batch; ++b)
    for (int64_t j = 0; j < pr.seqlen_k; ++j)
      for (int64_t h = 0; h < pr.num_heads_kv; ++h)
        for (int64_t d = 0; d < pr.head_dim; ++d) {
          in.k(b, j, h, d) = q16(unit * 1.5 / pr.scale() * static_cast<double>(j) / static_cast<double>(pr.seqlen_k));
          in.v(b, j, h, d) = j < pr.seqlen_k / 2 ? 1.0 : -1.0;
        }
  return in;
}

TEST_CASE("GPU FP64 truth agrees with a CPU long-double reference within 1e-3 ULP", "[gpu][truth]") {
  for (DType dtype : {DType::fp16, DType::bf16}) {
    for (int64_t d : {64, 128}) {
      Problem pr = make_problem(dtype, d, 65, 1000, 4, kMasks[0], 2);
      InputSpec spec;
      spec.distribution = Distribution::outliers;
      spec.seed = 7;
      const AttentionInputs in = generate_inputs(pr, spec);
      const AttentionOutputs gpu = gpu_truth_fp64(pr, in);
      double worst_ulps = 0, worst_lse = 0;
      for (int sample = 0; sample < 12; ++sample) {
        const int64_t b = sample % 2, h = (sample * 3) % 8, i = (sample * 29) % 65;
        long double lse = 0;
        const auto row = cpu_row(pr, in, b, i, h, &lse);
        for (int64_t c = 0; c < d; ++c) {
          const double x = gpu.o(b, i, h, c);
          worst_ulps = std::max(worst_ulps, static_cast<double>(std::fabs(x - row[static_cast<size_t>(c)])) /
                                                ulp_of(static_cast<double>(row[static_cast<size_t>(c)]), dtype));
        }
        worst_lse = std::max(worst_lse, static_cast<double>(std::fabs(gpu.lse(b, h, i) - lse)));
      }
      std::cout << "truth " << dtype_name(dtype) << " d" << d << ": max |gpu fp64 - cpu long double| = "
                << worst_ulps << " ulp(" << dtype_name(dtype) << "), lse gap " << worst_lse << "\n";
      CHECK(worst_ulps <= 1e-3);
      CHECK(worst_lse <= 1e-9);
    }
  }
}

/// ATTNSCOPE_GRID_VARIANTS (comma-separated globs on kernel names), when set, restricts the grid
/// to those variants (a device call re-checking the tiles it changed); the log names the filter.
std::vector<const Kernel*> grid_filter(std::vector<const Kernel*> kernels) {
  const char* env = std::getenv("ATTNSCOPE_GRID_VARIANTS");
  if (env == nullptr || *env == '\0') return kernels;
  std::vector<std::string> globs;
  for (std::string rest = env; !rest.empty();) {
    const size_t comma = rest.find(',');
    globs.push_back(rest.substr(0, comma));
    rest = comma == std::string::npos ? "" : rest.substr(comma + 1);
  }
  std::vector<const Kernel*> kept;
  for (const Kernel* k : kernels)
    if (std::any_of(globs.begin(), globs.end(), [&](const std::string& g) { return glob_match(g, k->info.name); }))
      kept.push_back(k);
  return kept;
}

/// Every correct variant of `design` within the FlashAttention rule on the grid (at least
/// `min_variants` per dtype and head dim; with ATTNSCOPE_GRID_VARIANTS, at least one in all).
void check_family_on_grid(const std::string& design, size_t min_variants) {
  const char* filter = std::getenv("ATTNSCOPE_GRID_VARIANTS");
  if (filter != nullptr && *filter != '\0') std::printf("grid restricted to ATTNSCOPE_GRID_VARIANTS=%s\n", filter);
  const std::vector<int64_t> small = {1, 7, 32, 63, 64, 65, 128, 1000};
  std::vector<std::pair<int64_t, int64_t>> grid;
  for (int64_t sq : small)
    for (int64_t sk : small) grid.push_back({sq, sk});
  // S = 4096 subsampled: its row and column against a few partners (batch 1 there).
  for (auto pair : std::vector<std::pair<int64_t, int64_t>>{{4096, 4096}, {1, 4096}, {65, 4096}, {4096, 1000}, {4096, 63}})
    grid.push_back(pair);
  std::map<std::string, double> worst_ratio;
  std::map<std::string, int> checked, failed;
  int point = 0;
  for (DType dtype : {DType::fp16, DType::bf16}) {
    for (int64_t d : {64, 128}) {
      const auto kernels = grid_filter(variants_for(design, dtype, d, false));
      if (filter == nullptr || *filter == '\0') REQUIRE(kernels.size() >= min_variants);
      if (kernels.empty()) {  // filtered out: the later problems stay those of the full grid
        point += static_cast<int>(grid.size());
        continue;
      }
      for (auto [sq, sk] : grid) {
        ++point;
        const bool big = sq >= 4096 || sk >= 4096;
        const int64_t group = std::vector<int64_t>{1, 4, 8}[static_cast<size_t>(point % 3)];
        const Mask mask = kMasks[static_cast<size_t>((point / 3) % 5)];
        Problem pr = make_problem(dtype, d, sq, sk, group, mask, big ? 1 : 2);
        if (!big && point % 7 == 0) pr.seqlens_k = {sk, std::max<int64_t>(1, sk / 2)};  // ragged batch
        InputSpec spec;
        spec.distribution = kDistributions[static_cast<size_t>(point % 4)];
        spec.seed = 1000 + static_cast<uint64_t>(point);
        const AttentionInputs in = generate_inputs(pr, spec);
        const AttentionOutputs truth = gpu_truth_fp64(pr, in);
        const AttentionOutputs baseline = gpu_naive_baseline(pr, in);
        for (const Kernel* k : kernels) {
          REQUIRE_FALSE(k->invalid_reason(pr).has_value());
          const AttentionOutputs out = k->run(pr, in);
          const RuleCheck r = check_rule(pr, out, truth, baseline);
          ++checked[k->info.name];
          worst_ratio[k->info.name] = std::max(worst_ratio[k->info.name], r.ratio);
          if (!r.passes()) {
            ++failed[k->info.name];
            std::printf("FAIL %s %s dist=%s err=%.3g baseline=%.3g written=%d lse=%d zero_rows=%d\n",
                        k->info.name.c_str(), pr.label().c_str(), distribution_name(spec.distribution).c_str(),
                        r.kernel_error, r.baseline_error, r.all_written, r.lse_ok, r.masked_rows_zero);
          }
        }
      }
    }
  }
  REQUIRE_FALSE(checked.empty());
  for (auto& [name, n] : checked)
    std::printf("variant %-32s problems %4d  failures %d  max err/bound %.3f\n", name.c_str(), n, failed[name],
                worst_ratio[name]);
  for (auto& [name, n] : checked) {
    INFO(name);
    CHECK(failed[name] == 0);
  }
}

/// Every planted mutant of `design` (D = 64, both dtypes) fails the rule where its bug shows.
void check_family_mutants(const std::string& design) {
  struct Case {
    Mutant mutant;
    int64_t sq, sk, group;
    Mask mask;
    Distribution dist;
  };
  const Case cases[] = {
      {Mutant::unmasked_tile_edges, 65, 65, 1, kMasks[3], Distribution::normal},        // keys 65..127 padded
      {Mutant::top_left_in_cache_path, 64, 1000, 1, kMasks[0], Distribution::normal},   // S_q != S_k
      // The cache-path mutants act on the cache path only (core/pipeline/semantics.h): S_q < S_k.
      {Mutant::interleaved_gqa_in_cache_path, 128, 300, 4, kMasks[0], Distribution::normal},
      {Mutant::p_cast_before_final_max, 128, 1000, 1, kMasks[3], Distribution::outliers},
      {Mutant::rescale_in_fp16, 64, 4096, 1, kMasks[3], Distribution::normal},  // inputs: ramp_inputs()
  };
  for (DType dtype : {DType::fp16, DType::bf16}) {
    const auto mutants = variants_for(design, dtype, 64, true);
    REQUIRE(mutants.size() == 5);
    for (const Case& c : cases) {
      const Kernel* k = nullptr;
      for (const Kernel* m : mutants)
        if (m->info.mutant == c.mutant) k = m;
      REQUIRE(k != nullptr);
      CHECK(k->info.planted_bug == mutant_category(c.mutant));
      Problem pr = make_problem(dtype, 64, c.sq, c.sk, c.group, c.mask, 1);
      InputSpec spec;
      spec.distribution = c.dist;
      spec.seed = 77;
      const AttentionInputs in = c.mutant == Mutant::rescale_in_fp16 ? ramp_inputs(pr) : generate_inputs(pr, spec);
      const AttentionOutputs truth = gpu_truth_fp64(pr, in), baseline = gpu_naive_baseline(pr, in);
      const RuleCheck r = check_rule(pr, k->run(pr, in), truth, baseline);
      std::printf("mutant %-48s %s err=%.3g bound=%.3g -> %s\n", k->info.name.c_str(), pr.label().c_str(),
                  r.kernel_error, r.bound, r.passes() ? "PASSES (bug not caught)" : "fails the rule (caught)");
      INFO(k->info.name << " on " << pr.label());
      CHECK_FALSE(r.passes());
    }
  }
}

}  // namespace

TEST_CASE("every prefill variant is within the FlashAttention rule on the grid", "[gpu][prefill]") {
  check_family_on_grid("fa2", 4);
}
TEST_CASE("every Hopper (fa3) prefill variant is within the FlashAttention rule on the grid", "[gpu][prefill][hopper]") {
  check_family_on_grid("fa3", 2);
}
TEST_CASE("every GPU mutant fails the FlashAttention rule where its bug is exercised", "[gpu][mutant]") {
  check_family_mutants("fa2");
}
TEST_CASE("every Hopper (fa3) mutant fails the FlashAttention rule where its bug is exercised", "[gpu][mutant][hopper]") {
  check_family_mutants("fa3");
}

}  // namespace attn

namespace attn {
// Hidden (run explicitly, under compute-sanitizer memcheck/racecheck, by
// experiments/device/run_prefill.sh): every compiled variant, mutants included, on small
// non-tile shapes with GQA, ragged key lengths and each mask; only checks that outputs are written.
// `selected` picks the variants.
template <class Selected>
static void sanitizer_sweep(Selected selected) {
  for (const Kernel* k : all_kernels().all()) {
    if (!is_prefill_kernel(*k) || !selected(k->info)) continue;
    for (int m = 0; m < 4; ++m) {
      Problem pr;
      pr.batch = 2; pr.seqlen_q = 33 + 40 * (m % 2); pr.seqlen_k = 70 + 30 * m; pr.num_heads_q = 4; pr.num_heads_kv = 1;
      pr.head_dim = k->info.head_dim;
      pr.dtype = *k->info.dtype;
      pr.mask = kMasks[static_cast<size_t>(m)];
      if (m == 1) pr.seqlens_k = {pr.seqlen_k, 5};
      const AttentionOutputs out = k->run(pr, generate_inputs(pr, InputSpec{}));
      bool written = true;
      for (int64_t i = 0; i < out.o.numel(); ++i) written &= !std::isnan(out.o.flat(i));
      INFO(k->info.name << " " << pr.label());
      CHECK(written);
    }
  }
}
TEST_CASE("sanitizer sweep: every variant on small shapes", "[.sanitize]") {
  sanitizer_sweep([](const KernelInfo&) { return true; });
}
TEST_CASE("sanitizer sweep: the Hopper (fa3) variants on small shapes", "[.sanitize-hopper]") {
  sanitizer_sweep([](const KernelInfo& info) { return info.design == "fa3"; });
}
// The packed-GQA variants and the default tiles (which pack here: the sweep's 4 query heads per
// KV head and S_q of 33 and 73 rows fill fewer tiles packed).
TEST_CASE("sanitizer sweep: the fa3 pack-gqa variants and default tiles on small shapes", "[.sanitize-fa3-pack]") {
  sanitizer_sweep([](const KernelInfo& info) {
    return info.design == "fa3" && (info.is_default || info.name.ends_with(".pack-gqa"));
  });
}
// The fa3 tile-edge leak mutants alone: their producer zeroes a ragged entry's padded K rows in
// shared memory (mainloop.cuh) on the ragged case of the sweep (seqlens_k {S_k, 5}).
TEST_CASE("sanitizer sweep: the fa3 tile-edge leak mutants on small shapes", "[.sanitize-fa3-leak]") {
  sanitizer_sweep([](const KernelInfo& info) { return info.design == "fa3" && info.mutant == Mutant::unmasked_tile_edges; });
}
}  // namespace attn

#include "references/naive_baseline.h"
#include "references/truth.h"

namespace attn {
// The GPU truth against the references' CPU truth (references/truth.h compute_truth: FP64 Eigen
// certified by MPFI enclosures, MPFR fallback) on whole problems, and the GPU naive baseline
// against the CPU one (same roundings, different FP32 summation order: error sizes compared).
TEST_CASE("GPU FP64 truth agrees with compute_truth; GPU and CPU naive baselines agree in size", "[gpu][truth]") {
  for (DType dtype : {DType::fp16, DType::bf16}) {
    for (int64_t d : {64, 128}) {
      Problem pr = make_problem(dtype, d, 65, 700, 4, kMasks[0], 1);
      InputSpec spec;
      spec.distribution = Distribution::sink;
      spec.seed = 11;
      const AttentionInputs in = generate_inputs(pr, spec);
      TruthOptions on_cpu;
      on_cpu.device = ReferenceDevice::cpu;  // compute_truth would pick the GPU here: the CPU truth is the reference
      const Truth cpu = compute_truth(pr, in, on_cpu);
      const AttentionOutputs gpu = gpu_truth_fp64(pr, in);
      double worst_ulps = 0;
      for (int64_t i = 0; i < gpu.o.numel(); ++i)
        worst_ulps = std::max(worst_ulps, std::fabs(gpu.o.flat(i) - cpu.o.flat(i)) / ulp_of(cpu.o.flat(i), dtype));
      const double gpu_base_err = max_abs_error(gpu_naive_baseline(pr, in).o, cpu.o);
      const double cpu_base_err = max_abs_error(naive_same_precision_attention(pr, in).o, cpu.o);
      std::printf("truth vs compute_truth (%s, %d rows certified) %s d%lld: max gap %.3g ulp; naive baseline max error gpu %.3g cpu %.3g\n",
                  cpu.method.c_str(), cpu.certified_rows, std::string(dtype_name(dtype)).c_str(), static_cast<long long>(d),
                  worst_ulps, gpu_base_err, cpu_base_err);
      CHECK(worst_ulps <= 1e-3);
      CHECK(gpu_base_err <= 4 * cpu_base_err + 1e-5);  // same roundings; only the FP32 order differs
      CHECK(cpu_base_err <= 4 * gpu_base_err + 1e-5);
    }
  }
}
}  // namespace attn
