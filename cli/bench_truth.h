// bench_truth.h: `attnscope bench --truth`, the benchmark mode that prints where one `run`
// spends its time: inputs, truth (FP64 pass and certification), truth of the unquantized inputs,
// same-precision baseline, kernel, metrics and the database insert, per problem size. The other
// bench modes (bench_command.cpp) time kernels; this one times the measurement around them.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace attn::cli {

struct TruthBenchRequest {
  std::vector<std::string> dtypes = {"fp16"};
  std::vector<int> head_dims = {128};
  std::vector<int> seqlens = {2048};  ///< S_q = S_k
  std::vector<bool> causal = {true};
  int64_t batch = 1;
  int64_t heads_q = 8, heads_kv = 2;
  std::string kernel;               ///< --truth-kernel; empty: naive-<dtype>
  std::string truth_device = "auto";
  int repeat = 1;                   ///< runs per configuration (each line is one run)
  bool json = false;                ///< JSON lines on stdout instead of the table (`bench --json`)
  std::string out_path;             ///< the JSON lines also written here (`bench --out`)
};

/// Adds the options only the truth mode reads (--truth-kernel, --truth-device, --batch, --repeat)
/// to the bench subcommand; the shapes come from bench's own flags (--heads HQ:HKV, ...).
void add_truth_bench_options(CLI::App& bench, TruthBenchRequest& request);

/// Runs every configuration `repeat` times and prints the split per stage (or JSON lines); the
/// output file is checked before the first run and rewritten atomically after each.
void run_truth_bench(const TruthBenchRequest& request);

}  // namespace attn::cli
