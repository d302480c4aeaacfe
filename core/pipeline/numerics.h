// numerics.h: the constants and the one host-side conversion every stage of the pipeline shares
// (log2 e, ln 2, -inf, softmax_scale -> scale_log2), host-device. One definition: no file
// redefines them. What it is not: the arithmetic of a stage (core/pipeline/arithmetic.h) nor
// the problem's meaning (core/pipeline/semantics.h).
#pragma once

#include "core/hd.h"

namespace attn::pipeline {

inline constexpr double kLog2e = 1.4426950408889634074;   ///< log2(e), nearest double
inline constexpr double kLn2 = 0.6931471805599453094;     ///< ln(2), nearest double
inline constexpr float kLog2eF = 1.4426950408889634f;     ///< log2(e) rounded to FP32 (RNE)
inline constexpr float kLn2F = 0.693147180559945309f;     ///< ln(2) rounded to FP32 (RNE)
/// -inf: the score of a masked key, the running max of a row that has seen no key, the LSE of
/// a fully masked row. __builtin_inf is constexpr in GCC, Clang and nvcc alike.
inline constexpr double kNegInf = -__builtin_inf();
inline constexpr float kNegInfF = -__builtin_inff();

/// softmax_scale * log2(e) evaluated in double and rounded once to FP32: the factor the FA2
/// kernels fold into the exponent (exp(x * scale) = exp2(x * scale_log2)). Contract step 0.
ATTN_HD float scale_log2(double softmax_scale) { return static_cast<float>(softmax_scale * kLog2e); }

/// -inf of the value type V (float on the GPU, double in the emulator).
template <class V>
ATTN_HD constexpr V neg_inf() {
  return static_cast<V>(-__builtin_inf());
}

}  // namespace attn::pipeline
