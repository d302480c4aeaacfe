// bench_decode.h: the decode mode of `attnscope bench` (bench_decode.cpp): its options and its run.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace attn::cli {

struct DecodeBenchOptions {
  std::vector<int> batches = {1, 8, 64};
  std::vector<int> cache_lens = {1024, 4096, 16384, 65536, 131072};
  std::string heads = "32:8";
  std::string cases = "*";
};

/// The decode-only options of `bench` (refused without --decode).
inline constexpr const char* kDecodeOnlyBenchOptions[] = {"--batches", "--cache-lens", "--decode-heads", "--cases"};

/// Adds the decode-only options (kDecodeOnlyBenchOptions) to `bench`.
void add_decode_bench_options(CLI::App& sub, DecodeBenchOptions& options);

/// Times every selected configuration on every (dtype, head dim, batch, cache length); the shared
/// options (--dtype, --head-dim, --warmup, --iters, --no-check, --json, --out) come from `bench`:
/// `json` prints JSON lines instead of the table, `out_path` (when set) also receives them.
void run_bench_decode(const DecodeBenchOptions& options, const std::vector<std::string>& dtypes,
                      const std::vector<int>& head_dims, int warmup, int iterations, bool check, bool json,
                      const std::string& out_path);

}  // namespace attn::cli
