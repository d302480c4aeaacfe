// register_reference_kernels.cpp: the references that sweeps run like kernels — the naive
// same-precision baselines of the FlashAttention test rule. Sweeps look the baseline up as
// "naive-" + dtype name, so every input dtype that has a baseline gets one under that name.
//   naive-fp16  naive_baseline.h at FP16 (valid for --dtype fp16 only)
//   naive-bf16  naive_baseline.h at BF16 (valid for --dtype bf16 only)
//   naive-fp32  full_attention<float>: the plain reference in FP32, output FP32. Valid for fp16,
//               bf16 and fp32 inputs (all exactly representable in FP32, so it sees the same
//               values as the truth); not for fp64 inputs, which it would round.
#include "references/register_reference_kernels.h"

#include <optional>
#include <string>

#include "references/full_attention.h"
#include "references/naive_baseline.h"

namespace attn {
namespace {

Kernel naive_half_kernel(DType dtype) {
  const std::string name = "naive-" + std::string(dtype_name(dtype));
  Kernel kernel;
  kernel.info.name = name;
  kernel.info.family = "reference";
  kernel.info.dtype = dtype;  // runs this dtype only
  kernel.info.description = "same-precision naive baseline (FlashAttention attention_ref without upcast), " +
                            std::string(dtype_name(dtype));
  kernel.info.traits = {{"dtype", std::string(dtype_name(dtype))},
                        {"out_dtype", std::string(dtype_name(dtype))},
                        {"scores", "fp32 fma accumulation, rounded to " + std::string(dtype_name(dtype))},
                        {"scale", "applied to q, rounded to " + std::string(dtype_name(dtype))},
                        {"softmax", "fp32 two-pass, P rounded to " + std::string(dtype_name(dtype))},
                        {"pv", "fp32 fma accumulation, rounded to " + std::string(dtype_name(dtype))},
                        {"order", "ascending key index"}};
  kernel.invalid_reason = [dtype, name](const Problem& problem) -> std::optional<std::string> {
    if (problem.dtype != dtype) return name + " needs --dtype " + std::string(dtype_name(dtype));
    return std::nullopt;
  };
  kernel.run = [](const Problem& problem, const AttentionInputs& inputs) {
    return naive_same_precision_attention(problem, inputs);
  };
  return kernel;
}

Kernel naive_fp32_kernel() {
  Kernel kernel;
  kernel.info.name = "naive-fp32";
  kernel.info.family = "reference";
  kernel.info.description = "plain two-pass reference in FP32 (ascending order), output fp32";
  kernel.info.traits = {{"dtype", "fp16,bf16,fp32"},
                        {"out_dtype", "fp32"},
                        {"scores", "fp32 sequential dot, scale after the dot"},
                        {"softmax", "fp32 two-pass, materialized scores"},
                        {"pv", "fp32 sequential accumulation, final division"},
                        {"order", "ascending key index"}};
  kernel.invalid_reason = [](const Problem& problem) -> std::optional<std::string> {
    if (problem.dtype == DType::fp64)
      return std::string("naive-fp32 needs inputs representable in fp32 (--dtype fp16, bf16 or fp32)");
    return std::nullopt;
  };
  kernel.run = [](const Problem& problem, const AttentionInputs& inputs) {
    return to_outputs(full_attention<float>(problem, inputs), DType::fp32);
  };
  return kernel;
}

}  // namespace

void register_reference_kernels(Registry& registry) {
  registry.add(naive_half_kernel(DType::fp16));
  registry.add(naive_half_kernel(DType::bf16));
  registry.add(naive_fp32_kernel());
}

}  // namespace attn
