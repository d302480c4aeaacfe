// bench_truth.cpp: `attnscope bench --truth` (bench_truth.h). Each run is experiments/
// single_run.h's, exactly what `attnscope run` does, plus the insert of its row into an
// in-memory results database; the table gives seconds per stage and the total wall time.
#include "cli/bench_truth.h"

#include <chrono>
#include <cstdio>
#include <iostream>
#include <thread>

#include <nlohmann/json.hpp>

#include "git_commit.h"  // generated at build time (cmake/write_git_commit.cmake)

#include "cli/commands.h"
#include "core/errors.h"
#include "core/io_files.h"
#include "experiments/provenance.h"
#include "experiments/register_all.h"
#include "experiments/results_db.h"
#include "experiments/single_run.h"
#include "references/reference_device.h"

namespace attn::cli {
namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

void add_truth_bench_options(CLI::App& bench, TruthBenchRequest& request) {
  bench.add_option("--truth-kernel", request.kernel, "--truth: the kernel of each run (default naive-<dtype>)");
  bench.add_option("--truth-device", request.truth_device, "--truth: auto | gpu | cpu, where the truth and baseline run")
      ->check(CLI::IsMember({"auto", "gpu", "cpu"}))
      ->capture_default_str();
  bench.add_option("--batch", request.batch, "--truth: batch size")->capture_default_str();
  bench.add_option("--repeat", request.repeat, "--truth: runs per configuration")->capture_default_str()->check(CLI::Range(1, 100));
}

void run_truth_bench(const TruthBenchRequest& request) {
  if (!request.out_path.empty()) check_output_path(request.out_path, OutputKind::file, {}, "--out");
  std::string json_lines;
  std::string why;
  const bool gpu = reference_gpu_available(&why);
  const ReferenceDevice device = resolve_reference_device(parse_reference_device(request.truth_device));
  if (!request.json) {
    std::printf("# attnscope bench --truth: truth and baseline on %s (%s), %u CPU threads, commit %s\n",
                std::string(reference_device_name(device)).c_str(), gpu ? "GPU present" : why.c_str(),
                std::thread::hardware_concurrency(), ATTNSCOPE_GIT_COMMIT);
    std::printf("# seconds per stage of one `attnscope run`; truth = fp64 pass and certification (overlapped on a GPU)\n");
    std::printf("%-40s %-22s %7s %8s %8s %8s %8s %9s %-10s %8s %8s %8s %8s\n", "problem", "kernel", "inputs", "truth",
                "fp64", "certify", "unquant", "baseline", "(impl)", "kernel", "metrics", "database", "total");
  }
  const Registry& registry = all_kernels();
  ResultsDb db(":memory:");
  int64_t row_index = 0;
  for (const std::string& dtype : request.dtypes)
    for (int head_dim : request.head_dims)
      for (int seqlen : request.seqlens)
        for (bool causal : request.causal) {
          Problem problem;
          problem.batch = request.batch;
          problem.seqlen_q = problem.seqlen_k = seqlen;
          problem.num_heads_q = request.heads_q;
          problem.num_heads_kv = request.heads_kv;
          problem.head_dim = head_dim;
          problem.dtype = parse_dtype(dtype);
          problem.mask = parse_mask(causal ? "causal" : "none");
          problem.validate();
          const std::string name = request.kernel.empty() ? "naive-" + dtype : request.kernel;
          const Kernel& kernel = registry.get(name);
          if (kernel.invalid_reason)
            if (auto reason = kernel.invalid_reason(problem))
              throw Error("attnscope bench --truth: " + name + " cannot run " + problem.label() + ": " + *reason);
          for (int rep = 0; rep < request.repeat; ++rep) {
            SingleRunOptions options;
            options.truth.device = device;
            options.truth.progress = [](const std::string& line) { std::cerr << "attnscope: " << line << std::endl; };
            const auto started = std::chrono::steady_clock::now();
            nlohmann::json result = run_single(problem, InputSpec{}, kernel, options);
            const auto db_started = std::chrono::steady_clock::now();
            ResultRow row{"bench-truth", problem.label() + "|" + std::to_string(row_index++), name, "ok", "",
                          {{"label", problem.label()}}, result["metrics"], nullptr, collect_provenance(invoked_command())};
            db.insert(row);
            nlohmann::json& s = result["seconds"];
            s["database"] = seconds_since(db_started);
            s["total"] = seconds_since(started);
            if (!request.json)
              std::printf("%-40s %-22s %7.2f %8.2f %8.2f %8.2f %8.2f %9.2f %-10s %8.2f %8.2f %8.3f %8.2f\n",
                          problem.label().c_str(), name.c_str(), s["inputs"].get<double>(), s["truth"].get<double>(),
                          s["fp64"].get<double>(), s["certification"].get<double>(), s["truth_unquantized"].get<double>(),
                          s["baseline"].get<double>(), ("(" + result["baseline_implementation"].get<std::string>() + ")").c_str(),
                          s["kernel"].get<double>(), s["metrics"].get<double>(), s["database"].get<double>(),
                          s["total"].get<double>());
            result["truth_device"] = reference_device_name(device);
            result["commit"] = ATTNSCOPE_GIT_COMMIT;
            result["cpu_threads"] = std::thread::hardware_concurrency();
            const std::string line = result.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
            if (request.json) std::printf("%s\n", line.c_str());
            std::fflush(stdout);
            json_lines += line + "\n";
            if (!request.out_path.empty()) write_file_atomic(request.out_path, json_lines);  // complete after every run
          }
        }
}

}  // namespace attn::cli
