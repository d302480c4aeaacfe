// `attnscope sweep SPEC.toml --db results.sqlite [--shard i/n]`: runs (or resumes) a sweep.
// `attnscope report --db results.sqlite --out DIR`: Markdown + HTML report with plots.
// `attnscope gate --db results.sqlite --tolerances FILE.toml [--junit out.xml]`: exit 0/1.
// `attnscope merge OUT.sqlite SHARD.sqlite...`: shards of one sweep into one database.
#include "cli/sweep_commands.h"

#include "cli/commands.h"

#include <filesystem>
#include <fstream>
#include <iostream>

#include "analysis/attribution.h"
#include "analysis/emulator.h"
#include "core/errors.h"
#include "experiments/gate.h"
#include "experiments/provenance.h"
#include "experiments/kernel_algorithm.h"
#include "experiments/register_all.h"
#include "experiments/results_db.h"
#include "experiments/sweep_runner.h"
#include "experiments/sweep_spec.h"
#include "kernels/register_gpu_kernels.h"
#include "reports/sweep_report.h"

namespace attn::cli {
namespace {

// Attribution of one sweep point: Shapley shares over the stages of the emulated algorithm of
// the kernel (for CUDA kernels: the emulator of the same tiling and policy), against the truth.
std::function<nlohmann::json(const Kernel&, const Problem&, const AttentionInputs&, const Truth&)> sweep_attribution() {
  return [](const Kernel& kernel, const Problem& problem, const AttentionInputs& inputs,
            const Truth& truth) -> nlohmann::json {
    const std::optional<AlgorithmConfig> algorithm = algorithm_from_traits(kernel.info.traits);
    if (!algorithm || emulator_invalid_reason(problem, *algorithm)) return nullptr;
    AttributionOptions options;
    options.algorithm = *algorithm;
    return attribution_json(attribute_error(problem, inputs, options, &truth.o));
  };
}

}  // namespace

void add_sweep_commands(CLI::App& app) {
  // ---- sweep ----
  auto* sweep = app.add_subcommand("sweep", "Run (or resume) a sweep spec; one database row per point");
  static std::string spec_path, db_path = "results.sqlite", shard = "0/1", device = "auto", truth_device = "auto";
  static bool quiet = false;
  sweep->add_option("spec", spec_path, "Sweep file (TOML), e.g. experiments/sweeps/default.toml")->required()->check(CLI::ExistingFile);
  sweep->add_option("--db", db_path, "Results database (created if missing; resumed if present)");
  sweep->add_option("--shard", shard, "Run shard I of N as I/N (merge shards with `attnscope merge`)");
  sweep->add_option("--device", device, "auto | gpu | cpu: which kernel list of the spec to use")
      ->check(CLI::IsMember({"auto", "gpu", "cpu"}));
  sweep->add_option("--truth-device", truth_device, "auto | gpu | cpu: where the truth and the baseline run")
      ->check(CLI::IsMember({"auto", "gpu", "cpu"}));
  sweep->add_flag("--quiet", quiet, "Only the summary line");
  sweep->callback([] {
    int index = 0, count = 1;
    if (std::sscanf(shard.c_str(), "%d/%d", &index, &count) != 2)
      throw CLI::ValidationError("--shard", "expected I/N, got '" + shard + "'");
    const SweepSpec spec = parse_sweep_spec(spec_path);
    std::string why;
    const bool have_gpu = gpu_available(&why);
    if (device == "gpu" && !have_gpu) throw Error("--device gpu: " + why);
    SweepOptions options;
    options.shard_index = index;
    options.shard_count = count;
    options.use_gpu = device == "gpu" || (device == "auto" && have_gpu);
    options.reference_device = parse_reference_device(truth_device);
    options.provenance = collect_provenance(invoked_command());
    options.attribute = sweep_attribution();
    if (!quiet) options.log = [](const std::string& line) { std::cout << line << std::endl; };
    if (!quiet)
      std::cout << "sweep '" << spec.name << "' on " << (options.use_gpu ? "the GPU" : "the CPU (emulator)")
                << (options.use_gpu ? "" : " — " + why) << ", results in " << db_path << std::endl;
    ResultsDb db(db_path);
    const SweepSummary s = run_sweep(spec, all_kernels(), db, options);
    std::cout << "sweep '" << spec.name << "': " << s.points << " points in shard " << shard << ", "
              << s.already_done << " already done, " << s.ok << " ok, " << s.invalid << " invalid, " << s.errors
              << " errors -> " << db_path << std::endl;
    if (s.errors) throw CLI::RuntimeError(1);
  });

  // ---- report ----
  auto* report = app.add_subcommand("report", "Write the precision report (Markdown + HTML + plots) of a sweep");
  static std::string report_db = "results.sqlite", report_out = "report", report_sweep;
  report->add_option("--db", report_db, "Results database")->check(CLI::ExistingFile);
  report->add_option("--out", report_out, "Output folder (report.md, report.html, plots/)");
  report->add_option("--sweep", report_sweep, "Sweep name (needed when the database holds several)");
  report->callback([] {
    ResultsDb db(report_db);
    const ReportFiles f = write_sweep_report(
        db, {report_sweep, report_out, invoked_command()});
    std::cout << "report: " << f.markdown << ", " << f.html << " (" << f.plots << " plots)\n";
    if (!f.plot_errors.empty()) std::cerr << "attnscope report: some plots were not drawn:\n" << f.plot_errors;
  });

  // ---- gate ----
  auto* gate = app.add_subcommand("gate", "Check results against a tolerance file; exit 1 on any violation");
  static std::string gate_db = "results.sqlite", gate_tol, gate_junit, gate_sweep, gate_baseline;
  gate->add_option("--db", gate_db, "Results database")->check(CLI::ExistingFile);
  gate->add_option("--tolerances", gate_tol, "Tolerance file (TOML)")->required()->check(CLI::ExistingFile);
  gate->add_option("--junit", gate_junit, "Write JUnit XML here");
  gate->add_option("--sweep", gate_sweep, "Only this sweep");
  gate->add_option("--baseline", gate_baseline, "Baseline database for the ratchet (overrides the file's)")
      ->check(CLI::ExistingFile);
  gate->callback([] {
    GateSpec spec = parse_gate_spec(gate_tol);
    if (!gate_baseline.empty()) spec.baseline_db = gate_baseline;
    ResultsDb db(gate_db);
    const GateResult r = run_gate(db, gate_sweep.empty() ? std::nullopt : std::optional<std::string>(gate_sweep), spec);
    for (const GateCase& c : r.cases)
      if (!c.passed && !c.unchecked) std::cout << "FAIL " << c.name << ": " << c.failure << "\n";
    if (!gate_junit.empty()) std::ofstream(gate_junit) << to_junit_xml(r);
    std::cout << "gate: " << r.passed << " passed, " << r.failed << " failed, " << r.unchecked
              << " unchecked (no rule), " << r.invalid << " invalid points not gated\n";
    if (!r.ok()) throw CLI::RuntimeError(1);
  });

  // ---- merge ----
  auto* merge = app.add_subcommand("merge", "Merge shard databases of one sweep into one");
  static std::string merge_out;
  static std::vector<std::string> merge_in;
  merge->add_option("out", merge_out, "Merged database (created if missing)")->required();
  merge->add_option("shards", merge_in, "Shard databases")->required()->check(CLI::ExistingFile);
  merge->callback([] {
    ResultsDb out(merge_out);
    for (const std::string& shard_path : merge_in)
      std::cout << shard_path << ": " << out.merge_from(shard_path) << " rows added\n";
  });
}

}  // namespace attn::cli
