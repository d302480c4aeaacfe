// bench_command.cpp: `attnscope bench` — `--prefill` (the default) times the compiled prefill
// variants, FA2 and Hopper (fa3), default tiles and the precise mode unless --kernels says
// otherwise, on the benchmark shapes of issue 4 with CUDA events, after checking each once against
// the GPU FP64 truth within the FlashAttention rule.
// Writes a table (or, with --json, JSON lines) to stdout and the JSON lines to --out. The PyTorch SDPA
// peers are timed by experiments/peers/bench_torch_sdpa.py in the same device call, and
// experiments/device/make_prefill_report.py joins the two. Without CUDA it says so and fails.
// Other modes: --decode, the KV-cache decode kernels (bench_decode.cpp); --chunked, chunked prefill
// over a contiguous or paged cache (bench_chunked.cpp); --truth, the split of one `run` per stage
// (bench_truth.cpp), which needs no GPU.
#include <cstdio>
#include <string>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "git_commit.h"  // generated at build time (cmake/write_git_commit.cmake)

#include "cli/bench_chunked.h"
#include "cli/bench_decode.h"
#include "cli/bench_truth.h"
#include "cli/commands.h"
#include "cli/problem_flags.h"
#include "core/io_files.h"
#include "core/errors.h"
#include "core/registry.h"

#if defined(ATTNSCOPE_HAVE_CUDA)
#include <cmath>

#include "analysis/emulator.h"
#include "analysis/metrics.h"
#include "core/generators.h"
#include "kernels/hopper/hopper_variants.h"
#include "kernels/prefill_bench.h"
#include "kernels/prefill_variants.h"
#include "kernels/register_gpu_kernels.h"
#include "references/gpu/gpu_references.h"
#endif

namespace attn::cli {

namespace {
struct BenchOptions {
  std::string kernels = "default";  // "default" = default tiles + precise; else a glob on names
  std::vector<std::string> dtypes = {"fp16", "bf16"};
  std::vector<int> head_dims = {128, 64};
  std::vector<int> seqlens = {512, 1024, 2048, 4096, 8192, 16384};
  int tokens = 16384;
  std::string heads = "16";  ///< HQ:HKV or H (the same notation as every command)
  std::string causal = "both";
  int warmup = 10;
  int iterations = 50;
  bool check = true;
  bool json = false;      ///< JSON lines on stdout instead of the table
  std::string out_path;   ///< JSON lines also written here
  bool truth = false;     ///< the --truth mode (bench_truth.h)
  bool prefill = false;   ///< --prefill: the default mode, named
  bool decode = false;    ///< --decode: the KV-cache decode kernels (bench_decode.h)
  bool chunked = false;   ///< --chunked: chunked prefill over a KV cache (bench_chunked.h)
  DecodeBenchOptions decode_options;
  ChunkedBenchOptions chunked_options;
};

#if defined(ATTNSCOPE_HAVE_CUDA)
void run_bench(const BenchOptions& opt) {
  std::string why;
  if (!gpu_available(&why)) throw EnvironmentError("attnscope bench: " + why);
  const auto [heads_q, heads_kv] = heads_flag(opt.heads);
  if (!opt.out_path.empty()) check_output_path(opt.out_path, OutputKind::file, {}, "--out");
  if (!opt.json) std::printf("# attnscope bench on %s, commit %s\n", gpu_description().c_str(), ATTNSCOPE_GIT_COMMIT);
  std::string json_lines;
  std::vector<bool> causal_modes;
  if (opt.causal == "both" || opt.causal == "off") causal_modes.push_back(false);
  if (opt.causal == "both" || opt.causal == "on") causal_modes.push_back(true);
  if (causal_modes.empty()) throw CLI::ValidationError("--causal", "on, off or both, not '" + opt.causal + "'");
  if (!opt.json) std::printf("%-34s %-5s %4s %6s %6s %6s %10s %9s\n", "kernel", "dtype", "d", "batch", "seqlen", "causal", "median_ms", "TFLOP/s");
  // FA2 (mma.sync) and Hopper (fa3: wgmma, TMA, warp-specialized) variants, timed in one run.
  // FP8 fa3 variants are timed twice: with their quantization pre-pass, and the attention alone
  // (launch_attention_only: the pre-pass skipped while the inputs stay the same).
  struct Candidate {
    const PrefillVariant* variant;
    const char* family;
    void (*attention_only)(const PrefillParams&, void*);
  };
  std::vector<Candidate> candidates;
  for (const PrefillVariant& v : prefill_variants()) candidates.push_back({&v, "fa2", nullptr});
  for (const HopperVariant& h : hopper_prefill_variants()) candidates.push_back({&h.base, "fa3", h.launch_attention_only});
  for (const auto& [vp, family, attention_only] : candidates) {
    const PrefillVariant& v = *vp;
    const bool fp8 = v.algorithm.fp8.enabled();
    if (v.algorithm.mutant != Mutant::none) continue;
    const bool selected = opt.kernels == "default" ? (v.is_default || (v.algorithm.p_cast == PCastMode::split_hi_lo))
                                                  : glob_match(opt.kernels, v.name);
    const std::string dtype(dtype_name(v.dtype));
    if (!selected || std::find(opt.dtypes.begin(), opt.dtypes.end(), dtype) == opt.dtypes.end()) continue;
    if (std::find(opt.head_dims.begin(), opt.head_dims.end(), v.head_dim) == opt.head_dims.end()) continue;
    if (opt.check) {  // validate before timing: FA rule against the GPU FP64 truth on a non-tile shape
      Problem pr;
      pr.batch = 2; pr.seqlen_q = 300; pr.seqlen_k = 300; pr.num_heads_q = 4; pr.num_heads_kv = 2;
      pr.head_dim = v.head_dim; pr.dtype = v.dtype;
      const AttentionInputs in = generate_inputs(pr, InputSpec{});
      const AttentionOutputs truth = gpu_truth_fp64(pr, in);
      const AttentionOutputs out = [&] {
        Registry r;
        register_gpu_kernels(r);
        return r.get(v.name).run(pr, in);
      }();
      if (fp8) {
        // E4M3 is not held to the 16-bit rule: the kernel against its emulator (analysis/metrics.h,
        // fp8_agreement: the same check as test_gpu "[fp8]"). Its accuracy: "[.fp8-accuracy]".
        EmulatorConfig cfg;
        cfg.algorithm = v.algorithm;
        const Fp8Agreement agree = fp8_agreement(out.o, emulate_attention(pr, in, cfg).o, truth.o);
        if (!agree.pass)
          throw CheckFailed("attnscope bench: " + v.name + " fails the FP8 check (rmse " + std::to_string(agree.rmse_kernel) +
                            ", its emulator " + std::to_string(agree.rmse_emulator) + ", kernel - emulator " +
                            std::to_string(agree.rmse_gap) + "); not timing a wrong kernel");
      } else if (const ErrorMetrics err = compute_metrics(out.o, truth.o, pr.dtype),
                 base_err = compute_metrics(gpu_naive_baseline(pr, in).o, truth.o, pr.dtype);
                 !fa_rule(err, base_err).pass) {
        throw CheckFailed("attnscope bench: " + v.name + " fails the FlashAttention rule (error " + std::to_string(err.max_abs) +
                          ", baseline " + std::to_string(base_err.max_abs) + "); not timing a wrong kernel");
      }
    }
    for (int s : opt.seqlens) {
      for (bool causal : causal_modes) {
        Problem pr;
        pr.batch = std::max(1, opt.tokens / s);
        pr.seqlen_q = pr.seqlen_k = s;
        pr.num_heads_q = heads_q;
        pr.num_heads_kv = heads_kv;
        pr.head_dim = v.head_dim;
        pr.dtype = v.dtype;
        pr.mask.kind = causal ? MaskKind::causal_bottom_right : MaskKind::none;
        pr.require_memory_for_run();
        for (const bool alone : {false, true}) {
          if (alone && !attention_only) continue;
          PrefillVariant timed = v;
          if (alone) timed.launch = attention_only;
          const PrefillTiming t = time_prefill(timed, pr, opt.warmup, opt.iterations);
          const std::string label = v.name + (alone ? " (attention)" : "");
          const nlohmann::json row = {{"impl", v.name}, {"family", family}, {"default", v.is_default},
                                      {"fp8", fp8}, {"attention_only", alone},
                                      {"precise", v.algorithm.p_cast == PCastMode::split_hi_lo}, {"dtype", dtype},
                                      {"head_dim", v.head_dim}, {"batch", pr.batch}, {"seqlen", s}, {"heads", heads_q},
                                      {"heads_kv", heads_kv}, {"causal", causal}, {"median_ms", t.median_ms},
                                      {"min_ms", t.min_ms}, {"iterations", t.iterations}, {"tflops", t.tflops},
                                      {"gpu", gpu_description()}, {"commit", ATTNSCOPE_GIT_COMMIT}};
          json_lines += row.dump() + "\n";
          if (opt.json)
            std::printf("%s\n", row.dump().c_str());
          else
            std::printf("%-34s %-5s %4d %6lld %6d %6s %10.4f %9.1f\n", label.c_str(), dtype.c_str(), v.head_dim,
                        static_cast<long long>(pr.batch), s, causal ? "yes" : "no", t.median_ms, t.tflops);
          std::fflush(stdout);
          if (!opt.out_path.empty()) write_file_atomic(opt.out_path, json_lines);  // complete after every line
        }
      }
    }
  }
}
#endif
}  // namespace

void add_bench_command(CLI::App& app) {
  auto opt = std::make_shared<BenchOptions>();
  auto* sub = app.add_subcommand(
      "bench",
      "time the CUDA kernels: --prefill (default; TFLOP/s), --decode (TB/s), --chunked (TFLOP/s), CUDA events; or --truth (one run's stages)");
  auto* prefill_flag = sub->add_flag("--prefill", opt->prefill, "the prefill kernels (the default mode)");
  auto* decode_flag =
      sub->add_flag("--decode", opt->decode, "the KV-cache decode kernels: bandwidth over --batch x --cache-lens, cold and warm")
          ->excludes(prefill_flag);
  auto* chunked_flag = sub->add_flag("--chunked", opt->chunked,
                                     "chunked prefill over a contiguous or paged KV cache: --chunk-batches x --chunks x --depths")
                           ->excludes(prefill_flag)
                           ->excludes(decode_flag);
  add_decode_bench_options(*sub, opt->decode_options);
  add_chunked_bench_options(*sub, opt->chunked_options);
  sub->add_option("--kernels", opt->kernels, "'default' (default tiles + precise mode) or a glob on kernel names")->capture_default_str();
  sub->add_option("--dtype", opt->dtypes, "fp16 and/or bf16")->delimiter(',')->capture_default_str();
  sub->add_option("--head-dim", opt->head_dims, "64 and/or 128")->delimiter(',')->capture_default_str();
  sub->add_option("--dim", opt->head_dims)->delimiter(',')->group("");  // hidden alias
  sub->add_option("--seqlens", opt->seqlens, "sequence lengths (S_q = S_k)")->delimiter(',')->capture_default_str();
  sub->add_option("--tokens", opt->tokens, "batch * seqlen held constant")->capture_default_str();
  sub->add_option("--heads", opt->heads, "heads HQ:HKV, or H for H:H")->capture_default_str();
  sub->add_option("--causal", opt->causal, "on | off | both")->capture_default_str();
  sub->add_option("--warmup", opt->warmup, "untimed launches first")->capture_default_str();
  sub->add_option("--iters", opt->iterations, "timed launches (median reported)")->capture_default_str();
  sub->add_flag("!--no-check", opt->check, "skip the correctness check before timing");
  sub->add_flag("--json", opt->json, "print one JSON object per measurement instead of the table");
  sub->add_option("--out", opt->out_path, "also write the JSON lines to this file");
  sub->add_flag("--truth", opt->truth,
                "time the stages of `attnscope run` instead (inputs, truth, certification, baseline, kernel, metrics, "
                "database); shapes from --seqlens, --heads, --head-dim, --dtype, --causal (defaults S 2048, "
                "8:2 heads, D 128, fp16, causal)")
      ->excludes(prefill_flag)
      ->excludes(decode_flag)
      ->excludes(chunked_flag);
  auto truth_request = std::make_shared<TruthBenchRequest>();
  add_truth_bench_options(*sub, *truth_request);
  sub->callback([opt, truth_request, sub] {
    // An option of another mode is refused by name, never silently ignored.
    auto only_with = [&](bool mode, const auto& names, const char* flag) {
      if (!mode)
        for (const char* name : names)
          if (sub->count(name)) throw CLI::ValidationError(name, std::string("only with ") + flag);
    };
    only_with(opt->decode, kDecodeOnlyBenchOptions, "--decode");
    only_with(opt->chunked, kChunkedOnlyBenchOptions, "--chunked");
    if ((opt->decode || opt->chunked) && sub->count("--batch"))
      throw CLI::ValidationError("--batch", opt->decode ? "is --truth's batch size; --decode takes --batches B1,B2,..."
                                                        : "is --truth's batch size; --chunked takes --chunk-batches B1,B2,...");
    if (opt->decode || opt->chunked) {
      // The KV-cache modes: FP16 and D = 128 (issue 14's table) unless --dtype / --head-dim say otherwise.
      const bool dtype_given = sub->count("--dtype") > 0, dim_given = sub->count("--head-dim") + sub->count("--dim") > 0;
      const std::vector<std::string> dtypes = dtype_given ? opt->dtypes : std::vector<std::string>{"fp16"};
      const std::vector<int> dims = dim_given ? opt->head_dims : std::vector<int>{128};
      if (opt->decode)
        run_bench_decode(opt->decode_options, dtypes, dims, opt->warmup, opt->iterations, opt->check, opt->json, opt->out_path);
      else
        run_bench_chunked(opt->chunked_options, dtypes, dims, opt->warmup, opt->iterations, opt->check, opt->json, opt->out_path);
      return;
    }
    if (opt->truth) {  // shapes the user gave override the truth mode's defaults
      TruthBenchRequest request = *truth_request;
      if (sub->count("--dtype")) request.dtypes = opt->dtypes;
      if (sub->count("--head-dim") || sub->count("--dim")) request.head_dims = opt->head_dims;
      if (sub->count("--seqlens")) request.seqlens = opt->seqlens;
      if (sub->count("--heads")) std::tie(request.heads_q, request.heads_kv) = heads_flag(opt->heads);
      if (sub->count("--causal"))
        request.causal = opt->causal == "both" ? std::vector<bool>{false, true} : std::vector<bool>{opt->causal == "on"};
      request.json = opt->json;
      request.out_path = opt->out_path;
      run_truth_bench(request);
      return;
    }
#if defined(ATTNSCOPE_HAVE_CUDA)
    run_bench(*opt);
#else
    throw EnvironmentError("attnscope bench: this build has no CUDA (configure with nvcc and ATTNSCOPE_ENABLE_CUDA=ON)");
#endif
  });
}

}  // namespace attn::cli
