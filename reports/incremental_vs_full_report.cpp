// incremental_vs_full_report.cpp: Markdown + plots + JSON of an incremental-vs-full run.
#include "reports/incremental_vs_full_report.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "core/errors.h"
#include "analysis/metrics.h"
#include "core/io_files.h"
#include "reports/plots.h"

namespace attn {
namespace {

std::string num(double x, const char* fmt = "%.3g") {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, x);
  return buf;
}

std::string dominant(const StepComparison& s) {
  const nlohmann::json& attribution = s.attribution;
  if (attribution.is_null()) return s.attribution_status.empty() ? "not modelled" : s.attribution_status;
  std::string best;
  double share = -1;
  for (const auto& [name, v] : attribution["categories"].items())
    if (v["rmse2_share"].get<double>() > share) {
      share = v["rmse2_share"].get<double>();
      best = name;
    }
  return best + " (" + num(100 * share, "%.0f") + "% of MSE)";
}

/// A share as a percentage with one decimal; Shapley values a hair below zero print as 0.0 %.
std::string percent(double share) {
  const std::string text = num(100 * share, "%.1f");
  return (text == "-0.0" ? std::string("0.0") : text) + "%";
}

/// The other meanings the diagnosis found equally consistent with the output, if any.
std::string also(const StepComparison& s) {
  std::string other;
  for (const std::string& m : s.also_matching)
    if (m != s.cause) other += (other.empty() ? "" : "; ") + m;
  return other.empty() ? "" : " [also consistent: " + other + "]";
}

std::string rows_label(const StepComparison& s) {
  return s.rows <= 1 ? std::to_string(s.first_row) : std::to_string(s.first_row) + ".." + std::to_string(s.first_row + s.rows - 1);
}

std::string step_row(const StepComparison& s) {
  std::ostringstream o;
  o << "| " << (s.step < 0 ? std::string("prefill") : std::to_string(s.step)) << " | " << rows_label(s) << " | " << s.keys << " | " << s.differing
    << " / " << s.elements << " | " << num(s.max_row_ulp_diff) << " | " << num(s.max_ulp_diff) << " | " << num(s.incremental.ulp_max) << " | "
    << num(s.full.ulp_max) << " | " << num(s.incremental_excess, "%.2f") << " | " << num(s.fa_ratio, "%.3f") << " | "
    << s.classification << (s.cause.empty() ? "" : " (" + s.cause + ")") << also(s) << " | " << dominant(s) << " |\n";
  return o.str();
}

/// One paragraph: what the run says about incremental vs full (the correct path first, then
/// whether every mutant was caught in its own category).
std::string answer(const IncrementalResult& r) {
  if (r.paths.empty()) return "";
  const PathResult& c = r.paths.front();
  std::ostringstream o;
  const int64_t n = static_cast<int64_t>(c.steps.size());
  o << "**Answer.** `" << c.decode_kernel << "`: " << c.bit_identical << " of " << n << " steps bit-identical to the full "
    << "kernel, " << c.rounding << " rounding, " << c.semantic << " semantic; at most " << num(c.max_row_ulp_diff)
    << " ULP of the row scale (" << num(c.max_ulp_diff) << " element ULP, " << num(c.max_abs_diff) << " absolute) from the "
    << "full kernel, worst FA ratio " << num(c.worst_fa_ratio, "%.3f") << " — "
    << (c.semantic == 0 ? "incremental vs full is rounding, not semantics." : "**the correct path has semantic steps**: see below.");
  if (r.paths.size() > 1) {
    // Per mutant: steps semantic with the planted category diagnosed (or equally consistent).
    o << " Mutants (steps semantic and diagnosed in the planted category / steps):";
    for (size_t i = 1; i < r.paths.size(); ++i) {
      const PathResult& p = r.paths[i];
      int64_t own = 0;
      for (const StepComparison& s : p.steps) {
        bool listed = s.cause.rfind(p.planted_bug + ":", 0) == 0;
        for (const std::string& m : s.also_matching) listed = listed || m.rfind(p.planted_bug + ":", 0) == 0;
        own += s.classification == "semantic" && listed;
      }
      o << (i > 1 ? "," : "") << " " << (p.planted_bug.empty() ? p.decode_kernel : p.planted_bug) << " " << own << "/"
        << p.steps.size();
    }
    o << ".";
  }
  return o.str();
}

constexpr const char* kStepHeader =
    "| step | rows | keys | elements differing from full | max diff (row-scale ULP) | max diff (element ULP) | incremental vs "
    "truth (max ULP) | full vs truth (max ULP) | excess | FA ratio | class | attribution (dominant) |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|\n";

/// Attribution category names in first-seen order over every attributed step ("semantic" last).
std::vector<std::string> categories_of(const IncrementalResult& r) {
  std::vector<std::string> names;
  for (const PathResult& p : r.paths)
    for (const StepComparison& s : p.steps)
      if (!s.attribution.is_null())
        for (const auto& [name, v] : s.attribution["categories"].items())
          if (name != "semantic" && std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
  if (!names.empty()) names.push_back("semantic");
  return names;
}

double share_of(const nlohmann::json& attribution, const std::string& category) {
  const auto& c = attribution["categories"];
  return c.contains(category) ? c[category]["rmse2_share"].get<double>() : 0.0;
}

void write_file(const std::string& path, const std::string& text) { write_file_atomic(path, text); }

}  // namespace

std::string write_incremental_report(const IncrementalResult& r, const nlohmann::json& provenance, const std::string& dir) {
  std::filesystem::create_directories(dir);
  const IncrementalSpec& s = r.spec;
  nlohmann::json data = to_json(r);
  data["provenance"] = provenance;
  write_file(dir + "/results.json", data.dump(1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n");

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

  // Shapley shares of the attributed steps as stacked lines, one plot per path (the correct one and
  // each mutant): x = decode step, the bands the categories' shares (they sum to 100% per step).
  const std::vector<std::string> categories = categories_of(r);
  std::vector<std::pair<std::string, std::string>> attribution_svgs;  // (path title, svg)
  std::string bars_error;
  for (size_t index = 0; index < r.paths.size(); ++index) {
    const PathResult& p = r.paths[index];
    LinePlot bands;
    bands.name = "step_attribution_" + std::to_string(index);
    const std::string path_title = p.planted_bug.empty() ? "correct decode" : "mutant: " + p.planted_bug;
    bands.title = "Shapley shares of the emulated error (MSE) per decode step, " + path_title + " (" + p.decode_kernel +
                  "): each attributed step on its own, stacked to 100%";
    bands.xlabel = "decode step";
    bands.ylabel = "% of the step's squared error (stacked)";
    bands.stacked = true;
    std::vector<Series> cumulative(categories.size());
    for (size_t c = 0; c < categories.size(); ++c) cumulative[c].title = categories[c];
    for (const StepComparison& st : p.steps) {
      if (st.attribution.is_null()) continue;
      double sum = 0;
      for (size_t c = 0; c < categories.size(); ++c) {
        sum += 100.0 * share_of(st.attribution, categories[c]);
        cumulative[c].points.push_back({static_cast<double>(st.step), sum});
      }
    }
    if (cumulative.empty() || cumulative.front().points.empty()) continue;
    bands.series = cumulative;
    std::string error;
    const std::string svg = draw(bands, dir, &error);
    if (svg.empty()) bars_error += error + "; ";
    else attribution_svgs.push_back({path_title, svg});
  }
  std::error_code ignored;  // an empty gnuplot log says nothing: keep only logs with messages
  for (const auto& e : std::filesystem::directory_iterator(dir, ignored))
    if (e.path().extension() == ".log" && e.is_regular_file(ignored) && e.file_size(ignored) == 0)
      std::filesystem::remove(e.path(), ignored);

  std::ostringstream md;
  md << "# Incremental vs full-sequence attention\n\n"
     << "Prefill " << s.prefill_tokens << " tokens, then decode " << s.decode_steps << " tokens "
     << (s.decode_chunk == 1 ? std::string("one at a time") : std::to_string(s.decode_chunk) + " at a time")
     << "; every decode step's rows compared with the same rows of the full-sequence kernel (all "
     << s.prefill_tokens + s.decode_steps << " rows at once), with the truth and with the naive same-precision baseline. B " << s.batch << ", heads "
     << s.heads_q << ":" << s.heads_kv << ", D " << s.head_dim << ", " << dtype_name(s.dtype) << ", causal, inputs "
     << distribution_name(s.inputs.distribution) << " (seed " << s.inputs.seed << ").\n\n"
     << "- full-sequence kernel: `" << s.full_kernel << "`; prefill kernel: `" << s.prefill_kernel << "`\n";
  for (const std::string& note : s.notes) md << "- note: " << note << "\n";
  md << "- attributed decode steps: " << s.attribute_steps << " (Shapley over the 7 emulated stages, for kernels with an "
     << "emulator model; \"not modelled\" otherwise)\n"
     << "- truth: " << r.truth_method << " (FP64 within " << num(r.truth_fp64_gap_ulps) << " ULP of the MPFI enclosure on the certified rows)\n"
     << "- FP64 references: the incremental reference stepping token by token vs the full-sequence reference: "
     << (r.references_bit_identical ? "**bit-identical**" : "**differ** by up to " + num(r.references_max_diff)) << "\n"
     << "- classes: bit-identical = no element differs from the full kernel; rounding = differs, within the "
        "FlashAttention rule (FA ratio = error / bound <= 1, the rule: " << fa_rule_text() << ") and no semantic bug diagnosed; "
        "semantic = a diagnosed bug or the rule fails. Excess = RMSE / RMSE of the truth rounded to the dtype. "
        "Row-scale ULP = |difference| / ULP of the largest |O| of the row's D elements (the element ULP "
        "explodes for outputs near zero).\n\n"
     << answer(r) << "\n\n## Headline\n\n"
     << "| decode kernel | planted bug | steps bit-identical / rounding / semantic | max diff vs full (row-scale ULP) | max diff vs full (element ULP) | max diff vs full (abs) | worst FA ratio | diagnosed cause | attributed steps with a dominant semantic share |\n"
     << "|---|---|---|---|---|---|---|---|---|\n";
  for (const PathResult& p : r.paths) {
    std::string causes;
    for (const std::string& c : p.causes) causes += (causes.empty() ? "" : "; ") + c;
    md << "| `" << p.decode_kernel << "` | " << (p.planted_bug.empty() ? "none" : p.planted_bug) << " | " << p.bit_identical
       << " / " << p.rounding << " / " << p.semantic << " | " << num(p.max_row_ulp_diff) << " | " << num(p.max_ulp_diff) << " | " << num(p.max_abs_diff) << " | "
       << num(p.worst_fa_ratio, "%.3f") << " | " << (causes.empty() ? "none" : causes) << " | "
       << (p.attributed ? std::to_string(p.semantic_dominant) + " / " + std::to_string(p.attributed)
                        : std::string(p.modelled ? "none attributed" : "not modelled"))
       << " |\n";
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
      md << "| **`" << r.paths[i].decode_kernel << "`** | | | | | | | | | | | |\n";
      md << step_row(r.paths[i].steps.front());
      if (r.paths[i].steps.size() > 1) md << step_row(r.paths[i].steps.back());
    }
  }
  md << "\n## Attribution of the attributed steps (Shapley share of the emulated MSE)\n\n";
  if (categories.empty()) {
    md << "No step attributed (decode kernels without an emulator model, or `--attribute-steps none`).\n";
  } else {
    md << "| decode kernel | step | ";
    for (const std::string& c : categories) md << c << " | ";
    md << "dominant |\n|---|---|";
    for (size_t i = 0; i <= categories.size(); ++i) md << "---|";
    md << "\n";
    for (const PathResult& p : r.paths)
      for (const StepComparison& st : p.steps)
        if (!st.attribution.is_null()) {
          md << "| `" << p.decode_kernel << "` | " << st.step << " | ";
          for (const std::string& c : categories) md << percent(share_of(st.attribution, c)) << " | ";
          md << st.attribution["dominant"].get<std::string>() << " |\n";
        }
    md << "\n\"semantic\" = v(every stage exact): error that no rounding explains (a bug in meaning).\n";
  }
  md << "\n## Plots\n\n"
     << (svg.empty() ? "(no plot: " + plot_error + "; data and script in step_ulp_diff.dat/.gp)\n" : "![per-step difference](" + svg + ")\n");
  for (const auto& [path_title, attribution_svg] : attribution_svgs)
    md << "\n![attribution per step, " << path_title << "](" << attribution_svg << ")\n";
  if (!bars_error.empty()) md << "\n(attribution plots not drawn: " << bars_error << "data and scripts in step_attribution_*.dat/.gp)\n";
  md
     << "\n## Provenance\n\n```json\n" << provenance.dump(1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n```\n\nTime: " << num(r.seconds, "%.1f") << " s.\n";
  const std::string path = dir + "/report.md";
  write_file(path, md.str());
  return path;
}

}  // namespace attn
