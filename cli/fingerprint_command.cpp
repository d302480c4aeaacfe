// fingerprint_command.cpp: the precision fingerprint's own commands (the fingerprint of a dump
// runs inside `attnscope diagnose`):
//  * `attnscope fingerprint-grid [--full] [--out DIR] [--plant LABEL...]`: the hypothesis grid of
//    issue #16 (experiments/fingerprint_grid.h); exit 1 when fewer than 95% of the planted
//    hypotheses are named (first or as indistinguishable), fewer than 95% are named by precision
//    signature or computed bit for bit by the hypothesis named, or a correct kernel is called a
//    precision defect.
//  * `attnscope fingerprint-bench [problem flags] [--plant LABEL | --kernel NAME]`: times the
//    fingerprint of one generated output (a planted hypothesis or a registered kernel's),
//    prints the verdict and the seconds; --write-dump PATH also writes q, k, v, o as safetensors
//    for `attnscope diagnose`. A benchmark command, not a timed test.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/problem_flags.h"
#include "core/errors.h"
#include "core/io_files.h"
#include "core/io_safetensors.h"
#include "experiments/fingerprint_grid.h"
#include "experiments/register_all.h"

namespace attn::cli {
namespace {

constexpr double kRequiredNamedRate = 0.95;  // issue #16: the planted precision named in >= 95% of cases

/// Writes `text` to dir/name atomically (dir was checked by check_output_path before the grid ran).
void write_text(const std::filesystem::path& dir, const std::string& name, const std::string& text) {
  write_file_atomic((dir / name).string(), text);
}

void add_grid_command(CLI::App& app) {
  struct Flags {
    bool full = false;
    std::string out;
    int threads = 0;
    int64_t rows = 64;
    std::vector<std::string> plant;
  };
  auto f = std::make_shared<Flags>();
  auto* sub = app.add_subcommand("fingerprint-grid", "Plant every precision hypothesis and check the fingerprint names it");
  sub->add_flag("--full", f->full, "the whole grid (S 64/257/1000, D 64/128); default: the CI subset (S 64/257, D 64)");
  sub->add_option("--out", f->out, "write grid.md and grid.json here (e.g. reports/cpu/fingerprint-grid)");
  sub->add_option("--threads", f->threads, "worker threads (0: all cores)")->capture_default_str();
  sub->add_option("--rows", f->rows, "rows per head the fingerprint samples")->capture_default_str()
      ->check(CLI::Range(int64_t{2}, int64_t{1} << 20));
  sub->add_option("--plant", f->plant, "plant only these hypotheses (labels, repeatable; the correct kernels still run)");
  sub->callback([f] {
    FingerprintGridSpec spec = f->full ? FingerprintGridSpec{} : FingerprintGridSpec::ci_subset();
    for (const std::string& label : f->plant) {  // a label of either dtype's family ("P bf16" is FP16's only)
      bool known = false;
      for (DType dtype : spec.dtypes)
        for (const PrecisionHypothesis& h : precision_hypotheses(dtype)) known = known || h.label == label;
      if (!known) (void)find_precision_hypothesis(DType::fp16, label);  // throws, listing the labels
      spec.planted.push_back(label);
    }
    spec.options.threads = f->threads;
    spec.options.max_rows_per_head = f->rows;
    if (!f->out.empty()) check_output_path(f->out, OutputKind::directory, {}, "--out");  // before minutes of work
    const FingerprintGridResult r = run_fingerprint_grid(spec, [](const FingerprintGridCase& c) {
      std::printf("%-4s %-24s planted %-34s named %-16s %s%s%s\n", c.correct() ? "ok" : "MISS", c.config.c_str(),
                  c.planted.c_str(), c.named.c_str(), !c.named_first && c.tied_with_named ? "(tied)" : "",
                  !c.is_kernel && !c.named_by_signature ? " (other signature)" : "",
                  !c.named_first && c.identical_output ? " (bit-identical)" : "");
      std::fflush(stdout);
    });
    const std::string md = fingerprint_grid_markdown(spec, r);
    std::printf("\nplanted %lld: named first by precision signature %lld (%.1f%%), by hypothesis %lld (%.1f%%), "
                "named or tied %lld (%.1f%%); not named first but bit-identical %lld; correct kernels %lld, called "
                "a defect %lld; %.1f s\n",
                static_cast<long long>(r.planted), static_cast<long long>(r.named_by_signature), 100 * r.signature_rate(),
                static_cast<long long>(r.named_first), 100 * r.strict_rate(),
                static_cast<long long>(r.named_or_tied), 100 * r.named_rate(),
                static_cast<long long>(r.identical_not_first), static_cast<long long>(r.kernels),
                static_cast<long long>(r.kernels_called_defect), r.seconds);
    if (!f->out.empty()) {
      nlohmann::json cases = nlohmann::json::array();
      for (const FingerprintGridCase& c : r.cases) {
        nlohmann::json top = nlohmann::json::array();
        for (const HypothesisFit& h : c.top)
          top.push_back({{"label", h.label}, {"signature", h.signature}, {"fit", h.fit}, {"excess", h.excess}, {"correlation", h.correlation},
                         {"rmse_ratio", h.rmse_ratio}, {"profile_correlation", h.profile_correlation},
                         {"mismatch", h.mismatch}});
        cases.push_back({{"config", c.config}, {"planted", c.planted}, {"plant_numerics", c.plant_numerics},
                         {"kernel", c.is_kernel}, {"named", c.named}, {"outcome", fingerprint_outcome_name(c.outcome)},
                         {"named_first", c.named_first}, {"tied_with_named", c.tied_with_named},
                         {"planted_signature", c.planted_signature}, {"named_signature", c.named_signature},
                         {"named_by_signature", c.named_by_signature}, {"identical_output", c.identical_output},
                         {"correct", c.correct()}, {"observed_excess", c.observed_excess}, {"summary", c.summary},
                         {"confidence", c.confidence}, {"top", top}});
      }
      const nlohmann::json doc{{"command", invoked_command()}, {"planted", r.planted}, {"named_first", r.named_first},
                               {"named_or_tied", r.named_or_tied}, {"named_by_signature", r.named_by_signature},
                               {"identical_not_first", r.identical_not_first},
                               {"identical_not_by_signature", r.identical_not_by_signature}, {"kernels", r.kernels},
                               {"kernels_called_defect", r.kernels_called_defect}, {"seconds", r.seconds},
                               {"cases", cases}};
      write_text(f->out, "grid.md", md);
      write_text(f->out, "grid.json", doc.dump(1) + "\n");
    }
    // By precision signature, a plant whose named hypothesis computes its output bit for bit is
    // not a miss a black box could avoid (the report lists them); anything else is.
    const double by_signature_or_identical =
        r.planted ? static_cast<double>(r.named_by_signature + r.identical_not_by_signature) / static_cast<double>(r.planted)
                  : 0;
    if (r.named_rate() < kRequiredNamedRate || by_signature_or_identical < kRequiredNamedRate ||
        r.kernels_called_defect > 0 || r.planted == 0)
      throw CLI::RuntimeError(1);
  });
}

void add_fingerprint_bench_command(CLI::App& app) {
  struct Flags {
    ProblemFlags problem;
    std::string plant = "P e4m3", kernel, dump;
    int repeat = 3, threads = 0;
    int64_t rows = 64;
  };
  auto f = std::make_shared<Flags>();
  f->problem.seqlen_q = f->problem.seqlen_k = 1024;
  f->problem.head_dim = 128;
  f->problem.heads = "4";
  auto* sub = app.add_subcommand("fingerprint-bench", "Time the precision fingerprint of one generated output");
  f->problem.add_to(*sub);
  sub->add_option("--plant", f->plant, "precision hypothesis (label) that makes the output")->capture_default_str();
  sub->add_option("--kernel", f->kernel, "registered kernel that makes the output instead (`attnscope list`)");
  sub->add_option("--repeat", f->repeat, "timed repetitions")->capture_default_str()->check(CLI::Range(1, 1000));
  sub->add_option("--threads", f->threads, "worker threads (0: all cores)")->capture_default_str();
  sub->add_option("--rows", f->rows, "rows per (batch, head) sampled")->capture_default_str()
      ->check(CLI::Range(int64_t{2}, int64_t{1} << 20));
  sub->add_option("--write-dump", f->dump, "also write q, k, v, o to this .safetensors file");
  sub->callback([f] {
    const Problem p = f->problem.problem();
    p.require_memory_for_run();
    if (!f->dump.empty()) check_output_path(f->dump, OutputKind::file, {}, "--write-dump");
    const AttentionInputs in = generate_inputs(p, f->problem.input_spec());
    Tensor<double> o;
    std::string source;
    if (!f->kernel.empty()) {
      const Kernel& kernel = all_kernels().get(f->kernel);
      if (kernel.invalid_reason)
        if (auto why = kernel.invalid_reason(p)) throw ProblemError(f->kernel + ": " + *why);
      AttentionOutputs out = kernel.run(p, in);
      for (double& x : out.o.storage()) x = round_to(p.dtype, x);
      o = out.o;
      source = "kernel " + f->kernel;
    } else {
      const PrecisionHypothesis h = find_precision_hypothesis(p.dtype, f->plant);
      o = run_hypothesis(p, in, h, p.dtype, /*tensor_core_products=*/true, f->threads);
      source = "planted " + h.label + " (" + h.describe() + ")";
    }
    if (!f->dump.empty()) {
      TensorFile file;
      const StoredType st = p.dtype == DType::fp16 ? StoredType::f16 : StoredType::bf16;
      file.tensors["q"] = {st, in.q};
      file.tensors["k"] = {st, in.k};
      file.tensors["v"] = {st, in.v};
      file.tensors["o"] = {st, o};
      file.metadata["source"] = source;
      write_safetensors(f->dump, file);
    }
    FingerprintOptions options;
    options.threads = f->threads;
    options.max_rows_per_head = f->rows;
    std::printf("# fingerprint of %s: %s, %lld rows per head\n", source.c_str(), p.label().c_str(),
                static_cast<long long>(f->rows));
    double best = 1e300, total = 0;
    PrecisionFingerprint fp;
    for (int i = 0; i < f->repeat; ++i) {
      fp = fingerprint_precision(p, in, o, p.dtype, options);
      best = std::min(best, fp.seconds);
      total += fp.seconds;
    }
    std::printf("verdict: %s\nconfidence: %s\n%zu hypotheses on %lld rows: best %.3f s, mean %.3f s over %d runs\n",
                fp.summary.c_str(), fp.confidence.c_str(), fp.fits.size(), static_cast<long long>(fp.rows_sampled), best,
                total / f->repeat, f->repeat);
  });
}

}  // namespace

void add_fingerprint_commands(CLI::App& app) {
  add_grid_command(app);
  add_fingerprint_bench_command(app);
}

}  // namespace attn::cli
