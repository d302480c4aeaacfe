// bench_decode.cpp: `attnscope bench --decode` — the KV-cache decode kernels' bandwidth: every
// configuration of kernels/decode/decode_bench.h (CUDA cores, the production kernel: contiguous,
// paged 16 / 256, fixed 256-key split; bulk: heuristic split, paged 16 / 256, fixed 256-key
// split, FP8 cache, one head per CTA) on the grid
// B x L (S_q 1, H_q:H_kv, D), cold (L2 flushed) and warm, in TB/s of unique K/V bytes. Each
// configuration is first checked once against the GPU FP64 truth within the FlashAttention rule
// on a ragged cache (an FP8 cache against the truth of its dequantized values). The PyTorch SDPA
// peers (flash, cuDNN) are timed by experiments/peers/bench_torch_decode.py in the same device
// call; experiments/device/make_decode_bench_table.py joins both into the ratio table. Not the prefill
// benchmark (bench_command.cpp).
#include "cli/bench_decode.h"

#include <algorithm>
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "git_commit.h"  // generated at build time (cmake/write_git_commit.cmake)

#include "core/errors.h"
#include "core/io_files.h"
#include "core/registry.h"

#if defined(ATTNSCOPE_HAVE_CUDA)
#include <cmath>

#include "analysis/metrics.h"
#include "core/generators.h"
#include "kernels/cache/fp8_kv.h"
#include "kernels/decode/decode_bench.h"
#include "kernels/prefill_bench.h"
#include "kernels/register_gpu_kernels.h"
#include "references/gpu/gpu_references.h"
#endif

namespace attn::cli {

void add_decode_bench_options(CLI::App& sub, DecodeBenchOptions& opt) {
  // --batches, not --batch: `bench --truth --batch N` (bench_truth.cpp) is one batch size.
  sub.add_option("--batches", opt.batches, "decode: batch sizes (a list)")->delimiter(',')->capture_default_str();
  sub.add_option("--cache-lens", opt.cache_lens, "decode: keys in every entry's cache")->delimiter(',')->capture_default_str();
  sub.add_option("--decode-heads", opt.heads, "decode: H_q:H_kv")->capture_default_str();
  sub.add_option("--cases", opt.cases, "decode: glob on the configuration labels (cuda-cores, cuda-cores.paged16, bulk, bulk.fp8, ...)")
      ->capture_default_str();
}

#if defined(ATTNSCOPE_HAVE_CUDA)
namespace {

/// The FlashAttention rule on a ragged decode cache (B 3, fills 1000 / 333 / 1, S_q 1, the
/// benchmark's heads): refuses to time a wrong configuration.
void check_case(const DecodeBenchCase& c, DType dtype, int head_dim, int heads_q, int heads_kv) {
  Problem pr;
  pr.batch = 3;
  pr.seqlen_q = 1;
  pr.seqlen_k = 1004;
  pr.seqlens_k = {1000, 333, 1};
  pr.num_heads_q = heads_q;
  pr.num_heads_kv = heads_kv;
  pr.head_dim = head_dim;
  pr.dtype = dtype;
  const AttentionInputs in = generate_inputs(pr, InputSpec{});
  // An FP8 cache is judged against the attention of what it stores (kernels/cache/fp8_kv.h).
  const AttentionInputs seen = c.variant.fp8_cache ? dequantized_kv(pr, in, fp8_kv_scales(pr, in)) : in;
  DecodeVariant v = c.variant;
  v.dtype = dtype;
  v.head_dim = head_dim;
  const Kernel k = make_decode_kernel(v);
  if (auto why = k.invalid_reason(pr)) throw Error("attnscope bench --decode: " + c.label + " cannot run: " + *why);
  const double error = max_abs_error(k.run(pr, in).o, gpu_truth_fp64(pr, seen).o);
  const double baseline = max_abs_error(gpu_naive_baseline(pr, seen).o, gpu_truth_fp64(pr, seen).o);
  if (!fa_rule(error, baseline, std::isfinite(error)).pass)  // the one FlashAttention rule
    throw Error("attnscope bench --decode: " + c.label + " fails the FlashAttention rule (error " + std::to_string(error) +
                ", baseline " + std::to_string(baseline) + "); not timing a wrong kernel");
}

}  // namespace

void run_bench_decode(const DecodeBenchOptions& opt, const std::vector<std::string>& dtypes, const std::vector<int>& head_dims,
                      int warmup, int iterations, bool check, bool json, const std::string& out_path) {
  std::string why;
  if (!gpu_available(&why)) throw EnvironmentError("attnscope bench --decode: " + why);
  const size_t colon = opt.heads.find(':');
  int heads_q = 0, heads_kv = 0;
  try {
    heads_q = std::stoi(opt.heads.substr(0, colon));
    heads_kv = colon == std::string::npos ? heads_q : std::stoi(opt.heads.substr(colon + 1));
  } catch (const std::exception&) {
    throw ProblemError("--decode-heads '" + opt.heads + "' (expected H_q:H_kv)");
  }
  if (heads_q < 1 || heads_kv < 1 || heads_q % heads_kv != 0) throw ProblemError("--decode-heads: H_q must be a multiple of H_kv");
  if (!out_path.empty()) check_output_path(out_path, OutputKind::file, {}, "--out");
  std::string json_lines;
  int selected = 0, failed = 0;
  if (!json) std::printf("# attnscope bench --decode on %s, commit %s\n", gpu_description().c_str(), ATTNSCOPE_GIT_COMMIT);
  if (!json) std::printf("%-20s %-5s %4s %4s %7s %7s %6s %5s %9s %8s %9s %8s\n", "config", "dtype", "d", "B", "L", "splits", "h/cta",
              "stg", "cold_us", "cold_TB/s", "warm_us", "warm_TB/s");
  for (const std::string& dt : dtypes)
    for (int d : head_dims) {
      const DType dtype = parse_dtype(dt);
      for (const DecodeBenchCase& c : decode_bench_cases()) {
        if (!glob_match(opt.cases, c.label)) continue;
        ++selected;
        // A configuration that fails its check or cannot run is reported and skipped; the others
        // are still timed, and the command exits 1 at the end.
        try {
          if (check) check_case(c, dtype, d, heads_q, heads_kv);
        } catch (const Error& e) {
          std::fprintf(stderr, "attnscope: error: %s\n", e.what());
          ++failed;
          continue;
        }
        for (int b : opt.batches)
          for (int l : opt.cache_lens) {
            const DecodeBenchShape shape{
                .dtype = dtype, .batch = b, .heads_q = heads_q, .heads_kv = heads_kv, .head_dim = d, .keys = l};
            // About a quarter second of launches per measurement at 3.5 TB/s, 10..--iters (the peers' rule).
            const double bytes = 2.0 * b * static_cast<double>(l) * heads_kv * d * (c.variant.fp8_cache ? 1 : 2);
            const int iters = std::clamp(static_cast<int>(0.25 / (bytes / 3.5e12)), std::min(10, iterations), iterations);
            DecodeTiming t;
            try {
              t = time_decode_case(c, shape, warmup, iters);
            } catch (const Error& e) {
              std::fprintf(stderr, "attnscope: error: bench --decode %s B %d L %d: %s\n", c.label.c_str(), b, l, e.what());
              ++failed;
              continue;
            }
            const nlohmann::json row{{"impl", c.label}, {"mode", "decode"}, {"dtype", dt}, {"head_dim", d}, {"batch", b},
                                     {"keys", l}, {"heads_q", heads_q}, {"heads_kv", heads_kv}, {"seqlen_q", 1},
                                     {"splits", t.splits}, {"keys_per_split", t.keys_per_split},
                                     {"heads_per_cta", t.heads_per_cta}, {"stages", t.stages}, {"bytes", t.bytes},
                                     {"cold_us", t.cold_us}, {"cold_tbps", t.cold_tbps}, {"warm_us", t.warm_us},
                                     {"warm_tbps", t.warm_tbps}, {"iterations", iters}, {"gpu", gpu_description()},
                                     {"commit", ATTNSCOPE_GIT_COMMIT}};
            json_lines += row.dump() + "\n";
            if (json)
              std::printf("%s\n", row.dump().c_str());
            else
              std::printf("%-20s %-5s %4d %4d %7d %7d %6d %5d %9.2f %8.3f %9.2f %8.3f\n", c.label.c_str(), dt.c_str(), d, b,
                          l, t.splits, t.heads_per_cta, t.stages, t.cold_us, t.cold_tbps, t.warm_us, t.warm_tbps);
            std::fflush(stdout);
            if (!out_path.empty()) write_file_atomic(out_path, json_lines);  // complete after every line
          }
      }
    }
  if (selected == 0) throw ProblemError("--cases '" + opt.cases + "' selects no decode configuration");
  if (failed) {
    std::fprintf(stderr, "attnscope: error: bench --decode: %d configuration(s) or shape(s) failed (above)\n", failed);
    throw CLI::RuntimeError(1);
  }
}
#else
void run_bench_decode(const DecodeBenchOptions&, const std::vector<std::string>&, const std::vector<int>&, int, int, bool,
                      bool, const std::string&) {
  throw EnvironmentError("attnscope bench --decode: this build has no CUDA (configure with nvcc and ATTNSCOPE_ENABLE_CUDA=ON)");
}
#endif

}  // namespace attn::cli
