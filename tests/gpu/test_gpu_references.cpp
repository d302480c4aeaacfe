// test_gpu_references.cpp: the tiled GPU references against the CPU ones, on the device.
//  - GPU FP64 truth vs CPU FP64 truth (both through compute_truth, both certified): every
//    element within max_fp64_gap_ulps (1e-3 ULP of the dtype) over a grid of S_q x S_k (tile
//    edges 1, 63, 64, 65, 130, 1000), every mask kind, GQA 1/4/8, D 40/64/128/256, fp16/bf16,
//    ragged key lengths and fully masked rows; the GPU's own certified gap below the limit.
//  - GPU baseline vs CPU baseline (same rounding sequence; float(exp(double)) vs the host's expf,
//    which disagree on 8.7e-5 of the arguments): at most 1 ULP of the row's scale apart, on at
//    most 1 element in 1000; fully masked rows 0 with lse -inf.
//  - one production-shaped point (S 4096, 8:2, D 128) where the tiles and the key loop are long.
// Runs only where a GPU is present (tests/gpu_main.cpp exits 77 otherwise).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "core/float_format.h"
#include "core/generators.h"
#include "references/gpu/gpu_references.h"
#include "references/naive_baseline.h"
#include "references/truth.h"
#include "tests/references/reference_test_util.h"

namespace attn {
namespace {

/// H_kv = 2, H_q = 2 * group.
Problem grid_problem(DType dtype, int64_t d, int64_t sq, int64_t sk, int64_t group, Mask mask, int64_t batch) {
  return test::make_problem(batch, sq, sk, 2 * group, 2, d, mask, dtype);
}

const Mask kGridMasks[] = {Mask{MaskKind::causal_bottom_right, -1, -1}, Mask{MaskKind::causal_top_left, -1, -1},
                           Mask{MaskKind::sliding_window, 37, 5}, Mask{MaskKind::none, -1, -1},
                           Mask{MaskKind::sliding_window, 0, 0}};

struct Agreement {
  double max_ulps = 0;       ///< max |a - b| / ulp_T(b) over every element
  double max_row_ulps = 0;   ///< max |a - b| / ulp_T(max |b| of the row)
  int64_t differing = 0;     ///< elements not equal
  double max_lse = 0;        ///< max |lse_a - lse_b| (infinite when only one is -inf)
};

Agreement compare(const Problem& p, const AttentionOutputs& a, const Tensor<double>& b_o, const Tensor<double>& b_lse) {
  const FloatFormat& f = format_of(p.dtype);
  Agreement g;
  const int64_t D = p.head_dim, vectors = b_o.numel() / D;
  for (int64_t v = 0; v < vectors; ++v) {
    double scale = 0;
    for (int64_t d = 0; d < D; ++d) scale = std::max(scale, std::fabs(b_o.flat(v * D + d)));
    for (int64_t d = 0; d < D; ++d) {
      const double x = a.o.flat(v * D + d), y = b_o.flat(v * D + d), diff = std::fabs(x - y);
      if (x == y) continue;
      ++g.differing;
      g.max_ulps = std::max(g.max_ulps, std::isnan(diff) ? INFINITY : diff / ulp_of(y, f));
      g.max_row_ulps = std::max(g.max_row_ulps, std::isnan(diff) ? INFINITY : diff / ulp_of(scale, f));
    }
  }
  for (int64_t n = 0; n < b_lse.numel(); ++n) {
    const double x = a.lse.flat(n), y = b_lse.flat(n);
    if (x == y) continue;
    const double diff = std::fabs(x - y);
    g.max_lse = std::max(g.max_lse, std::isnan(diff) ? INFINITY : diff);
  }
  return g;
}

std::vector<Problem> agreement_grid() {
  std::vector<Problem> grid;
  const int64_t lengths[] = {1, 63, 64, 65, 130, 1000};
  int n = 0;
  for (int64_t sq : lengths)
    for (int64_t sk : lengths) {
      const DType dtype = n % 2 ? DType::bf16 : DType::fp16;
      const int64_t dims[] = {64, 128, 40, 256};
      const int64_t groups[] = {1, 4, 8};
      grid.push_back(grid_problem(dtype, dims[n % 4], sq, sk, groups[n % 3], kGridMasks[n % 5], sq * sk > 60000 ? 1 : 2));
      ++n;
    }
  Problem ragged = grid_problem(DType::fp16, 128, 70, 300, 4, kGridMasks[0], 3);
  ragged.seqlens_k = {300, 0, 129};  // an empty batch entry: every row fully masked
  grid.push_back(ragged);
  return grid;
}

}  // namespace

TEST_CASE("GPU FP64 truth agrees with the CPU truth within the certified bound on the grid", "[gpu][truth]") {
  double worst = 0;
  for (const Problem& p : agreement_grid()) {
    InputSpec spec;
    spec.distribution = p.seqlen_k % 2 ? Distribution::outliers : Distribution::sink;
    spec.seed = static_cast<uint64_t>(p.seqlen_q * 7 + p.seqlen_k);
    const AttentionInputs in = generate_inputs(p, spec);
    TruthOptions cpu_options, gpu_options;
    cpu_options.device = ReferenceDevice::cpu;
    gpu_options.device = ReferenceDevice::gpu;
    const Truth cpu = compute_truth(p, in, cpu_options);
    const Truth gpu = compute_truth(p, in, gpu_options);
    INFO(p.label());
    REQUIRE(gpu.device == "gpu");
    CHECK(cpu.method == "fp64");
    CHECK(gpu.method == "fp64");
    CHECK(gpu.fp64_gap_ulps <= gpu_options.max_fp64_gap_ulps);
    const Agreement g = compare(p, AttentionOutputs{gpu.o, gpu.lse, DType::fp64}, cpu.o, cpu.lse);
    CHECK(g.max_ulps <= cpu_options.max_fp64_gap_ulps);
    CHECK(g.max_lse <= 1e-9);
    worst = std::max(worst, g.max_ulps);
  }
  std::printf("GPU vs CPU FP64 truth over the grid: max %.3g ULP of the dtype (limit 1e-3)\n", worst);
}

TEST_CASE("GPU baseline equals the CPU baseline up to expf: at most 1 ULP at the row's scale, on <= 1e-3 of the elements", "[gpu][baseline]") {
  int64_t differing = 0, elements = 0;
  double worst_row_ulps = 0;
  for (const Problem& p : agreement_grid()) {
    const AttentionInputs in = generate_inputs(p, InputSpec{Distribution::normal, 3});
    const AttentionOutputs gpu = gpu_naive_baseline(p, in);
    const AttentionOutputs cpu = naive_same_precision_attention(p, in);
    INFO(p.label());
    CHECK(gpu.out_dtype == p.dtype);
    for (int64_t n = 0; n < gpu.o.numel(); ++n) REQUIRE(round_to(p.dtype, gpu.o.flat(n)) == gpu.o.flat(n));
    const Agreement g = compare(p, gpu, cpu.o, cpu.lse);
    CHECK(g.max_row_ulps <= 1.0);
    CHECK(g.max_lse <= 1e-5);
    differing += g.differing;
    elements += gpu.o.numel();
    worst_row_ulps = std::max(worst_row_ulps, g.max_row_ulps);
  }
  std::printf("GPU vs CPU baseline: %lld of %lld elements differ, max %.3g ULP at the row's scale\n",
              static_cast<long long>(differing), static_cast<long long>(elements), worst_row_ulps);
  CHECK(differing <= elements / 1000);
}

TEST_CASE("GPU references: fully masked rows are 0 with lse -inf; the device memory is stated", "[gpu][truth]") {
  Problem p = grid_problem(DType::bf16, 64, 9, 4, 1, kGridMasks[0], 2);  // S_q > S_k: rows 0..4 see nothing
  p.seqlens_k = {4, 0};
  const AttentionInputs in = generate_inputs(p, InputSpec{});
  for (const AttentionOutputs& out : {gpu_truth_fp64(p, in), gpu_naive_baseline(p, in)}) {
    for (int64_t h = 0; h < p.num_heads_q; ++h) {
      for (int64_t d = 0; d < 64; ++d) {
        CHECK(out.o(0, 4, h, d) == 0.0);
        CHECK(out.o(1, 8, h, d) == 0.0);
      }
      CHECK(std::isinf(out.lse(0, h, 4)));
      CHECK(std::isfinite(out.lse(0, h, 5)));
    }
  }
  CHECK(gpu_reference_device_bytes(p) == 8 * (2 * 2 * 9 * 2 * 64 + 2 * 2 * 4 * 2 * 64 + 2 * 2 * 9 + 2));
}

TEST_CASE("GPU truth and baseline at S 4096, 8:2 heads, D 128 agree with the CPU ones", "[gpu][truth][baseline]") {
  const Problem p = grid_problem(DType::bf16, 128, 4096, 4096, 4, kGridMasks[0], 1);
  const AttentionInputs in = generate_inputs(p, InputSpec{Distribution::outliers, 9});
  TruthOptions cpu_options, gpu_options;
  cpu_options.device = ReferenceDevice::cpu;
  gpu_options.device = ReferenceDevice::gpu;
  const Truth cpu = compute_truth(p, in, cpu_options), gpu = compute_truth(p, in, gpu_options);
  const Agreement truth = compare(p, AttentionOutputs{gpu.o, gpu.lse, DType::fp64}, cpu.o, cpu.lse);
  const AttentionOutputs cpu_baseline = naive_same_precision_attention(p, in);
  const Agreement base = compare(p, gpu_naive_baseline(p, in), cpu_baseline.o, cpu_baseline.lse);
  std::printf("S 4096: truth cpu %.2f s (fp64 %.2f, certify %.2f), gpu %.2f s (fp64 %.2f); max %.3g ULP apart; "
              "baseline %lld elements differ, max %.3g ULP at row scale\n",
              cpu.seconds, cpu.seconds_fp64, cpu.seconds_certify, gpu.seconds, gpu.seconds_fp64, truth.max_ulps,
              static_cast<long long>(base.differing), base.max_row_ulps);
  CHECK(gpu.fp64_gap_ulps <= 1e-3);
  CHECK(truth.max_ulps <= 1e-3);
  CHECK(base.max_row_ulps <= 1.0);
  CHECK(base.differing <= p.batch * p.seqlen_q * p.num_heads_q * p.head_dim / 1000);
}

}  // namespace attn
