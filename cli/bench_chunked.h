// bench_chunked.h: the chunked-prefill mode of `attnscope bench` (bench_chunked.cpp): its options
// and its run.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace attn::cli {

struct ChunkedBenchOptions {
  std::vector<int> batches = {4};
  std::vector<int> chunks = {512, 2048};           ///< S_q: the new tokens of each entry
  std::vector<int> depths = {4096, 16384, 65536};  ///< keys already in each entry's cache
  std::string heads = "32:8";
  std::string cases = "*";
};

/// The chunked-only options of `bench` (refused without --chunked).
inline constexpr const char* kChunkedOnlyBenchOptions[] = {"--chunk-batches", "--chunks", "--depths", "--chunk-heads",
                                                           "--chunk-cases"};

/// Adds the chunked-only options (kChunkedOnlyBenchOptions) to `bench`.
void add_chunked_bench_options(CLI::App& sub, ChunkedBenchOptions& options);

/// Times every selected 16-bit chunked-prefill variant (fa2 / fa3 over a contiguous, paged 16 or
/// paged 256 cache) on every (dtype, head dim, batch, chunk, depth): the chunk's S_q queries
/// against depth + S_q keys under the bottom-right causal mask. The shared options (--dtype,
/// --head-dim, --warmup, --iters, --no-check, --json, --out) come from `bench`.
void run_bench_chunked(const ChunkedBenchOptions& options, const std::vector<std::string>& dtypes,
                       const std::vector<int>& head_dims, int warmup, int iterations, bool check, bool json,
                       const std::string& out_path);

}  // namespace attn::cli
