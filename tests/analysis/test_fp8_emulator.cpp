// test_fp8_emulator.cpp: the FP8 (E4M3) pipeline on the host — the quantization pre-pass mirror
// (analysis/fp8_operands.h), the Hadamard rotation (core/pipeline/fp8.h) and the emulator's FP8
// configurations (analysis/emulator.h) — against properties that hold for every input: E4M3
// values, errors within half an E4M3 ulp of the scaled value, the amax mapped onto 448, zeros past
// seqlens_k, Q K^T unchanged by the rotation up to FP32 rounding (and the row flattened), the
// all-exact FP8 emulator equal to the exact 16-bit one, the e4m3-fmaN exp split (ex2_fma's bits on
// every N-th n8 column block); and on FA3's outlier inputs against an
// independent FP64 model of the same quantization (fp8_fp64_model) and the error predicted from
// E4M3's unit roundoff (fp8_error_sigma), the rotation beating both scalings without it.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "analysis/emulator.h"
#include "analysis/fp8_operands.h"
#include "analysis/metrics.h"
#include "core/float_format.h"
#include "core/generators.h"
#include "core/pipeline/arithmetic.h"
#include "core/pipeline/ex2_fma.h"
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

/// x R per row ([B, S, H, D]) with R = diag(signs) H_n, H_n[a][b] = (-1)^popcount(a & b)
/// (Sylvester; unnormalized, R R^T = n I), in double: the rotation as an explicit matrix, not
/// pipeline::hadamard_rotate's butterflies (the signs are the configuration's, hadamard_sign).
/// x itself when !rotate.
Tensor<double> hadamard_frame(const Tensor<double>& x, bool rotate) {
  if (!rotate) return x;
  const int64_t B = x.shape()[0], S = x.shape()[1], H = x.shape()[2], D = x.shape()[3];
  Tensor<double> y(x.shape());
  for (int64_t b = 0; b < B; ++b)
    for (int64_t i = 0; i < S; ++i)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t c = 0; c < D; ++c) {
          double sum = 0;
          for (int64_t d = 0; d < D; ++d)
            sum += x(b, i, h, d) * pipeline::hadamard_sign(Fp8Config{}.rotation_seed, static_cast<int>(d)) *
                   ((__builtin_popcountll(static_cast<uint64_t>(d & c)) & 1) ? -1.0 : 1.0);
          y(b, i, h, c) = sum;
        }
  return y;
}

/// An independent FP64 model of FA3's FP8 forward (no pipeline code: the rotation is the explicit
/// matrix diag(signs) H_n, scales and products in double): Q, K (optionally rotated) and V quantized
/// to E4M3 with amax / 448 scales (per block or per tensor), the scores from the E4M3 operands, an
/// online softmax over key tiles of `block_n` whose P = 256 e^(s - m_running) is rounded to E4M3
/// (the row sum keeps P unrounded, as the kernel's FP32 l does), O = sum P_e4m3 V_e4m3 v_scale / l.
/// Every rounding is an E4M3 rounding: what is left between it and the truth is the quantization.
/// Dense problems only (no mask, H_q = H_kv, every key valid).
Tensor<double> fp8_fp64_model(const Problem& p, const AttentionInputs& in, Fp8Scaling scaling, bool rotate,
                              int64_t block_m, int64_t block_n) {
  REQUIRE((p.mask.kind == MaskKind::none && p.num_heads_q == p.num_heads_kv && p.seqlens_k.empty()));
  const int64_t B = p.batch, H = p.num_heads_q, D = p.head_dim, Sq = p.seqlen_q, Sk = p.seqlen_k;
  // Quantizes x in groups: group_of(b, i, h) names the scale group of row i of head h.
  auto quantize = [&](const Tensor<double>& x, int64_t S, auto group_of, std::vector<double>& scale) {
    std::vector<double> amax(scale.size(), 0.0);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < S; ++i)
        for (int64_t h = 0; h < H; ++h)
          for (int64_t d = 0; d < D; ++d)
            amax[group_of(b, i, h)] = std::max(amax[group_of(b, i, h)], std::fabs(x(b, i, h, d)));
    for (size_t g = 0; g < scale.size(); ++g) scale[g] = amax[g] > 0 ? amax[g] / 448.0 : 1.0;
    Tensor<double> q(x.shape());
    for (int64_t b = 0; b < B; ++b)
      for (int64_t i = 0; i < S; ++i)
        for (int64_t h = 0; h < H; ++h)
          for (int64_t d = 0; d < D; ++d)
            q(b, i, h, d) = round_to_format_satfinite(x(b, i, h, d) / scale[group_of(b, i, h)], kE4M3);
    return q;
  };
  const bool tensor = scaling == Fp8Scaling::per_tensor;
  const int64_t q_blocks = (Sq + block_m - 1) / block_m, k_blocks = (Sk + block_n - 1) / block_n;
  std::vector<double> qs(static_cast<size_t>(tensor ? 1 : B * H * q_blocks)),
      ks(static_cast<size_t>(tensor ? 1 : B * H * k_blocks)), vs(static_cast<size_t>(tensor ? 1 : B * H));
  auto q_group = [&](int64_t b, int64_t i, int64_t h) { return tensor ? 0 : static_cast<size_t>((b * H + h) * q_blocks + i / block_m); };
  auto k_group = [&](int64_t b, int64_t j, int64_t h) { return tensor ? 0 : static_cast<size_t>((b * H + h) * k_blocks + j / block_n); };
  auto v_group = [&](int64_t b, int64_t, int64_t h) { return tensor ? 0 : static_cast<size_t>(b * H + h); };
  const Tensor<double> q8 = quantize(hadamard_frame(in.q, rotate), Sq, q_group, qs), k8 = quantize(hadamard_frame(in.k, rotate), Sk, k_group, ks),
                       v8 = quantize(in.v, Sk, v_group, vs);
  const double score_unit = p.scale() / (rotate ? static_cast<double>(D) : 1.0);
  Tensor<double> o(p.q_shape());
  std::vector<double> s(static_cast<size_t>(Sk)), acc(static_cast<size_t>(D));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < Sq; ++i) {
        for (int64_t j = 0; j < Sk; ++j) {
          double dot = 0;
          for (int64_t d = 0; d < D; ++d) dot += q8(b, i, h, d) * k8(b, j, h, d);
          s[static_cast<size_t>(j)] = dot * qs[q_group(b, i, h)] * ks[k_group(b, j, h)] * score_unit;
        }
        double m = -std::numeric_limits<double>::infinity(), l = 0;
        std::fill(acc.begin(), acc.end(), 0.0);
        for (int64_t j0 = 0; j0 < Sk; j0 += block_n) {
          const int64_t j1 = std::min(Sk, j0 + block_n);
          const double m_new = std::max(m, *std::max_element(&s[static_cast<size_t>(j0)], &s[static_cast<size_t>(j1 - 1)] + 1));
          const double alpha = std::exp(m - m_new);  // 0 on the first tile
          l *= alpha;
          for (double& a : acc) a *= alpha;
          for (int64_t j = j0; j < j1; ++j) {
            const double pj = 256.0 * std::exp(s[static_cast<size_t>(j)] - m_new);
            const double p8 = round_to_format_satfinite(pj, kE4M3);
            l += pj;
            for (int64_t d = 0; d < D; ++d) acc[static_cast<size_t>(d)] += p8 * v8(b, j, h, d);
          }
          m = m_new;
        }
        for (int64_t d = 0; d < D; ++d) o(b, i, h, d) = acc[static_cast<size_t>(d)] * vs[v_group(b, 0, h)] / l;
      }
  return o;
}

/// The first-order error of FA3's FP8 pipeline (the model above) from E4M3's rounding, as a
/// standard deviation per output element, derived with u = 2^-4 (E4M3's unit roundoff: 3
/// fraction bits, RNE). Each quantized x (Q, K in their frame, V after its scale, P scaled by 256)
/// errs by e_x with |e_x| <= max(u |x|, 2^-10 scale) (relative u for normal values, half the
/// subnormal spacing below 2^-6; the largest possible scale, amax of the tensor / 448, for every
/// group), so Var(e_x) <= max(u |x|, 2^-10 scale)^2 whatever its distribution; the roundings are
/// taken independent with mean zero. To first order (pi the softmax, O the truth, c the softmax
/// scale, / n with the unnormalized rotation):
///   s^_j - s_j = c sum_d (e_q,d k_j,d + q_d e_k,j,d)          (Q's errors shared by every key)
///   O^ - O     = sum_j pi_j (s^_j - s_j)(v_j - O) + sum_j pi_j (eta_j v_j + e_v,j)
/// (eta_j = P_j's relative rounding, |eta| <= u; the row sum l keeps P unrounded), hence
///   Var = c^2 sum_d Var(e_q,d) (sum_j pi_j k_j,d (v_j - O))^2 + c^2 sum_j pi_j^2 (v_j - O)^2 sum_d q_d^2 Var(e_k,j,d)
///       + sum_j pi_j^2 (u^2 v_j^2 + Var(e_v,j)).
/// Dense single-batch problems (fp8_fp64_model's). pi, O from the unquantized inputs, in double.
Tensor<double> fp8_error_sigma(const Problem& p, const AttentionInputs& in, const Tensor<double>& truth_o, bool rotate) {
  const double u = 1.0 / 16, sub = std::ldexp(1.0, -10);
  const int64_t H = p.num_heads_q, D = p.head_dim, Sq = p.seqlen_q, Sk = p.seqlen_k;
  REQUIRE(p.batch == 1);
  auto amax = [](const Tensor<double>& x) {
    double m = 0;
    for (int64_t i = 0; i < x.numel(); ++i) m = std::max(m, std::fabs(x.flat(i)));
    return m;
  };
  const Tensor<double> q = hadamard_frame(in.q, rotate), k = hadamard_frame(in.k, rotate);
  const double q_sub = sub * amax(q) / 448, k_sub = sub * amax(k) / 448, v_sub = sub * amax(in.v) / 448;
  auto var = [&](double x, double floor) { const double e = std::max(u * std::fabs(x), floor); return e * e; };
  const double c = p.scale() / (rotate ? static_cast<double>(D) : 1.0);
  Tensor<double> sigma(p.q_shape());
  std::vector<double> pi(static_cast<size_t>(Sk)), k_term(static_cast<size_t>(Sk));
  for (int64_t h = 0; h < H; ++h)
    for (int64_t i = 0; i < Sq; ++i) {
      double m = -std::numeric_limits<double>::infinity(), l = 0;
      for (int64_t j = 0; j < Sk; ++j) {
        double s = 0, kv = 0;
        for (int64_t d = 0; d < D; ++d) {
          const double qd = q(0, i, h, d), kd = k(0, j, h, d);
          s += qd * kd;
          kv += qd * qd * var(kd, k_sub);
        }
        pi[static_cast<size_t>(j)] = s * c;
        k_term[static_cast<size_t>(j)] = c * c * kv;
        m = std::max(m, s * c);
      }
      for (double& x : pi) l += (x = std::exp(x - m));
      for (double& x : pi) x /= l;
      for (int64_t e = 0; e < D; ++e) {
        const double o = truth_o(0, i, h, e);
        double total = 0;
        for (int64_t j = 0; j < Sk; ++j) {
          const double w = pi[static_cast<size_t>(j)], v = in.v(0, j, h, e);
          total += w * w * ((v - o) * (v - o) * k_term[static_cast<size_t>(j)] + u * u * v * v + var(v, v_sub));
        }
        for (int64_t d = 0; d < D; ++d) {
          double g = 0;
          for (int64_t j = 0; j < Sk; ++j) g += pi[static_cast<size_t>(j)] * k(0, j, h, d) * (in.v(0, j, h, e) - o);
          total += c * c * var(q(0, i, h, d), q_sub) * g * g;
        }
        sigma(0, i, h, e) = std::sqrt(total);
      }
    }
  return sigma;
}

/// FA3's benchmark inputs (N(0,1) + N(0,100) x Bernoulli(0.001)) on a small dense problem, its
/// certified truth, and per FP8 configuration the errors the tests below compare.
struct OutlierCase {
  Problem p;
  AttentionInputs in;
  Truth truth;
  OutlierCase() : p(make()), in(generate_inputs(p, InputSpec{Distribution::outliers, 11})), truth(compute_truth(p, in)) {}
  static Problem make() {
    Problem p;
    p.batch = 1; p.seqlen_q = 128; p.seqlen_k = 512; p.num_heads_q = p.num_heads_kv = 2; p.head_dim = 128;
    p.dtype = DType::bf16;
    p.mask.kind = MaskKind::none;
    return p;
  }
  EmulatorConfig config(Fp8Scaling scaling, bool rotate, const PrecisionPolicy& policy = {}) const {
    EmulatorConfig c;
    c.algorithm = fp8_config(scaling, rotate);
    c.algorithm.tiles.block_m = c.algorithm.tiles.block_n = 128;
    c.policy = policy;
    return c;
  }
  double rmse_vs_truth(const Tensor<double>& o) const { return compute_metrics(o, truth.o, p.dtype).rmse; }
  struct Errors {
    double emulator = 0, model = 0, emulator_vs_model = 0, predicted = 0;
  };
  /// RMSE vs the truth of the emulator and of fp8_fp64_model, RMSE between them, and the RMS of
  /// fp8_error_sigma (sigma: its value for this rotation, computed once by the caller).
  Errors errors(Fp8Scaling scaling, bool rotate, const Tensor<double>& sigma) const {
    const Tensor<double> model = fp8_fp64_model(p, in, scaling, rotate, 128, 128);
    const Tensor<double> emu = emulate_attention(p, in, config(scaling, rotate)).o;
    Errors e{rmse_vs_truth(emu), rmse_vs_truth(model), compute_metrics(emu, model, p.dtype).rmse, 0};
    for (int64_t i = 0; i < sigma.numel(); ++i) e.predicted += sigma.flat(i) * sigma.flat(i);
    e.predicted = std::sqrt(e.predicted / static_cast<double>(sigma.numel()));
    return e;
  }
};

const std::pair<Fp8Scaling, bool> kOutlierConfigs[] = {
    {Fp8Scaling::per_tensor, false}, {Fp8Scaling::per_block, false}, {Fp8Scaling::per_block, true}};

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

TEST_CASE("fp8 rotation: Q K^T is n Q K^T after rotating both, norms grow by sqrt(n), an outlier is spread",
          "[emulator][fp8]") {
  for (int n : {64, 128}) {
    std::vector<float> q(static_cast<size_t>(n)), k(static_cast<size_t>(n));
    double dot = 0, magnitude = 0, k_norm2 = 0, k_norm1 = 0, k_peak = 0;
    for (int d = 0; d < n; ++d) {
      q[static_cast<size_t>(d)] = static_cast<float>(std::sin(0.37 * d + 1));
      k[static_cast<size_t>(d)] = static_cast<float>(std::cos(1.3 * d) * (d == 5 ? 40 : 1));  // one outlier
      const double kd = k[static_cast<size_t>(d)];
      dot += static_cast<double>(q[static_cast<size_t>(d)]) * kd;
      magnitude += std::fabs(static_cast<double>(q[static_cast<size_t>(d)]) * kd);
      k_norm2 += kd * kd;
      k_norm1 += std::fabs(kd);
      k_peak = std::max(k_peak, std::fabs(kd));
    }
    pipeline::hadamard_rotate([&](int d) -> float& { return q[static_cast<size_t>(d)]; }, n, 0x243f6a8885a308d3ull);
    pipeline::hadamard_rotate([&](int d) -> float& { return k[static_cast<size_t>(d)]; }, n, 0x243f6a8885a308d3ull);
    double rotated = 0, peak = 0, rotated_norm2 = 0;
    for (int d = 0; d < n; ++d) {
      const double kd = k[static_cast<size_t>(d)];
      rotated += static_cast<double>(q[static_cast<size_t>(d)]) * kd;
      peak = std::max(peak, std::fabs(kd));
      rotated_norm2 += kd * kd;
    }
    INFO("n " << n << ": peak " << k_peak << " -> " << peak << ", crest factor (peak / rms) " << k_peak / std::sqrt(k_norm2 / n)
              << " -> " << peak / std::sqrt(rotated_norm2 / n));
    CHECK(std::fabs(rotated / n - dot) <= 1e-5 * magnitude);
    // R = diag(signs) H_n is unnormalized (R R^T = n I; its 1/n goes into the score scale), so a
    // row's norm grows by sqrt(n) and the outlier (40 cos 6.5 = 39.0) lands in EVERY entry with
    // its full size: the peak does not drop below 39 (the test's old bound, 20, was the
    // orthonormal rotation's |40| / sqrt(n) compared against the unnormalized entries). What the
    // rotation does is flatten the row: the crest factor peak / rms (scale-free) falls from
    // 39 / rms(k) (7.9 for n 64, 11 for n 128) to at most ||k||_1 / ||k||_2 (each entry a signed
    // sum of all of k: |entry| <= ||k||_1, rms = ||k||_2), i.e. 2.0 and 3.0 here.
    CHECK(std::fabs(rotated_norm2 - n * k_norm2) <= 1e-5 * n * k_norm2);
    const double crest_before = k_peak / std::sqrt(k_norm2 / n), crest_after = peak / std::sqrt(rotated_norm2 / n);
    CHECK(crest_after <= k_norm1 / std::sqrt(k_norm2) * (1 + 1e-5));
    CHECK(crest_after < crest_before / 2);
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

TEST_CASE("fp8 emulator: the independent FP64 model, the error derived from u = 2^-4, the rotation's gain on outliers",
          "[emulator][fp8]") {
  const OutlierCase oc;
  EmulatorConfig bf16_config;
  bf16_config.algorithm.tiles.block_m = bf16_config.algorithm.tiles.block_n = 128;
  const double bf16 = oc.rmse_vs_truth(emulate_attention(oc.p, oc.in, bf16_config).o);
  const Tensor<double> sigma_of[2] = {fp8_error_sigma(oc.p, oc.in, oc.truth.o, false),
                                      fp8_error_sigma(oc.p, oc.in, oc.truth.o, true)};
  double rmse_of[3] = {0, 0, 0};
  int index = 0;
  for (auto [scaling, rotate] : kOutlierConfigs) {
    const OutlierCase::Errors e = oc.errors(scaling, rotate, sigma_of[rotate ? 1 : 0]);
    INFO(oc.config(scaling, rotate).algorithm.describe()
         << ": rmse emulator " << e.emulator << ", FP64 model " << e.model << ", emulator - model "
         << e.emulator_vs_model << ", predicted (Var e <= u^2) " << e.predicted << ", bf16 emulator " << bf16);
    // The emulator = the model + FP32 roundings (2^-24) + the FP8 tensor core's aligned 14-bit
    // truncation (TensorCoreModel::hopper_fp8_e4m3; 2^-13 of a k32 step's largest term): their
    // flips of an E4M3 rounding are rare, so it stays within a tenth of the quantization error
    // (measured 0.04-0.06). A wrong scale, rotation, permutation or P scale errs by the size of O.
    CHECK(e.emulator_vs_model <= 0.1 * e.model);
    // fp8_error_sigma takes each rounding's variance at its bound u^2 |x|^2; RNE to 3 fraction
    // bits has E[e^2] ~ 0.18 u^2 |x|^2 for spread-out significands, so the measured error should
    // sit near sqrt(0.18) = 0.42 of the prediction (measured 0.49 / 0.43 / 0.35): above it, an
    // error source the analysis lacks; far below, quantization that did not happen.
    CHECK(e.model <= e.predicted);
    CHECK(e.emulator <= e.predicted);
    CHECK(e.emulator >= 0.2 * e.predicted);
    CHECK(bf16 < e.emulator);  // FP8 costs accuracy
    rmse_of[index++] = e.emulator;
  }
  // FA3's claim for incoherent processing on these inputs (their table: 2.4e-2 -> 9.1e-3): the
  // rotation spreads the outliers of Q and K, whose quantization error dominates (the qk_product
  // stage alone gives 0.0130 / 0.0112 / 0.0052 of the 0.0132 / 0.0115 / 0.0064 here). Per-block vs
  // per-tensor scales differ only where E4M3 underflows (its relative precision does not depend
  // on the scale), so neither is asserted to win.
  CHECK(rmse_of[2] < 0.75 * std::min(rmse_of[0], rmse_of[1]));
}

// Prints what the test above asserts, and each stage's share (only that stage as the kernel does it).
TEST_CASE("fp8 emulator diagnostics: the independent FP64 model, per-stage errors", "[.fp8-diag]") {
  const OutlierCase oc;
  for (auto [scaling, rotate] : kOutlierConfigs) {
    const OutlierCase::Errors e = oc.errors(scaling, rotate, fp8_error_sigma(oc.p, oc.in, oc.truth.o, rotate));
    std::printf("%s: rmse model-truth %.4g  emulator-truth %.4g  emulator-model %.4g  predicted (Var e <= u^2) %.4g\n",
                oc.config(scaling, rotate).algorithm.describe().c_str(), e.model, e.emulator, e.emulator_vs_model,
                e.predicted);
    for (Stage st : {Stage::qk_product, Stage::exp, Stage::p_cast, Stage::pv_accumulate, Stage::normalize}) {
      PrecisionPolicy policy = PrecisionPolicy::all_exact();
      policy.stage[static_cast<int>(st)] = StagePrecision::kernel;
      std::printf("   only %-14s as the kernel: rmse %.4g\n", stage_name(st),
                  oc.rmse_vs_truth(emulate_attention(oc.p, oc.in, oc.config(scaling, rotate, policy)).o));
    }
  }
}

// The e4m3-fmaN configurations (Fp8Config::fma_exp_period): the exp stage of an element of every
// N-th n8 column block is core/pipeline/ex2_fma.h's ex2_fma — the GPU's own function, host-compiled
// — bit for bit, within its stated 0.952 ulp of 2^x; every other element keeps the ex2.approx
// model; the exact exp stage ignores the split. On FA3's outlier inputs the whole pipeline's error
// is the e4m3 configuration's (P goes to E4M3 with 3 fraction bits: a 1-ulp FP32 difference
// rarely moves it), and some unrounded output differs (the split reaches the emulator).
TEST_CASE("fp8 emulator: the FMA-pipe exponentials are ex2_fma's bits, the others the ex2.approx model",
          "[emulator][fp8][ex2_fma]") {
  for (int period : {4, 8}) {
    const pipeline::StagedArithmetic kernel(PrecisionPolicy::all_kernel(), DType::bf16, true, period);
    const pipeline::StagedArithmetic exact(PrecisionPolicy::all_exact(), DType::bf16, true, period);
    uint64_t state = 0x9e3779b97f4a7c15ull + static_cast<uint64_t>(period);
    auto uniform = [&]() {  // splitmix64 -> [0, 1)
      uint64_t z = (state += 0x9e3779b97f4a7c15ull);
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
      return static_cast<double>((z ^ (z >> 31)) >> 11) * 0x1p-53;
    };
    int64_t on_fma = 0, worst_ulp_over = 0;
    double worst_ulp = 0;
    for (int i = 0; i < 200000; ++i) {
      const float s = static_cast<float>(uniform() * 20000 - 18000), scale = static_cast<float>(uniform() * 0.02 + 0.001);
      const float m = static_cast<float>(uniform() * 6 - 3), bound = static_cast<float>(8.0 - m);
      const int block = i % 16;
      const float x = std::fmaf(s, scale, bound);  // the kernel's fma(s, scale_log2, RN(8 - m))
      const double got = kernel.exp_score_block(block, s, scale, m);
      if (pipeline::exp_on_fma(block, period)) {
        ++on_fma;
        const float want = pipeline::ex2_fma(x);
        CHECK(static_cast<float>(got) == want);
        CHECK(static_cast<double>(static_cast<float>(got)) == got);
        if (x >= -126.0f) {
          const double e = std::exp2(static_cast<double>(x));
          int ex = 0;
          std::frexp(e, &ex);
          const double ulp = std::fabs(got - e) / std::ldexp(1.0, ex - 1 - 23);
          worst_ulp = std::max(worst_ulp, ulp);
          worst_ulp_over += ulp > 0.952;
        } else {
          CHECK(got == 0.0);
        }
      } else {
        CHECK(got == kernel.exp_score(s, scale, m));
      }
      CHECK(exact.exp_score_block(block, s, scale, m) == exact.exp_score(s, scale, m));
    }
    CHECK(on_fma == 200000 / period);
    CHECK(worst_ulp_over == 0);
    CHECK(kernel.exp_score_block(period - 1, -std::numeric_limits<double>::infinity(), 0.01, 1.0) == 0.0);
  }
  // O kept unrounded (output_round exact): ex2_fma is correctly rounded for 99.4 % of the floats
  // (97.8 % where its error peaks), the ex2.approx model for all, so P differs by an ulp now and then, moving an FP32 row sum; in BF16
  // outputs that vanishes (0 of the 32768 here differ).
  const OutlierCase oc;
  PrecisionPolicy unrounded_o;
  unrounded_o.stage[static_cast<int>(Stage::output_round)] = StagePrecision::exact;
  EmulatorConfig mufu = oc.config(Fp8Scaling::per_block, false, unrounded_o), fma = mufu;
  fma.algorithm.fp8.fma_exp_period = 4;
  CHECK(fma.algorithm.describe() == mufu.algorithm.describe() + "-fma4");
  const Tensor<double> a = emulate_attention(oc.p, oc.in, mufu).o, b = emulate_attention(oc.p, oc.in, fma).o;
  int64_t differ = 0;
  for (int64_t i = 0; i < a.numel(); ++i) differ += a.flat(i) != b.flat(i);
  const double e_mufu = oc.rmse_vs_truth(a), e_fma = oc.rmse_vs_truth(b);
  INFO("rmse vs truth: e4m3 " << e_mufu << ", e4m3-fma4 " << e_fma << "; " << differ << " of " << a.numel()
                              << " outputs differ");
  CHECK(differ > 0);
  CHECK(std::fabs(e_fma - e_mufu) <= 0.02 * e_mufu);
}
