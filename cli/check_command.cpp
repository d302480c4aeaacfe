// `attnscope check CASE OUTPUT [--layout bshd|bhsd]`: judges an outside kernel's output for a case
// written by `make-inputs` exactly like `run` judges an internal one — the metrics table against
// the case's truth, the FlashAttention rule against the naive baseline, the semantic diagnosis's
// verdict — and exits 1 when it fails (rule failed, non-finite output, a bug diagnosed, or the
// output fits the other layout). OUTPUT is .npy, .npz or .safetensors holding `o` (or one array).
#include <iostream>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/metrics_table.h"
#include "core/errors.h"
#include "core/io_npy.h"
#include "core/io_safetensors.h"
#include "experiments/external/case_file.h"
#include "experiments/external/judgement.h"

namespace attn::cli {
namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

/// The output tensor of a file: `o`, or the only tensor in it.
NamedTensor read_output(const std::string& path, DType problem_dtype) {
  if (ends_with(path, ".npy")) {
    NpyReadOptions options;
    options.two_byte_as_bf16 = problem_dtype == DType::bf16;
    return read_npy(path, options);
  }
  const TensorFile f = read_tensor_file(path);
  if (auto it = f.tensors.find("o"); it != f.tensors.end()) return it->second;
  if (f.tensors.size() == 1) return f.tensors.begin()->second;
  std::string names;
  for (const auto& [n, _] : f.tensors) names += (names.empty() ? "" : ", ") + n;
  throw FileFormatError("'" + path + "' has no tensor 'o' and more than one tensor (" + names + ")");
}

}  // namespace

void add_check_command(CLI::App& app) {
  struct Flags {
    std::string case_path, output_path, layout, dtype;
    int64_t max_rows = 256;
    bool json = false;
  };
  auto f = std::make_shared<Flags>();
  auto* sub = app.add_subcommand("check", "Judge an outside kernel's output for a make-inputs case; exit 1 when it fails");
  sub->add_option("case", f->case_path, "case file written by `attnscope make-inputs`")->required()->check(CLI::ExistingFile);
  sub->add_option("output", f->output_path, "the kernel's output: .npy, .npz or .safetensors (tensor 'o')")
      ->required()->check(CLI::ExistingFile);
  sub->add_option("--layout", f->layout, "layout of the output: bshd | bhsd (default: the case's)");
  sub->add_option("--dtype", f->dtype, "judge the output in this dtype (default: its stored one, see README)");
  sub->add_option("--max-rows", f->max_rows, "rows diagnosed per (batch, head)")->capture_default_str();
  sub->add_flag("--json", f->json, "one JSON object instead of the table");
  sub->callback([f] {
    const CaseFile c = read_case(f->case_path);
    TensorLayout layout = c.layout;
    if (!f->layout.empty()) {
      try {
        layout = parse_layout(f->layout);
      } catch (const Error& e) {
        throw CLI::ValidationError("--layout", e.what());
      }
    }
    const NamedTensor o = read_output(f->output_path, c.problem.dtype);
    const std::vector<int64_t> expected = shape_in_layout(c.problem.q_shape(), layout);
    if (o.values.shape() != expected) {
      const std::vector<int64_t> other = shape_in_layout(c.problem.q_shape(), other_layout(layout));
      throw FileFormatError("'" + f->output_path + "': o has shape " + shape_string(o.values.shape()) + ", the case needs " +
                            shape_string(expected) + " (" + layout_name(layout) + ")" +
                            (o.values.shape() == other ? "; that is its " + layout_name(other_layout(layout)) +
                                                             " shape: pass --layout " + layout_name(other_layout(layout))
                                                       : std::string()));
    }
    DType out_dtype = output_dtype_of(o.type, o.values, c.problem.dtype);
    if (!f->dtype.empty()) {
      try {
        out_dtype = parse_dtype(f->dtype);
      } catch (const Error& e) {
        throw CLI::ValidationError("--dtype", e.what());
      }
    }
    DiagnosisOptions options;
    options.max_rows_per_head = f->max_rows;
    const auto baseline = naive_baseline_output(c.problem, c.inputs);
    const Tensor<double> o_bshd = from_layout(o.values, layout);
    Judgement j = judge_output(c.problem, c.inputs, o_bshd, out_dtype, c.truth, baseline.get(), options);
    // Both layouts have the same shape (S == H, or one of them 1): try the other reading too.
    if (!j.passed && shape_in_layout(c.problem.q_shape(), other_layout(layout)) == expected)
      note_layout_fit(j, layout, diagnose(c.problem, c.inputs, from_layout(o.values, other_layout(layout)), out_dtype, options));
    if (f->json) {
      nlohmann::json out = j.to_json();
      out["case"] = f->case_path;
      out["output"] = f->output_path;
      out["problem"] = c.problem.label();
      out["layout"] = layout_name(layout);
      out["out_dtype"] = std::string(dtype_name(out_dtype));
      std::cout << out.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
    } else {
      std::cout << "attnscope check: " << f->output_path << " against " << f->case_path << " (" << c.problem.label()
                << ", " << layout_name(layout) << ", judged as " << dtype_name(out_dtype) << ")\n\n";
      print_metrics_table(j.metrics);
      std::cout << "  truth: " << c.truth.method << " (from the case)\n";
      std::cout << "  diagnosis: " << j.verdict << "\n  where: " << j.diagnosis.where << "\n\n"
                << (j.passed ? "PASS" : "FAIL");
      for (const std::string& why : j.failures) std::cout << "\n  " << why;
      std::cout << "\n";
    }
    if (!j.passed) throw CLI::RuntimeError(1);
  });
}

}  // namespace attn::cli
