// bench_chunked.cpp: `attnscope bench --chunked` — chunked prefill over a KV cache: every
// registered 16-bit chunked variant (kernels/variants.toml [chunked]: the default fa2 and fa3
// tiles over a contiguous cache, paged 16 and paged 256) on batch x chunk x depth, the chunk's
// queries attending (bottom-right causal) to the cached keys and themselves, in TFLOP/s of the
// (query, key) pairs the mask lets through, median of CUDA-event-timed launches
// (kernels/prefill_bench.h with BenchKv: per-entry key counts, a shuffled page pool). Each variant
// is first checked once against the GPU FP64 truth within the FlashAttention rule on a ragged
// cache. The E4M3-cache variants are not timed: they dequantize the whole cache into a 16-bit copy
// first (kernels/cache/dequantize_kv.h), a correctness path. Not the prefill or decode modes.
#include "cli/bench_chunked.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>
#include <tuple>

#include <nlohmann/json.hpp>

#include "git_commit.h"  // generated at build time (cmake/write_git_commit.cmake)

#include "core/errors.h"
#include "core/float_format.h"
#include "core/io_files.h"
#include "core/problem.h"
#include "core/registry.h"

#if defined(ATTNSCOPE_HAVE_CUDA)
#include <cmath>

#include "analysis/metrics.h"
#include "core/generators.h"
#include "kernels/chunked/register_chunked_prefill.h"
#include "kernels/prefill_bench.h"
#include "kernels/prefill_variants.h"
#include "kernels/register_gpu_kernels.h"
#include "references/gpu/gpu_references.h"
#endif

namespace attn::cli {

void add_chunked_bench_options(CLI::App& sub, ChunkedBenchOptions& opt) {
  sub.add_option("--chunk-batches", opt.batches, "chunked: batch sizes (a list)")->delimiter(',')->capture_default_str();
  sub.add_option("--chunks", opt.chunks, "chunked: new tokens per entry (S_q, a list)")->delimiter(',')->capture_default_str();
  sub.add_option("--depths", opt.depths, "chunked: keys already cached per entry (a list)")->delimiter(',')->capture_default_str();
  sub.add_option("--chunk-heads", opt.heads, "chunked: H_q:H_kv")->capture_default_str();
  sub.add_option("--chunk-cases", opt.cases, "chunked: glob on the labels (fa2, fa2.paged16, fa3, fa3.paged256, fa3.pack-gqa, ...)")
      ->capture_default_str();
}

#if defined(ATTNSCOPE_HAVE_CUDA)
namespace {

/// The column label of a chunked variant: its kernel family and its cache.
std::string chunked_label(const ChunkedPrefillVariant& c) {
  const bool fa3 = c.prefill.rfind("fa3.", 0) == 0, packed = c.prefill.ends_with(".pack-gqa");
  return std::string(fa3 ? (packed ? "fa3.pack-gqa" : "fa3") : "fa2") + (c.page_size ? ".paged" + std::to_string(c.page_size) : "");
}

/// The FlashAttention rule on a ragged cache (B 3, 300 / 100 / 0 cached keys, a 65-token chunk,
/// the benchmark's heads), through the registered kernel (append, cache, launch): refuses to time
/// a wrong variant.
void check_chunked(const ChunkedPrefillVariant& c, const PrefillVariant& v, const std::string& label, int64_t heads_q,
                   int64_t heads_kv) {
  const Kernel k = make_chunked_prefill_kernel(c);
  Problem pr;
  pr.batch = 3;
  pr.seqlen_q = 65;
  pr.seqlen_k = 370;
  pr.seqlens_k = {365, 165, 65};
  pr.num_heads_q = heads_q;
  pr.num_heads_kv = heads_kv;
  pr.head_dim = v.head_dim;
  pr.dtype = v.dtype;
  pr.mask.kind = MaskKind::causal_bottom_right;
  const AttentionInputs in = generate_inputs(pr, InputSpec{});
  if (auto why = k.invalid_reason(pr)) throw Error("attnscope bench --chunked: " + label + " cannot run: " + *why);
  const AttentionOutputs truth = gpu_truth_fp64(pr, in);
  const double error = max_abs_error(k.run(pr, in).o, truth.o);
  const double baseline = max_abs_error(gpu_naive_baseline(pr, in).o, truth.o);
  if (!fa_rule(error, baseline, std::isfinite(error)).pass)
    throw Error("attnscope bench --chunked: " + c.name + " fails the FlashAttention rule (error " + std::to_string(error) +
                ", baseline " + std::to_string(baseline) + "); not timing a wrong kernel");
}

/// The timed problem: a chunk of `chunk` new queries per entry against depth + chunk keys,
/// bottom-right causal (the chunk sees the cache and itself).
Problem chunk_problem(int batch, int chunk, int depth, int64_t heads_q, int64_t heads_kv, int head_dim, DType dtype) {
  Problem pr;
  pr.batch = batch;
  pr.seqlen_q = chunk;
  pr.seqlen_k = static_cast<int64_t>(depth) + chunk;
  pr.num_heads_q = heads_q;
  pr.num_heads_kv = heads_kv;
  pr.head_dim = head_dim;
  pr.dtype = dtype;
  pr.mask.kind = MaskKind::causal_bottom_right;
  return pr;
}

}  // namespace

void run_bench_chunked(const ChunkedBenchOptions& opt, const std::vector<std::string>& dtypes,
                       const std::vector<int>& head_dims, int warmup, int iterations, bool check, bool json,
                       const std::string& out_path) {
  // Bad options and shapes are named (exit 2) before the GPU is looked for (exit 3 without one).
  int64_t heads_q = 0, heads_kv = 0;
  try {
    std::tie(heads_q, heads_kv) = parse_heads(opt.heads);
  } catch (const Error& e) {
    throw CLI::ValidationError("--chunk-heads", e.what());
  }
  for (int b : opt.batches)
    if (b < 1) throw ProblemError("--chunk-batches: " + std::to_string(b) + " is not a batch size");
  for (int s : opt.chunks)
    if (s < 1) throw ProblemError("--chunks: " + std::to_string(s) + " is not a chunk length");
  for (int d : opt.depths)
    if (d < 0) throw ProblemError("--depths: " + std::to_string(d) + " is not a cache depth");
  // Every shape is a problem the kernels can hold (exit 2) and that fits the memory budget
  // (exit 3), before anything is timed.
  for (const std::string& dt : dtypes)
    for (int d : head_dims)
      for (int b : opt.batches)
        for (int chunk : opt.chunks)
          for (int depth : opt.depths) {
            const Problem pr = chunk_problem(b, chunk, depth, heads_q, heads_kv, d, parse_dtype(dt));
            pr.validate();
            if (pr.seqlen_k > (int64_t{1} << 30))
              throw ProblemError("--depths: " + std::to_string(depth) + " + chunk " + std::to_string(chunk) +
                                 " keys exceed the kernels' 2^30 per entry");
            pr.require_memory_for_run();
          }
  if (!out_path.empty()) check_output_path(out_path, OutputKind::file, {}, "--out");
  std::string why;
  if (!gpu_available(&why)) throw EnvironmentError("attnscope bench --chunked: " + why);
  std::string json_lines;
  int selected = 0, failed = 0;
  if (!json) std::printf("# attnscope bench --chunked on %s, commit %s\n", gpu_description().c_str(), ATTNSCOPE_GIT_COMMIT);
  if (!json)
    std::printf("%-40s %-14s %-5s %4s %4s %6s %7s %10s %9s\n", "kernel", "label", "dtype", "d", "B", "chunk", "depth",
                "median_ms", "TFLOP/s");
  for (const ChunkedPrefillVariant& c : chunked_variants()) {
    const PrefillVariant& v = chunked_prefill_variant(c);
    const std::string label = chunked_label(c), dtype(dtype_name(v.dtype));
    if (c.fp8_cache || v.algorithm.mutant != Mutant::none || !glob_match(opt.cases, label)) continue;
    if (std::find(dtypes.begin(), dtypes.end(), dtype) == dtypes.end()) continue;
    if (std::find(head_dims.begin(), head_dims.end(), v.head_dim) == head_dims.end()) continue;
    ++selected;
    // A variant that fails its check or a shape it cannot run is reported and skipped; the others
    // are still timed, and the command exits 1 at the end.
    try {
      if (check) check_chunked(c, v, label, heads_q, heads_kv);
    } catch (const Error& e) {
      std::fprintf(stderr, "attnscope: error: %s\n", e.what());
      ++failed;
      continue;
    }
    for (int b : opt.batches)
      for (int chunk : opt.chunks)
        for (int depth : opt.depths) {
          const Problem pr = chunk_problem(b, chunk, depth, heads_q, heads_kv, v.head_dim, v.dtype);
          PrefillTiming t;
          try {
            t = time_prefill(v, pr, warmup, iterations, BenchKv{true, c.page_size});
          } catch (const Error& e) {
            std::fprintf(stderr, "attnscope: error: bench --chunked %s B %d chunk %d depth %d: %s\n", label.c_str(), b, chunk,
                         depth, e.what());
            ++failed;
            continue;
          }
          const nlohmann::json row{{"impl", c.name}, {"label", label}, {"mode", "chunked"}, {"prefill", v.name},
                                   {"page_size", c.page_size}, {"dtype", dtype}, {"head_dim", v.head_dim}, {"batch", b},
                                   {"chunk", chunk}, {"depth", depth}, {"heads_q", heads_q}, {"heads_kv", heads_kv},
                                   {"median_ms", t.median_ms}, {"min_ms", t.min_ms}, {"iterations", t.iterations},
                                   {"tflops", t.tflops}, {"gpu", gpu_description()}, {"commit", ATTNSCOPE_GIT_COMMIT}};
          json_lines += row.dump() + "\n";
          if (json)
            std::printf("%s\n", row.dump().c_str());
          else
            std::printf("%-40s %-14s %-5s %4d %4d %6d %7d %10.4f %9.1f\n", c.name.c_str(), label.c_str(), dtype.c_str(),
                        v.head_dim, b, chunk, depth, t.median_ms, t.tflops);
          std::fflush(stdout);
          if (!out_path.empty()) write_file_atomic(out_path, json_lines);  // complete after every line
        }
  }
  if (selected == 0) throw ProblemError("--chunk-cases '" + opt.cases + "' selects no chunked-prefill variant");
  if (failed) {
    std::fprintf(stderr, "attnscope: error: bench --chunked: %d variant(s) or shape(s) failed (above)\n", failed);
    throw CLI::RuntimeError(1);
  }
}
#else
void run_bench_chunked(const ChunkedBenchOptions&, const std::vector<std::string>&, const std::vector<int>&, int, int, bool,
                       bool, const std::string&) {
  throw EnvironmentError("attnscope bench --chunked: this build has no CUDA (configure with nvcc and ATTNSCOPE_ENABLE_CUDA=ON)");
}
#endif

}  // namespace attn::cli
