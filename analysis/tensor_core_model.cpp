// tensor_core_model.cpp: validation of the model parameters and the bit-pattern entry points
// (the per-step arithmetic is inline in the header: it is the emulator's hot loop).
#include "analysis/tensor_core_model.h"

#include <cmath>
#include <string>
#include <vector>

#include "core/errors.h"

namespace attn {

void TensorCoreModel::validate() const {
  if (group_size < 1 || group_size > kMaxGroupSize)
    throw Error("TensorCoreModel.group_size = " + std::to_string(group_size) + " (allowed 1.." +
                std::to_string(kMaxGroupSize) + ")");
  if (extra_alignment_bits < kMinExtraAlignmentBits || extra_alignment_bits > kMaxExtraAlignmentBits)
    throw Error("TensorCoreModel.extra_alignment_bits = " + std::to_string(extra_alignment_bits) + " (allowed " +
                std::to_string(kMinExtraAlignmentBits) + ".." + std::to_string(kMaxExtraAlignmentBits) + ")");
}

double tc_dot(const double* a, const double* b, int k, double c, const TensorCoreModel& model) {
  // One MMA k-step per group; the FP32 result of a step is the next step's accumulator.
  for (int start = 0; start < k; start += model.group_size) {
    const int n = k - start < model.group_size ? k - start : model.group_size;
    c = tc_group_fma(a + start, b + start, n, c, model);
  }
  return c;
}

float mma_dot(const uint16_t* a, const uint16_t* b, int k, float c, DType dtype, const TensorCoreModel& model) {
  if (dtype != DType::fp16 && dtype != DType::bf16)
    throw Error("mma_dot: dtype must be fp16 or bf16, got " + std::string(dtype_name(dtype)));
  if (k < 0) throw Error("mma_dot: k = " + std::to_string(k) + " is negative");
  model.validate();
  const FloatFormat& format = format_of(dtype);
  TensorCoreModel model_for_dtype = model;
  model_for_dtype.input_min_exponent = format.emin;  // the subnormal rule follows the input format
  std::vector<double> a_values(static_cast<size_t>(k)), b_values(static_cast<size_t>(k));
  for (int t = 0; t < k; ++t) {
    a_values[static_cast<size_t>(t)] = decode_bits(a[t], format);
    b_values[static_cast<size_t>(t)] = decode_bits(b[t], format);
    if (!model.keep_subnormal_inputs) {  // flush-to-zero variant of the model
      if (std::fabs(a_values[static_cast<size_t>(t)]) < format.min_normal()) a_values[static_cast<size_t>(t)] = 0;
      if (std::fabs(b_values[static_cast<size_t>(t)]) < format.min_normal()) b_values[static_cast<size_t>(t)] = 0;
    }
  }
  return static_cast<float>(tc_dot(a_values.data(), b_values.data(), k, static_cast<double>(c), model_for_dtype));
}

double decode_fp8(uint8_t bits, Fp8Format format) {
  return decode_bits(bits, format == Fp8Format::e4m3 ? kE4M3 : kE5M2);  // core/float_format.h (OCP FP8)
}

float mma_dot_fp8(const uint8_t* a, const uint8_t* b, int k, float c, Fp8Format format, const TensorCoreModel& model) {
  if (k < 0) throw Error("mma_dot_fp8: k = " + std::to_string(k) + " is negative");
  model.validate();
  TensorCoreModel model_for_format = model;
  model_for_format.input_min_exponent = fp8_min_exponent(format);
  std::vector<double> a_values(static_cast<size_t>(k)), b_values(static_cast<size_t>(k));
  for (int t = 0; t < k; ++t) {
    a_values[static_cast<size_t>(t)] = decode_fp8(a[t], format);
    b_values[static_cast<size_t>(t)] = decode_fp8(b[t], format);
  }
  return static_cast<float>(tc_dot(a_values.data(), b_values.data(), k, static_cast<double>(c), model_for_format));
}

}  // namespace attn
