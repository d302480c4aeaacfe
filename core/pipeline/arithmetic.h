// arithmetic.h: the host arithmetics the pipeline's stages are instantiated with (the device
// ones are core/pipeline/fp32_device.cuh and the decode kernel's). An arithmetic is a small
// value type whose member functions are the operations a stage uses, each documented with its
// rounding; the stage functions (online_softmax.h, split_combine.h) fix the order of the calls.
//  * ExactArithmetic    double arithmetic, no rounding step (the "exact" side of the emulator's
//                       precision policy, and the diagnosis's references);
//  * Fp32Arithmetic     the FA2 kernels' FP32 arithmetic modelled in double: RN after every
//                       operation, fma with one rounding, ex2.approx as a correctly rounded exp2f
//                       with FP32 subnormal results flushed, P rounded to the input dtype (the FP8
//                       pipeline: P scaled by 2^8 in the exponent and rounded to E4M3, fp8.h;
//                       its FMA-pipe share of the exponentials: ex2_fma.h's ex2_fma itself);
//  * StagedArithmetic   per stage one of the two, chosen by a PrecisionPolicy (core/kernel_config.h):
//                       what the emulator and the attribution run;
//  * ExactNaturalArithmetic, Fp32NaturalArithmetic, StagedNaturalArithmetic: the same three for
//                       the flash-decoding kernels (kernels/decode/): scores scaled before the
//                       softmax, natural units, exp_fp32 / log_fp32 (core/pipeline/fp32_elementary.h,
//                       the kernels' own functions), P kept in FP32, O divided by l.
// The concept every arithmetic A models (V = A::value_type):
//   exp stage       scale_log2(double softmax_scale), scale_max(raw_max, scale_log2),
//                   exp_score(s, scale_log2, m)   [2^(s*scale_log2 - m); s = -inf gives 0]
//                   (Fp32Arithmetic, StagedArithmetic: also exp_score_block(block, s, scale_log2, m),
//                   the same for an element of the tile's n8 column block `block`)
//   rescale stage   lazy_bound(m_old, threshold), max(a, b), rescale_factor(m_old, m_new),
//                   round_rescale_fp16(alpha) (planted bug), row_sum_add(sum, p),
//                   row_sum_update(l, alpha, sum), rescale_o(o, alpha),
//                   rescale_accumulate_o(o, alpha, pv)
//   p_cast stage    round_p(p), p_residual(p, hi)  [optional: round_p_pair, unpack_p_pair]
//   normalize       normalizer(l), normalize(o, factor)  [!(l > 0) must give 0 outputs]
//   split/combine   split_lse(m, l), combine_sub, combine_add, combine_exp, combine_exp_natural,
//   (pv_accumulate) combine_log, combine_log_natural, combine_fma(w, o, acc),
//                   natural_to_base2(lse) and static constexpr bool kNaturalLse
//   LSE (no stage)  natural_lse(m, l)
// What it is not: the tensor-core products (analysis/tensor_core_model.h models those).
#pragma once

#include <cmath>
#include <limits>

#include "core/float_format.h"
#include "core/kernel_config.h"
#include "core/pipeline/ex2_fma.h"
#include "core/pipeline/fp32_elementary.h"
#include "core/pipeline/fp8.h"
#include "core/pipeline/numerics.h"
#include "core/pipeline/online_softmax.h"

namespace attn::pipeline {

/// x rounded to FP32 (nearest even), as a double.
inline double round_fp32(double x) { return static_cast<double>(static_cast<float>(x)); }

/// The model of ex2.approx.ftz.f32: the correctly rounded exp2f, results below 2^-126 flushed to
/// 0. Known gap (reports/h100/emulator-agreement/README.md): the SFU differs from it by 1-2 ulp for 59%
/// of x in [-16, 0].
inline double ex2_approx_model(double x) {
  const double r = round_fp32(std::exp2(x));
  return r < static_cast<double>(std::numeric_limits<float>::min()) ? 0.0 : r;
}

/// fma_rn(a, b, c) in FP32 with one rounding; `a` may be a double that is not an FP32 value
/// (an exact score under a mixed policy): the exact a*b + c is then rounded once.
inline double fma_fp32(double a, double b, double c) {
  const float af = static_cast<float>(a);
  if (static_cast<double>(af) == a)
    return static_cast<double>(std::fmaf(af, static_cast<float>(b), static_cast<float>(c)));
  return round_fp32(std::fma(a, b, c));
}

/// Double arithmetic with no rounding step (base-2 exponent units, like FA2). p_scale_log2: the
/// FP8 pipeline's P scale (P and l are 2^8 times the softmax's, exactly; the LSE removes it).
struct ExactArithmetic {
  using value_type = double;
  static constexpr bool kNaturalLse = false;
  double p_scale_log2 = 0;
  double scale_log2(double softmax_scale) const { return softmax_scale * kLog2e; }
  double scale_max(double raw_max, double scale_log2) const { return raw_max * scale_log2; }
  double exp_score(double s, double scale_log2, double m) const {
    return s == kNegInf ? 0.0 : std::exp2(s * scale_log2 - m + p_scale_log2);
  }
  double lazy_bound(double m_old, double threshold) const { return m_old + threshold; }
  double max(double a, double b) const { return a < b ? b : a; }
  double rescale_factor(double m_old, double m_new) const { return std::exp2(m_old - m_new); }
  double round_rescale_fp16(double alpha) const { return round_to(DType::fp16, alpha); }
  double row_sum_add(double sum, double p) const { return sum + p; }
  double row_sum_update(double l, double alpha, double sum) const { return l * alpha + sum; }
  double rescale_o(double o, double alpha) const { return o * alpha; }
  double rescale_accumulate_o(double o, double alpha, double pv) const { return o * alpha + pv; }
  double round_p(double p) const { return p; }
  double p_residual(double p, double hi) const { return p - hi; }
  double normalizer(double l) const { return l; }
  double normalize(double o, double l) const { return l > 0 ? o / l : 0.0; }
  double natural_lse(double m, double l) const { return (m - p_scale_log2) * kLn2 + std::log(l); }
  double split_lse(double m, double l) const { return m + std::log2(l); }
  double natural_to_base2(double lse) const { return lse * kLog2e; }
  double combine_sub(double a, double b) const { return a - b; }
  double combine_add(double a, double b) const { return a + b; }
  double combine_exp(double x) const { return std::exp2(x); }
  double combine_exp_natural(double x) const { return std::exp(x); }
  double combine_log(double x) const { return std::log2(x); }
  double combine_log_natural(double x) const { return std::log(x); }
  double combine_fma(double w, double o, double acc) const { return acc + w * o; }
};

/// The FA2 kernels' FP32 arithmetic, modelled in double (every result an FP32 value).
struct Fp32Arithmetic {
  using value_type = double;
  static constexpr bool kNaturalLse = false;
  DType p_dtype = DType::fp16;  ///< the input dtype P is cast to for the PV product
  bool fp8_p = false;           ///< the FP8 pipeline: P = ex2(fma(s, scale_log2, RN(8 - m))) cast to E4M3 (satfinite)
  int fma_exp_period = 0;       ///< Fp8Config::fma_exp_period: ex2 of those column blocks is ex2_fma (ex2_fma.h)

  double scale_log2(double softmax_scale) const { return round_fp32(softmax_scale * kLog2e); }
  double scale_max(double raw_max, double scale_log2) const {
    return raw_max == kNegInf ? kNegInf : round_fp32(raw_max * scale_log2);
  }
  /// One FMA (S * scale_log2 - m rounded once, as FA2 folds the scale into the exponent), then ex2.
  double exp_score(double s, double scale_log2, double m) const {
    if (s == kNegInf) return 0.0;
    return ex2_approx_model(fma_fp32(s, scale_log2, fp8_p ? round_fp32(kFp8PScaleLog2 - m) : -m));
  }
  /// exp_score for an element of n8 column block `block`: the same FMA, then ex2_fma (the GPU's
  /// own function, so the same bits) where exp_on_fma(block, fma_exp_period), else ex2.approx.
  double exp_score_block(int block, double s, double scale_log2, double m) const {
    if (s == kNegInf || !exp_on_fma(block, fma_exp_period)) return exp_score(s, scale_log2, m);
    const double x = fma_fp32(s, scale_log2, fp8_p ? round_fp32(kFp8PScaleLog2 - m) : -m);
    return static_cast<double>(ex2_fma(static_cast<float>(x)));
  }
  double lazy_bound(double m_old, double threshold) const { return round_fp32(m_old + threshold); }
  double max(double a, double b) const { return a < b ? b : a; }
  double rescale_factor(double m_old, double m_new) const { return ex2_approx_model(round_fp32(m_old - m_new)); }
  double round_rescale_fp16(double alpha) const { return round_to(DType::fp16, alpha); }
  double row_sum_add(double sum, double p) const { return round_fp32(sum + p); }
  /// nvcc contracts l * alpha + sum into one fma.
  double row_sum_update(double l, double alpha, double sum) const { return fma_fp32(l, alpha, sum); }
  double rescale_o(double o, double alpha) const { return round_fp32(o * alpha); }
  double rescale_accumulate_o(double o, double alpha, double pv) const { return fma_fp32(o, alpha, pv); }
  double round_p(double p) const { return fp8_p ? round_to_format_satfinite(p, kE4M3) : round_to(p_dtype, p); }
  double p_residual(double p, double hi) const { return round_fp32(p - hi); }
  /// Reciprocal then multiply, as the kernel does (FA2's inv_sum; IEEE division, not fast-math).
  double normalizer(double l) const { return !(l > 0) ? 0.0 : round_fp32(1.0 / l); }
  double normalize(double o, double inv_l) const { return round_fp32(o * inv_l); }
  double natural_lse(double m, double l) const { return fma_fp32(m, kLn2F, round_fp32(std::log(l))); }
  double split_lse(double m, double l) const { return round_fp32(m + round_fp32(std::log2(l))); }
  double natural_to_base2(double lse) const { return round_fp32(lse * kLog2eF); }
  double combine_sub(double a, double b) const { return round_fp32(a - b); }
  double combine_add(double a, double b) const { return round_fp32(a + b); }
  double combine_exp(double x) const { return ex2_approx_model(x); }
  double combine_exp_natural(double x) const { return round_fp32(std::exp(x)); }
  double combine_log(double x) const { return round_fp32(std::log2(x)); }
  double combine_log_natural(double x) const { return round_fp32(std::log(x)); }
  double combine_fma(double w, double o, double acc) const { return fma_fp32(w, o, acc); }
};

/// Double arithmetic with no rounding step, in natural units: the exact side of the flash-decoding
/// kernels' stages (scores arrive scaled; P = e^(s - m); LSEs natural). ExactArithmetic's
/// operations but the exponent units'.
struct ExactNaturalArithmetic : ExactArithmetic {
  static constexpr bool kNaturalLse = true;
  double scale_log2(double) const { return 1.0; }  // unused: the qk stage scales the scores
  double scale_max(double raw_max, double) const { return raw_max; }
  double exp_score(double s, double, double m) const { return s == kNegInf ? 0.0 : std::exp(s - m); }
  double rescale_factor(double m_old, double m_new) const { return std::exp(m_old - m_new); }
  double natural_lse(double m, double l) const { return m + std::log(l); }
  double split_lse(double m, double l) const { return m + std::log(l); }
  double combine_exp(double x) const { return std::exp(x); }
  double combine_log(double x) const { return std::log(x); }
};

/// The flash-decoding kernels' FP32 arithmetic (core/pipeline/fp32_device.cuh's
/// Fp32NaturalDeviceArithmetic), modelled in double: every result an FP32 value, exp and log the
/// kernels' own exp_fp32 / log_fp32, so that each operation gives the GPU's bits. An operand that
/// is not an FP32 value (an exact upstream stage) enters the FP32 operation unrounded: the exact
/// result is rounded once (as fma_fp32 does). Fp32Arithmetic's roundings (the running sums, the
/// rescale, the combine's adds and fmas) but the exponent units, exp / log, P and the division.
struct Fp32NaturalArithmetic : Fp32Arithmetic {
  static constexpr bool kNaturalLse = true;
  static double exp_of(double x) { return static_cast<double>(exp_fp32(static_cast<float>(x))); }
  static double log_of(double x) { return static_cast<double>(log_fp32(static_cast<float>(x))); }

  double scale_log2(double) const { return 1.0; }  // unused: the qk stage scales the scores
  double scale_max(double raw_max, double) const { return raw_max; }
  /// Not Fp32Arithmetic's base-2 one: the decode kernels' exp does not depend on the column.
  double exp_score_block(int, double, double, double) const = delete;
  /// exp_fp32(RN(s - m)); a masked score (-inf) gives 0.
  double exp_score(double s, double, double m) const { return s == kNegInf ? 0.0 : exp_of(round_fp32(s - m)); }
  double rescale_factor(double m_old, double m_new) const { return exp_of(round_fp32(m_old - m_new)); }
  double round_p(double p) const { return p; }  // no P cast: P stays FP32 (p_dtype unused)
  double normalizer(double l) const { return l; }
  double normalize(double o, double l) const { return l > 0 ? round_fp32(o / l) : 0.0; }  // IEEE division
  double natural_lse(double m, double l) const { return round_fp32(m + log_of(l)); }
  double split_lse(double m, double l) const { return round_fp32(m + log_of(l)); }
  double combine_exp(double x) const { return exp_of(x); }
  double combine_exp_natural(double x) const { return exp_of(x); }
  double combine_log(double x) const { return log_of(x); }
  double combine_log_natural(double x) const { return log_of(x); }
};

/// Per stage, a kernel's FP32 arithmetic or the exact one (PrecisionPolicy). Operation ->
/// stage: exp (scale_log2, scale_max, exp_score), rescale (lazy_bound .. rescale_accumulate_o),
/// p_cast (round_p, p_residual), normalize (normalizer, normalize), pv_accumulate (split_lse and
/// the combine: the split-KV combine belongs to the accumulation). natural_lse is not a stage:
/// always exact.
template <class Kernel, class Exact>
struct StagedArithmeticOf {
  static_assert(Kernel::kNaturalLse == Exact::kNaturalLse, "the two sides keep the same exponent units");
  using value_type = double;
  static constexpr bool kNaturalLse = Kernel::kNaturalLse;
  PrecisionPolicy policy;
  Kernel kernel;
  Exact exact;

  StagedArithmeticOf(const PrecisionPolicy& p, Kernel k, Exact e = Exact{}) : policy(p), kernel(k), exact(e) {}
  bool is_exact(Stage s) const { return policy.exact(s); }

#define ATTN_STAGED(stage, name)                                                           \
  template <class... Args>                                                                \
  double name(Args... args) const {                                                       \
    return policy.exact(Stage::stage) ? exact.name(args...) : kernel.name(args...);       \
  }
  ATTN_STAGED(exp, scale_log2)
  ATTN_STAGED(exp, scale_max)
  ATTN_STAGED(exp, exp_score)
  ATTN_STAGED(rescale, lazy_bound)
  ATTN_STAGED(rescale, max)
  ATTN_STAGED(rescale, rescale_factor)
  ATTN_STAGED(rescale, round_rescale_fp16)
  ATTN_STAGED(rescale, row_sum_add)
  ATTN_STAGED(rescale, row_sum_update)
  ATTN_STAGED(rescale, rescale_o)
  ATTN_STAGED(rescale, rescale_accumulate_o)
  ATTN_STAGED(p_cast, round_p)
  ATTN_STAGED(p_cast, p_residual)
  ATTN_STAGED(normalize, normalizer)
  ATTN_STAGED(normalize, normalize)
  ATTN_STAGED(pv_accumulate, split_lse)
  ATTN_STAGED(pv_accumulate, natural_to_base2)
  ATTN_STAGED(pv_accumulate, combine_sub)
  ATTN_STAGED(pv_accumulate, combine_add)
  ATTN_STAGED(pv_accumulate, combine_exp)
  ATTN_STAGED(pv_accumulate, combine_exp_natural)
  ATTN_STAGED(pv_accumulate, combine_log)
  ATTN_STAGED(pv_accumulate, combine_log_natural)
  ATTN_STAGED(pv_accumulate, combine_fma)
#undef ATTN_STAGED
  /// The exp stage of an element of n8 column block `block` (Kernel::exp_score_block; the exact
  /// exponential does not depend on the column).
  double exp_score_block(int block, double s, double scale_log2, double m) const {
    return policy.exact(Stage::exp) ? exact.exp_score(s, scale_log2, m) : kernel.exp_score_block(block, s, scale_log2, m);
  }
  double natural_lse(double m, double l) const { return exact.natural_lse(m, l); }
  /// The planted numeric bug as this policy lets it act: the rescale bugs (P cast before the
  /// final max, rescale in FP16) live in the rescale stage and vanish when it is exact.
  Mutant numeric_bug(Mutant bug) const {
    const bool rescale_bug = bug == Mutant::p_cast_before_final_max || bug == Mutant::rescale_in_fp16;
    return rescale_bug && !policy.exact(Stage::rescale) ? bug : Mutant::none;
  }
};

/// The FA2 kernels' staged arithmetic (P cast to `p_dtype`).
struct StagedArithmetic : StagedArithmeticOf<Fp32Arithmetic, ExactArithmetic> {
  /// fp8: the FP8 pipeline's P (scaled by 2^8 in both arithmetics; E4M3 in the kernel's);
  /// fma_exp_period: its exponentials on the FMA pipes (Fp8Config::fma_exp_period).
  StagedArithmetic(const PrecisionPolicy& p, DType p_dtype, bool fp8 = false, int fma_exp_period = 0)
      : StagedArithmeticOf(p, Fp32Arithmetic{p_dtype, fp8, fma_exp_period},
                           ExactArithmetic{fp8 ? static_cast<double>(kFp8PScaleLog2) : 0.0}) {}
};

/// The flash-decoding kernels' staged arithmetic.
struct StagedNaturalArithmetic : StagedArithmeticOf<Fp32NaturalArithmetic, ExactNaturalArithmetic> {
  explicit StagedNaturalArithmetic(const PrecisionPolicy& p) : StagedArithmeticOf(p, Fp32NaturalArithmetic{}) {}
};

}  // namespace attn::pipeline
