// problem_flags.h: the flags that describe one attention problem and its inputs, shared by the
// subcommands that take a single configuration (`run`, `attribute`) and, for the names and
// defaults they have in common, by `incremental` and `bench`: one spelling per concept
// (--head-dim, --heads HQ:HKV or H, --distribution, --seed 0, --json a flag that prints JSON).
// Old spellings that scripts use (--dim, --dist) stay as hidden aliases.
#pragma once

#include <CLI/CLI.hpp>

#include <string>

#include "core/generators.h"
#include "core/problem.h"

namespace attn::cli {

/// The defaults every command shares.
inline constexpr int64_t kDefaultHeadDim = 64;
inline constexpr const char* kDefaultHeads = "8:2";
inline constexpr uint64_t kDefaultSeed = 0;
inline constexpr const char* kDistributionHelp = "normal | uniform | outliers | large-logits | sink | growing-max";

/// --head-dim (hidden alias --dim) bound to `target`.
void add_head_dim_flag(CLI::App& app, int64_t& target);
/// --distribution (hidden alias --dist) bound to `target`.
void add_distribution_flag(CLI::App& app, std::string& target);
/// Parses --heads (HQ:HKV or H); errors are CLI::ValidationError naming the flag.
std::pair<int64_t, int64_t> heads_flag(const std::string& text);
/// Parses --distribution; errors are CLI::ValidationError naming the flag.
Distribution distribution_flag(const std::string& text);

struct ProblemFlags {
  int64_t batch = 1, seqlen_q = 64, seqlen_k = 64, head_dim = kDefaultHeadDim;
  std::string heads = kDefaultHeads, dtype = "fp16", mask = "causal", gqa = "contiguous", dist = "normal", seqlens_k;
  double scale = 0;  ///< 0: default 1/sqrt(D)
  uint64_t seed = kDefaultSeed;
  bool allow_masked_rows = false;

  void add_to(CLI::App& app);
  /// Builds and validates the problem (sizes, then the memory it needs against --max-memory, then
  /// fully masked rows); errors are CLI::ValidationError naming the flag, EnvironmentError for memory.
  Problem problem(bool with_attribution = false) const;
  InputSpec input_spec() const;
};

}  // namespace attn::cli
