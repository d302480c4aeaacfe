// reference_test_util.h: helpers of the references tests — problem builders and bit-exact
// comparison of the templated references' scalar types (double, float, Half, BFloat16, mpfr).
#pragma once

#include <bit>
#include <boost/multiprecision/mpfr.hpp>
#include <cstdint>
#include <cstring>

#include "core/half.h"
#include "core/problem.h"
#include "core/tensor.h"

namespace attn::test {

inline uint64_t bits_of(double x) { return std::bit_cast<uint64_t>(x); }
inline uint64_t bits_of(float x) { return std::bit_cast<uint32_t>(x); }
inline uint64_t bits_of(Half x) { return x.bits(); }
inline uint64_t bits_of(BFloat16 x) { return x.bits(); }

/// Bit equality (NaN payloads included, +0 != -0): the "bit for bit" of the tests.
template <class T>
bool same_bits(const T& a, const T& b) {
  if constexpr (std::is_same_v<T, boost::multiprecision::mpfr_float>) {
    if (isinf(a) || isinf(b)) return isinf(a) && isinf(b) && signbit(a) == signbit(b);
    return a == b && signbit(a) == signbit(b);  // mpfr: equal values at equal precision
  } else {
    return bits_of(a) == bits_of(b);
  }
}

/// Number of elements that differ in their bits (0 means bit-identical).
template <class T>
int64_t count_bit_differences(const Tensor<T>& a, const Tensor<T>& b) {
  if (a.shape() != b.shape()) return -1;
  int64_t differ = 0;
  for (int64_t n = 0; n < a.numel(); ++n) differ += same_bits(a.flat(n), b.flat(n)) ? 0 : 1;
  return differ;
}

inline Problem make_problem(int64_t batch, int64_t sq, int64_t sk, int64_t hq, int64_t hkv, int64_t d,
                            Mask mask = {}, DType dtype = DType::fp16) {
  Problem p;
  p.batch = batch;
  p.seqlen_q = sq;
  p.seqlen_k = sk;
  p.num_heads_q = hq;
  p.num_heads_kv = hkv;
  p.head_dim = d;
  p.mask = mask;
  p.dtype = dtype;
  return p;
}

}  // namespace attn::test
