// The investigation specs (experiments/specs/*.toml and the full-size gpu/ versions) parse, and
// expand over the registry: the CPU lists always, the GPU lists where the build registers CUDA
// kernels (a glob that matches nothing would stop the device run on its first command).
#include <catch2/catch.hpp>

#include <filesystem>

#include "experiments/register_all.h"
#include "experiments/sweep_spec.h"

TEST_CASE("every investigation spec parses and expands", "[specs]") {
  const std::filesystem::path root = std::filesystem::path(ATTNSCOPE_SOURCE_DIR) / "experiments" / "specs";
  bool cuda = false;
  for (const attn::Kernel* k : attn::all_kernels().all()) cuda = cuda || k->info.needs_gpu;
  int specs = 0;
  for (const auto& dir : {root, root / "gpu"}) {
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
      if (entry.path().extension() != ".toml") continue;
      INFO(entry.path().string());
      ++specs;
      const attn::SweepSpec spec = attn::parse_sweep_spec(entry.path().string());
      CHECK(spec.name == entry.path().stem().string());
      CHECK_FALSE(attn::expand_sweep(spec, attn::all_kernels(), false).empty());
      if (cuda && !spec.gpu_kernels.empty() && spec.externals.empty())
        CHECK_FALSE(attn::expand_sweep(spec, attn::all_kernels(), true).empty());
    }
  }
  CHECK(specs == 16);  // 8 sweeps, CPU and GPU size (the ninth question is `attnscope incremental`)
}
