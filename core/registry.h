// registry.h: every runnable implementation registers under a stable name; sweeps, tests,
// benchmarks and reports enumerate the registry instead of hand-kept switches. Libraries expose
// a register_*() function (explicit, so that static linking never drops a registration).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/kernel.h"

namespace attn {

/// A selection by typed metadata (KernelInfo); an unset field matches everything.
struct KernelQuery {
  std::optional<std::string> design = std::nullopt;  ///< "fa2", "decode", "chunked", "emu"
  std::optional<DType> dtype = std::nullopt;
  std::optional<int> head_dim = std::nullopt;        ///< matches kernels of this head dim and those of any (0)
  std::optional<KernelPath> path = std::nullopt;
  std::optional<Mutant> mutant = std::nullopt;       ///< Mutant::none: correct kernels only
  std::optional<int> num_splits = std::nullopt;      ///< split-KV partitions of the emulated algorithm
  bool default_only = false;          ///< only is_default variants
  bool matches(const KernelInfo& info) const;
};

class Registry {
 public:
  /// Throws attn::Error if the name is taken.
  void add(Kernel kernel);
  /// Throws attn::Error naming the unknown kernel and listing close and available names.
  const Kernel& get(const std::string& name) const;
  const Kernel* find(const std::string& name) const;
  /// Kernels whose name matches a glob pattern ('*' and '?'), in registration order.
  std::vector<const Kernel*> matching(const std::string& pattern) const;
  std::vector<const Kernel*> all() const;
  /// Kernels matching `query`, in registration order.
  std::vector<const Kernel*> select(const KernelQuery& query) const;
  size_t size() const { return kernels_.size(); }

 private:
  std::vector<Kernel> kernels_;
};

bool glob_match(const std::string& pattern, const std::string& text);

}  // namespace attn
