// tile_axis.cpp: which implementation runs a kernel at a requested tile (tile_axis.h).
#include "experiments/tile_axis.h"

#include <set>

#include "analysis/emulator.h"
#include "experiments/kernel_algorithm.h"

namespace attn {
namespace {

/// Traits that describe the tile (or follow from it) rather than the algorithm.
const std::set<std::string>& tile_traits() {
  static const std::set<std::string> keys = {"block_m", "block_n", "num_splits", "warps", "min_blocks_per_sm",
                                             "default", "config", "stages"};
  return keys;
}

/// "fa2" of "fa2.fp16.d64.m64n64": the design a variant belongs to.
std::string design_of(const std::string& name) { return name.substr(0, name.find('.')); }

bool same_algorithm_but_tile(const KernelInfo& a, const KernelInfo& b) {
  if (design_of(a.name) != design_of(b.name) || a.family != b.family || a.needs_gpu != b.needs_gpu) return false;
  auto strip = [](std::map<std::string, std::string> t) {
    for (const std::string& k : tile_traits()) t.erase(k);
    return t;
  };
  return strip(a.traits) == strip(b.traits);
}

}  // namespace

std::string TileRequest::label() const {
  std::string s;
  if (block_m) s += "m" + std::to_string(block_m);
  if (block_n) s += "n" + std::to_string(block_n);
  if (splits) s += (s.empty() ? "" : ".") + std::string("split") + std::to_string(splits);
  return s;
}

std::optional<AlgorithmConfig> kernel_algorithm(const Kernel& kernel) {
  return algorithm_from_traits(kernel.info.traits);
}

TiledKernel kernel_at_tile(const Kernel& kernel, const TileRequest& tile, const Registry& registry) {
  TiledKernel out;
  const std::optional<AlgorithmConfig> own = kernel_algorithm(kernel);
  if (!own) {
    out.invalid = "kernel '" + kernel.info.name + "' has no tile (no algorithm model): block size is not an axis for it";
    return out;
  }
  AlgorithmConfig wanted = *own;
  if (tile.block_m) wanted.tiles.block_m = tile.block_m;
  if (tile.block_n) wanted.tiles.block_n = tile.block_n;
  if (tile.splits) wanted.tiles.num_splits = tile.splits;

  if (!kernel.info.needs_gpu) {  // the emulator: the same algorithm at any tile
    Kernel k = kernel;
    k.info.traits["block_m"] = std::to_string(wanted.tiles.block_m);
    k.info.traits["block_n"] = std::to_string(wanted.tiles.block_n);
    k.info.traits["num_splits"] = std::to_string(wanted.tiles.num_splits);
    k.info.traits["config"] = wanted.describe();
    const std::string dtype = kernel.info.traits.count("dtype") ? kernel.info.traits.at("dtype") : "";
    k.invalid_reason = [dtype, wanted](const Problem& problem) -> std::optional<std::string> {
      if (!dtype.empty() && dtype != dtype_name(problem.dtype))
        return "registered for " + dtype + ", problem is " + std::string(dtype_name(problem.dtype));
      return emulator_invalid_reason(problem, wanted);
    };
    k.run = [wanted](const Problem& problem, const AttentionInputs& inputs) {
      EmulatorConfig config;
      config.algorithm = wanted;
      return emulate_attention(problem, inputs, config);
    };
    out.kernel = std::move(k);
    return out;
  }

  // A GPU kernel: tiles are compile-time; find the compiled variant with the asked tile.
  std::string compiled;
  for (const Kernel* candidate : registry.all()) {
    if (!same_algorithm_but_tile(candidate->info, kernel.info)) continue;
    const std::optional<AlgorithmConfig> a = kernel_algorithm(*candidate);
    if (!a) continue;
    const std::string its_tile = "m" + std::to_string(a->tiles.block_m) + "n" + std::to_string(a->tiles.block_n) +
                                 (a->tiles.num_splits > 1 ? ".split" + std::to_string(a->tiles.num_splits) : "");
    if (compiled.find(its_tile) == std::string::npos) compiled += (compiled.empty() ? "" : ", ") + its_tile;
    if (a->tiles.block_m == wanted.tiles.block_m && a->tiles.block_n == wanted.tiles.block_n &&
        a->tiles.num_splits == wanted.tiles.num_splits) {
      out.kernel = *candidate;
      out.variant = candidate->info.name;
      return out;
    }
  }
  out.invalid = "no compiled GPU variant of '" + kernel.info.name + "' with tile " + tile.label() +
                " (compiled tiles of this design: " + (compiled.empty() ? "none" : compiled) + ")";
  return out;
}

}  // namespace attn
