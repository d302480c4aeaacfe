// float_format.h: a binary floating-point format as one validated struct (cpfloat style), and
// the dtypes attnscope knows. Rounding to a format and ULPs in a format are defined here once;
// FP16/BF16 storage types (half.h) and the metrics (analysis/) use these definitions.
// The OCP 8-bit formats (E4M3 "fn": no infinity, one NaN per sign; E5M2: IEEE-like) are formats
// here too, with the non-saturating (OCP) and the saturating (PTX `cvt.rn.satfinite`) casts.
// What it is not: a dtype of tensors or files (DType lists those; FP8 is not one of them yet).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace attn {

/// How the all-ones exponent field is used.
enum class SpecialValues {
  ieee,             ///< all-ones exponent: infinity (mantissa 0) or NaN (fp16, bf16, fp32, e5m2)
  finite_nan_only,  ///< all-ones exponent holds normal numbers; only S.1..1.1..1 is NaN; no infinity (OCP e4m3)
};

/// A binary IEEE-style format: `precision` significant bits including the implicit one,
/// normal exponents in [emin, emax], gradual underflow (subnormals), RNE rounding.
struct FloatFormat {
  int precision;       ///< significant bits, implicit bit included (fp16: 11, bf16: 8, fp32: 24)
  int emin;            ///< exponent of the smallest normal number (fp16: -14)
  int emax;            ///< exponent of the largest finite number (fp16: 15)
  int exponent_bits;   ///< width of the exponent field in the encoding
  const char* name;
  SpecialValues specials = SpecialValues::ieee;

  int mantissa_bits() const { return precision - 1; }
  int bias() const { return (1 << (exponent_bits - 1)) - 1; }  ///< exponent field bias
  bool has_infinity() const { return specials == SpecialValues::ieee; }
  double max_finite() const;       ///< (2 - 2^(1-p)) * 2^emax; finite_nan_only: (2 - 2^(2-p)) * 2^emax
  double min_normal() const;       ///< 2^emin
  double min_subnormal() const;    ///< 2^(emin - p + 1)
  void validate() const;           ///< throws attn::Error naming the inconsistent field
};

inline constexpr FloatFormat kFp16{11, -14, 15, 5, "fp16"};
inline constexpr FloatFormat kBf16{8, -126, 127, 8, "bf16"};
inline constexpr FloatFormat kFp32{24, -126, 127, 8, "fp32"};
inline constexpr FloatFormat kFp64{53, -1022, 1023, 11, "fp64"};
/// OCP FP8 E4M3: bias 7, exponent field 1111 is a normal binade (2^8), max 448 = S.1111.110,
/// NaN = S.1111.111, no infinity, min subnormal 2^-9.
inline constexpr FloatFormat kE4M3{4, -6, 8, 4, "e4m3", SpecialValues::finite_nan_only};
/// OCP FP8 E5M2: IEEE-like (bias 15, infinities, NaNs), max 57344, min subnormal 2^-16.
inline constexpr FloatFormat kE5M2{3, -14, 15, 5, "e5m2"};

/// Element types of inputs and outputs.
enum class DType { fp16, bf16, fp32, fp64 };

const FloatFormat& format_of(DType dtype);
std::string_view dtype_name(DType dtype);
/// Parses "fp16" / "bf16" / "fp32" / "fp64" (also "float16", "bfloat16", "float32", "float64");
/// throws attn::ProblemError listing the allowed values.
DType parse_dtype(std::string_view text);

/// Parses a format name ("fp64", "fp32", "bf16", "fp16", "e5m2", "e4m3", and the dtype aliases
/// parse_dtype accepts, "float8_e4m3fn", "float8_e5m2"); throws attn::ProblemError listing them.
const FloatFormat& parse_float_format(std::string_view text);

/// x rounded to the nearest value of `format` (ties to even), with gradual underflow and
/// overflow to +-inf exactly as IEEE 754 rounds: a single rounding from the double x.
/// NaN stays NaN, +-0 and +-inf are returned unchanged.
/// A format without infinity (e4m3) overflows to NaN instead, and +-inf becomes NaN: the OCP
/// non-saturating conversion (CUDA's __NV_NOSAT). Overflow is decided after rounding, so for
/// e4m3 |x| <= 464 (the tie between 448 and the unrepresentable 480, even mantissa) gives 448.
double round_to_format(double x, const FloatFormat& format);
/// The saturating cast (PTX `cvt.rn.satfinite`, CUDA's __NV_SATFINITE): RNE as above, but a
/// result beyond the largest finite value, and +-inf, become +-max_finite; NaN stays NaN.
double round_to_format_satfinite(double x, const FloatFormat& format);
inline double round_to(DType dtype, double x) { return round_to_format(x, format_of(dtype)); }

/// The unit in the last place of `format` at x: the spacing of format values in the binade
/// of |x| (the subnormal spacing below 2^emin). ulp(0) is the smallest subnormal.
double ulp_of(double x, const FloatFormat& format);

/// Bit encoding of a value already representable in `format` (sign|exponent|mantissa in the low
/// bits; NaN encodes as the canonical quiet NaN, S.1..1.10..0, or S.1..1.1..1 for e4m3).
/// Throws if x is not representable (infinity included, for a format without one).
uint64_t encode_bits(double x, const FloatFormat& format);
/// Value of a bit pattern of `format` (every pattern, subnormals, infinities and NaN included).
double decode_bits(uint64_t bits, const FloatFormat& format);

}  // namespace attn
