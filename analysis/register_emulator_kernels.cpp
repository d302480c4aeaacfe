// register_emulator_kernels.cpp: the CPU emulator configurations (what the main job runs when no
// GPU is present) and one emulator mutant per planted bug, as registry kernels.
// Names: "emu.fa2.<dtype>.m<BM>n<BN>[.split<n>][.precise]", "emu.fa3.<dtype>.m128n128[.precise]"
// (the Hopper wgmma kernels' pipeline) and "emu.mutant.<mutant>.<dtype>".
#include "analysis/register_emulator_kernels.h"

#include "analysis/emulator.h"

namespace attn {
namespace {

Kernel make_emulator_kernel(const std::string& name, const std::string& family, DType dtype,
                            const AlgorithmConfig& algorithm, const std::string& description) {
  Kernel kernel;
  kernel.info.name = name;
  kernel.info.family = family;
  kernel.info.description = description;
  kernel.info.needs_gpu = false;
  kernel.info.planted_bug = mutant_category(algorithm.mutant);
  kernel.info.traits = {{"dtype", std::string(dtype_name(dtype))},
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
  struct Variant {
    const char* suffix;
    int block_m, block_n, splits;
    PCastMode p_cast;
  };
  const Variant variants[] = {{"m64n64", 64, 64, 1, PCastMode::input_dtype},
                              {"m128n64", 128, 64, 1, PCastMode::input_dtype},
                              {"m64n64.split4", 64, 64, 4, PCastMode::input_dtype},
                              {"m64n64.precise", 64, 64, 1, PCastMode::split_hi_lo}};
  for (DType dtype : {DType::fp16, DType::bf16}) {
    const std::string dt(dtype_name(dtype));
    for (const Variant& v : variants) {
      AlgorithmConfig algorithm;
      algorithm.tiles.block_m = v.block_m;
      algorithm.tiles.block_n = v.block_n;
      algorithm.tiles.num_splits = v.splits;
      algorithm.p_cast = v.p_cast;
      registry.add(make_emulator_kernel("emu.fa2." + dt + "." + v.suffix, "emulator", dtype, algorithm,
                                        "CPU emulator of the FA2 forward (" + dt + ", " + algorithm.describe() +
                                            "), every stage as the kernel does it"));
    }
    // The Hopper fa3 kernels (kernels/hopper/) run the same contract with their own tile: wgmma's
    // k16 steps round exactly like the modelled mma.sync steps (kernels/probes/wgmma_probe.cu:
    // 4 x 1,048,576 FP16/BF16 dot products bit-exact on an H200), P stays in registers as in FA2,
    // and the overlapped schedule keeps FA2's rescale-then-accumulate order.
    for (PCastMode p_cast : {PCastMode::input_dtype, PCastMode::split_hi_lo}) {
      AlgorithmConfig algorithm;
      algorithm.tiles.block_m = 128;
      algorithm.tiles.block_n = 128;
      algorithm.p_cast = p_cast;
      const std::string suffix = p_cast == PCastMode::split_hi_lo ? ".precise" : "";
      registry.add(make_emulator_kernel("emu.fa3." + dt + ".m128n128" + suffix, "emulator", dtype, algorithm,
                                        "CPU emulator of the Hopper fa3 forward (wgmma, " + dt + ", " +
                                            algorithm.describe() + "), every stage as the kernel does it"));
    }
    const Mutant mutants[] = {Mutant::top_left_in_cache_path, Mutant::unmasked_tile_edges,
                              Mutant::interleaved_gqa_in_cache_path, Mutant::stale_seqlens,
                              Mutant::p_cast_before_final_max, Mutant::rescale_in_fp16,
                              Mutant::base2_lse_natural_combine};
    for (Mutant mutant : mutants) {
      AlgorithmConfig algorithm;
      algorithm.mutant = mutant;
      // The split-combine bug only exists when there is a combine.
      if (mutant == Mutant::base2_lse_natural_combine) algorithm.tiles.num_splits = 4;
      registry.add(make_emulator_kernel("emu.mutant." + std::string(mutant_name(mutant)) + "." + dt, "mutant", dtype,
                                        algorithm,
                                        "emulator with a planted bug (" + std::string(mutant_category(mutant)) + "): " +
                                            algorithm.describe()));
    }
  }
}

}  // namespace attn
