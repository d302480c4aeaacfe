// incremental_command.cpp: `attnscope incremental` — the incremental-vs-full experiment
// (experiments/incremental_experiment.h) and its report (reports/incremental_vs_full_report.h).
// Defaults by device (experiments' choose_incremental_kernels): on a GPU the FA2 prefill kernel
// for the full sequence, the chunked-prefill kernel for the prefill chunk, the split-KV decode
// kernel for the steps and the four GPU cache mutants (D 128 only); on the CPU the FA2 emulator
// for the full sequence and the prefill, its split-KV emulation (4 splits) for the steps, and the
// four emulator cache mutants. Fallbacks and skipped mutants are notes in the result and report.
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "cli/problem_flags.h"
#include "core/io_files.h"
#include "core/errors.h"
#include "core/generators.h"
#include "core/problem.h"
#include "experiments/incremental_experiment.h"
#include "experiments/provenance.h"
#include "kernels/register_gpu_kernels.h"
#include "reports/incremental_vs_full_report.h"

namespace attn::cli {
namespace {

struct IncrementalFlags {
  int64_t prefill = 256, steps = 32, batch = 1, head_dim = kDefaultHeadDim, decode_chunk = 1;
  std::string heads = kDefaultHeads, dtype = "fp16", dist = "normal", device = "auto", out = "results/incremental";
  std::string full_kernel, prefill_kernel, decode_kernel, attribute_steps = "first,middle,last";
  uint64_t seed = kDefaultSeed;
  bool mutants = true, json = false;
};

void run_incremental(const IncrementalFlags& f) {
  IncrementalSpec spec;
  spec.prefill_tokens = f.prefill;
  spec.decode_steps = f.steps;
  spec.batch = f.batch;
  spec.head_dim = f.head_dim;
  std::tie(spec.heads_q, spec.heads_kv) = heads_flag(f.heads);
  if (f.dtype != "fp16" && f.dtype != "bf16") throw CLI::ValidationError("--dtype", "fp16 or bf16, got '" + f.dtype + "'");
  spec.dtype = f.dtype == "bf16" ? DType::bf16 : DType::fp16;
  spec.inputs.distribution = distribution_flag(f.dist);
  // The report folder is checked before minutes of compute (the experiment checks the memory).
  check_output_path(f.out, OutputKind::directory, {}, "--out");
  spec.inputs.seed = f.seed;
  spec.decode_chunk = f.decode_chunk;
  spec.attribute_steps = f.attribute_steps;
  std::string why;
  const bool have_gpu = gpu_available(&why);
  if (f.device == "gpu" && !have_gpu) throw EnvironmentError("--device gpu: " + why);
  if (f.device != "gpu" && f.device != "cpu" && f.device != "auto")
    throw CLI::ValidationError("--device", "auto, gpu or cpu, got '" + f.device + "'");
  const bool gpu = f.device == "gpu" || (f.device == "auto" && have_gpu);
  choose_incremental_kernels(spec, gpu, f.mutants);
  if (!f.full_kernel.empty()) spec.full_kernel = f.full_kernel;
  if (!f.prefill_kernel.empty()) {  // an explicit prefill kernel: no fallback to speak of
    spec.prefill_kernel = f.prefill_kernel;
    std::erase_if(spec.notes, [](const std::string& n) { return n.rfind("prefill:", 0) == 0; });
  }
  if (!f.decode_kernel.empty()) spec.decode_kernel = f.decode_kernel;
  for (const std::string& note : spec.notes) std::fprintf(stderr, "note: %s\n", note.c_str());
  const IncrementalResult result =
      run_incremental_experiment(spec, [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); });
  const std::string report = write_incremental_report(result, collect_provenance(invoked_command()), f.out);
  if (f.json) {
    std::cout << to_json(result).dump(1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    return;
  }
  std::printf("FP64 references (incremental vs full): %s\n",
              result.references_bit_identical ? "bit-identical" : ("differ by " + std::to_string(result.references_max_diff)).c_str());
  std::printf("%-44s %-14s %22s %14s %10s  %s\n", "decode kernel", "planted bug", "identical/rounding/semantic",
              "max diff (row ULP)", "worst FA", "diagnosed cause");
  for (const PathResult& p : result.paths) {
    std::string causes;
    for (const std::string& c : p.causes) causes += (causes.empty() ? "" : "; ") + c;
    std::printf("%-44s %-14s %10lld/%lld/%lld %14.3g %10.3f  %s\n", p.decode_kernel.c_str(),
                p.planted_bug.empty() ? "none" : p.planted_bug.c_str(), static_cast<long long>(p.bit_identical),
                static_cast<long long>(p.rounding), static_cast<long long>(p.semantic), p.max_row_ulp_diff, p.worst_fa_ratio,
                causes.empty() ? "none" : causes.c_str());
  }
  std::printf("report: %s\n", report.c_str());
}

}  // namespace

void add_incremental_command(CLI::App& app) {
  auto flags = std::make_shared<IncrementalFlags>();
  auto* sub = app.add_subcommand("incremental", "Incremental (prefill + token-by-token decode) vs full-sequence attention, per step");
  sub->add_option("--prefill", flags->prefill, "P: tokens prefilled before decoding")->capture_default_str();
  sub->add_option("--steps", flags->steps, "N: tokens decoded one at a time")->capture_default_str();
  sub->add_option("--batch", flags->batch, "batch entries")->capture_default_str();
  sub->add_option("--heads", flags->heads, "H_q:H_kv")->capture_default_str();
  add_head_dim_flag(*sub, flags->head_dim);
  sub->add_option("--dtype", flags->dtype, "fp16 | bf16")->capture_default_str();
  add_distribution_flag(*sub, flags->dist);
  sub->add_option("--seed", flags->seed, "input seed")->capture_default_str();
  sub->add_option("--device", flags->device, "auto | gpu | cpu: which default kernels")->capture_default_str();
  sub->add_option("--full-kernel", flags->full_kernel, "full-sequence kernel (registry name)");
  sub->add_option("--prefill-kernel", flags->prefill_kernel, "prefill kernel (registry name)");
  sub->add_option("--decode-kernel", flags->decode_kernel, "decode kernel (registry name)");
  sub->add_option("--decode-chunk", flags->decode_chunk, "new tokens per decode step")->capture_default_str();
  sub->add_option("--attribute-steps", flags->attribute_steps,
                  "decode steps to attribute (modelled kernels): all | none | comma list of indices, first, middle, last")
      ->capture_default_str();
  sub->add_flag("--mutants,!--no-mutants", flags->mutants, "run the cache mutants through the same steps (default on)");
  sub->add_option("--out", flags->out, "report directory")->capture_default_str();
  sub->add_flag("--json", flags->json, "print the results as JSON");
  sub->callback([flags] { run_incremental(*flags); });
}

}  // namespace attn::cli
