// problem_flags.h: the flags that describe one attention problem and its inputs, shared by the
// subcommands that take a single configuration (`run`, `diagnose`'s generated mode, ...).
#pragma once

#include <CLI/CLI.hpp>

#include <string>

#include "core/generators.h"
#include "core/problem.h"

namespace attn::cli {

struct ProblemFlags {
  int64_t batch = 1, seqlen_q = 64, seqlen_k = 64, head_dim = 64;
  std::string heads = "8:2", dtype = "fp16", mask = "causal", gqa = "contiguous", dist = "normal", seqlens_k;
  double scale = 0;  ///< 0: default 1/sqrt(D)
  uint64_t seed = 0;
  bool allow_masked_rows = false;

  void add_to(CLI::App& app);
  /// Builds and validates the problem; errors are CLI::ValidationError naming the flag.
  Problem problem() const;
  InputSpec input_spec() const;
};

}  // namespace attn::cli
