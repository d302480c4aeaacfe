// test_emulator_registry.cpp: the emulator configurations and mutants are registered with the
// promised names (kernels/variants.toml's grammar), families, typed metadata and planted-bug
// categories, and the registered run equals a direct emulator call.
#include <catch2/catch.hpp>

#include <tuple>

#include "analysis/emulator.h"
#include "analysis/register_emulator_kernels.h"
#include "core/generators.h"

using namespace attn;

TEST_CASE("emulator registry: names, families, planted bugs, runs", "[emulator]") {
  Registry registry;
  register_emulator_kernels(registry);
  for (const char* dt : {"fp16", "bf16"}) {
    for (const char* v : {"m64n64", "m128n64", "m128n128", "m64n64.split4", "m64n64.precise", "m128n128.precise"}) {
      const Kernel& k = registry.get(std::string("emu.") + dt + ".dany." + v);
      CHECK(k.info.family == "emulator");
      CHECK(k.info.design == "emu");
      CHECK(k.info.dtype == parse_dtype(dt));
      CHECK(k.info.mutant == Mutant::none);
      REQUIRE(k.info.algorithm.has_value());
      CHECK(k.info.is_default == (std::string(v) == "m64n64"));
      CHECK(k.info.planted_bug.empty());
      CHECK_FALSE(k.info.needs_gpu);
    }
    for (const char* v : {"m128n128", "m128n128.precise"}) {  // the Hopper fa3 tile
      const Kernel& k = registry.get(std::string("emu.") + dt + ".dany." + v);
      CHECK(k.info.algorithm->tiles.block_m == 128);
      CHECK(k.info.algorithm->tiles.block_n == 128);
      CHECK(k.info.algorithm->p_cast == (std::string(v) == "m128n128" ? PCastMode::input_dtype : PCastMode::split_hi_lo));
    }
  }
  // The FP8 (E4M3) configurations of the fa3 tile: FA3's per-block scales, + rotation, per tensor,
  // per-block with a 1/4 or 1/8 share of the exponentials on the FMA pipes.
  for (const char* dt : {"fp16", "bf16"})
    for (const auto& [suffix, scaling, rotate, period] : {std::tuple{"e4m3", Fp8Scaling::per_block, false, 0},
                                                          std::tuple{"e4m3-rot", Fp8Scaling::per_block, true, 0},
                                                          std::tuple{"e4m3-tensor", Fp8Scaling::per_tensor, false, 0},
                                                          std::tuple{"e4m3-fma4", Fp8Scaling::per_block, false, 4},
                                                          std::tuple{"e4m3-fma8", Fp8Scaling::per_block, false, 8}}) {
      const Kernel& k = registry.get(std::string("emu.") + dt + ".dany.m128n128." + suffix);
      REQUIRE(k.info.algorithm.has_value());
      CHECK(k.info.algorithm->fp8.scaling == scaling);
      CHECK(k.info.algorithm->fp8.rotate == rotate);
      CHECK(k.info.algorithm->fp8.fma_exp_period == period);
      CHECK(k.info.algorithm->tiles.block_n == 128);
      CHECK(k.info.mutant == Mutant::none);
    }
  int mutants = 0;
  for (const Kernel* k : registry.matching("emu.*.mutant-*")) {
    ++mutants;
    CHECK(k->info.family == "mutant");
    CHECK_FALSE(k->info.planted_bug.empty());
    CHECK(k->info.planted_bug == mutant_category(k->info.mutant));
    // The name ends in the mutant's own name, and the emulated algorithm plants it.
    const std::string suffix = std::string(".mutant-") + mutant_name(k->info.mutant);
    CHECK(k->info.name.size() > suffix.size());
    CHECK(k->info.name.compare(k->info.name.size() - suffix.size(), suffix.size(), suffix) == 0);
    REQUIRE(k->info.algorithm.has_value());
    CHECK(k->info.algorithm->mutant == k->info.mutant);
  }
  CHECK(mutants == 22);  // FA2: 7 mutants x 2 dtypes; decode: 4 cache mutants x 2 dtypes
  CHECK(registry.get("emu.fp16.dany.m64n64.mutant-rescale-fp16").info.planted_bug == "rescaling");
  CHECK(registry.get("emu.bf16.dany.m64n64.mutant-top-left-cache").info.planted_bug == "masking");
  // The decode kernels' emulated configurations (analysis/decode_emulator.h): path decode.
  for (const Kernel* k : registry.matching("emu.*.decode-*")) {
    REQUIRE(k->info.algorithm.has_value());
    CHECK(k->info.algorithm->numerics == KernelNumerics::flash_decoding);
    CHECK(k->info.path == KernelPath::decode);
    CHECK(k->info.is_default == (k->info.name.find(".decode-tc12-fixed256") != std::string::npos &&
                                 k->info.name.find("mutant") == std::string::npos));
  }
  CHECK(registry.matching("emu.*.decode-*").size() == 18);  // 2 dtypes x (5 configurations + 4 mutants)

  Problem p;
  p.seqlen_q = 40;
  p.seqlen_k = 72;
  p.head_dim = 64;
  const Kernel& k = registry.get("emu.fp16.dany.m64n64.split4");
  REQUIRE_FALSE(k.invalid_reason(p).has_value());
  const AttentionInputs in = generate_inputs(p, InputSpec{Distribution::normal, 1});
  EmulatorConfig config;
  config.algorithm.tiles.num_splits = 4;
  CHECK(k.run(p, in).o.storage() == emulate_attention(p, in, config).o.storage());
  p.dtype = DType::bf16;
  CHECK(k.invalid_reason(p).has_value());
}
