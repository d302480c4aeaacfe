// fp8_kv.cpp: the host side of the FP8 KV cache (fp8_kv.h): scales, the exact E4M3 rounding of
// core/float_format.h, the dequantized cache.
#include "kernels/cache/fp8_kv.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/errors.h"
#include "core/float_format.h"

namespace attn {

namespace {
constexpr double kE4M3Max = 448.0;
constexpr int kE4M3MinSubnormalExponent = -9;  // 2^-9
}  // namespace

Fp8ScaleRange fp8_scale_range(DType dtype) {
  if (dtype != DType::fp16 && dtype != DType::bf16)
    throw ProblemError("FP8 KV cache: the dequantized cache must be FP16 or BF16, not " + std::string(dtype_name(dtype)));
  const FloatFormat& f = format_of(dtype);
  const int min_subnormal_exponent = f.emin - f.precision + 1;  // fp16: -24
  // 448 = 1.75 * 2^8: 448 * 2^e <= max_finite = (2 - 2^(1-p)) 2^emax needs e <= emax - 8 (fp16: 7).
  return {min_subnormal_exponent - kE4M3MinSubnormalExponent, f.emax - 8};
}

Fp8KvScales fp8_kv_scales(const Problem& problem, const AttentionInputs& inputs) {
  const Fp8ScaleRange range = fp8_scale_range(problem.dtype);
  const int64_t H = problem.num_heads_kv, D = problem.head_dim;
  std::vector<double> amax_k(static_cast<size_t>(H), 0.0), amax_v(static_cast<size_t>(H), 0.0);
  for (int64_t b = 0; b < problem.batch; ++b)
    for (int64_t j = 0; j < problem.keys_in_batch(b); ++j)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t d = 0; d < D; ++d) {
          const double k = inputs.k(b, j, h, d), v = inputs.v(b, j, h, d);
          if (!std::isfinite(k) || !std::isfinite(v))
            throw ProblemError("FP8 KV cache: K/V value at entry " + std::to_string(b) + ", key " + std::to_string(j) +
                               " is not finite");
          amax_k[static_cast<size_t>(h)] = std::max(amax_k[static_cast<size_t>(h)], std::fabs(k));
          amax_v[static_cast<size_t>(h)] = std::max(amax_v[static_cast<size_t>(h)], std::fabs(v));
        }
  auto scale_of = [&](double amax) {
    int e = range.min_exponent;
    if (amax > 0) e = std::clamp(static_cast<int>(std::ceil(std::log2(amax / kE4M3Max))), range.min_exponent, range.max_exponent);
    return static_cast<float>(std::ldexp(1.0, e));
  };
  Fp8KvScales s;
  for (int64_t h = 0; h < H; ++h) {
    s.k.push_back(scale_of(amax_k[static_cast<size_t>(h)]));
    s.v.push_back(scale_of(amax_v[static_cast<size_t>(h)]));
  }
  return s;
}

uint8_t quantize_e4m3(double x, float scale) {
  return static_cast<uint8_t>(encode_bits(round_to_format_satfinite(x / static_cast<double>(scale), kE4M3), kE4M3));
}

double dequantize_e4m3(uint8_t bits, float scale) { return decode_bits(bits, kE4M3) * static_cast<double>(scale); }

AttentionInputs dequantized_kv(const Problem& problem, const AttentionInputs& inputs, const Fp8KvScales& scales) {
  AttentionInputs out = inputs;
  for (int64_t b = 0; b < problem.batch; ++b)
    for (int64_t j = 0; j < problem.seqlen_k; ++j)
      for (int64_t h = 0; h < problem.num_heads_kv; ++h) {
        const float ks = scales.k[static_cast<size_t>(h)], vs = scales.v[static_cast<size_t>(h)];
        for (int64_t d = 0; d < problem.head_dim; ++d) {
          out.k(b, j, h, d) = dequantize_e4m3(quantize_e4m3(inputs.k(b, j, h, d), ks), ks);
          out.v(b, j, h, d) = dequantize_e4m3(quantize_e4m3(inputs.v(b, j, h, d), vs), vs);
        }
      }
  return out;
}

}  // namespace attn
