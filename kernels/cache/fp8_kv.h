// fp8_kv.h: the FP8 (OCP E4M3) KV cache on the host: per-KV-head power-of-two scales, the exact
// quantization the append kernel performs (x * 2^-e rounded to E4M3, nearest even, saturating at
// +-448: PTX cvt.rn.satfinite.e4m3x2.f32), and the dequantized cache the FP8 kernels effectively
// read. Power-of-two scales (one exponent per head, as MX formats share one) make every dequantized
// value exactly representable in FP16/BF16 and make the kernels' roundings commute with the
// scale, so the FP8 path computes exactly what the FP16/BF16 path computes on the dequantized
// cache: its error splits cleanly into the quantization error (truth of the unquantized cache vs
// truth of the dequantized one) and the kernel's own (vs the truth of the dequantized cache).
// Plain C++ (the decode kernels' FP8 side: kernels/decode/decode_mma.cuh, decode_bulk.cuh, append.cu). Not a
// tensor dtype (core/float_format.h: FP8 is a format, not a DType).
#pragma once

#include <cstdint>
#include <vector>

#include "core/generators.h"
#include "core/problem.h"

namespace attn {

/// Per KV head: the scales (powers of two) of K and V; the stored byte q means q_value * scale.
struct Fp8KvScales {
  std::vector<float> k, v;  ///< [H_kv]
};

/// Exponent range of a scale for `dtype` so that every E4M3 value times 2^e is a finite value of
/// the dtype: 2^-9 * 2^e >= its smallest subnormal and 448 * 2^e <= its largest finite value.
struct Fp8ScaleRange {
  int min_exponent, max_exponent;
};
Fp8ScaleRange fp8_scale_range(DType dtype);

/// Scales from the data (calibration over every valid key of every entry): per head,
/// 2^ceil(log2(amax / 448)) clamped to fp8_scale_range (amax 0: the smallest). Throws
/// ProblemError for a dtype other than FP16/BF16 or non-finite inputs.
Fp8KvScales fp8_kv_scales(const Problem& problem, const AttentionInputs& inputs);

/// E4M3 bits of x / scale (exact: scale is a power of two), rounded to nearest even, saturating.
uint8_t quantize_e4m3(double x, float scale);
/// The value of E4M3 bits times scale.
double dequantize_e4m3(uint8_t bits, float scale);

/// `inputs` with every K and V value replaced by dequantize(quantize(.)): the cache the FP8
/// kernels read (Q unchanged). Its values are exact in problem.dtype.
AttentionInputs dequantized_kv(const Problem& problem, const AttentionInputs& inputs, const Fp8KvScales& scales);

}  // namespace attn
