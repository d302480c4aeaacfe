// Block size as a sweep axis: block_m / block_n / splits parse as multiples of 16 (and 1..64),
// expand into points whose keys name the tile; an emulator kernel at a tile is bit for bit the
// emulator configured with that tile; a GPU kernel at a tile is the compiled variant with those
// tile traits, and a tile with no compiled variant is INVALID with the compiled tiles named; a
// sweep stores the tile in every row (results_flat's block_m / block_n / num_splits).
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>

#include "analysis/emulator.h"
#include "core/errors.h"
#include "core/generators.h"
#include "experiments/register_all.h"
#include "experiments/results_db.h"
#include "experiments/sweep_runner.h"
#include "experiments/sweep_spec.h"
#include "experiments/tile_axis.h"

namespace {

attn::Kernel fake_gpu_variant(const std::string& name, int block_m, int block_n, attn::PCastMode p_cast) {
  attn::Kernel k;
  attn::AlgorithmConfig algorithm;
  algorithm.tiles.block_m = block_m;
  algorithm.tiles.block_n = block_n;
  algorithm.p_cast = p_cast;
  k.info.name = name;
  k.info.family = "cuda";
  k.info.needs_gpu = true;
  k.info.design = name.substr(0, name.find('.'));
  k.info.dtype = attn::DType::fp16;
  k.info.head_dim = 64;
  k.info.algorithm = algorithm;
  return k;
}

const char* kTileSpec = R"(
[sweep]
name = "tiles"
kernels = ["emu.fp16.dany.m64n64", "naive-fp16"]
dtypes = ["fp16"]
seqlen_q = [33]
cache_depth = [0]
heads = ["2:1"]
head_dim = [32]
block_m = [16, 32]
block_n = [48]
splits = [1, 2]
attribution = false
)";

}  // namespace

TEST_CASE("tile axes parse as multiples of 16 and expand into keyed points", "[tile]") {
  const attn::SweepSpec spec = attn::parse_sweep_spec_text(kTileSpec);
  CHECK(spec.block_m == std::vector<int64_t>{16, 32});
  const auto points = attn::expand_sweep(spec, attn::all_kernels(), false);
  REQUIRE(points.size() == 2u * 1 * 2 * 2);  // kernels x block_m x block_n x splits
  CHECK(points[0].key() == "emu.fp16.dany.m64n64|b1.sq33.sk33.h2:1.d32.fp16.causal|normal|seed0|m16n48.split1");
  CHECK(points[1].key() == "naive-fp16|b1.sq33.sk33.h2:1.d32.fp16.causal|normal|seed0|m16n48.split1");
  CHECK(points.back().tile.label() == "m32n48.split2");
  for (const char* bad : {"block_m = [24]", "block_n = [0]", "block_n = [1024]", "splits = [0]", "splits = [65]",
                          "block_m = [\"64\"]"}) {
    INFO(bad);
    const std::string text = "[sweep]\nname = \"t\"\nkernels = [\"emu.*\"]\n" + std::string(bad) + "\n";
    CHECK_THROWS_AS(attn::parse_sweep_spec_text(text), attn::Error);
  }
  CHECK_THROWS_WITH(attn::parse_sweep_spec_text("[sweep]\nkernels = [\"x\"]\nblock_m = [40]\n"),
                    Catch::Contains("'block_m' has 40 (must be a multiple of 16"));
  // A grid may set the tile axes alone.
  const attn::SweepSpec grid = attn::parse_sweep_spec_text(
      "[sweep]\nkernels = [\"x\"]\n[[sweep.grid]]\nblock_n = [16, 128]\n");
  REQUIRE(grid.extra_grids.size() == 1);
  CHECK(grid.extra_grids[0].block_n == std::vector<int64_t>{16, 128});
}

TEST_CASE("an emulator kernel at a tile is the emulator configured with that tile, bit for bit", "[tile]") {
  const attn::Kernel& registered = attn::all_kernels().get("emu.fp16.dany.m64n64");
  attn::Problem p;
  p.seqlen_q = 37;
  p.seqlen_k = 101;
  p.num_heads_q = 2;
  p.num_heads_kv = 1;
  p.head_dim = 32;
  const attn::AttentionInputs in = attn::generate_inputs(p, {attn::Distribution::normal, 5});
  const attn::TiledKernel tiled = attn::kernel_at_tile(registered, {16, 48, 2}, attn::all_kernels());
  REQUIRE(tiled.kernel);
  CHECK(tiled.variant.empty());
  CHECK(tiled.kernel->info.traits.at("block_m") == "16");
  CHECK(tiled.kernel->info.traits.at("block_n") == "48");
  CHECK(tiled.kernel->info.traits.at("num_splits") == "2");
  REQUIRE(tiled.kernel->info.algorithm);
  CHECK(tiled.kernel->info.algorithm->tiles.block_m == 16);  // the typed config follows the tile
  attn::EmulatorConfig config;
  config.algorithm.tiles.block_m = 16;
  config.algorithm.tiles.block_n = 48;
  config.algorithm.tiles.num_splits = 2;
  const attn::AttentionOutputs expected = attn::emulate_attention(p, in, config);
  const attn::AttentionOutputs got = tiled.kernel->run(p, in);
  REQUIRE(got.o.numel() == expected.o.numel());
  int64_t differ = 0;
  for (int64_t i = 0; i < got.o.numel(); ++i) differ += got.o.flat(i) != expected.o.flat(i);
  CHECK(differ == 0);
  // ... and not the registered m64n64 kernel's output (the tile changes the rounding).
  const attn::AttentionOutputs own = registered.run(p, in);
  int64_t differ_own = 0;
  for (int64_t i = 0; i < got.o.numel(); ++i) differ_own += got.o.flat(i) != own.o.flat(i);
  CHECK(differ_own > 0);
  // The mutant keeps its bug at another tile.
  const attn::Kernel& mutant = attn::all_kernels().get("emu.fp16.dany.m64n64.mutant-unmasked-tile-edges");
  const attn::TiledKernel tiled_mutant = attn::kernel_at_tile(mutant, {32, 32, 0}, attn::all_kernels());
  REQUIRE(tiled_mutant.kernel);
  CHECK(tiled_mutant.kernel->info.algorithm->mutant == attn::Mutant::unmasked_tile_edges);
}

TEST_CASE("a GPU kernel at a tile is the compiled variant with that typed tile, or INVALID naming the compiled tiles",
          "[tile]") {
  attn::Registry registry;
  registry.add(fake_gpu_variant("fa2.fp16.d64.m64n64", 64, 64, attn::PCastMode::input_dtype));
  registry.add(fake_gpu_variant("fa2.fp16.d64.m128n64", 128, 64, attn::PCastMode::input_dtype));
  registry.add(fake_gpu_variant("fa2.fp16.d64.m128n64.precise", 128, 64, attn::PCastMode::split_hi_lo));
  registry.add(fake_gpu_variant("fa3.fp16.d64.m128n128", 128, 128, attn::PCastMode::input_dtype));
  const attn::Kernel& base = registry.get("fa2.fp16.d64.m64n64");
  const attn::TiledKernel found = attn::kernel_at_tile(base, {128, 0, 0}, registry);
  REQUIRE(found.kernel);
  CHECK(found.variant == "fa2.fp16.d64.m128n64");  // not the precise one, not fa3
  const attn::TiledKernel precise = attn::kernel_at_tile(registry.get("fa2.fp16.d64.m128n64.precise"), {64, 64, 0}, registry);
  CHECK_FALSE(precise.kernel);
  CHECK_THAT(precise.invalid, Catch::Contains("no compiled GPU variant of 'fa2.fp16.d64.m128n64.precise' with tile m64n64") &&
                                  Catch::Contains("compiled tiles of this design: m128n64"));
  const attn::TiledKernel none = attn::kernel_at_tile(base, {32, 32, 0}, registry);
  CHECK_FALSE(none.kernel);
  CHECK_THAT(none.invalid, Catch::Contains("compiled tiles of this design: m64n64, m128n64"));
  const attn::TiledKernel split = attn::kernel_at_tile(base, {0, 0, 4}, registry);
  CHECK_FALSE(split.kernel);
  CHECK_THAT(split.invalid, Catch::Contains("with tile split4"));
}

TEST_CASE("a tile sweep stores the tile in every row; a kernel without a tile is INVALID with the reason", "[tile]") {
  const auto dir = std::filesystem::temp_directory_path() / ("attnscope_tiles_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "tiles.sqlite").string();
  std::filesystem::remove(path);
  const attn::SweepSpec spec = attn::parse_sweep_spec_text(kTileSpec);
  attn::ResultsDb db(path);
  const attn::SweepSummary s = attn::run_sweep(spec, attn::all_kernels(), db, {});
  CHECK(s.ok == 4);
  CHECK(s.invalid == 4);
  CHECK(s.errors == 0);
  for (const attn::ResultRow& row : db.rows()) {
    INFO(row.point_key);
    if (row.kernel == "naive-fp16") {
      CHECK(row.status == "invalid");
      CHECK_THAT(row.message, Catch::Contains("has no tile"));
      continue;
    }
    REQUIRE(row.status == "ok");
    const std::string tile = row.config["tile_request"].get<std::string>();
    CHECK(row.point_key.substr(row.point_key.size() - tile.size()) == tile);
    CHECK((row.config["block_m"] == 16 || row.config["block_m"] == 32));
    CHECK(row.config["block_n"] == 48);
    CHECK(row.metrics["fa_rule_pass"] == true);
  }
}
