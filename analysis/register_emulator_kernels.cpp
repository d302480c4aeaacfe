// register_emulator_kernels.cpp: the CPU emulator configurations (what the main job runs when no
// GPU is present) and one emulator mutant per planted bug, as registry kernels — of the FA2
// forward (path full) and of the KV-cache decode kernels (path decode, analysis/decode_emulator.h);
// the list is kernels/variants.toml's (emulator_variants()).
#include "analysis/register_emulator_kernels.h"

#include "analysis/emulator.h"

namespace attn {
namespace {

Kernel make_emulator_kernel(const EmulatorVariant& v) {
  const DType dtype = v.dtype;
  const AlgorithmConfig& algorithm = v.algorithm;
  const bool decode = algorithm.numerics == KernelNumerics::flash_decoding;
  const std::string dt(dtype_name(dtype));
  Kernel kernel;
  kernel.info.name = v.name;
  kernel.info.family = algorithm.mutant == Mutant::none ? "emulator" : "mutant";
  const std::string what = decode ? "the KV-cache decode kernels" : "the FA2 forward";
  kernel.info.description =
      algorithm.mutant == Mutant::none
          ? "CPU emulator of " + what + " (" + dt + ", " + algorithm.describe() + "), every stage as the kernel does it"
          : "emulator of " + what + " with a planted bug (" + std::string(mutant_category(algorithm.mutant)) +
                "): " + algorithm.describe();
  kernel.info.needs_gpu = false;
  kernel.info.planted_bug = mutant_category(algorithm.mutant);
  kernel.info.design = "emu";
  kernel.info.dtype = dtype;
  kernel.info.head_dim = 0;  // any
  kernel.info.path = decode ? KernelPath::decode : KernelPath::full;
  kernel.info.mutant = algorithm.mutant;
  kernel.info.is_default = v.is_default;
  kernel.info.algorithm = algorithm;
  if (decode) {
    const DecodeConfig& c = algorithm.decode;
    kernel.info.traits = {
        {"dtype", dt},
        {"block_n", std::to_string(algorithm.tiles.block_n)},
        {"split", c.plan == SplitPlanKind::fixed_keys ? "fixed:" + std::to_string(c.split_keys)
                                                      : "count:" + std::to_string(algorithm.tiles.num_splits)},
        {"batch_invariant", c.plan == SplitPlanKind::fixed_keys ? "true" : "false"},
        {"qk", c.qk == DecodeQk::mma ? "mma.sync m16n8k16 (H100 tensor-core model), FP32 accumulate"
                                     : "two FP32 fma chains over the halves of D"},
        {"exp", "exp_fp32 / log_fp32 (core/pipeline/fp32_elementary.h), natural-log LSE"},
        {"p_cast", "none (P stays FP32)"},
        {"precision_policy", "all stages kernel"},
        {"mutant", mutant_name(algorithm.mutant)},
        {"config", algorithm.describe()}};
  } else {
    kernel.info.traits = {{"dtype", dt},
                          {"block_m", std::to_string(algorithm.tiles.block_m)},
                          {"block_n", std::to_string(algorithm.tiles.block_n)},
                          {"num_splits", std::to_string(algorithm.tiles.num_splits)},
                          {"order", "forward"},
                          {"p_cast", algorithm.p_cast == PCastMode::split_hi_lo ? "split_hi_lo" : "input_dtype"},
                          {"exp", "exp2 folded scale, ex2 modelled as correctly rounded exp2f (ftz)"},
                          {"mma", "H100 model: 16 products + acc aligned to the nominal exponent, 2 extra bits, truncation, RZ"},
                          {"precision_policy", "all stages kernel"},
                          {"mutant", mutant_name(algorithm.mutant)},
                          {"config", algorithm.describe()}};
    if (algorithm.fp8.enabled()) {  // the fa3 E4M3 variants' pipeline (core/pipeline/fp8.h); same keys as the GPU's
      kernel.info.traits["fp8_scaling"] = algorithm.fp8.scaling == Fp8Scaling::per_tensor ? "per_tensor" : "per_block";
      kernel.info.traits["fp8_rotate"] = algorithm.fp8.rotate ? "true" : "false";
      kernel.info.traits["p_cast"] = "e4m3 (P scaled by 256, satfinite)";
      kernel.info.traits["mma"] = "Hopper FP8 wgmma best fit: 32 products + acc, 14 bits, truncation, RZ (not bit-exact)";
    }
  }
  kernel.invalid_reason = [dtype, algorithm](const Problem& problem) -> std::optional<std::string> {
    if (problem.dtype != dtype)
      return "registered for " + std::string(dtype_name(dtype)) + ", problem is " + std::string(dtype_name(problem.dtype));
    return emulator_invalid_reason(problem, algorithm);
  };
  kernel.run = [algorithm](const Problem& problem, const AttentionInputs& inputs) {
    EmulatorConfig config;
    config.algorithm = algorithm;
    return emulate_attention(problem, inputs, config);
  };
  return kernel;
}

}  // namespace

void register_emulator_kernels(Registry& registry) {
  for (const EmulatorVariant& v : emulator_variants()) registry.add(make_emulator_kernel(v));
}

}  // namespace attn
