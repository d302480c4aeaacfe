// tile_axis.cpp: which implementation runs a kernel at a requested tile (tile_axis.h).
#include "experiments/tile_axis.h"

#include "analysis/emulator.h"

namespace attn {
namespace {

/// Same design, dtype, head dim, path, P cast, rescale rule and planted bug: the typed registry
/// metadata (KernelInfo, AlgorithmConfig) less the tile.
bool same_algorithm_but_tile(const KernelInfo& a, const KernelInfo& b) {
  if (a.design != b.design || a.dtype != b.dtype || a.head_dim != b.head_dim || a.path != b.path ||
      a.mutant != b.mutant || a.needs_gpu != b.needs_gpu || !a.algorithm || !b.algorithm)
    return false;
  return a.algorithm->p_cast == b.algorithm->p_cast &&
         a.algorithm->rescale_threshold_log2 == b.algorithm->rescale_threshold_log2 &&
         a.algorithm->mutant == b.algorithm->mutant;
}

std::string tile_label(const TileConfig& t) {
  return "m" + std::to_string(t.block_m) + "n" + std::to_string(t.block_n) +
         (t.num_splits > 1 ? ".split" + std::to_string(t.num_splits) : "");
}

}  // namespace

TiledKernel kernel_at_tile(const Kernel& kernel, const TileRequest& tile, const Registry& registry) {
  TiledKernel out;
  const std::optional<AlgorithmConfig>& own = kernel.info.algorithm;
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
    k.info.algorithm = wanted;
    const std::optional<DType> dtype = kernel.info.dtype;
    k.invalid_reason = [dtype, wanted](const Problem& problem) -> std::optional<std::string> {
      if (dtype && *dtype != problem.dtype)
        return "registered for " + std::string(dtype_name(*dtype)) + ", problem is " + std::string(dtype_name(problem.dtype));
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

  // A GPU kernel: tiles are compile-time; find the compiled variant with the asked tile (the
  // default variant of that tile when several pipelines share it).
  std::string compiled;
  const Kernel* chosen = nullptr;
  for (const Kernel* candidate : registry.all()) {
    if (!same_algorithm_but_tile(candidate->info, kernel.info)) continue;
    const TileConfig& t = candidate->info.algorithm->tiles;
    const std::string its_tile = tile_label(t);
    if (compiled.find(its_tile) == std::string::npos) compiled += (compiled.empty() ? "" : ", ") + its_tile;
    if (t.block_m == wanted.tiles.block_m && t.block_n == wanted.tiles.block_n &&
        t.num_splits == wanted.tiles.num_splits && (!chosen || (candidate->info.is_default && !chosen->info.is_default)))
      chosen = candidate;
  }
  if (chosen) {
    out.kernel = *chosen;
    out.variant = chosen->info.name;
    return out;
  }
  out.invalid = "no compiled GPU variant of '" + kernel.info.name + "' with tile " + tile.label() +
                " (compiled tiles of this design: " + (compiled.empty() ? "none" : compiled) + ")";
  return out;
}

}  // namespace attn
