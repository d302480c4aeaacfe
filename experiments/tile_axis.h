// tile_axis.h: block size as a sweep axis. A sweep point may ask for a tile (BLOCK_M, BLOCK_N,
// split-KV count) other than its kernel's own; this file says which implementation runs it:
//   - an emulator kernel (CPU, with an algorithm model): the same algorithm — P cast, rescale
//     rule, mutant — with the tile replaced; the emulator takes any multiple of 16;
//   - a GPU kernel: the compiled variant of the same design whose typed AlgorithmConfig
//     (KernelInfo::algorithm) has the asked tile (same dtype, head dim, path, P cast, rescale
//     rule, mutant); none compiled -> INVALID with the reason and the tiles that are compiled.
// What it is not: a kernel generator (GPU tiles are compile-time: kernels/variants).
#pragma once

#include <optional>
#include <string>

#include "core/kernel.h"
#include "core/kernel_config.h"
#include "core/registry.h"

namespace attn {

/// The tile a sweep point asks for; 0 keeps the kernel's own value.
struct TileRequest {
  int block_m = 0;
  int block_n = 0;
  int splits = 0;
  bool set() const { return block_m || block_n || splits; }
  /// "m32n64", "m64n64.split4", "n32" (only the fields that are set), for point keys and labels.
  /// (Inline: the sweep-spec parser names points with it and links without the tile machinery.)
  std::string label() const {
    std::string s;
    if (block_m) s += "m" + std::to_string(block_m);
    if (block_n) s += "n" + std::to_string(block_n);
    if (splits) s += (s.empty() ? "" : ".") + std::string("split") + std::to_string(splits);
    return s;
  }
};

/// Limits of the axis: tiles are positive multiples of 16 up to kMaxTile, splits 1..kMaxSplits.
inline constexpr int kTileQuantum = 16;
inline constexpr int kMaxTile = 512;
inline constexpr int kMaxSplits = 64;

/// The implementation that runs `kernel` at `tile`, or why there is none.
struct TiledKernel {
  std::optional<Kernel> kernel;  ///< set when runnable; its traits carry the tile
  std::string variant;           ///< the GPU variant chosen (its registered name); empty for the emulator
  std::string invalid;           ///< the reason when not runnable
};
TiledKernel kernel_at_tile(const Kernel& kernel, const TileRequest& tile, const Registry& registry);

}  // namespace attn
