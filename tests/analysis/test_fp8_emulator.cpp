// test_fp8_emulator.cpp: the FP8 (E4M3) pipeline on the host — the quantization pre-pass mirror
// (analysis/fp8_operands.h), the Hadamard rotation (core/pipeline/fp8.h) and the emulator's FP8
// configurations (analysis/emulator.h) — against properties that hold for every input: E4M3
// values, errors within half an E4M3 ulp of the scaled value, the amax mapped onto 448, zeros past
// seqlens_k, Q K^T unchanged by the rotation up to FP32 rounding, the all-exact FP8 emulator equal
// to the exact 16-bit one, and FP8 errors on outlier inputs between the BF16 pipeline's and a
// few E4M3 ulps (which scaling wins is what the device table measures, not asserted here).
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "analysis/emulator.h"
#include "analysis/fp8_operands.h"
#include "analysis/metrics.h"
#include "core/float_format.h"
#include "core/generators.h"
#include "core/pipeline/fp8.h"
#include "references/truth.h"

using namespace attn;

namespace {

Problem small_problem() {
  Problem p;
  p.batch = 2;
  p.seqlen_q = 70;
  p.seqlen_k = 150;
  p.num_heads_q = 4;
  p.num_heads_kv = 2;
  p.head_dim = 64;
  p.dtype = DType::bf16;
  p.seqlens_k = {150, 77};
  return p;
}

AlgorithmConfig fp8_config(Fp8Scaling scaling, bool rotate) {
  AlgorithmConfig a;
  a.tiles.block_m = 64;
  a.tiles.block_n = 64;
  a.fp8.scaling = scaling;
  a.fp8.rotate = rotate;
  return a;
}

}  // namespace

TEST_CASE("fp8 quantization: E4M3 values, half-ulp errors, amax at 448, zeros past seqlens_k", "[emulator][fp8]") {
  const Problem p = small_problem();
  const AttentionInputs in = generate_inputs(p, InputSpec{Distribution::outliers, 3});
  for (Fp8Scaling scaling : {Fp8Scaling::per_block, Fp8Scaling::per_tensor}) {
    const Fp8HostOperands ops = quantize_fp8_operands(p, in, fp8_config(scaling, false).fp8, 64, 64);
    REQUIRE(ops.q_blocks == 2);
    REQUIRE(ops.k_blocks == 3);
    double max_code = 0;
    int64_t bad = 0;
    for (int64_t b = 0; b < p.batch; ++b)
      for (int64_t i = 0; i < p.seqlen_q; ++i)
        for (int64_t h = 0; h < p.num_heads_q; ++h)
          for (int64_t d = 0; d < p.head_dim; ++d) {
            const double code = ops.q(b, i, h, d), scale = ops.q_scale_of(b, h, i / 64, p.num_heads_q);
            bad += round_to_format(code, kE4M3) != code;  // an E4M3 value
            // RNE to E4M3 of x / scale: within half an ulp of E4M3 at that magnitude (subnormal
            // spacing 2^-9), relative to the scaled value, plus the FP32 product's rounding.
            const double scaled = in.q(b, i, h, d) / scale;
            bad += std::fabs(code - scaled) > 0.5 * ulp_of(scaled, kE4M3) + 1e-6 * std::fabs(scaled);
            max_code = std::max(max_code, std::fabs(code));
          }
    CHECK(bad == 0);
    CHECK(max_code == 448.0);  // some block's amax maps onto the largest E4M3 value
    for (int64_t j = 77; j < 150; ++j)
      for (int64_t d = 0; d < p.head_dim; ++d) CHECK((ops.k(1, j, 0, d) == 0.0 && ops.v(1, j, 1, d) == 0.0));
    if (scaling == Fp8Scaling::per_tensor) {
      for (float s : ops.q_scale) CHECK(s == ops.q_scale[0]);
      for (float s : ops.v_scale) CHECK(s == ops.v_scale[0]);
    }
  }
}

TEST_CASE("fp8 rotation: Q K^T is n Q K^T after rotating both, up to FP32 rounding", "[emulator][fp8]") {
  for (int n : {64, 128}) {
    std::vector<float> q(static_cast<size_t>(n)), k(static_cast<size_t>(n));
    double dot = 0, magnitude = 0;
    for (int d = 0; d < n; ++d) {
      q[static_cast<size_t>(d)] = static_cast<float>(std::sin(0.37 * d + 1));
      k[static_cast<size_t>(d)] = static_cast<float>(std::cos(1.3 * d) * (d == 5 ? 40 : 1));  // one outlier
      dot += static_cast<double>(q[static_cast<size_t>(d)]) * k[static_cast<size_t>(d)];
      magnitude += std::fabs(static_cast<double>(q[static_cast<size_t>(d)]) * k[static_cast<size_t>(d)]);
    }
    pipeline::hadamard_rotate([&](int d) -> float& { return q[static_cast<size_t>(d)]; }, n, 0x243f6a8885a308d3ull);
    pipeline::hadamard_rotate([&](int d) -> float& { return k[static_cast<size_t>(d)]; }, n, 0x243f6a8885a308d3ull);
    double rotated = 0, peak = 0;
    for (int d = 0; d < n; ++d) {
      rotated += static_cast<double>(q[static_cast<size_t>(d)]) * k[static_cast<size_t>(d)];
      peak = std::max(peak, std::fabs(static_cast<double>(k[static_cast<size_t>(d)])));
    }
    CHECK(std::fabs(rotated / n - dot) <= 1e-5 * magnitude);
    CHECK(peak < 40.0 * 0.5);  // the outlier is spread over the row (|40| / sqrt(n) each, plus the rest)
  }
}

TEST_CASE("fp8 emulator: all stages exact equals the exact 16-bit emulator", "[emulator][fp8]") {
  Problem p = small_problem();
  p.mask.kind = MaskKind::causal_bottom_right;
  const AttentionInputs in = generate_inputs(p, InputSpec{Distribution::normal, 5});
  EmulatorConfig exact16, exact8;
  exact16.algorithm = fp8_config(Fp8Scaling::none, false);
  exact8.algorithm = fp8_config(Fp8Scaling::per_block, true);
  exact16.policy = exact8.policy = PrecisionPolicy::all_exact();
  const AttentionOutputs a = emulate_attention(p, in, exact16), b = emulate_attention(p, in, exact8);
  double worst = 0;
  for (int64_t i = 0; i < a.o.numel(); ++i) worst = std::max(worst, std::fabs(a.o.flat(i) - b.o.flat(i)));
  CHECK(worst <= 1e-12);
  double lse = 0;
  for (int64_t i = 0; i < a.lse.numel(); ++i)
    if (std::isfinite(a.lse.flat(i))) lse = std::max(lse, std::fabs(a.lse.flat(i) - b.lse.flat(i)));
  CHECK(lse <= 1e-12);
}

TEST_CASE("fp8 emulator: errors on outlier inputs between BF16's and a few E4M3 ulps", "[emulator][fp8]") {
  Problem p;
  p.batch = 1; p.seqlen_q = 128; p.seqlen_k = 512; p.num_heads_q = p.num_heads_kv = 2; p.head_dim = 128;
  p.dtype = DType::bf16;
  p.mask.kind = MaskKind::none;
  const AttentionInputs in = generate_inputs(p, InputSpec{Distribution::outliers, 11});
  const Truth truth = compute_truth(p, in);
  auto error_of = [&](Fp8Scaling scaling, bool rotate) {
    EmulatorConfig c;
    c.algorithm = fp8_config(scaling, rotate);
    c.algorithm.tiles.block_m = c.algorithm.tiles.block_n = 128;
    return compute_metrics(emulate_attention(p, in, c).o, truth.o, p.dtype).rmse;
  };
  const double tensor = error_of(Fp8Scaling::per_tensor, false), block = error_of(Fp8Scaling::per_block, false),
               rotated = error_of(Fp8Scaling::per_block, true);
  const double bf16 = compute_metrics([&] {
    EmulatorConfig c;
    c.algorithm.tiles.block_m = c.algorithm.tiles.block_n = 128;
    return emulate_attention(p, in, c).o;
  }(), truth.o, p.dtype).rmse;
  double rms = 0;
  for (int64_t i = 0; i < truth.o.numel(); ++i) rms += truth.o.flat(i) * truth.o.flat(i);
  rms = std::sqrt(rms / static_cast<double>(truth.o.numel()));
  INFO("rmse per-tensor " << tensor << ", per-block " << block << ", per-block + rotation " << rotated << ", bf16 "
                          << bf16 << ", rms of O " << rms);
  for (double e : {tensor, block, rotated}) {
    CHECK(bf16 < e);            // FP8 costs accuracy
    CHECK(e < rms * 0.0625);    // but stays within E4M3's relative precision (2^-4) of O's size
  }
}
