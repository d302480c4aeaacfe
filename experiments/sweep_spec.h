// sweep_spec.h: a sweep is a TOML file naming kernels (registry globs) and the axes to sweep
// (S_q, S_k or cache depth, heads, head dim, dtype, mask, input distribution, seed). It expands
// into points in a fixed order; the point key makes results resumable and shards mergeable.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/generators.h"
#include "core/problem.h"
#include "core/registry.h"
#include "experiments/tile_axis.h"
#include "experiments/external/external_spec.h"

namespace attn {

/// The axes of one grid of points: the sweep runs their cartesian product.
struct SweepAxes {
  std::vector<DType> dtypes{DType::fp16};
  std::vector<int64_t> batch{1};
  std::vector<int64_t> seqlen_q{64};
  std::vector<int64_t> seqlen_k;          ///< explicit key lengths; empty: use cache_depth
  std::vector<int64_t> cache_depth{0};    ///< S_k = S_q + depth (bottom-right: depth keys precede the queries)
  std::vector<std::pair<int64_t, int64_t>> heads{{8, 2}};  ///< (H_q, H_kv)
  std::vector<int64_t> head_dim{64};
  std::vector<Mask> masks{Mask{}};
  std::vector<Distribution> distributions{Distribution::normal};
  std::vector<uint64_t> seeds{0};
  /// Block size as an axis (experiments/tile_axis.h): each point runs its kernel at this tile;
  /// empty: the kernel's own. Multiples of 16 (BLOCK_M, BLOCK_N), 1..64 (splits).
  std::vector<int64_t> block_m, block_n, splits;
};

/// A sweep: kernels times the base grid ([sweep]'s own axes), plus any further grids
/// ([[sweep.grid]] tables, whose unset axes inherit the base grid's), e.g. one input
/// distribution at longer sequences only.
struct SweepSpec : SweepAxes {
  std::string name = "default";
  std::vector<std::string> kernels;       ///< registry globs used on the CPU (emulator, references)
  std::vector<std::string> gpu_kernels;   ///< globs used instead when a GPU is present (may be empty)
  std::vector<SweepAxes> extra_grids;     ///< [[sweep.grid]]: more points, in file order after the base grid
  bool attribution = true;                ///< Shapley attribution for emulator kernels
  bool allow_masked_rows = false;         ///< run problems with fully masked rows (else INVALID)
  bool diagnosis = false;                 ///< semantic diagnosis of every output, stored with the row
  /// `[[external]]` kernels (experiments/external/): registered for this sweep only, usable in
  /// `kernels` / `gpu_kernels` like any registered name.
  std::vector<ExternalKernelSpec> externals;
};

struct SweepPoint {
  std::string kernel;
  Problem problem;
  InputSpec inputs;
  TileRequest tile;          ///< the tile asked for (unset: the kernel's own)
  /// "kernel|b1.sq10.sk74.h8:2.d64.fp16.causal|normal|seed0", then "|m32n64" when a tile is asked.
  std::string key() const;
};

/// Parses a TOML sweep file; throws attn::Error naming the file, the key and what was expected.
SweepSpec parse_sweep_spec(const std::string& path);
SweepSpec parse_sweep_spec_text(const std::string& toml_text, const std::string& origin = "<string>");

/// Expands the spec over the registry: every axis times the kernels matched by the globs
/// (gpu_kernels when `use_gpu` and non-empty; glob order, then registry order; kernels innermost),
/// the base grid first, then each extra grid; a point already produced is not repeated.
/// Throws if a glob matches no kernel (naming it and the registered names).
std::vector<SweepPoint> expand_sweep(const SweepSpec& spec, const Registry& registry, bool use_gpu);

/// The identity of an expanded sweep: its name, every point key in order and the settings that
/// change a row without changing its key (attribution, allow_masked_rows). Recorded in the
/// results database; a resumed sweep or a merged shard must have the same hash.
nlohmann::json expanded_spec_json(const SweepSpec& spec, const std::vector<SweepPoint>& points);
/// 16 hex digits: FNV-1a 64 of the canonical dump of `expanded` (identity, not security).
std::string spec_hash(const nlohmann::json& expanded);

}  // namespace attn
