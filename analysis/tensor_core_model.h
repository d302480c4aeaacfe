// tensor_core_model.h: a bit-level model of one H100 tensor-core MMA step for FP16/BF16 inputs
// with FP32 accumulation (mma.sync m16n8k16 / wgmma k=16), as published in
//   [FHMP21] Fasi, Higham, Mikaitis, Pranesh, "Numerical behavior of NVIDIA tensor cores",
//            PeerJ Comput. Sci. 7:e330 (2021): products exact, significands aligned to the
//            largest exponent and truncated, normalization only at the end, round toward zero;
//   [KM25]   Khattak, Mikaitis, "Accurate Models of NVIDIA Tensor Cores", arXiv:2512.07004
//            (2025): per-architecture block size (H100: 16 products + the accumulator in one
//            multi-term add) and extra alignment bits;
//   MMA-Sim (Microsoft, 2025) for the same structure as a bit-accurate simulator.
// What it is: plain functions (arrays in, float out) that the CPU emulator calls for every QK^T
// and PV step, and that a standalone GPU program can call to compare against real mma.sync.
// What it is not: a matrix library, or a model of TF32 paths or of other GPU generations (the
// parameters are in one struct so such models are a different TensorCoreModel value). FP8
// (E4M3/E5M2) inputs enter through mma_dot_fp8; wgmma (sm_90a) is probed against this same model
// family by kernels/probes/wgmma_probe.cu (negative extra_alignment_bits model an accumulation
// narrower than FP32, the reported behaviour of Hopper's FP8 path).
// Every parameter below is a claim about the hardware; the GPU engineer's 10^6-dot-product
// comparison against mma.sync is what confirms or corrects it (DESIGN.md: a mismatch is a finding).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "core/float_format.h"

namespace attn {

/// Rounding applied when the aligned exact sum is normalized to the FP32 result.
enum class TcFinalRounding : uint8_t {
  toward_zero,   ///< truncation of the normalized sum ([FHMP21] for V100..H100 FP32 output)
  nearest_even,  ///< IEEE RNE (what an FMA chain would do; kept for comparison experiments)
};

/// All parameters of the model in one place (cpfloat style: one validated options struct).
struct TensorCoreModel {
  /// Products summed in one multi-term addition together with the incoming accumulator.
  /// [KM25]: 4 on V100, 8 on A100, 16 on H100 for FP16/BF16 inputs.
  int group_size = 16;
  /// Bits kept below the FP32 significand (24 bits) of the alignment reference when the terms
  /// are aligned to it; everything below is truncated (dropped toward zero) per term before the
  /// sum. DESIGN.md: "aligned to the largest exponent with 2 extra bits, truncated"; [KM25]
  /// calls this n_eab. Confirmed on an H100 (see below).
  int extra_alignment_bits = 2;
  /// The alignment reference of a product a*b is its nominal exponent e_a + e_b (the product
  /// significand lies in [1, 4), so its leading bit may sit one above), not its leading bit;
  /// the accumulator's is its own exponent. The reference is the max over the nonzero terms.
  /// Measured on an H100 80GB HBM3 (driver 580.159.04) with kernels/probes/mma_check.cu:
  /// 262,144 FP16 and 262,144 BF16 random m16n8k16 dot products (exponent spreads 2, 6, 12),
  /// 0 mismatches with {nominal, 2 bits, toward zero}; leading-bit alignment mismatches 15% (2
  /// bits) and 8.5% (3 bits); round-to-nearest mismatches >= 35% for every width tried.
  bool align_to_nominal_product_exponent = true;
  /// Rounding of the normalized sum to FP32 ([FHMP21]: truncation).
  TcFinalRounding final_rounding = TcFinalRounding::toward_zero;
  /// Subnormal FP16/BF16 inputs are used with their exact value (not flushed: flushing
  /// mismatches 23% of the subnormal-input dot products on the H100); an FP32 result below
  /// 2^-126 keeps gradual underflow.
  bool keep_subnormal_inputs = true;
  /// Exponent of the smallest normal input (FP16: -14, BF16: -126). A subnormal input's nominal
  /// exponent is this value (exponent field 0 read as emin, significand 0.f): with it the model
  /// matches the H100 on all 262,144 FP16 test dots with subnormal inputs, without it 0.7% differ.
  int input_min_exponent = -14;

  /// Throws attn::Error naming the out-of-range field (group_size 1..64, extra bits -20..20).
  void validate() const;
  /// The H100 FP16/BF16 -> FP32 model used by the emulator.
  static TensorCoreModel h100() { return {}; }
  /// The H100 model for inputs of `dtype` (sets input_min_exponent).
  static TensorCoreModel h100(DType dtype) {
    TensorCoreModel m;
    m.input_min_exponent = format_of(dtype).emin;
    return m;
  }
  /// Hopper's FP8 wgmma (E4M3 inputs, FP32 accumulator) as the probe fits it best, NOT exactly
  /// (kernels/probes/wgmma_probe.cu on an H200, reports/h200/hopper-prefill/: 86.0 % of 1,048,576
  /// E4M3 dot products bit-exact, 90.1 % for E5M2; no model of this family is exact): 32 products
  /// and the accumulator per add, aligned to the largest nominal exponent keeping 24 - 10 = 14
  /// bits, truncated, RZ. The emulator's FP8 products use it (the gap is stated with its results).
  static TensorCoreModel hopper_fp8_e4m3() {
    TensorCoreModel m;
    m.group_size = 32;
    m.extra_alignment_bits = -10;
    m.input_min_exponent = -6;  // E4M3's smallest normal exponent (fp8_min_exponent)
    return m;
  }
  /// A wide-alignment, round-to-nearest variant (20 extra bits, RNE) for comparison experiments.
  static TensorCoreModel wide_nearest() {
    TensorCoreModel m;
    m.extra_alignment_bits = kMaxExtraAlignmentBits;
    m.final_rounding = TcFinalRounding::nearest_even;
    return m;
  }
  /// Limits keep the aligned integer sum below 2^53 (65 terms of < 2^(24+20) each): exact in double.
  static constexpr int kMaxGroupSize = 64;
  static constexpr int kMaxExtraAlignmentBits = 20;
  /// Negative extra bits keep fewer than 24 bits below the alignment reference (an accumulator
  /// narrower than FP32 inside the multi-term add).
  static constexpr int kMinExtraAlignmentBits = -20;
};

/// One multi-term step: c + sum_{t<n} a[t]*b[t] with n <= model.group_size, modelled as the
/// hardware does it, result rounded to FP32 (returned as a double holding an FP32 value).
/// Products are formed exactly in double (exact for FP16/BF16 operands; for wider operands,
/// which only the emulator's mixed "exact stage" modes pass, the product is rounded once in
/// double, ~2^-53, far below the FP32 effects modelled). c may be any double (the emulator's
/// exact-rescale mode passes a non-FP32 accumulator); it is aligned like the products.
inline double tc_group_fma(const double* a, const double* b, int n, double c, const TensorCoreModel& model);

/// Dot product over k elements as consecutive MMA k-steps of model.group_size, each step
/// taking the previous FP32 result as its accumulator: c_{s+1} = step(a[16s..], b[16s..], c_s).
double tc_dot(const double* a, const double* b, int k, double c, const TensorCoreModel& model);

/// Standalone entry point for device validation: a and b are FP16 or BF16 bit patterns (dtype),
/// c is the FP32 accumulator; returns the modelled FP32 result of the k-long MMA chain.
float mma_dot(const uint16_t* a, const uint16_t* b, int k, float c, DType dtype,
              const TensorCoreModel& model = TensorCoreModel::h100());

/// The FP8 formats of Hopper's tensor cores (OCP FP8): E4M3 (bias 7, no infinities, S.1111.111
/// is NaN, max 448) and E5M2 (bias 15, IEEE-style infinities and NaNs).
enum class Fp8Format : uint8_t { e4m3, e5m2 };
/// Exact value of an FP8 bit pattern (subnormals included; NaN as quiet NaN): core/float_format's
/// kE4M3 / kE5M2.
double decode_fp8(uint8_t bits, Fp8Format format);
/// Exponent of the smallest normal FP8 number (E4M3: -6, E5M2: -14): a subnormal's nominal exponent.
inline int fp8_min_exponent(Fp8Format format) { return format == Fp8Format::e4m3 ? -6 : -14; }
/// Like mma_dot for FP8 inputs (both operands of `format`): the modelled FP32 result of the
/// k-long chain of model.group_size-term steps.
float mma_dot_fp8(const uint8_t* a, const uint8_t* b, int k, float c, Fp8Format format, const TensorCoreModel& model);

/// FP32 rounding toward zero of a double (the model's final step; exposed for tests).
inline float round_toward_zero_fp32(double x) {
  float f = static_cast<float>(x);  // RNE; differs from RZ by at most one step away from zero
  if (std::isfinite(x) && std::fabs(static_cast<double>(f)) > std::fabs(x)) f = std::nextafter(f, 0.0f);
  return f;
}

namespace detail {
inline int biased_exponent(double x) {
  uint64_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  return static_cast<int>((bits >> 52) & 0x7ff);
}
inline double power_of_two(int exponent) {  // 2^exponent for a normal double exponent
  const uint64_t bits = static_cast<uint64_t>(exponent + 1023) << 52;
  double x;
  std::memcpy(&x, &bits, sizeof x);
  return x;
}
}  // namespace detail

// Hot path of the emulator (about 10^9 calls for one Shapley attribution), hence inline.
// Equivalent to: terms = {c, a[0]b[0], ..., a[n-1]b[n-1]}; e = max over the nonzero terms of the
// reference exponent (c: its exponent; a*b: e_a + e_b, or the product's leading bit when
// align_to_nominal_product_exponent is off); q = 2^(e - 23 - extra_alignment_bits); each term
// truncated toward zero to a multiple of q; exact sum; one rounding of the sum to FP32.
inline double tc_group_fma(const double* a, const double* b, int n, double c, const TensorCoreModel& model) {
  double terms[TensorCoreModel::kMaxGroupSize + 1];
  terms[0] = c;
  int max_biased = detail::biased_exponent(c);  // biased: 0 means zero (no subnormal doubles arise here)
  bool non_finite = max_biased == 0x7ff;
  const int input_floor_biased = model.input_min_exponent + 1023;  // subnormal inputs: nominal exponent emin
  for (int t = 0; t < n; ++t) {
    terms[t + 1] = a[t] * b[t];  // exact for 16-bit operands (<= 22 significant bits)
    const int product_biased = detail::biased_exponent(terms[t + 1]);
    if (product_biased == 0) continue;  // zero product: no say in the alignment
    if (product_biased == 0x7ff) non_finite = true;
    const int e = model.align_to_nominal_product_exponent
                      ? std::max(detail::biased_exponent(a[t]), input_floor_biased) +
                            std::max(detail::biased_exponent(b[t]), input_floor_biased) - 1023  // e_a + e_b, biased
                      : product_biased;
    max_biased = e > max_biased ? e : max_biased;
  }
  if (non_finite) max_biased = 0x7ff;
  if (max_biased == 0) return static_cast<double>(static_cast<float>(c));  // every term is zero
  if (non_finite) {  // Inf/NaN: IEEE semantics of the plain sum
    double sum = c;
    for (int t = 0; t < n; ++t) sum += terms[t + 1];
    return static_cast<double>(static_cast<float>(sum));
  }
  // Alignment: keep 24 + extra bits below (and including) the largest term's leading bit.
  const int quantum_exponent = (max_biased - 1023) - 23 - model.extra_alignment_bits;
  if (quantum_exponent < -1000 || quantum_exponent > 1000) {  // far outside FP16/BF16/FP32 products
    double sum = c;
    for (int t = 0; t < n; ++t) sum += terms[t + 1];
    return static_cast<double>(static_cast<float>(sum));
  }
  const double to_quanta = detail::power_of_two(-quantum_exponent);
  int64_t sum = 0;
  for (int t = 0; t <= n; ++t) sum += static_cast<int64_t>(terms[t] * to_quanta);  // cast truncates toward zero
  const double exact = static_cast<double>(sum) * detail::power_of_two(quantum_exponent);  // |sum| < 2^53: exact
  if (model.final_rounding == TcFinalRounding::toward_zero) return static_cast<double>(round_toward_zero_fp32(exact));
  return static_cast<double>(static_cast<float>(exact));
}

}  // namespace attn
