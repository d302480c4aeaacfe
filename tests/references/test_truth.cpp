// test_truth.cpp: compute_truth and the multiprecision end of the chain — FP64 (Eigen) lies
// inside/near the certified MPFI enclosure on normal, large-logits and sink inputs; the MPFR
// recomputation equals the templated reference at the same precision; row selection; long rows
// certified in key chunks still contain the MPFR truth; the MPFR fallback's cost is stated and
// refused beyond its limit unless allowed; the device and the times are recorded.
#include <boost/multiprecision/mpfr.hpp>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "core/generators.h"
#include "references/full_attention.h"
#include "references/multiprecision_truth.h"
#include "references/truth.h"
#include "references/reference_device.h"
#include "reference_test_util.h"

namespace attn {
namespace {

Problem small_problem(int64_t sq, int64_t sk, DType dtype = DType::fp16) {
  Problem p;
  p.batch = 2;
  p.seqlen_q = sq;
  p.seqlen_k = sk;
  p.num_heads_q = 4;
  p.num_heads_kv = 2;
  p.head_dim = 32;
  p.dtype = dtype;
  return p;
}

TruthOptions truth_options(int bits, int certify_rows, double max_gap) {
  TruthOptions options;
  options.mpfr_bits = bits;
  options.certify_rows = certify_rows;
  options.max_fp64_gap_ulps = max_gap;
  return options;
}

}  // namespace

TEST_CASE("truth: FP64 lies within the certified enclosure on normal, large-logits and sink inputs", "[truth]") {
  const Distribution distributions[] = {Distribution::normal, Distribution::large_logits, Distribution::sink};
  for (const Distribution dist : distributions) {
    for (const DType dtype : {DType::fp16, DType::bf16, DType::fp32}) {
      const Problem p = small_problem(37, 53, dtype);
      InputSpec spec;
      spec.distribution = dist;
      spec.seed = 7;
      const AttentionInputs in = generate_inputs(p, spec);
      TruthOptions opt;
      opt.certify_rows = 6;
      const Truth t = compute_truth(p, in, opt);
      std::printf("truth %-12s %-4s fp64 gap %.3e ulp, enclosure radius %.3e ulp, lse gap %.3e, method %s\n",
                  distribution_name(dist).c_str(), std::string(dtype_name(dtype)).c_str(), t.fp64_gap_ulps,
                  t.enclosure_max_radius_ulps, t.lse_fp64_gap, t.method.c_str());
      CHECK(t.certified_rows == 6);
      CHECK(t.method == "fp64");
      // FP64 carries ~53 bits; the output ULP of fp32 is 2^-23 relative: the gap must be tiny.
      CHECK(t.fp64_gap_ulps < 1e-6);
      CHECK(t.enclosure_max_radius_ulps < 1e-20);  // 128-bit intervals are far narrower than any ulp
      CHECK(t.lse_fp64_gap < 1e-9);
      CHECK(t.mpfr_gap_ulps == -1);
    }
  }
}

TEST_CASE("truth: forced multiprecision equals the templated mpfr reference and sits in the enclosure", "[truth]") {
  Problem p = small_problem(9, 13);
  p.seqlens_k = {13, 7};
  const AttentionInputs in = generate_inputs(p, InputSpec{Distribution::outliers, 3});
  TruthOptions opt;
  opt.force_multiprecision = true;
  opt.certify_rows = 4;
  const Truth t = compute_truth(p, in, opt);
  CHECK(t.method == "mpfr-128");
  CHECK(t.mpfr_gap_ulps >= 0);
  CHECK(t.mpfr_gap_ulps < 1e-12);
  using boost::multiprecision::mpfr_float;
  mpfr_float::default_precision(40);  // 40 decimal digits -> 135 bits, not the 128 of the truth
  const ReferenceResult<mpfr_float> plain = full_attention<mpfr_float>(p, in);
  // Different precisions: agreement to far below double rounding, not bit equality.
  for (int64_t n = 0; n < t.o.numel(); ++n) CHECK(std::fabs(t.o.flat(n) - static_cast<double>(plain.o.flat(n))) <= 1e-15 * std::fabs(t.o.flat(n)) + 1e-300);
}

TEST_CASE("truth: a forced failing threshold switches to MPFR and says so", "[truth]") {
  const Problem p = small_problem(5, 8, DType::fp64);
  const AttentionInputs in = generate_inputs(p, InputSpec{});
  const Truth t = compute_truth(p, in, truth_options(128, 3, 0.0));
  // FP64 is exact to 0 fp64 ULP only by luck: with max gap 0 any nonzero gap forces MPFR.
  if (t.fp64_gap_ulps > 0) CHECK(t.method == "mpfr-128");
  else CHECK(t.method == "fp64");
  CHECK(t.certified_rows == 3);
}

TEST_CASE("truth: rows are spread and include the first and the last", "[truth]") {
  const Problem p = small_problem(10, 10);  // 2 * 4 * 10 = 80 rows
  const auto rows = spread_rows(p, 8);
  REQUIRE(rows.size() == 8);
  CHECK(rows.front() == 0);
  CHECK(rows.back() == 79);
  for (size_t r = 1; r < rows.size(); ++r) CHECK(rows[r] > rows[r - 1]);
  CHECK(spread_rows(p, 1).size() == 2);
  CHECK(spread_rows(p, 0).empty());
  CHECK(spread_rows(p, 500).size() == 80);
}

}  // namespace attn

namespace attn {

TEST_CASE("certify_row: enclosures are rigorous — 53-bit intervals contain the 200-bit ones", "[truth][mpfi]") {
  Problem p = small_problem(6, 40, DType::fp32);
  p.mask = Mask{MaskKind::sliding_window, 17, 0};
  const AttentionInputs in = generate_inputs(p, InputSpec{Distribution::large_logits, 12});
  for (const int64_t i : {int64_t{0}, int64_t{3}, int64_t{5}}) {
    const RowEnclosure coarse = certify_row(p, in, 1, 3, i, 53);
    const RowEnclosure fine = certify_row(p, in, 1, 3, i, 200);
    for (size_t d = 0; d < coarse.o_lower.size(); ++d) {
      CHECK(coarse.o_lower[d] <= fine.o_lower[d]);
      CHECK(fine.o_upper[d] <= coarse.o_upper[d]);
      CHECK(fine.o_lower[d] <= fine.o_upper[d]);
      CHECK(fine.o_radius[d] >= fine.o_half_width[d]);
    }
    CHECK(coarse.lse_lower <= fine.lse_lower);
    CHECK(fine.lse_upper <= coarse.lse_upper);
  }
}

TEST_CASE("certify_row: a closed-form two-key row lies in its enclosure; a masked row is exact", "[truth][mpfi]") {
  // D = 4 (scale 1/2): q = (1,0,0,0), k0 = (2,0,0,0), k1 = 0: o_d = (e v0d + v1d) / (e + 1).
  Problem two = test::make_problem(1, 1, 2, 1, 1, 4, Mask{MaskKind::none});
  AttentionInputs t{Tensor<double>(two.q_shape()), Tensor<double>(two.kv_shape()), Tensor<double>(two.kv_shape())};
  t.q(0, 0, 0, 0) = 1.0;
  t.k(0, 0, 0, 0) = 2.0;
  for (int64_t d = 0; d < 4; ++d) {
    t.v(0, 0, 0, d) = static_cast<double>(d + 1);
    t.v(0, 1, 0, d) = -static_cast<double>(d);
  }
  using boost::multiprecision::mpfr_float;
  mpfr_float::default_precision(60);  // ~200 bits for the closed form
  const mpfr_float e = exp(mpfr_float(1));
  const RowEnclosure r = certify_row(two, t, 0, 0, 0, 128);
  for (int64_t d = 0; d < 4; ++d) {
    const mpfr_float exact = (e * (d + 1) - d) / (e + 1);
    CHECK(mpfr_float(r.o_lower[static_cast<size_t>(d)]) <= exact);
    CHECK(exact <= mpfr_float(r.o_upper[static_cast<size_t>(d)]));
  }
  CHECK(mpfr_float(r.lse_lower) <= log(e + 1));
  CHECK(log(e + 1) <= mpfr_float(r.lse_upper));

  Problem masked = test::make_problem(1, 3, 1, 1, 1, 4);  // rows 0 and 1 see no key
  const RowEnclosure m = certify_row(masked, generate_inputs(masked, InputSpec{}), 0, 0, 1, 128);
  CHECK(m.fully_masked);
  for (size_t d = 0; d < 4; ++d) CHECK((m.o_lower[d] == 0.0 && m.o_upper[d] == 0.0));
  CHECK(std::isinf(m.lse_lower));
  CHECK_THROWS_AS(certify_row(masked, generate_inputs(masked, InputSpec{}), 0, 0, 3, 128), ProblemError);
}

TEST_CASE("truth: bad options are named errors", "[truth]") {
  const Problem p = small_problem(3, 3);
  const AttentionInputs in = generate_inputs(p, InputSpec{});
  CHECK_THROWS_WITH(compute_truth(p, in, truth_options(40, 8, 1e-3)), Catch::Contains("precision must be >= 53 bits"));
  CHECK_THROWS_WITH(compute_truth(p, in, truth_options(128, -1, 1e-3)), Catch::Contains("certify_rows"));
  const Truth none = compute_truth(p, in, truth_options(128, 0, 1e-3));
  CHECK(none.certified_rows == 0);
  CHECK(std::isnan(none.fp64_gap_ulps));  // unknown, never reported as 0
}

TEST_CASE("certify_rows: rows longer than one key chunk contain the 200-bit MPFR attention", "[truth][mpfi]") {
  Problem p = test::make_problem(2, 3, 1300, 2, 1, 16, Mask{MaskKind::none}, DType::bf16);
  p.seqlens_k = {1300, 1029};  // three chunks of 512 keys, the last one partial
  const AttentionInputs in = generate_inputs(p, InputSpec{Distribution::outliers, 4});
  const AttentionOutputs exact = mpfr_attention(p, in, 200);
  const std::vector<int64_t> rows = {0, 2, 7, 11};  // flat (b * H_q + h) * S_q + i
  const std::vector<RowEnclosure> e = certify_rows(p, in, rows, 128, 3);
  REQUIRE(e.size() == rows.size());
  for (size_t r = 0; r < rows.size(); ++r) {
    const int64_t i = rows[r] % 3, h = (rows[r] / 3) % 2, b = rows[r] / 6;
    INFO("row " << rows[r]);
    for (int64_t d = 0; d < 16; ++d) {
      CHECK(e[r].o_lower[static_cast<size_t>(d)] <= exact.o(b, i, h, d));
      CHECK(exact.o(b, i, h, d) <= e[r].o_upper[static_cast<size_t>(d)]);
      CHECK(e[r].o_upper[static_cast<size_t>(d)] - e[r].o_lower[static_cast<size_t>(d)] <= 1e-12);
    }
    CHECK(e[r].lse_lower <= exact.lse(b, h, i));
    CHECK(exact.lse(b, h, i) <= e[r].lse_upper);
  }
  CHECK_THROWS_AS(certify_rows(p, in, {12}, 128), ProblemError);
}

TEST_CASE("truth: the MPFR fallback states its cost and is refused above its limit unless allowed", "[truth]") {
  const Problem p = small_problem(6, 9);
  const AttentionInputs in = generate_inputs(p, InputSpec{});
  TruthOptions options = truth_options(128, 2, 1e-3);
  options.force_multiprecision = true;
  options.max_mpfr_seconds = 0;
  CHECK_THROWS_WITH(compute_truth(p, in, options), Catch::Contains("estimated at") && Catch::Contains("--truth-allow-slow-mpfr"));
  options.allow_slow_mpfr = true;
  std::vector<std::string> lines;
  options.progress = [&](const std::string& line) { lines.push_back(line); };
  const Truth t = compute_truth(p, in, options);
  CHECK(t.method == "mpfr-128");
  CHECK(t.mpfr_estimated_seconds > 0);
  CHECK(t.seconds_mpfr > 0);
  REQUIRE_FALSE(lines.empty());
  CHECK(lines.front().find("estimated at") != std::string::npos);
  // The estimate grows with the visible work: causal S = 64 is about (64 * 65 / 2) / (6 * ...) more.
  CHECK(mpfr_attention_seconds_estimate(small_problem(64, 64), 128, 1) > 10 * mpfr_attention_seconds_estimate(p, 128, 1));
  CHECK(visible_pairs(small_problem(4, 4)) == 2 * 4 * (1 + 2 + 3 + 4));
}

TEST_CASE("truth: the device and the times are recorded; the GPU is never a silent fallback", "[truth]") {
  const Problem p = small_problem(20, 30);
  const AttentionInputs in = generate_inputs(p, InputSpec{});
  TruthOptions options;
  options.device = ReferenceDevice::cpu;
  const Truth t = compute_truth(p, in, options);
  CHECK(t.device == "cpu");
  CHECK(t.method == "fp64");
  CHECK(t.seconds >= t.seconds_fp64);
  CHECK(t.seconds_certify > 0);
  options.device = ReferenceDevice::gpu;
  std::string why;
  if (!reference_gpu_available(&why)) {
    CHECK_THROWS_WITH(compute_truth(p, in, options), Catch::Contains("GPU"));
    options.device = ReferenceDevice::automatic;
    CHECK(compute_truth(p, in, options).device == "cpu");
  } else {
    CHECK(compute_truth(p, in, options).device == "gpu");
  }
  CHECK(parse_reference_device("auto") == ReferenceDevice::automatic);
  CHECK_THROWS_WITH(parse_reference_device("tpu"), Catch::Contains("auto, cpu, gpu"));
  // Memory estimate: the output dominates at long sequences and grows with it.
  CHECK(truth_memory_bytes(small_problem(4096, 4096)) > truth_memory_bytes(small_problem(1024, 1024)));
  CHECK(truth_memory_bytes(small_problem(1024, 1024)) >= 2 * 8 * static_cast<uint64_t>(2 * 1024 * 4 * 32));
}

TEST_CASE("progress: lines only after the interval, with the fraction done", "[truth][progress]") {
  std::vector<std::string> lines;
  ProgressMeter quiet([&](const std::string& l) { lines.push_back(l); }, "pass", 10, 3600.0);
  for (int n = 0; n < 10; ++n) quiet.advance();
  CHECK(lines.empty());  // a pass shorter than the interval says nothing
  ProgressMeter loud([&](const std::string& l) { lines.push_back(l); }, "pass", 4, 0.0);
  loud.advance();
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].rfind("pass: 25%", 0) == 0);
}

}  // namespace attn
