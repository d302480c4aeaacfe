// test_fp8_kv.cpp: CPU checks of the FP8 (E4M3) KV cache's host side (kernels/cache/fp8_kv.h) and
// of its accuracy on the decode emulator path:
//  - quantize_e4m3 against an independent nearest-value search over the 254 finite E4M3 values
//    (written here from the format's definition: bias 7, 3 mantissa bits, subnormals below 2^-6,
//    ties to the even mantissa, saturation to +-448), and the round trip of every finite byte;
//  - the per-head scales: powers of two, every |x| / scale within E4M3's range and above half of
//    it (the scale is the smallest that fits), clamped for all-zero heads; named errors for
//    non-finite inputs and a dtype that is not FP16/BF16;
//  - the dequantized cache is exact in the dtype (what makes the FP8 kernel path equal the
//    FP16/BF16 path on it, bit for bit: tests/gpu/test_decode_emulator.cpp checks that on a GPU);
//  - accuracy (FP16/BF16, normal and outlier inputs, L 1k and 16k): the emulated FP8 decode (the
//    bulk kernel's contract, mma scores, 256-key splits, run on the dequantized cache; and the
//    tensor-core kernel's 12-warp contract of the registered mma12-fp8- variants, P hi + lo, on a
//    fixed 1024-key plan) within the
//    FlashAttention rule against the truth of the quantized cache (the kernel's own error), and
//    the quantization error |truth(quantized) - truth(unquantized)| within its analytic bound:
//    per output row i, (exp(2 delta_i) - 1) max|v| + max|dv|, delta_i = scale x max_j sum_d
//    |q_id| |dk_jd| (scores move by at most delta_i, so every weight by a factor within
//    exp(+-2 delta_i)), and each half alone: V quantized alone moves O by at most max|dv| (the
//    weights sum to 1), K alone by at most (exp(2 delta_i) - 1) max|v|. The table it prints is
//    reports/cpu/fp8-kv-cache/README.md's.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <vector>

#include "analysis/decode_emulator.h"
#include "analysis/metrics.h"
#include "analysis/emulator.h"
#include "core/errors.h"
#include "core/float_format.h"
#include "core/generators.h"
#include "experiments/register_all.h"
#include "kernels/cache/fp8_kv.h"
#include "kernels/decode/register_decode_kernels.h"
#include "references/truth.h"

namespace attn {
namespace {

/// E4M3 value of a byte from the format's definition (NaN for S.1111.111).
double e4m3_value(int byte) {
  const int sign = byte >> 7, exponent = (byte >> 3) & 0xF, mantissa = byte & 7;
  if (exponent == 0xF && mantissa == 7) return std::numeric_limits<double>::quiet_NaN();
  const double magnitude = exponent == 0 ? std::ldexp(mantissa / 8.0, -6) : std::ldexp(1.0 + mantissa / 8.0, exponent - 7);
  return sign ? -magnitude : magnitude;
}

/// Nearest finite E4M3 byte to x (ties: even mantissa; beyond 448: 448), by search.
int nearest_e4m3(double x) {
  int best = -1;
  double best_gap = INFINITY;
  for (int byte = 0; byte < 256; ++byte) {
    const double v = e4m3_value(byte);
    if (std::isnan(v) || (v == 0 && std::signbit(v) != std::signbit(x))) continue;
    if (v != 0 && (v < 0) != (x < 0)) continue;
    const double gap = std::fabs(std::clamp(x, -448.0, 448.0) - v);
    if (gap < best_gap || (gap == best_gap && (byte & 1) == 0)) {
      best = byte;
      best_gap = gap;
    }
  }
  return best;
}

double max_abs_diff(const Tensor<double>& a, const Tensor<double>& b) {
  double worst = 0;
  for (int64_t i = 0; i < a.numel(); ++i) worst = std::max(worst, std::fabs(a.flat(i) - b.flat(i)));
  return worst;
}

}  // namespace

TEST_CASE("quantize_e4m3 is round-to-nearest-even with saturation (independent search)", "[fp8]") {
  for (int byte = 0; byte < 256; ++byte) {  // every finite byte round-trips, at two scales
    const double v = e4m3_value(byte);
    if (std::isnan(v)) continue;
    CHECK(quantize_e4m3(v, 1.0f) == byte);
    CHECK(quantize_e4m3(std::ldexp(v, -5), 0.03125f) == byte);
    CHECK(dequantize_e4m3(static_cast<uint8_t>(byte), 4.0f) == 4.0 * v);
  }
  uint64_t state = 12345;
  int checked = 0;
  for (int i = 0; i < 200000; ++i) {  // random magnitudes over and beyond the whole range
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    const double u = static_cast<double>(state >> 11) / 9007199254740992.0;
    const double x = (i % 2 ? -1 : 1) * std::ldexp(1.0 + u, static_cast<int>(state % 24) - 13);
    INFO("x = " << x);
    REQUIRE(quantize_e4m3(x, 1.0f) == nearest_e4m3(x));
    ++checked;
  }
  // Exact midpoints tie to the even mantissa: 1 + 1/16 lies between 1 (m 0) and 1.125 (m 1).
  CHECK(quantize_e4m3(1.0625, 1.0f) == 0x38);
  CHECK(quantize_e4m3(1.1875, 1.0f) == 0x3A);  // between 1.125 (m 1) and 1.25 (m 2)
  CHECK(quantize_e4m3(1e6, 1.0f) == 0x7E);     // saturates to 448, never NaN
  CHECK(quantize_e4m3(-1e6, 1.0f) == 0xFE);
  CHECK(quantize_e4m3(std::ldexp(1.0, -11), 1.0f) == 0x00);  // below half the smallest subnormal
  CHECK(checked == 200000);
}

TEST_CASE("FP8 KV scales: powers of two, the smallest that fits, named errors", "[fp8]") {
  Problem pr;
  pr.batch = 2;
  pr.seqlen_q = 1;
  pr.seqlen_k = 300;
  pr.seqlens_k = {300, 77};
  pr.num_heads_q = 8;
  pr.num_heads_kv = 4;
  pr.head_dim = 64;
  for (DType dtype : {DType::fp16, DType::bf16}) {
    pr.dtype = dtype;
    InputSpec spec;
    spec.distribution = Distribution::outliers;
    AttentionInputs in = generate_inputs(pr, spec);
    for (int64_t j = 0; j < pr.seqlen_k; ++j)
      for (int64_t d = 0; d < pr.head_dim; ++d) in.k(0, j, 3, d) = in.k(1, j, 3, d) = 0;  // an all-zero K head
    const Fp8KvScales s = fp8_kv_scales(pr, in);
    REQUIRE(s.k.size() == 4);
    const Fp8ScaleRange range = fp8_scale_range(dtype);
    for (int64_t h = 0; h < 4; ++h) {
      for (const auto* scales : {&s.k, &s.v}) {
        const double scale = (*scales)[static_cast<size_t>(h)];
        int e = 0;
        CHECK(std::frexp(scale, &e) == 0.5);  // a power of two
      }
      double amax_k = 0, amax_v = 0;
      for (int64_t b = 0; b < pr.batch; ++b)
        for (int64_t j = 0; j < pr.keys_in_batch(b); ++j)
          for (int64_t d = 0; d < pr.head_dim; ++d) {
            amax_k = std::max(amax_k, std::fabs(in.k(b, j, h, d)));
            amax_v = std::max(amax_v, std::fabs(in.v(b, j, h, d)));
          }
      for (auto [amax, scale] : {std::pair{amax_k, s.k[static_cast<size_t>(h)]}, std::pair{amax_v, s.v[static_cast<size_t>(h)]}}) {
        if (amax == 0) {
          CHECK(scale == std::ldexp(1.0, range.min_exponent));
          continue;
        }
        CHECK(amax / scale <= 448.0);
        CHECK(amax / scale > 224.0);  // half the scale would overflow
      }
    }
    const AttentionInputs seen = dequantized_kv(pr, in, s);
    int64_t inexact = 0, changed = 0;
    for (int64_t i = 0; i < seen.k.numel(); ++i) {
      inexact += round_to(dtype, seen.k.flat(i)) != seen.k.flat(i) || round_to(dtype, seen.v.flat(i)) != seen.v.flat(i);
      changed += seen.k.flat(i) != in.k.flat(i);
    }
    CHECK(inexact == 0);  // every dequantized value is exact in the dtype
    CHECK(changed > seen.k.numel() / 2);  // and E4M3 (4 significant bits) moved most of them
  }
  pr.dtype = DType::fp32;
  CHECK_THROWS_AS(fp8_scale_range(DType::fp32), ProblemError);
  pr.dtype = DType::fp16;
  AttentionInputs bad = generate_inputs(pr, InputSpec{});
  bad.v(1, 5, 2, 7) = std::numeric_limits<double>::quiet_NaN();
  CHECK_THROWS_AS(fp8_kv_scales(pr, bad), ProblemError);
}

TEST_CASE("FP8 KV cache accuracy on the decode emulator: kernel error vs quantized truth, quantization bound",
          "[fp8][decode_emulator]") {
  const Kernel* naive[2] = {all_kernels().find("naive-fp16"), all_kernels().find("naive-bf16")};
  REQUIRE(naive[0]);
  REQUIRE(naive[1]);
  std::printf("| dtype | inputs | L | quantization: max abs(truth_q - truth) | K alone | V alone | FP8 kernel: max abs(O - truth_q) |"
              " tensor-core (mma12) FP8 kernel: max abs(O - truth_q) | rule bound | FP8 total: max abs(O - truth) |"
              " FP16/BF16 cache: max abs(O - truth) |\n"
              "|---|---|---|---|---|---|---|---|---|---|---|\n");
  for (DType dtype : {DType::fp16, DType::bf16})
    for (Distribution dist : {Distribution::normal, Distribution::outliers})
      for (int64_t L : {1024, 16384}) {
        Problem pr;
        pr.batch = 2;
        pr.seqlen_q = 1;
        pr.seqlen_k = L;
        pr.seqlens_k = {L, L / 3};
        pr.num_heads_q = 8;
        pr.num_heads_kv = 2;
        pr.head_dim = 128;
        pr.dtype = dtype;
        InputSpec spec;
        spec.distribution = dist;
        spec.seed = static_cast<uint64_t>(L) + static_cast<uint64_t>(dist);
        const AttentionInputs in = generate_inputs(pr, spec);
        const Fp8KvScales scales = fp8_kv_scales(pr, in);
        const AttentionInputs seen = dequantized_kv(pr, in, scales);
        TruthOptions quick;
        quick.certify_rows = 2;
        AttentionInputs k_only = in, v_only = in;  // one half of the cache quantized
        k_only.k = seen.k;
        v_only.v = seen.v;
        const Truth truth = compute_truth(pr, in, quick), truth_q = compute_truth(pr, seen, quick);
        const Truth truth_k = compute_truth(pr, k_only, quick), truth_v = compute_truth(pr, v_only, quick);
        EmulatorConfig config;
        config.algorithm = decode_algorithm(SplitPlanKind::fixed_keys, 256, DecodeQk::mma);
        const AttentionOutputs fp8 = emulate_attention(pr, seen, config), plain = emulate_attention(pr, in, config);
        const double baseline = max_abs_diff(naive[dtype == DType::bf16]->run(pr, seen).o, truth_q.o);
        const double kernel_error = max_abs_diff(fp8.o, truth_q.o);
        const FaRuleVerdict rule = fa_rule(kernel_error, baseline, std::isfinite(kernel_error));
        CHECK(rule.pass);
        // The tensor-core kernel's contract (12 warp streams of 16-key tiles, P hi + lo): the
        // registered FP8 variants' twin on the dequantized cache.
        DecodeVariant tc12{"tc12", dtype, 128, 1024, 0, 0, Mutant::none, DecodeKernelKind::mma, 1, 4, false, 12};
        EmulatorConfig tc12_config;
        tc12_config.algorithm = decode_variant_algorithm(tc12);
        const double tc12_error = max_abs_diff(emulate_attention(pr, seen, tc12_config).o, truth_q.o);
        CHECK(fa_rule(tc12_error, baseline, std::isfinite(tc12_error)).pass);
        CHECK(tc12_error <= kernel_error * 1.01 + 1e-6);  // P hi + lo: no less accurate than FP32 P at 256-key splits
        // The quantization error, element by element, within its bound.
        double quant = 0, quant_k = 0, quant_v = 0;
        int64_t outside = 0;
        for (int64_t b = 0; b < pr.batch; ++b)
          for (int64_t h = 0; h < pr.num_heads_q; ++h) {
            const int64_t hk = pr.kv_head(h);
            double vmax = 0, dvmax = 0, delta = 0;
            for (int64_t j = 0; j < pr.keys_in_batch(b); ++j) {
              double dk = 0;
              for (int64_t d = 0; d < pr.head_dim; ++d) {
                vmax = std::max(vmax, std::fabs(in.v(b, j, hk, d)));
                dvmax = std::max(dvmax, std::fabs(seen.v(b, j, hk, d) - in.v(b, j, hk, d)));
                dk += std::fabs(in.q(b, 0, h, d)) * std::fabs(seen.k(b, j, hk, d) - in.k(b, j, hk, d));
              }
              delta = std::max(delta, dk * pr.scale());
            }
            const double k_bound = std::expm1(2 * delta) * vmax + 1e-12, v_bound = dvmax + 1e-12;
            for (int64_t d = 0; d < pr.head_dim; ++d) {
              const double e = std::fabs(truth_q.o(b, 0, h, d) - truth.o(b, 0, h, d));
              const double ek = std::fabs(truth_k.o(b, 0, h, d) - truth.o(b, 0, h, d));
              const double ev = std::fabs(truth_v.o(b, 0, h, d) - truth.o(b, 0, h, d));
              quant = std::max(quant, e);
              quant_k = std::max(quant_k, ek);
              quant_v = std::max(quant_v, ev);
              outside += (e > k_bound + v_bound) + (ek > k_bound) + (ev > v_bound);
            }
          }
        CHECK(outside == 0);
        CHECK(quant > 0);  // the quantization is not the identity
        std::printf("| %s | %s | %lld | %.3g | %.3g | %.3g | %.3g | %.3g | %.3g | %.3g | %.3g |\n", std::string(dtype_name(dtype)).c_str(),
                    dist == Distribution::normal ? "normal" : "outliers", static_cast<long long>(L), quant, quant_k, quant_v,
                    kernel_error, tc12_error, rule.bound, max_abs_diff(fp8.o, truth.o), max_abs_diff(plain.o, truth.o));
      }
}

}  // namespace attn
