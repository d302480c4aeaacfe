// half.h: host-side FP16 and BF16 scalar types. Storage is the 16-bit pattern; every conversion
// from float/double is one exact round-to-nearest-even (core/float_format.h), never float->half
// through an intermediate. Arithmetic operators compute in double and round once, which is the
// correctly rounded result for + - * / (53 >= 2p + 2 for p = 11 and 8). These types let the
// references run "at FP16/BF16 precision" when templated on them.
#pragma once

#include <cmath>
#include <cstdint>

#include "core/float_format.h"

namespace attn {

template <const FloatFormat& Format>
class Float16Storage {
 public:
  Float16Storage() = default;
  Float16Storage(double x) : bits_(static_cast<uint16_t>(encode_bits(round_to_format(x, Format), Format))) {}  // NOLINT: implicit by design, like a scalar
  static Float16Storage from_bits(uint16_t bits) {
    Float16Storage h;
    h.bits_ = bits;
    return h;
  }
  uint16_t bits() const { return bits_; }
  double to_double() const { return decode_bits(bits_, Format); }
  float to_float() const { return static_cast<float>(to_double()); }
  operator double() const { return to_double(); }  // NOLINT: implicit widening is exact

  friend Float16Storage operator+(Float16Storage a, Float16Storage b) { return a.to_double() + b.to_double(); }
  friend Float16Storage operator-(Float16Storage a, Float16Storage b) { return a.to_double() - b.to_double(); }
  friend Float16Storage operator*(Float16Storage a, Float16Storage b) { return a.to_double() * b.to_double(); }
  friend Float16Storage operator/(Float16Storage a, Float16Storage b) { return a.to_double() / b.to_double(); }
  friend Float16Storage operator-(Float16Storage a) { return -a.to_double(); }
  Float16Storage& operator+=(Float16Storage b) { return *this = *this + b; }
  Float16Storage& operator-=(Float16Storage b) { return *this = *this - b; }
  Float16Storage& operator*=(Float16Storage b) { return *this = *this * b; }
  Float16Storage& operator/=(Float16Storage b) { return *this = *this / b; }
  friend bool operator<(Float16Storage a, Float16Storage b) { return a.to_double() < b.to_double(); }
  friend bool operator>(Float16Storage a, Float16Storage b) { return a.to_double() > b.to_double(); }
  friend bool operator==(Float16Storage a, Float16Storage b) { return a.to_double() == b.to_double(); }

 private:
  uint16_t bits_ = 0;
};

using Half = Float16Storage<kFp16>;
using BFloat16 = Float16Storage<kBf16>;

// Elementary functions at 16-bit precision: evaluate in double, round once. exp/log in double
// are within 1 ulp of double, far below the 16-bit quantum, so the result is the correctly
// rounded 16-bit value except for astronomically rare near-ties.
template <const FloatFormat& F> Float16Storage<F> exp(Float16Storage<F> x) { return std::exp(x.to_double()); }
template <const FloatFormat& F> Float16Storage<F> log(Float16Storage<F> x) { return std::log(x.to_double()); }
template <const FloatFormat& F> Float16Storage<F> sqrt(Float16Storage<F> x) { return std::sqrt(x.to_double()); }
template <const FloatFormat& F> Float16Storage<F> abs(Float16Storage<F> x) { return std::fabs(x.to_double()); }
template <const FloatFormat& F> bool isfinite(Float16Storage<F> x) { return std::isfinite(x.to_double()); }

}  // namespace attn
