// float_format.h: a binary floating-point format as one validated struct (cpfloat style), and
// the dtypes attnscope knows. Rounding to a format and ULPs in a format are defined here once;
// FP16/BF16 storage types (half.h) and the metrics (analysis/) use these definitions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace attn {

/// A binary IEEE-style format: `precision` significant bits including the implicit one,
/// normal exponents in [emin, emax], gradual underflow (subnormals), RNE rounding.
struct FloatFormat {
  int precision;       ///< significant bits, implicit bit included (fp16: 11, bf16: 8, fp32: 24)
  int emin;            ///< exponent of the smallest normal number (fp16: -14)
  int emax;            ///< exponent of the largest finite number (fp16: 15)
  int exponent_bits;   ///< width of the exponent field in the encoding
  const char* name;

  int mantissa_bits() const { return precision - 1; }
  double max_finite() const;       ///< (2 - 2^(1-p)) * 2^emax
  double min_normal() const;       ///< 2^emin
  double min_subnormal() const;    ///< 2^(emin - p + 1)
  void validate() const;           ///< throws attn::Error naming the inconsistent field
};

inline constexpr FloatFormat kFp16{11, -14, 15, 5, "fp16"};
inline constexpr FloatFormat kBf16{8, -126, 127, 8, "bf16"};
inline constexpr FloatFormat kFp32{24, -126, 127, 8, "fp32"};
inline constexpr FloatFormat kFp64{53, -1022, 1023, 11, "fp64"};

/// Element types of inputs and outputs.
enum class DType { fp16, bf16, fp32, fp64 };

const FloatFormat& format_of(DType dtype);
std::string_view dtype_name(DType dtype);
/// Parses "fp16" / "bf16" / "fp32" / "fp64" (also "float16", "bfloat16", "float32", "float64");
/// throws attn::ProblemError listing the allowed values.
DType parse_dtype(std::string_view text);

/// x rounded to the nearest value of `format` (ties to even), with gradual underflow and
/// overflow to +-inf exactly as IEEE 754 rounds: a single rounding from the double x.
/// NaN stays NaN, +-0 and +-inf are returned unchanged.
double round_to_format(double x, const FloatFormat& format);
inline double round_to(DType dtype, double x) { return round_to_format(x, format_of(dtype)); }

/// The unit in the last place of `format` at x: the spacing of format values in the binade
/// of |x| (the subnormal spacing below 2^emin). ulp(0) is the smallest subnormal.
double ulp_of(double x, const FloatFormat& format);

/// Bit encoding of a value already representable in `format` (sign|exponent|mantissa in the low
/// bits; NaN encodes as the canonical quiet NaN). Throws if x is not representable.
uint64_t encode_bits(double x, const FloatFormat& format);
/// Value of a bit pattern of `format` (every pattern, subnormals, infinities and NaN included).
double decode_bits(uint64_t bits, const FloatFormat& format);

}  // namespace attn
