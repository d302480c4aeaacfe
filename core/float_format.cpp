#include "core/float_format.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <string>

#include "core/errors.h"

namespace attn {

namespace {

/// 2^e for e in double's normal exponent range [-1022, 1023], built from its bits (exact, no libm).
double power_of_two(int e) {
  const uint64_t bits = static_cast<uint64_t>(e + 1023) << 52;
  double d;
  std::memcpy(&d, &bits, sizeof d);
  return d;
}

/// Exponent of the leading bit of a finite nonzero double (|x| in [2^e, 2^(e+1))).
int leading_exponent(double x) {
  uint64_t bits;
  std::memcpy(&bits, &x, sizeof bits);
  const int biased = static_cast<int>((bits >> 52) & 0x7FF);
  if (biased != 0) return biased - 1023;
  int e = 0;
  std::frexp(x, &e);  // a subnormal double: |x| = m * 2^e, m in [0.5, 1)
  return e - 1;
}

}  // namespace

double FloatFormat::max_finite() const {
  // finite_nan_only: the top binade's all-ones mantissa is the NaN, so its largest value is one
  // quantum below the IEEE maximum.
  const int reserved = specials == SpecialValues::finite_nan_only ? 1 : 0;
  return (2.0 - (1.0 + reserved) * power_of_two(1 - precision)) * power_of_two(emax);
}
double FloatFormat::min_normal() const { return std::ldexp(1.0, emin); }
double FloatFormat::min_subnormal() const { return std::ldexp(1.0, emin - precision + 1); }

void FloatFormat::validate() const {
  if (precision < 2 || precision > 53)
    throw Error(std::string("FloatFormat ") + name + ": precision must be in [2, 53]");
  if (emin >= emax) throw Error(std::string("FloatFormat ") + name + ": emin must be < emax");
  if (emin < -1022 || emax > 1023)
    throw Error(std::string("FloatFormat ") + name + ": exponent range exceeds double's");
  if (exponent_bits < 2 || exponent_bits > 11)
    throw Error(std::string("FloatFormat ") + name + ": exponent_bits must be in [2, 11]");
  // IEEE reserves the all-ones exponent field; finite_nan_only uses it as one more binade.
  const int top_binade = bias() + (specials == SpecialValues::finite_nan_only ? 1 : 0);
  if (emax != top_binade || emin != 1 - bias())
    throw Error(std::string("FloatFormat ") + name + ": exponent_bits inconsistent with emin/emax");
}

const FloatFormat& format_of(DType dtype) {
  switch (dtype) {
    case DType::fp16: return kFp16;
    case DType::bf16: return kBf16;
    case DType::fp32: return kFp32;
    case DType::fp64: return kFp64;
  }
  throw Error("format_of: unknown dtype");
}

std::string_view dtype_name(DType dtype) { return format_of(dtype).name; }

DType parse_dtype(std::string_view text) {
  if (text == "fp16" || text == "float16" || text == "half") return DType::fp16;
  if (text == "bf16" || text == "bfloat16") return DType::bf16;
  if (text == "fp32" || text == "float32" || text == "float") return DType::fp32;
  if (text == "fp64" || text == "float64" || text == "double") return DType::fp64;
  throw ProblemError("unknown dtype '" + std::string(text) + "' (allowed: fp16, bf16, fp32, fp64)");
}

const FloatFormat& parse_float_format(std::string_view text) {
  if (text == "e4m3" || text == "fp8_e4m3" || text == "float8_e4m3fn") return kE4M3;
  if (text == "e5m2" || text == "fp8_e5m2" || text == "float8_e5m2") return kE5M2;
  try {
    return format_of(parse_dtype(text));
  } catch (const ProblemError&) {
    throw ProblemError("unknown float format '" + std::string(text) +
                       "' (allowed: fp64, fp32, bf16, fp16, e5m2, e4m3)");
  }
}

namespace {

/// What a non-saturating cast gives for a value beyond the format's range: +-inf, or NaN in a
/// format that has no infinity (OCP e4m3).
double overflow_value(double x, const FloatFormat& f) {
  if (f.has_infinity()) return std::copysign(std::numeric_limits<double>::infinity(), x);
  return std::copysign(std::numeric_limits<double>::quiet_NaN(), x);
}

}  // namespace

double round_to_format(double x, const FloatFormat& f) {
  if (std::isinf(x)) return overflow_value(x, f);
  if (std::isnan(x) || x == 0.0) return x;
  int exponent = leading_exponent(x);
  if (exponent < f.emin) exponent = f.emin;           // subnormal range: fixed quantum
  const int quantum_exponent = exponent - (f.precision - 1);
  // Scaling by a power of two is exact here (|x| / quantum < 2^p: no overflow, and a scaling up
  // never drops bits), so nearbyint (ties-to-even under the default rounding mode) performs the
  // one and only rounding. Quanta outside double's normal powers (fp64's subnormals) take ldexp.
  double rounded;
  if (quantum_exponent >= -1022 && quantum_exponent <= 1022)
    rounded = std::nearbyint(x * power_of_two(-quantum_exponent)) * power_of_two(quantum_exponent);
  else
    rounded = std::ldexp(std::nearbyint(std::ldexp(x, -quantum_exponent)), quantum_exponent);
  if (std::fabs(rounded) > f.max_finite()) return overflow_value(x, f);
  return rounded;
}

double round_to_format_satfinite(double x, const FloatFormat& f) {
  if (std::isnan(x)) return x;
  const double rounded = std::isinf(x) ? x : round_to_format(x, f);
  // Overflow (to inf, or to NaN in a format without infinity) clamps to the largest finite value.
  if (std::isinf(rounded) || std::isnan(rounded)) return std::copysign(f.max_finite(), x);
  return rounded;
}

double ulp_of(double x, const FloatFormat& f) {
  if (!std::isfinite(x)) return std::numeric_limits<double>::quiet_NaN();
  if (x == 0.0) return f.min_subnormal();
  int e = 0;
  std::frexp(x, &e);
  int exponent = e - 1;
  if (exponent < f.emin) exponent = f.emin;
  if (exponent > f.emax) exponent = f.emax;   // beyond the largest binade: its ulp
  return std::ldexp(1.0, exponent - (f.precision - 1));
}

uint64_t encode_bits(double x, const FloatFormat& f) {
  const int mbits = f.mantissa_bits();
  const uint64_t exp_all_ones = (uint64_t{1} << f.exponent_bits) - 1;
  const uint64_t mantissa_all_ones = (uint64_t{1} << mbits) - 1;
  const uint64_t sign = std::signbit(x) ? uint64_t{1} << (f.exponent_bits + mbits) : 0;
  if (std::isnan(x)) {
    if (!f.has_infinity()) return (exp_all_ones << mbits) | mantissa_all_ones;  // the one NaN: S.1..1.1..1
    return (exp_all_ones << mbits) | (uint64_t{1} << (mbits - 1));
  }
  if (std::isinf(x)) {
    if (!f.has_infinity()) throw Error(std::string("encode_bits: ") + f.name + " has no infinity");
    return sign | (exp_all_ones << mbits);
  }
  if (round_to_format(x, f) != x)
    throw Error(std::string("encode_bits: value not representable in ") + f.name);
  const double a = std::fabs(x);
  if (a == 0.0) return sign;
  int e = 0;
  std::frexp(a, &e);
  const int exponent = e - 1;
  if (exponent < f.emin) {  // subnormal: mantissa = a / min_subnormal
    const uint64_t m = static_cast<uint64_t>(std::ldexp(a, -(f.emin - mbits)));
    return sign | m;
  }
  const uint64_t biased = static_cast<uint64_t>(exponent + f.bias());
  const uint64_t m = static_cast<uint64_t>(std::ldexp(a, mbits - exponent)) - (uint64_t{1} << mbits);
  return sign | (biased << mbits) | m;
}

double decode_bits(uint64_t bits, const FloatFormat& f) {
  const int mbits = f.mantissa_bits();
  const uint64_t exp_all_ones = (uint64_t{1} << f.exponent_bits) - 1;
  const bool negative = (bits >> (f.exponent_bits + mbits)) & 1;
  const uint64_t biased = (bits >> mbits) & exp_all_ones;
  const uint64_t m = bits & ((uint64_t{1} << mbits) - 1);
  const uint64_t mantissa_all_ones = (uint64_t{1} << mbits) - 1;
  double value;
  if (biased == exp_all_ones && f.has_infinity()) {
    value = m ? std::numeric_limits<double>::quiet_NaN() : std::numeric_limits<double>::infinity();
  } else if (biased == exp_all_ones && m == mantissa_all_ones) {  // finite_nan_only: the NaN
    value = std::numeric_limits<double>::quiet_NaN();
  } else if (biased == 0) {
    value = std::ldexp(static_cast<double>(m), f.emin - mbits);
  } else {
    value = std::ldexp(static_cast<double>(m + (uint64_t{1} << mbits)),
                       static_cast<int>(biased) - f.bias() - mbits);
  }
  return negative ? -value : value;
}

}  // namespace attn
