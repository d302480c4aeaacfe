// incremental_vs_full_report.cpp: Markdown + plot + JSON of an incremental-vs-full run.
#include "reports/incremental_vs_full_report.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/errors.h"
#include "reports/plots.h"

namespace attn {
namespace {

std::string num(double x, const char* fmt = "%.3g") {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, x);
  return buf;
}

std::string dominant(const nlohmann::json& attribution) {
  if (attribution.is_null()) return "not modelled";
  std::string best;
  double share = -1;
  for (const auto& [name, v] : attribution["categories"].items())
    if (v["rmse2_share"].get<double>() > share) {
      share = v["rmse2_share"].get<double>();
      best = name;
    }
  return best + " (" + num(100 * share, "%.0f") + "% of MSE)";
}

std::string step_row(const StepComparison& s) {
  std::ostringstream o;
  o << "| " << (s.step < 0 ? std::string("prefill") : std::to_string(s.step)) << " | " << s.keys << " | " << s.differing
    << " / " << s.elements << " | " << num(s.max_row_ulp_diff) << " | " << num(s.max_ulp_diff) << " | " << num(s.incremental.ulp_max) << " | "
    << num(s.full.ulp_max) << " | " << num(s.incremental_excess, "%.2f") << " | " << num(s.fa_ratio, "%.3f") << " | "
    << s.classification << (s.cause.empty() ? "" : " (" + s.cause + ")") << " | " << dominant(s.attribution) << " |\n";
  return o.str();
}

constexpr const char* kStepHeader =
    "| step | keys | elements differing from full | max diff (row-scale ULP) | max diff (element ULP) | incremental vs "
    "truth (max ULP) | full vs truth (max ULP) | excess | FA ratio | class | attribution (dominant) |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|\n";

void write_file(const std::string& path, const std::string& text) {
  std::ofstream f(path);
  f << text;
  if (!f) throw Error("cannot write " + path);
}

}  // namespace

std::string write_incremental_report(const IncrementalResult& r, const nlohmann::json& provenance, const std::string& dir) {
  std::filesystem::create_directories(dir);
  const IncrementalSpec& s = r.spec;
  nlohmann::json data = to_json(r);
  data["provenance"] = provenance;
  write_file(dir + "/results.json", data.dump(1) + "\n");

  LinePlot plot;
  plot.name = "step_ulp_diff";
  plot.title = "Incremental decode vs full-sequence kernel, per step";
  plot.xlabel = "decode step (row P + step)";
  plot.ylabel = "max |incremental - full| (ULPs of the row scale; 0 plotted as 0.01)";
  plot.logy = true;
  for (const PathResult& p : r.paths) {
    Series series;
    series.title = p.decode_kernel;
    for (const StepComparison& st : p.steps)
      series.points.push_back({static_cast<double>(st.step), std::max(st.max_row_ulp_diff, 0.01)});
    plot.series.push_back(series);
  }
  std::string plot_error;
  const std::string svg = draw(plot, dir, &plot_error);

  std::ostringstream md;
  md << "# Incremental vs full-sequence attention\n\n"
     << "Prefill " << s.prefill_tokens << " tokens, then decode " << s.decode_steps << " tokens one at a time; every "
     << "decode step's row compared with the same row of the full-sequence kernel (all " << s.prefill_tokens + s.decode_steps
     << " rows at once), with the truth and with the naive same-precision baseline. B " << s.batch << ", heads "
     << s.heads_q << ":" << s.heads_kv << ", D " << s.head_dim << ", " << dtype_name(s.dtype) << ", causal, inputs "
     << distribution_name(s.inputs.distribution) << " (seed " << s.inputs.seed << ").\n\n"
     << "- full-sequence kernel: `" << s.full_kernel << "`; prefill kernel: `" << s.prefill_kernel << "`\n"
     << "- truth: " << r.truth_method << " (FP64 within " << num(r.truth_fp64_gap_ulps) << " ULP of the MPFI enclosure on the certified rows)\n"
     << "- FP64 references: the incremental reference stepping token by token vs the full-sequence reference: "
     << (r.references_bit_identical ? "**bit-identical**" : "**differ** by up to " + num(r.references_max_diff)) << "\n"
     << "- classes: bit-identical = no element differs from the full kernel; rounding = differs, within the "
        "FlashAttention rule (FA ratio = error / (2 x baseline error + 1e-5) <= 1) and no semantic bug diagnosed; "
        "semantic = a diagnosed bug or the rule fails. Excess = RMSE / RMSE of the truth rounded to the dtype. "
        "Row-scale ULP = |difference| / ULP of the largest |O| of the row's D elements (the element ULP "
        "explodes for outputs near zero).\n\n"
     << "## Headline\n\n"
     << "| decode kernel | planted bug | steps bit-identical / rounding / semantic | max diff vs full (row-scale ULP) | max diff vs full (element ULP) | max diff vs full (abs) | worst FA ratio | diagnosed cause |\n"
     << "|---|---|---|---|---|---|---|---|\n";
  for (const PathResult& p : r.paths) {
    std::string causes;
    for (const std::string& c : p.causes) causes += (causes.empty() ? "" : "; ") + c;
    md << "| `" << p.decode_kernel << "` | " << (p.planted_bug.empty() ? "none" : p.planted_bug) << " | " << p.bit_identical
       << " / " << p.rounding << " / " << p.semantic << " | " << num(p.max_row_ulp_diff) << " | " << num(p.max_ulp_diff) << " | " << num(p.max_abs_diff) << " | "
       << num(p.worst_fa_ratio, "%.3f") << " | " << (causes.empty() ? "none" : causes) << " |\n";
  }
  if (!r.paths.empty()) {
    const PathResult& c = r.paths.front();
    md << "\n## Prefill chunk (rows 0.." << s.prefill_tokens - 1 << ")\n\n" << kStepHeader << step_row(c.prefill)
       << "\n## Every decode step of `" << c.decode_kernel << "`\n\n" << kStepHeader;
    for (const StepComparison& st : c.steps) md << step_row(st);
  }
  if (r.paths.size() > 1) {
    md << "\n## Mutants: first and last step\n\n" << kStepHeader;
    for (size_t i = 1; i < r.paths.size(); ++i) {
      md << "| **`" << r.paths[i].decode_kernel << "`** | | | | | | | | | | |\n";
      md << step_row(r.paths[i].steps.front());
      if (r.paths[i].steps.size() > 1) md << step_row(r.paths[i].steps.back());
    }
  }
  md << "\n## Plot\n\n"
     << (svg.empty() ? "(no plot: " + plot_error + "; data and script in step_ulp_diff.dat/.gp)\n" : "![per-step difference](" + svg + ")\n")
     << "\n## Provenance\n\n```json\n" << provenance.dump(1) << "\n```\n\nTime: " << num(r.seconds, "%.1f") << " s.\n";
  const std::string path = dir + "/report.md";
  write_file(path, md.str());
  return path;
}

}  // namespace attn
