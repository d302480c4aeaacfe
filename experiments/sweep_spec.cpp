#include "experiments/sweep_spec.h"

#include <toml++/toml.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iterator>
#include <set>
#include <string_view>
#include <fstream>
#include <optional>
#include <sstream>

#include "core/errors.h"
#include "core/io_files.h"
#include "core/memory_budget.h"
#include "core/suggest.h"
#include "experiments/external/external_spec_toml.h"
#include "experiments/toml_input.h"

namespace attn {
namespace {

template <class T>
std::vector<T> read_list(const toml::table& t, const std::string& key, const std::string& origin,
                         std::vector<T> fallback) {
  const toml::node* node = t.get(key);
  if (!node) return fallback;
  std::vector<T> out;
  auto bad = [&](const std::string& what) {
    return Error("sweep '" + origin + "': key '" + key + "' " + what);
  };
  if (const toml::array* arr = node->as_array()) {
    for (const toml::node& el : *arr) {
      if (auto v = el.value<T>()) out.push_back(*v);
      else throw bad("has an element of the wrong type");
    }
  } else if (auto v = node->value<T>()) {
    out.push_back(*v);
  } else {
    throw bad("has the wrong type");
  }
  if (out.empty()) throw bad("is an empty list");
  return out;
}

std::vector<int64_t> read_sizes(const toml::table& t, const std::string& key, const std::string& origin,
                                std::vector<int64_t> fallback, int64_t minimum) {
  std::vector<int64_t> v = read_list<int64_t>(t, key, origin, std::move(fallback));
  for (int64_t x : v)
    if (x < minimum || x > kMaxDimension)
      throw Error("sweep '" + origin + "': key '" + key + "' has " + std::to_string(x) + " (must be in " +
                  std::to_string(minimum) + "..2^48)");
  return v;
}

constexpr uint64_t kMaxSweepPoints = 10'000'000;  // points of one expanded sweep
constexpr std::string_view kTopLevelTables[] = {"sweep", "external"};
constexpr std::string_view kSweepKeys[] = {"name", "kernels", "gpu_kernels", "attribution", "allow_masked_rows",
                                           "diagnosis", "grid"};
constexpr std::string_view kAxisKeys[] = {"dtypes", "batch",         "seqlen_q", "seqlen_k", "cache_depth",
                                          "heads",  "head_dim",      "masks",    "distributions", "seeds",
                                          "block_m", "block_n",      "splits"};

/// The axes set in `t`; an axis `t` does not set keeps its value in `inherited`.
SweepAxes read_axes(const toml::table& t, const SweepAxes& inherited, const std::string& origin) {
  SweepAxes axes = inherited;
  auto named = [&](const std::string& key, const std::string& value, auto parse) {
    try {
      return parse(value);
    } catch (const Error& e) {
      throw Error("sweep '" + origin + "': " + key + " entry '" + value + "': " + e.what());
    }
  };
  if (t.get("dtypes")) {
    axes.dtypes.clear();
    for (const std::string& d : read_list<std::string>(t, "dtypes", origin, {}))
      axes.dtypes.push_back(named("dtypes", d, [](const std::string& x) { return parse_dtype(x); }));
  }
  axes.batch = read_sizes(t, "batch", origin, axes.batch, 1);
  axes.seqlen_q = read_sizes(t, "seqlen_q", origin, axes.seqlen_q, 1);
  if (t.get("seqlen_k") && t.get("cache_depth"))
    throw Error("sweep '" + origin + "': give either 'seqlen_k' or 'cache_depth', not both");
  if (t.get("seqlen_k")) {
    axes.seqlen_k = read_sizes(t, "seqlen_k", origin, {}, 1);
    axes.cache_depth.clear();
  } else if (t.get("cache_depth")) {
    axes.cache_depth = read_sizes(t, "cache_depth", origin, {}, 0);
    axes.seqlen_k.clear();
  }
  if (t.get("heads")) {
    axes.heads.clear();
    for (const std::string& h : read_list<std::string>(t, "heads", origin, {}))
      axes.heads.push_back(named("heads", h, [](const std::string& x) { return parse_heads(x); }));
  }
  axes.head_dim = read_sizes(t, "head_dim", origin, axes.head_dim, 1);
  if (t.get("masks")) {
    axes.masks.clear();
    for (const std::string& m : read_list<std::string>(t, "masks", origin, {}))
      axes.masks.push_back(named("masks", m, [](const std::string& x) { return parse_mask(x); }));
  }
  if (t.get("distributions")) {
    axes.distributions.clear();
    for (const std::string& d : read_list<std::string>(t, "distributions", origin, {}))
      axes.distributions.push_back(named("distributions", d, [](const std::string& x) { return parse_distribution(x); }));
  }
  if (t.get("seeds")) {
    axes.seeds.clear();
    for (int64_t s : read_sizes(t, "seeds", origin, {}, 0)) axes.seeds.push_back(static_cast<uint64_t>(s));
  }
  for (const char* key : {"block_m", "block_n"}) {
    if (!t.get(key)) continue;
    std::vector<int64_t>& list = std::string(key) == "block_m" ? axes.block_m : axes.block_n;
    list = read_sizes(t, key, origin, {}, kTileQuantum);
    for (int64_t v : list)
      if (v % kTileQuantum != 0 || v > kMaxTile)
        throw Error("sweep '" + origin + "': key '" + key + "' has " + std::to_string(v) + " (must be a multiple of " +
                    std::to_string(kTileQuantum) + " in " + std::to_string(kTileQuantum) + ".." +
                    std::to_string(kMaxTile) + ")");
  }
  if (t.get("splits")) {
    axes.splits = read_sizes(t, "splits", origin, {}, 1);
    for (int64_t v : axes.splits)
      if (v > kMaxSplits)
        throw Error("sweep '" + origin + "': key 'splits' has " + std::to_string(v) + " (must be in 1.." +
                    std::to_string(kMaxSplits) + ")");
  }
  return axes;
}

/// The tiles of a grid: the product of its block_m, block_n and splits lists (an empty list keeps
/// the kernel's own value), or one unset tile.
std::vector<TileRequest> tiles_of(const SweepAxes& a) {
  const std::vector<int64_t> none{0};
  std::vector<TileRequest> out;
  for (int64_t m : a.block_m.empty() ? none : a.block_m)
    for (int64_t n : a.block_n.empty() ? none : a.block_n)
      for (int64_t s : a.splits.empty() ? none : a.splits)
        out.push_back({static_cast<int>(m), static_cast<int>(n), static_cast<int>(s)});
  return out;
}

bool read_bool(const toml::table& t, const std::string& key, const std::string& origin, bool fallback) {
  const toml::node* node = t.get(key);
  if (!node) return fallback;
  if (!node->is_boolean()) throw Error("sweep '" + origin + "': key '" + key + "' must be true or false");
  return *node->value<bool>();
}

}  // namespace

std::string SweepPoint::key() const {
  return kernel + "|" + problem.label() + "|" + distribution_name(inputs.distribution) + "|seed" +
         std::to_string(inputs.seed) + (tile.set() ? "|" + tile.label() : "");
}

SweepSpec parse_sweep_spec_text(const std::string& text, const std::string& origin) {
  const toml::table root = parse_toml_input(text, origin, "sweep");
  const toml::table* sweep = root["sweep"].as_table();
  if (!sweep) throw Error("sweep '" + origin + "' has no [sweep] table");
  for (const auto& [k, _] : root)
    if (std::find(std::begin(kTopLevelTables), std::end(kTopLevelTables), k.str()) == std::end(kTopLevelTables))
      throw Error("sweep '" + origin + "': unknown table '" + std::string(k.str()) + "' (allowed: [sweep], [[external]])");
  for (const auto& [k, _] : *sweep) {
    const bool known = std::find(std::begin(kSweepKeys), std::end(kSweepKeys), k.str()) != std::end(kSweepKeys) ||
                       std::find(std::begin(kAxisKeys), std::end(kAxisKeys), k.str()) != std::end(kAxisKeys);
    if (!known) throw Error("sweep '" + origin + "': unknown key '" + std::string(k.str()) + "' in [sweep]");
  }
  SweepSpec spec;
  if (const toml::node* name = sweep->get("name")) {
    if (!name->is_string() || name->value_or<std::string>("").empty())
      throw Error("sweep '" + origin + "': 'name' must be a non-empty string");
    spec.name = *name->value<std::string>();
  }
  spec.kernels = read_list<std::string>(*sweep, "kernels", origin, {});
  if (spec.kernels.empty()) throw Error("sweep '" + origin + "': 'kernels' (registry globs) is required");
  if (sweep->get("gpu_kernels")) spec.gpu_kernels = read_list<std::string>(*sweep, "gpu_kernels", origin, {});
  static_cast<SweepAxes&>(spec) = read_axes(*sweep, SweepAxes{}, origin);
  spec.attribution = read_bool(*sweep, "attribution", origin, true);
  spec.allow_masked_rows = read_bool(*sweep, "allow_masked_rows", origin, false);
  if (const toml::node* grids = sweep->get("grid")) {
    const toml::array* arr = grids->as_array();
    if (!arr || !arr->is_array_of_tables())
      throw Error("sweep '" + origin + "': 'grid' must be an array of tables ([[sweep.grid]])");
    int index = 0;
    for (const toml::node& g : *arr) {
      const std::string where = origin + " [[sweep.grid]] " + std::to_string(++index);
      const toml::table& t = *g.as_table();
      for (const auto& [k, _] : t)
        if (std::find(std::begin(kAxisKeys), std::end(kAxisKeys), k.str()) == std::end(kAxisKeys))
          throw Error("sweep '" + where + "': unknown key '" + std::string(k.str()) + "' (a grid sets axes only)");
      if (t.empty()) throw Error("sweep '" + where + "': an empty grid repeats the base grid");
      spec.extra_grids.push_back(read_axes(t, spec, where));
    }
  }
  spec.diagnosis = read_bool(*sweep, "diagnosis", origin, false);
  // [[external]] kernels; "{spec_dir}" in their commands is the sweep file's folder.
  const std::filesystem::path spec_path(origin);
  spec.externals = parse_external_kernels(
      root, origin, spec_path.has_parent_path() ? std::filesystem::absolute(spec_path).parent_path().string() : "");
  return spec;
}

SweepSpec parse_sweep_spec(const std::string& path) {
  constexpr uint64_t kMaxSpecBytes = 1u << 20;  // a sweep file is a page of text
  return parse_sweep_spec_text(read_regular_file(path, kMaxSpecBytes, "sweep file"), path);
}

std::vector<SweepPoint> expand_sweep(const SweepSpec& spec, const Registry& registry, bool use_gpu) {
  const std::vector<std::string>& globs = (use_gpu && !spec.gpu_kernels.empty()) ? spec.gpu_kernels : spec.kernels;
  std::vector<std::string> kernels;
  for (const std::string& g : globs) {
    const auto matched = registry.matching(g);
    if (matched.empty()) {
      std::vector<std::string> names;
      for (const Kernel* k : registry.all()) names.push_back(k->info.name);
      throw Error("sweep '" + spec.name + "': kernel glob '" + g + "' matches no registered kernel" +
                  did_you_mean(g, names) + "; `attnscope list` shows the " + std::to_string(names.size()) +
                  " registered names");
    }
    for (const Kernel* k : matched)
      if (std::find(kernels.begin(), kernels.end(), k->info.name) == kernels.end()) kernels.push_back(k->info.name);
  }
  // The size of the expansion, refused before it is built: a spec of a few lines can multiply
  // its axes into more points than any machine can hold.
  auto grid_points = [&](const SweepAxes& a) {
    uint64_t n = kernels.size();
    for (size_t axis : {a.dtypes.size(), a.batch.size(), a.seqlen_q.size(),
                        a.seqlen_k.empty() ? a.cache_depth.size() : a.seqlen_k.size(), a.heads.size(),
                        a.head_dim.size(), a.masks.size(), a.distributions.size(), a.seeds.size(),
                        std::max<size_t>(1, a.block_m.size()), std::max<size_t>(1, a.block_n.size()),
                        std::max<size_t>(1, a.splits.size())})
      n = saturating_mul(n, axis);
    return n;
  };
  uint64_t planned = grid_points(spec);
  for (const SweepAxes& g : spec.extra_grids) planned = saturating_add(planned, grid_points(g));
  if (planned > kMaxSweepPoints)
    throw Error("sweep '" + spec.name + "' expands to " + std::to_string(planned) + " points, more than the " +
                std::to_string(kMaxSweepPoints) + " one sweep may have (split it into several specs)");
  std::vector<SweepPoint> points;
  std::set<std::string> seen;  // a point of an extra grid that the base grid (or another) has is not repeated
  std::vector<const SweepAxes*> grids{&spec};
  for (const SweepAxes& g : spec.extra_grids) grids.push_back(&g);
  for (const SweepAxes* grid : grids) {
    const SweepAxes& a = *grid;
    const std::vector<int64_t> key_axis = a.seqlen_k.empty() ? a.cache_depth : a.seqlen_k;
    // The kernel axis is innermost: consecutive points share inputs and truth (computed once).
    for (DType dtype : a.dtypes)
      for (int64_t batch : a.batch)
        for (int64_t sq : a.seqlen_q)
          for (int64_t key_value : key_axis)
            for (const auto& [hq, hkv] : a.heads)
              for (int64_t d : a.head_dim)
                for (const Mask& mask : a.masks)
                  for (Distribution dist : a.distributions)
                    for (uint64_t seed : a.seeds)
                      for (const TileRequest& tile : tiles_of(a))
                      for (const std::string& kernel : kernels) {
                        // A kernel built for one dtype is not a point of another dtype's sweep.
                        const std::optional<DType>& only = registry.get(kernel).info.dtype;
                        if (only && *only != dtype) continue;
                        SweepPoint p;
                        p.kernel = kernel;
                        p.problem.batch = batch;
                        p.problem.seqlen_q = sq;
                        p.problem.seqlen_k = a.seqlen_k.empty() ? sq + key_value : key_value;
                        p.problem.num_heads_q = hq;
                        p.problem.num_heads_kv = hkv;
                        p.problem.head_dim = d;
                        p.problem.dtype = dtype;
                        p.problem.mask = mask;
                        p.inputs.distribution = dist;
                        p.inputs.seed = seed;
                        p.tile = tile;
                        if (seen.insert(p.key()).second) points.push_back(p);
                      }
  }
  return points;
}

nlohmann::json expanded_spec_json(const SweepSpec& spec, const std::vector<SweepPoint>& points) {
  nlohmann::json keys = nlohmann::json::array();
  for (const SweepPoint& p : points) keys.push_back(p.key());
  // An external kernel is its command: another worker under the same name is another kernel.
  nlohmann::json externals = nlohmann::json::array();
  for (const ExternalKernelSpec& e : spec.externals)
    externals.push_back({{"name", e.name}, {"command", e.command}, {"env", e.env}, {"planted_bug", e.planted_bug}});
  return {{"name", spec.name},
          {"attribution", spec.attribution},
          {"allow_masked_rows", spec.allow_masked_rows},
          {"diagnosis", spec.diagnosis},
          {"externals", std::move(externals)},
          {"points", std::move(keys)}};
}

std::string spec_hash(const nlohmann::json& expanded) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a 64 offset basis
  for (unsigned char c : expanded.dump()) {
    h ^= c;
    h *= 1099511628211ull;  // FNV prime
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

}  // namespace attn
