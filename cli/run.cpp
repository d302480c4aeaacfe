// `attnscope run`: one configuration -> the chosen kernel against the truth -> a metrics table
// (kernel error, rounding floor, excess, same-precision baseline and the FlashAttention rule,
// input quantization error kept apart, the truth's method, device, time and certified gap,
// the time of every stage), or --json. Progress of long passes goes to stderr.
#include <cmath>
#include <cstdio>
#include <iostream>

#include "cli/commands.h"
#include "cli/metrics_table.h"
#include "cli/problem_flags.h"
#include "core/errors.h"
#include "core/suggest.h"
#include "experiments/provenance.h"
#include "experiments/register_all.h"
#include "experiments/single_run.h"
#include "references/reference_device.h"

namespace attn::cli {
namespace {

constexpr int kMinTruthBits = 53, kMaxTruthBits = 4096;  // MPFR working precision accepted by `run`

struct RunFlags {
  ProblemFlags problem;
  std::string kernel;
  int truth_bits = 128;
  std::string truth_device = "auto";
  bool allow_slow_mpfr = false;
  bool json = false;
};

void print_table(const nlohmann::json& r) {
  const auto& g = short_number;
  const auto& m = r["metrics"];
  std::cout << "attnscope run: " << r["kernel"].get<std::string>() << " on " << r["problem"].get<std::string>() << " ("
            << r["distribution"].get<std::string>() << ", seed " << r["seed"] << ")\n\n";
  print_metrics_table(m);
  std::cout << "  input quantization (truth of unrounded vs rounded inputs, not the kernel's error): max_abs "
            << g(r["input_quantization"]["max_abs"]) << ", rel_fro " << g(r["input_quantization"]["rel_fro"]) << "\n";
  std::cout << "  truth: " << m["truth_method"].get<std::string>() << " on " << m["truth_device"].get<std::string>()
            << ", FP64 gap to the certified enclosure " << g(m["truth_fp64_gap_ulps"]) << " ulp ("
            << r["truth_certified_rows"] << " rows certified)\n";
  const auto& t = r["seconds"];
  std::cout << "  seconds: inputs " << g(t["inputs"]) << ", truth " << g(t["truth"]) << " (certification "
            << g(t["certification"]) << "), truth of the unquantized inputs " << g(t["truth_unquantized"])
            << ", baseline " << g(t["baseline"]) << " (" << r["baseline_implementation"].get<std::string>()
            << "), kernel " << g(t["kernel"]) << ", metrics " << g(t["metrics"]) << "\n";
  std::cout << "  provenance: " << r["provenance"].dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
}

}  // namespace

void add_run_command(CLI::App& app) {
  auto flags = std::make_shared<RunFlags>();
  auto* sub = app.add_subcommand("run", "Run one kernel on one configuration and measure it against the truth");
  flags->problem.add_to(*sub);
  sub->add_option("--kernel", flags->kernel, "registered kernel (`attnscope list`); default naive-<dtype>");
  sub->add_option("--truth-bits", flags->truth_bits, "MPFR precision of the certified truth")
      ->capture_default_str()
      ->check(CLI::Range(kMinTruthBits, kMaxTruthBits));
  sub->add_option("--truth-device", flags->truth_device,
                  "where the FP64 truth and the same-precision baseline run: auto (the GPU when present), gpu, cpu; "
                  "the certification always runs on every CPU core")
      ->check(CLI::IsMember({"auto", "gpu", "cpu"}))
      ->capture_default_str();
  sub->add_flag("--truth-allow-slow-mpfr", flags->allow_slow_mpfr,
                "when FP64 fails its certification, recompute the truth in MPFR even if that is estimated above 10 "
                "minutes (the estimate is printed)");
  sub->add_flag("--json", flags->json, "one JSON object instead of the table");
  sub->callback([flags] {
    const Problem problem = flags->problem.problem();
    const InputSpec spec = flags->problem.input_spec();
    const std::string name = flags->kernel.empty() ? "naive-" + std::string(dtype_name(problem.dtype)) : flags->kernel;
    const Registry& registry = all_kernels();
    const Kernel* kernel = registry.find(name);
    if (!kernel) {
      std::vector<std::string> names;
      for (const Kernel* k : registry.all()) names.push_back(k->info.name);
      throw CLI::ValidationError("--kernel", "unknown kernel '" + name + "'" + did_you_mean(name, names) +
                                                 "; `attnscope list` shows the " + std::to_string(names.size()) +
                                                 " registered names");
    }
    if (kernel->invalid_reason)
      if (auto why = kernel->invalid_reason(problem))
        throw CLI::ValidationError("--kernel", name + " cannot run this problem: " + *why);

    SingleRunOptions options;
    options.truth.mpfr_bits = flags->truth_bits;
    options.truth.device = parse_reference_device(flags->truth_device);
    options.truth.allow_slow_mpfr = flags->allow_slow_mpfr;
    options.truth.progress = [](const std::string& line) { std::cerr << "attnscope: " << line << std::endl; };
    nlohmann::json result = run_single(problem, spec, *kernel, options);
    result["provenance"] = collect_provenance(invoked_command());
    if (flags->json) std::cout << result.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    else print_table(result);
    // Exit 1 when the check fails: the FlashAttention rule, or NaN/Inf in the output.
    const nlohmann::json& m = result["metrics"];
    const bool finite = m["kernel"]["nan_count"] == 0 && m["kernel"]["inf_count"] == 0;
    if (!finite || (m.contains("fa_rule_pass") && !m["fa_rule_pass"].get<bool>()))
      throw CLI::RuntimeError(static_cast<int>(ExitCode::check_failed));
  });
}

}  // namespace attn::cli
