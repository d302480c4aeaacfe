// `attnscope make-inputs [problem flags] --out case.safetensors [--layout bshd|bhsd]`: a test case
// for a kernel that lives elsewhere — the inputs a sweep point of this problem uses, the FP64
// truth, the rounding floor and the naive baseline's error, and the problem in the metadata
// (experiments/external/case_file.h). The team runs its kernel on q, k, v and hands the output to
// `attnscope check`.
#include <iostream>

#include "cli/commands.h"
#include "cli/metrics_table.h"
#include "cli/problem_flags.h"
#include "core/errors.h"
#include "core/io_files.h"
#include "experiments/external/case_file.h"

namespace attn::cli {

void add_make_inputs_command(CLI::App& app) {
  struct Flags {
    ProblemFlags problem;
    std::string out, layout = "bshd";
  };
  auto f = std::make_shared<Flags>();
  auto* sub = app.add_subcommand("make-inputs", "Write a test case (inputs, truth, floor, baseline) for an outside kernel");
  f->problem.add_to(*sub);
  sub->add_option("--out", f->out, "case file to write (.safetensors)")->required();
  sub->add_option("--layout", f->layout, "layout of q, k, v and truth in the file: bshd ([B, S, H, D]) | bhsd ([B, H, S, D])")
      ->capture_default_str();
  sub->callback([f] {
    TensorLayout layout;
    try {
      layout = parse_layout(f->layout);
    } catch (const Error& e) {
      throw CLI::ValidationError("--layout", e.what());
    }
    const Problem problem = f->problem.problem();
    problem.require_memory_for_run();
    check_output_path(f->out, OutputKind::file, {}, "--out");  // before the truth, not after it
    const CaseFile c = make_case(problem, f->problem.input_spec(), layout, invoked_command());
    write_case(f->out, c);
    const auto& g = short_number;
    std::cout << "case " << f->out << ": " << problem.label() << ", layout " << layout_name(layout) << " (q "
              << shape_string(shape_in_layout(problem.q_shape(), layout)) << ", k/v "
              << shape_string(shape_in_layout(problem.kv_shape(), layout)) << ")\n"
              << "  truth: " << c.truth.method << "; rounding floor rmse " << g(c.floor["rmse"]) << ", max_abs "
              << g(c.floor["max_abs"]) << "\n";
    if (!c.baseline.is_null())
      std::cout << "  naive baseline (" << c.baseline["kernel"].get<std::string>() << ") max_abs "
                << g(c.baseline["metrics"]["max_abs"]) << ": a kernel passes the FlashAttention rule at max_abs <= "
                << g(c.baseline["fa_rule_bound"]) << "\n";
    std::cout << "  next: run your kernel on q, k, v; save o (" << layout_name(layout)
              << ") as .npy/.npz/.safetensors; attnscope check " << f->out << " o.npy\n";
  });
}

}  // namespace attn::cli
