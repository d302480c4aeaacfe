// Precision hypotheses and the fingerprint (issue #16): the hypothesis pipeline against
// independent computations (a plain-loop two-pass softmax with P cast to e4m3; the FA2 emulator
// for FA2-style numerics), the verdict grammar, healthy kernels never called a defect, bad
// input, and the grid subset of experiments/fingerprint_grid.h with every mis-named case printed
// with its scores. (The real H100 SDPA dumps are fingerprinted in test_diagnosis_sdpa_dumps.cpp.)
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <set>

#include "analysis/diagnosis.h"
#include "analysis/emulator.h"
#include "analysis/fingerprint.h"
#include "core/errors.h"
#include "core/generators.h"
#include "experiments/fingerprint_grid.h"
#include "experiments/register_all.h"

namespace {

attn::Problem causal_problem(int64_t seqlen, int64_t head_dim, attn::DType dtype, int64_t heads = 2) {
  attn::Problem p;
  p.seqlen_q = p.seqlen_k = seqlen;
  p.head_dim = head_dim;
  p.num_heads_q = p.num_heads_kv = heads;
  p.dtype = dtype;
  return p;
}

attn::Tensor<double> plant(const attn::Problem& p, const attn::AttentionInputs& in, const std::string& label) {
  return attn::run_hypothesis(p, in, attn::find_precision_hypothesis(p.dtype, label), p.dtype, true);
}

}  // namespace

TEST_CASE("hypothesis family: unique names and labels, FA2-style and upcast members, healthy flags") {
  for (attn::DType dtype : {attn::DType::fp16, attn::DType::bf16}) {
    const auto family = attn::precision_hypotheses(dtype);
    std::set<std::string> names, labels;
    for (const auto& h : family) {
      CHECK(names.insert(h.name).second);
      CHECK(labels.insert(h.label).second);
    }
    CHECK(family[0].label == "FA2-style");
    CHECK(family[0].healthy);
    CHECK(family[0].p == &attn::format_of(dtype));
    CHECK(family[1].label == "upcast");
    CHECK(family[1].healthy);
    CHECK_FALSE(attn::find_precision_hypothesis(dtype, "P e4m3").healthy);
    CHECK_FALSE(attn::find_precision_hypothesis(dtype, "acc fp16/64").healthy);
    CHECK_FALSE(attn::find_precision_hypothesis(dtype, "alpha fp16").healthy);
    CHECK_FALSE(attn::find_precision_hypothesis(dtype, "S fp16").healthy);
  }
  // P fp16 is finer than a bf16 kernel's own P: not a defect there; P bf16 in an fp16 kernel is.
  CHECK(attn::find_precision_hypothesis(attn::DType::bf16, "P fp16").healthy);
  CHECK_FALSE(attn::find_precision_hypothesis(attn::DType::fp16, "P bf16").healthy);
  CHECK_THROWS_AS(attn::find_precision_hypothesis(attn::DType::fp16, "P e3m4"), attn::ProblemError);
  CHECK_THROWS_AS(attn::precision_hypotheses(attn::DType::fp32), attn::ProblemError);
}

TEST_CASE("two-pass softmax with P cast to e4m3 equals a plain-loop computation, bit for bit") {
  // Independent statement of the hypothesis "softmax P e4m3": FP32 scores from the exact dot
  // product, max, expf(fma(s, scale, -max * scale)), a sequential FP32 sum, P = e4m3(p / l),
  // P V in 64-key blocks (each block's sum in double, rounded to FP32, added in FP32), output fp16.
  const attn::Problem p = causal_problem(70, 32, attn::DType::fp16, 1);
  const attn::AttentionInputs in = attn::generate_inputs(p, {attn::Distribution::normal, 9});
  const attn::Tensor<double> got = plant(p, in, "softmax P e4m3");
  const float scale = static_cast<float>(p.scale());
  int64_t compared = 0;
  for (int64_t i = 0; i < p.seqlen_q; ++i) {
    std::vector<float> s;
    for (int64_t j = 0; j <= i; ++j) {  // causal, S_q = S_k
      double dot = 0;
      for (int64_t d = 0; d < p.head_dim; ++d) dot += in.q(0, i, 0, d) * in.k(0, j, 0, d);
      s.push_back(static_cast<float>(dot));
    }
    float raw_max = s[0];
    for (float x : s) raw_max = std::max(raw_max, x);
    const float m = static_cast<float>(static_cast<double>(raw_max) * scale);
    std::vector<float> e;
    float l = 0;
    for (size_t j = 0; j < s.size(); ++j) {
      e.push_back(static_cast<float>(std::exp(static_cast<double>(std::fmaf(s[j], scale, -m)))));
      l = j == 0 ? e[0] : l + e[j];
    }
    for (int64_t d = 0; d < p.head_dim; ++d) {
      float o = 0;
      for (size_t j0 = 0; j0 < s.size(); j0 += 64) {
        double block = 0;
        for (size_t j = j0; j < std::min(s.size(), j0 + 64); ++j)
          block += attn::round_to_format(e[j] / l, attn::kE4M3) * in.v(0, static_cast<int64_t>(j), 0, d);
        o = o + static_cast<float>(block);
      }
      REQUIRE(got(0, i, 0, d) == attn::round_to(attn::DType::fp16, o));
      ++compared;
    }
  }
  CHECK(compared == 70 * 32);
}

TEST_CASE("FA2-style hypothesis through the tensor-core model agrees with the FA2 emulator") {
  // Two implementations of the same numerics (the emulator adds PV into the running O inside the
  // MMA chain and keeps four quad partial row sums; the hypothesis adds each tile's MMA partial
  // once): almost every element identical, the rest one ULP apart.
  for (attn::DType dtype : {attn::DType::fp16, attn::DType::bf16}) {
    const attn::Problem p = causal_problem(200, 64, dtype);
    const attn::AttentionInputs in = attn::generate_inputs(p, {attn::Distribution::normal, 4});
    const attn::Tensor<double> hyp = plant(p, in, "FA2-style");
    const attn::Tensor<double> emu = attn::emulate_attention(p, in, attn::EmulatorConfig{}).o;
    int64_t equal = 0, within_ulp = 0;
    for (int64_t k = 0; k < hyp.numel(); ++k) {
      const double a = hyp.storage()[static_cast<size_t>(k)], b = emu.storage()[static_cast<size_t>(k)];
      equal += a == b;
      within_ulp += std::fabs(a - b) <= attn::ulp_of(b, attn::format_of(dtype));
    }
    INFO(attn::dtype_name(dtype) << ": " << equal << " of " << hyp.numel() << " identical");
    CHECK(within_ulp == hyp.numel());
    CHECK(equal >= hyp.numel() * 995 / 1000);
  }
}

TEST_CASE("structural knobs (splits, reverse order, lazy rescale, numeric mutants) agree with the emulator") {
  struct Knob {
    const char* what;
    int splits;
    attn::KvBlockOrder order;
    float threshold;
    attn::Mutant bug;
  };
  const Knob knobs[] = {{"split4", 4, attn::KvBlockOrder::forward, 0, attn::Mutant::none},
                        {"reverse", 1, attn::KvBlockOrder::reverse, 0, attn::Mutant::none},
                        {"lazy 8", 1, attn::KvBlockOrder::forward, 8, attn::Mutant::none},
                        {"p-cast-before-max", 1, attn::KvBlockOrder::forward, 0, attn::Mutant::p_cast_before_final_max},
                        {"rescale-fp16", 1, attn::KvBlockOrder::forward, 0, attn::Mutant::rescale_in_fp16},
                        {"base2 combine split4", 4, attn::KvBlockOrder::forward, 0, attn::Mutant::base2_lse_natural_combine}};
  const attn::Problem p = causal_problem(300, 64, attn::DType::fp16);
  const attn::AttentionInputs in = attn::generate_inputs(p, {attn::Distribution::outliers, 6});
  for (const Knob& k : knobs) {
    attn::PrecisionHypothesis h = attn::find_precision_hypothesis(p.dtype, "FA2-style");
    h.num_splits = k.splits;
    h.order = k.order;
    h.rescale_threshold_log2 = k.threshold;
    h.numeric_bug = k.bug;
    attn::EmulatorConfig config;
    config.algorithm.tiles.num_splits = k.splits;
    config.algorithm.tiles.order = k.order;
    config.algorithm.rescale_threshold_log2 = k.threshold;
    config.algorithm.mutant = k.bug;
    const attn::Tensor<double> hyp = attn::run_hypothesis(p, in, h, p.dtype, true);
    const attn::Tensor<double> emu = attn::emulate_attention(p, in, config).o;
    int64_t equal = 0;
    for (int64_t e = 0; e < hyp.numel(); ++e) equal += hyp.storage()[static_cast<size_t>(e)] == emu.storage()[static_cast<size_t>(e)];
    INFO(k.what << ": " << equal << " of " << hyp.numel() << " identical");
    CHECK(equal >= hyp.numel() * 99 / 100);
  }
}

TEST_CASE("verdict grammar: a P cast to e4m3 is named, with excess, correlation and the runner-up") {
  const attn::Problem p = causal_problem(257, 64, attn::DType::fp16);
  const attn::AttentionInputs in = attn::generate_inputs(p, {attn::Distribution::normal, 3});
  const attn::Tensor<double> o = plant(p, in, "P e4m3");
  const attn::PrecisionFingerprint fp = attn::fingerprint_precision(p, in, o, p.dtype);
  CHECK(fp.outcome == attn::FingerprintOutcome::precision);
  CHECK(fp.label == "P e4m3");
  CHECK_THAT(fp.summary, Catch::StartsWith("precision: P cast to e4m3 before PV (excess "));
  CHECK_THAT(fp.summary, Catch::Contains("; this hypothesis: ") && Catch::Contains(", correlation ") &&
                             Catch::Contains("; next: "));
  CHECK(fp.observed_excess > 30);  // an 8-bit P: far beyond the rounding floor
  CHECK(fp.fits[0].correlation > 0.95);
  CHECK(fp.confidence == "high");
  CHECK(fp.fits.size() == attn::precision_hypotheses(p.dtype).size());
  // Through diagnose: the declared semantics miss by far more than rounding and no semantic
  // alternative matches, so without the fingerprint it was an unknown bug; it is the precision.
  const attn::Diagnosis dx = attn::diagnose(p, in, o, p.dtype);
  CHECK(dx.declared.excess > attn::kExcessRounding);
  CHECK(dx.verdict == "no semantic bug");
  REQUIRE(dx.precision);
  CHECK(dx.precision->label == "P e4m3");
  attn::DiagnosisOptions without;
  without.fingerprint = false;
  CHECK(attn::diagnose(p, in, o, p.dtype, without).verdict == "unknown bug");
}

TEST_CASE("an FP16 kernel whose normalized softmax P is cast to BF16 is named, not unexplained") {
  // The H200 finding (reports/h200/fingerprint): torch.softmax in FP32, P.to(bfloat16), P V in
  // FP32, output FP16 matched no member of the family. Stated here as a plain loop (FP32 scores
  // from the exact dot product, the row's max, expf, an FP32 sum, bf16(p / l), a double P V sum
  // rounded to FP32: the order of an FP32 GEMM is below what a 16-bit output shows).
  const attn::Problem p = causal_problem(257, 64, attn::DType::fp16);
  const attn::AttentionInputs in = attn::generate_inputs(p, {attn::Distribution::normal, 4});
  attn::Tensor<double> o(p.q_shape(), 0.0);
  const double scale = p.scale();
  for (int64_t h = 0; h < p.num_heads_q; ++h)
    for (int64_t i = 0; i < p.seqlen_q; ++i) {
      std::vector<float> s;
      for (int64_t j = 0; j <= i; ++j) {
        double dot = 0;
        for (int64_t d = 0; d < p.head_dim; ++d) dot += in.q(0, i, h, d) * in.k(0, j, h, d);
        s.push_back(static_cast<float>(dot * scale));
      }
      const float m = *std::max_element(s.begin(), s.end());
      float l = 0;
      for (float& x : s) l += (x = std::exp(x - m));
      for (int64_t d = 0; d < p.head_dim; ++d) {
        double acc = 0;
        for (size_t j = 0; j < s.size(); ++j)
          acc += attn::round_to_format(s[j] / l, attn::kBf16) * in.v(0, static_cast<int64_t>(j), h, d);
        o(0, i, h, d) = attn::round_to(attn::DType::fp16, static_cast<float>(acc));
      }
    }
  const attn::PrecisionFingerprint fp = attn::fingerprint_precision(p, in, o, p.dtype);
  INFO(fp.summary);
  CHECK(fp.outcome == attn::FingerprintOutcome::precision);
  const bool named_or_tied = fp.label == "softmax P bf16" ||
                             std::find(fp.indistinguishable.begin(), fp.indistinguishable.end(),
                                       attn::find_precision_hypothesis(p.dtype, "softmax P bf16").name) !=
                                 fp.indistinguishable.end();
  CHECK(named_or_tied);
  CHECK(fp.fits[0].correlation > 0.9);
}

TEST_CASE("a correct FA2 kernel is consistent with FA2-style numerics; upcast with upcast") {
  for (attn::DType dtype : {attn::DType::fp16, attn::DType::bf16}) {
    const attn::Problem p = causal_problem(300, 64, dtype);
    const attn::AttentionInputs in = attn::generate_inputs(p, {attn::Distribution::outliers, 8});
    const attn::Diagnosis dx = attn::diagnose(p, in, attn::emulate_attention(p, in, attn::EmulatorConfig{}).o, dtype);
    CHECK(dx.verdict == "no semantic bug");
    REQUIRE(dx.precision);
    CHECK(dx.precision->outcome == attn::FingerprintOutcome::healthy);
    CHECK(dx.precision->summary == std::string("precision consistent with FA2-style numerics (P ") +
                                       std::string(attn::dtype_name(dtype)) + ", FP32 accumulators)");
    attn::AttentionOutputs upcast = attn::all_kernels().get("naive-fp32").run(p, in);
    for (double& x : upcast.o.storage()) x = attn::round_to(dtype, x);
    const attn::PrecisionFingerprint fp = attn::fingerprint_precision(p, in, upcast.o, dtype);
    CHECK(fp.outcome == attn::FingerprintOutcome::healthy);
    CHECK(fp.label == "upcast");
  }
}

TEST_CASE("confidence: high for FP32-level ties, low when a defect cannot be told from healthy numerics") {
  // An FP16 rescale factor changes a bf16 kernel's output in a handful of elements at S 64: the
  // verdict stays healthy (FA2-style wins the tie) and the confidence says what it cannot tell.
  const attn::Problem p = causal_problem(64, 64, attn::DType::bf16);
  const attn::AttentionInputs in = attn::generate_inputs(p, {attn::Distribution::normal, 12});
  const attn::PrecisionFingerprint tied = attn::fingerprint_precision(p, in, plant(p, in, "alpha fp16"), p.dtype);
  CHECK(tied.label == "FA2-style");
  CHECK(tied.outcome == attn::FingerprintOutcome::healthy);
  CHECK_THAT(tied.confidence, Catch::StartsWith("low: cannot tell it from alpha fp16"));
  const attn::PrecisionFingerprint fa2 =
      attn::fingerprint_precision(p, in, attn::emulate_attention(p, in, attn::EmulatorConfig{}).o, p.dtype);
  CHECK(fa2.label == "FA2-style");
  CHECK_FALSE(fa2.indistinguishable.empty());  // e.g. FA2-style with natural exp: listed
  for (const auto& f : fa2.fits)
    if (std::find(fa2.indistinguishable.begin(), fa2.indistinguishable.end(), f.name) != fa2.indistinguishable.end() &&
        !f.healthy)
      CHECK_THAT(fa2.confidence, Catch::StartsWith("low: cannot tell it from"));
}

TEST_CASE("precision signature: the formats of the intermediates, not the exp flavour, the softmax form or the tile") {
  using attn::DType;
  auto signature = [](DType dtype, const char* label) {
    return attn::find_precision_hypothesis(dtype, label).precision_signature();
  };
  CHECK(signature(DType::fp16, "FA2-style") == "S fp32, P fp16, acc fp32");
  CHECK(signature(DType::bf16, "FA2-style") == "S fp32, P bf16, acc fp32");
  CHECK(signature(DType::fp16, "FA2-style (exp)") == signature(DType::fp16, "FA2-style"));
  CHECK(signature(DType::fp16, "softmax P fp16") == signature(DType::fp16, "FA2-style"));  // two-pass, same formats
  CHECK(signature(DType::fp16, "P fp32") == signature(DType::fp16, "upcast"));
  CHECK(signature(DType::fp16, "softmax P e4m3") == signature(DType::fp16, "P e4m3"));
  CHECK(signature(DType::fp16, "acc fp16/64") == "S fp32, P fp16, acc fp16/64");
  CHECK(signature(DType::fp16, "acc fp16/128") != signature(DType::fp16, "acc fp16/64"));
  CHECK(signature(DType::fp16, "alpha fp16") == "S fp32, P fp16, acc fp32, alpha fp16");
  CHECK(signature(DType::fp16, "naive fp16") == "q*scale rounded, S fp16, P fp16, acc fp32");
  CHECK(signature(DType::fp16, "math fp16") == "q,k*sqrt(scale) rounded, S fp16, P fp16, acc fp32");
  // Not a precision: the tile width where it is not the accumulation block.
  attn::PrecisionHypothesis wide = attn::find_precision_hypothesis(DType::fp16, "FA2-style");
  wide.block_n = wide.accumulate_keys = 128;
  CHECK(wide.precision_signature() == signature(DType::fp16, "FA2-style"));
  // The probe's rescale_in_fp16 mutant is an FP16 rescale factor.
  attn::PrecisionHypothesis mutant = attn::find_precision_hypothesis(DType::fp16, "FA2-style");
  mutant.numeric_bug = attn::Mutant::rescale_in_fp16;
  CHECK(mutant.precision_signature() == signature(DType::fp16, "alpha fp16"));
}

TEST_CASE("an FP16 rescale factor is named where the running max grows across tiles; a correct kernel is not") {
  // The difference test: alpha fp16 changes a few hundred elements (rows whose running max grew,
  // after that tile); there the plant's output sits on alpha fp16's side, a correct kernel's on
  // FA2-style's.
  // (bf16 S 1000 seed 5: alpha fp16 fits 0.91 at the default 64-key tiles; it must be re-run at
  // 128 to be in the contest at all — the refinement margin.)
  struct Case {
    attn::DType dtype;
    int64_t seqlen;
    uint64_t seed;
  };
  for (const Case& c : {Case{attn::DType::fp16, 257, 1}, Case{attn::DType::bf16, 1000, 5}}) {
    const attn::DType dtype = c.dtype;
    INFO(attn::dtype_name(dtype) << " S " << c.seqlen);
    const attn::Problem p = causal_problem(c.seqlen, 64, dtype);
    const attn::AttentionInputs in = attn::generate_inputs(p, {attn::Distribution::normal, c.seed});
    // Planted with 128-key tiles, as in the grid: the fit alone ties it with FA2-style.
    attn::PrecisionHypothesis alpha_fp16 = attn::find_precision_hypothesis(dtype, "alpha fp16");
    alpha_fp16.block_n = alpha_fp16.accumulate_keys = 128;
    const attn::PrecisionFingerprint fp =
        attn::fingerprint_precision(p, in, attn::run_hypothesis(p, in, alpha_fp16, dtype, true), dtype);
    INFO(fp.summary << " | " << fp.confidence);
    CHECK(fp.outcome == attn::FingerprintOutcome::precision);
    CHECK(fp.label == "alpha fp16");
    REQUIRE_FALSE(fp.separations.empty());
    CHECK_THAT(fp.separations.front(), Catch::StartsWith("alpha fp16 over FA2-style"));
    const attn::PrecisionFingerprint fa2 =
        attn::fingerprint_precision(p, in, attn::emulate_attention(p, in, attn::EmulatorConfig{}).o, dtype);
    INFO(fa2.summary << " | " << fa2.confidence);
    CHECK(fa2.outcome == attn::FingerprintOutcome::healthy);
    CHECK(fa2.label == "FA2-style");
    const std::string alpha = attn::find_precision_hypothesis(dtype, "alpha fp16").name;
    CHECK(std::find(fa2.indistinguishable.begin(), fa2.indistinguishable.end(), alpha) == fa2.indistinguishable.end());
  }
}

TEST_CASE("an error no hypothesis makes is unexplained, said plainly") {
  const attn::Problem p = causal_problem(128, 64, attn::DType::fp16);
  const attn::AttentionInputs in = attn::generate_inputs(p, {attn::Distribution::normal, 2});
  attn::Tensor<double> o = attn::emulate_attention(p, in, attn::EmulatorConfig{}).o;
  // Deterministic noise of 30 output ULPs, uncorrelated with any rounding.
  for (int64_t k = 0; k < o.numel(); ++k) {
    double& x = o.storage()[static_cast<size_t>(k)];
    x = attn::round_to(p.dtype, x + 30 * attn::ulp_of(x, attn::kFp16) * attn::uniform_sample(77, 1, static_cast<uint64_t>(k)));
  }
  const attn::PrecisionFingerprint fp = attn::fingerprint_precision(p, in, o, p.dtype);
  CHECK(fp.outcome == attn::FingerprintOutcome::unexplained);
  CHECK_THAT(fp.summary, Catch::StartsWith("precision: no candidate numerics explains the error (excess "));
}

TEST_CASE("an exact output (every error zero) is a perfect fit of healthy numerics, not 0/0") {
  attn::Problem p = causal_problem(32, 16, attn::DType::fp16, 1);
  attn::AttentionInputs in = attn::generate_inputs(p, {attn::Distribution::normal, 1});
  for (double& x : in.v.storage()) x = 0;  // O = 0 exactly in every pipeline
  const attn::PrecisionFingerprint fp = attn::fingerprint_precision(p, in, attn::Tensor<double>(p.q_shape(), 0.0), p.dtype);
  CHECK(fp.outcome == attn::FingerprintOutcome::healthy);
  CHECK(fp.label == "FA2-style");
  CHECK(fp.fits[0].fit == 1.0);
}

TEST_CASE("a long decode cache keeps every head's row within the memory budget") {
  attn::Problem p;
  p.seqlen_q = 1;
  p.seqlen_k = 20000;
  p.num_heads_q = 4;
  p.num_heads_kv = 1;
  p.head_dim = 16;
  const attn::AttentionInputs in = attn::generate_inputs(p, {attn::Distribution::normal, 3});
  attn::AttentionOutputs out = attn::all_kernels().get("naive-fp32").run(p, in);
  for (double& x : out.o.storage()) x = attn::round_to(p.dtype, x);
  const attn::PrecisionFingerprint fp = attn::fingerprint_precision(p, in, out.o, p.dtype);
  CHECK(fp.rows_sampled == 4);
  CHECK(fp.outcome == attn::FingerprintOutcome::healthy);
}

TEST_CASE("fingerprint input errors are named") {
  const attn::Problem p = causal_problem(16, 16, attn::DType::fp16, 1);
  const attn::AttentionInputs in = attn::generate_inputs(p, {attn::Distribution::normal, 1});
  attn::Tensor<double> o = attn::emulate_attention(p, in, attn::EmulatorConfig{}).o;
  CHECK_THROWS_AS(attn::fingerprint_precision(p, in, attn::Tensor<double>({1, 16, 1, 8}), p.dtype), attn::ProblemError);
  attn::Problem p32 = p;
  p32.dtype = attn::DType::fp32;
  CHECK_THROWS_AS(attn::fingerprint_precision(p32, in, o, attn::DType::fp32), attn::ProblemError);
  o(0, 3, 0, 1) = std::nan("");
  CHECK_THROWS_AS(attn::fingerprint_precision(p, in, o, p.dtype), attn::NonFiniteError);
  // diagnose leaves a non-finite output to the semantic verdict, with no fingerprint.
  const attn::Diagnosis dx = attn::diagnose(p, in, o, p.dtype);
  CHECK(dx.verdict == "unknown bug");
  CHECK_FALSE(dx.precision);
}

TEST_CASE("fingerprint grid (CI subset): planted precisions named, correct kernels never a defect") {
  // S {64, 257}, D 64, FP16/BF16, normal/outliers; the full grid is `attnscope fingerprint-grid
  // --full` (reports/cpu/fingerprint-grid/).
  const attn::FingerprintGridSpec spec = attn::FingerprintGridSpec::ci_subset();
  const attn::FingerprintGridResult r = attn::run_fingerprint_grid(spec);
  for (const attn::FingerprintGridCase& c : r.cases) {
    if (c.correct()) continue;
    std::ostringstream scores;
    for (const auto& f : c.top)
      scores << "\n  " << f.label << ": fit " << f.fit << ", excess " << f.excess << ", correlation " << f.correlation
             << ", rmse ratio " << f.rmse_ratio << ", rows " << f.profile_correlation << ", mismatch " << f.mismatch;
    FAIL_CHECK(c.config << ": planted " << c.planted << " (" << c.plant_numerics << "), named " << c.named << " ("
                        << attn::fingerprint_outcome_name(c.outcome) << ")" << scores.str());
  }
  WARN("grid subset: " << r.planted << " planted, named first " << r.named_first << ", named or indistinguishable "
                       << r.named_or_tied << "; " << r.kernels << " correct kernels, " << r.kernels_called_defect
                       << " called a defect");
  CHECK(r.planted == 8 * static_cast<int64_t>(attn::precision_hypotheses(attn::DType::fp16).size()));
  CHECK(r.named_rate() >= 0.95);
  // By precision signature: every case not named is one whose named hypothesis computes the
  // plant's output bit for bit (at S 64 one key block: acc /128 is /64, alpha fp16 is FA2-style).
  CHECK(r.named_by_signature + r.identical_not_by_signature == r.planted);
  CHECK(r.kernels == 8 * 7);  // six emulator configurations and naive-fp32 per configuration
  CHECK(r.kernels_called_defect == 0);
}
