#include "experiments/sweep_spec.h"

#include <toml++/toml.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "core/errors.h"
#include "experiments/external/external_spec_toml.h"

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
    if (x < minimum)
      throw Error("sweep '" + origin + "': key '" + key + "' has " + std::to_string(x) + " (must be >= " +
                  std::to_string(minimum) + ")");
  return v;
}

}  // namespace

std::string SweepPoint::key() const {
  return kernel + "|" + problem.label() + "|" + distribution_name(inputs.distribution) + "|seed" +
         std::to_string(inputs.seed);
}

SweepSpec parse_sweep_spec_text(const std::string& text, const std::string& origin) {
  toml::table root;
  try {
    root = toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    std::ostringstream msg;
    msg << "sweep '" << origin << "' is not valid TOML: " << e.description() << " (line "
        << e.source().begin.line << ", column " << e.source().begin.column << ")";
    throw Error(msg.str());
  }
  const toml::table* sweep = root["sweep"].as_table();
  if (!sweep) throw Error("sweep '" + origin + "' has no [sweep] table");
  static const char* kKnownKeys[] = {"name", "kernels", "gpu_kernels", "dtypes", "batch", "seqlen_q", "seqlen_k",
                                     "cache_depth", "heads", "head_dim", "masks", "distributions", "seeds",
                                     "attribution", "allow_masked_rows", "diagnosis"};
  for (const auto& [k, _] : *sweep) {
    bool known = false;
    for (const char* name : kKnownKeys) known = known || k.str() == name;
    if (!known) throw Error("sweep '" + origin + "': unknown key '" + std::string(k.str()) + "' in [sweep]");
  }
  SweepSpec spec;
  spec.name = sweep->get("name") ? sweep->get("name")->value_or<std::string>("") : "default";
  if (spec.name.empty()) throw Error("sweep '" + origin + "': 'name' must be a non-empty string");
  spec.kernels = read_list<std::string>(*sweep, "kernels", origin, {});
  if (spec.kernels.empty()) throw Error("sweep '" + origin + "': 'kernels' (registry globs) is required");
  if (sweep->get("gpu_kernels")) spec.gpu_kernels = read_list<std::string>(*sweep, "gpu_kernels", origin, {});
  spec.dtypes.clear();
  for (const std::string& d : read_list<std::string>(*sweep, "dtypes", origin, {"fp16"}))
    spec.dtypes.push_back(parse_dtype(d));
  spec.batch = read_sizes(*sweep, "batch", origin, {1}, 1);
  spec.seqlen_q = read_sizes(*sweep, "seqlen_q", origin, {64}, 1);
  if (sweep->get("seqlen_k") && sweep->get("cache_depth"))
    throw Error("sweep '" + origin + "': give either 'seqlen_k' or 'cache_depth', not both");
  if (sweep->get("seqlen_k")) {
    spec.seqlen_k = read_sizes(*sweep, "seqlen_k", origin, {}, 1);
    spec.cache_depth.clear();
  } else {
    spec.cache_depth = read_sizes(*sweep, "cache_depth", origin, {0}, 0);
  }
  spec.heads.clear();
  for (const std::string& h : read_list<std::string>(*sweep, "heads", origin, {"8:2"})) {
    const auto colon = h.find(':');
    try {
      if (colon == std::string::npos) throw std::invalid_argument("");
      spec.heads.emplace_back(std::stoll(h.substr(0, colon)), std::stoll(h.substr(colon + 1)));
    } catch (const std::exception&) {
      throw Error("sweep '" + origin + "': heads entry '" + h + "' must be \"HQ:HKV\"");
    }
  }
  spec.head_dim = read_sizes(*sweep, "head_dim", origin, {64}, 1);
  spec.masks.clear();
  for (const std::string& m : read_list<std::string>(*sweep, "masks", origin, {"causal"}))
    spec.masks.push_back(parse_mask(m));
  spec.distributions.clear();
  for (const std::string& d : read_list<std::string>(*sweep, "distributions", origin, {"normal"}))
    spec.distributions.push_back(parse_distribution(d));
  spec.seeds.clear();
  for (int64_t s : read_sizes(*sweep, "seeds", origin, {0}, 0)) spec.seeds.push_back(static_cast<uint64_t>(s));
  spec.attribution = sweep->get("attribution") ? sweep->get("attribution")->value_or(true) : true;
  spec.allow_masked_rows = sweep->get("allow_masked_rows") ? sweep->get("allow_masked_rows")->value_or(false) : false;
  spec.diagnosis = sweep->get("diagnosis") ? sweep->get("diagnosis")->value_or(false) : false;
  // [[external]] kernels; "{spec_dir}" in their commands is the sweep file's folder.
  const std::filesystem::path spec_path(origin);
  spec.externals = parse_external_kernels(
      root, origin, spec_path.has_parent_path() ? std::filesystem::absolute(spec_path).parent_path().string() : "");
  return spec;
}

SweepSpec parse_sweep_spec(const std::string& path) {
  toml::table root;
  std::ostringstream buffer;
  {
    std::ifstream f(path);
    if (!f) throw Error("cannot read sweep file '" + path + "'");
    buffer << f.rdbuf();
  }
  return parse_sweep_spec_text(buffer.str(), path);
}

std::vector<SweepPoint> expand_sweep(const SweepSpec& spec, const Registry& registry, bool use_gpu) {
  const std::vector<std::string>& globs = (use_gpu && !spec.gpu_kernels.empty()) ? spec.gpu_kernels : spec.kernels;
  std::vector<std::string> kernels;
  for (const std::string& g : globs) {
    const auto matched = registry.matching(g);
    if (matched.empty()) {
      std::string names;
      for (const Kernel* k : registry.all()) names += (names.empty() ? "" : ", ") + k->info.name;
      throw Error("sweep '" + spec.name + "': kernel glob '" + g + "' matches no registered kernel (registered: " +
                  (names.empty() ? "none" : names) + ")");
    }
    for (const Kernel* k : matched)
      if (std::find(kernels.begin(), kernels.end(), k->info.name) == kernels.end()) kernels.push_back(k->info.name);
  }
  std::vector<SweepPoint> points;
  const std::vector<int64_t> key_axis = spec.seqlen_k.empty() ? spec.cache_depth : spec.seqlen_k;
  // The kernel axis is innermost: consecutive points share inputs and truth (computed once).
  for (DType dtype : spec.dtypes)
    for (int64_t batch : spec.batch)
      for (int64_t sq : spec.seqlen_q)
        for (int64_t key_value : key_axis)
          for (const auto& [hq, hkv] : spec.heads)
            for (int64_t d : spec.head_dim)
              for (const Mask& mask : spec.masks)
                for (Distribution dist : spec.distributions)
                  for (uint64_t seed : spec.seeds)
                    for (const std::string& kernel : kernels) {
                      // A kernel built for one dtype is not a point of another dtype's sweep.
                      const std::optional<DType>& only = registry.get(kernel).info.dtype;
                      if (only && *only != dtype) continue;
                      SweepPoint p;
                      p.kernel = kernel;
                      p.problem.batch = batch;
                      p.problem.seqlen_q = sq;
                      p.problem.seqlen_k = spec.seqlen_k.empty() ? sq + key_value : key_value;
                      p.problem.num_heads_q = hq;
                      p.problem.num_heads_kv = hkv;
                      p.problem.head_dim = d;
                      p.problem.dtype = dtype;
                      p.problem.mask = mask;
                      p.inputs.distribution = dist;
                      p.inputs.seed = seed;
                      points.push_back(p);
                    }
  return points;
}

}  // namespace attn
