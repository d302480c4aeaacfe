// sweep_report.cpp: the precision report of one sweep (sweep_report.h), built once as a Document
// (reports/document.h) and rendered to report.md and report.html. Plot rules, so that a reader
// gets each plot in five seconds:
//   - one figure per dtype; at most kMaxSeriesPerPlot series (baseline first, then the correct
//     kernels in registry order; the rest named in the caption); mutants in their own figures;
//   - excess (kernel RMSE / rounding-floor RMSE), not max_abs, against every axis: max_abs
//     follows the output's magnitude, excess is the accuracy;
//   - S_q on a categorical axis (63, 64 and 65 are three ticks) with tile multiples marked;
//     cache depth on a log axis of depth + 1 labelled with the depth, so 0 is shown;
//   - the aggregation in every title ("worst over ..." naming the axes that vary);
//   - attribution: each kernel's shares of its summed squared error, a bar of exactly 100%;
//   - ULPs of the row's scale in the table, where element ULPs of near-zero outputs mislead.
#include "reports/sweep_report.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>

#include "analysis/metrics.h"
#include "core/errors.h"
#include "core/io_files.h"
#include "core/kernel_config.h"
#include "reports/document.h"
#include "reports/plots.h"

namespace attn {
namespace {

using nlohmann::json;

double num(const json& j, const char* a, const char* b = nullptr) {
  if (!j.is_object() || !j.contains(a)) return NAN;
  const json* p = &j[a];
  if (b) {
    if (!p->is_object() || !p->contains(b)) return NAN;
    p = &(*p)[b];
  }
  return p->is_number() ? p->get<double>() : NAN;
}

std::string fmt(double x, int precision = 3) {
  if (std::isnan(x)) return "–";
  if (std::isinf(x)) return "inf";
  std::ostringstream s;
  s.precision(precision);
  s << x;
  return s.str();
}

std::string text_of(const json& config, const char* key) {
  if (!config.is_object() || !config.contains(key)) return "";
  const json& v = config[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  if (v.is_number()) return fmt(v.get<double>(), 6);
  return v.dump();
}

/// The tile a point ran with: its own block_m/block_n (a block-size axis) or the kernel's traits.
int tile_field(const json& config, const char* field) {
  if (config.contains(field) && config[field].is_number_integer()) return config[field].get<int>();
  if (config.contains("traits") && config["traits"].contains(field) && config["traits"][field].is_string()) {
    try {
      return std::stoi(config["traits"][field].get<std::string>());
    } catch (const std::exception&) {
      return 0;
    }
  }
  return 0;
}

std::string tile_label(const json& config) {
  const int m = tile_field(config, "block_m"), n = tile_field(config, "block_n");
  if (!m || !n) return "";
  const int splits = tile_field(config, "num_splits");
  return "m" + std::to_string(m) + "n" + std::to_string(n) + (splits > 1 ? ".split" + std::to_string(splits) : "");
}

/// A plot-file-safe form of a dtype name.
std::string stem(const std::string& s) {
  std::string out;
  for (char c : s)
    if (std::isalnum(static_cast<unsigned char>(c))) out += c;
  return out.empty() ? "x" : out;
}

/// The attribution categories in pipeline order, then "semantic".
std::vector<std::string> attribution_categories() {
  std::vector<std::string> out;
  for (int s = 0; s < kNumStages; ++s) {
    const std::string c = stage_category(static_cast<Stage>(s));
    if (std::find(out.begin(), out.end(), c) == out.end()) out.push_back(c);
  }
  out.push_back("semantic");
  return out;
}

/// Everything the report says about one kernel.
struct KernelSummary {
  std::string family, planted_bug, dtype;
  int ok = 0, invalid = 0, errors = 0, fa_checked = 0, fa_pass = 0;
  double worst_ratio = NAN, worst_max_abs = 0, worst_row_ulp = NAN, worst_excess = NAN;
  double worst_key = -INFINITY;  // what picks worst_where
  std::string worst_where;
  std::vector<double> excess;
  // Attribution: each point's shares weighted by its squared error, so that the kernel's shares
  // are shares of its summed squared error and sum to 1 (an unweighted mean of per-point shares
  // does not: a point whose emulated error is 0 has no shares).
  std::map<std::string, double> category_mse;
  double attributed_mse = 0;
  int attributed = 0;
  std::vector<double> ulp_histogram;
  std::map<std::string, int> diagnoses;  // diagnosis of each output (sweeps with diagnosis = true)
  std::map<std::string, int> numerics;   // fingerprint label -> points (kernels attnscope has no source for)

  bool is_mutant() const { return !planted_bug.empty() || family == "mutant"; }
  double share(const std::string& category) const {
    if (attributed_mse <= 0 || !category_mse.count(category)) return 0;
    return category_mse.at(category) / attributed_mse;
  }
};

/// "FA2-style (12/12)" or "P e4m3 (10/12); upcast (2/12)": the fingerprint labels of a kernel's points.
std::string numerics_cell(const KernelSummary& k) {
  int total = 0;
  for (const auto& [label, n] : k.numerics) total += n;
  std::vector<std::pair<int, std::string>> by_count;
  for (const auto& [label, n] : k.numerics) by_count.push_back({-n, label});
  std::sort(by_count.begin(), by_count.end());
  std::string cell;
  for (const auto& [n, label] : by_count)
    cell += (cell.empty() ? "" : "; ") + label + " (" + std::to_string(-n) + "/" + std::to_string(total) + ")";
  return cell.empty() ? "–" : cell;
}

/// "diagnosed: masking 12, no semantic bug 48" over a kernel's points (empty when none diagnosed).
std::string diagnosis_counts(const KernelSummary& k) {
  std::string s;
  for (const auto& [what, n] : k.diagnoses) s += (s.empty() ? "diagnosed: " : ", ") + what + " " + std::to_string(n);
  return s;
}

std::string verdict(const KernelSummary& k) {
  if (k.ok == 0) return k.errors ? "ERROR" : "INVALID";
  const bool fails = k.fa_checked > 0 && k.fa_pass < k.fa_checked;
  if (k.is_mutant()) return fails ? "caught (" + k.planted_bug + ")" : "NOT CAUGHT (" + k.planted_bug + ")";
  if (k.fa_checked == 0) return "no baseline";
  return fails ? "FAIL" : "pass";
}

bool verdict_is_bad(const std::string& v) { return v == "FAIL" || v == "ERROR" || v.rfind("NOT CAUGHT", 0) == 0; }

double median(std::vector<double> v) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

/// growing-max outputs are near zero by design: their excess over the rounding floor and their
/// row-scale ULPs mean nothing (README, "growing-max"); its points count for the rule only.
bool excess_meaningful(const ResultRow& r) { return text_of(r.config, "distribution") != "growing-max"; }

/// One axis a plot can be drawn against.
struct Axis {
  std::string field;   ///< config field, or "tile"
  std::string label;   ///< for titles
  enum class Scale { categorical, log_depth } scale = Scale::categorical;
};

const std::vector<Axis>& axes() {
  static const std::vector<Axis> all = {
      {"seqlen_q", "S_q", Axis::Scale::categorical},          {"cache_depth", "cache depth", Axis::Scale::log_depth},
      {"gqa_ratio", "GQA ratio", Axis::Scale::categorical},   {"tile", "block size", Axis::Scale::categorical},
      {"head_dim", "head dim", Axis::Scale::categorical},     {"distribution", "input", Axis::Scale::categorical},
      {"mask", "mask", Axis::Scale::categorical},             {"seed", "seed", Axis::Scale::categorical},
      {"batch", "batch", Axis::Scale::categorical}};
  return all;
}

/// The value of an axis at a row, as a sortable key (numbers numerically, then text).
struct AxisValue {
  double number = NAN;
  std::string text;
  bool operator<(const AxisValue& o) const {
    const bool a = !std::isnan(number), b = !std::isnan(o.number);
    if (a != b) return a;
    if (a && number != o.number) return number < o.number;
    return text < o.text;
  }
  bool operator==(const AxisValue& o) const { return !(*this < o) && !(o < *this); }
};

AxisValue axis_value(const ResultRow& r, const Axis& axis) {
  if (axis.field == "tile") {
    const int m = tile_field(r.config, "block_m"), n = tile_field(r.config, "block_n");
    return {m && n ? m * 100000.0 + n : NAN, tile_label(r.config)};
  }
  const json& v = r.config.contains(axis.field) ? r.config[axis.field] : json();
  if (v.is_number()) return {v.get<double>(), text_of(r.config, axis.field.c_str())};
  return {NAN, text_of(r.config, axis.field.c_str())};
}

/// "worst (max) over cache depth, GQA ratio and seeds": the axes other than `x` along which some
/// kernel's rows vary (a kernel's fixed tile, or a baseline without one, is not an axis).
std::string aggregation(const std::vector<const ResultRow*>& rows, const std::string& x, const char* how) {
  std::vector<std::string> varying;
  for (const Axis& a : axes()) {
    if (a.field == x) continue;
    std::map<std::string, std::set<AxisValue>> per_kernel;
    bool varies = false;
    for (const ResultRow* r : rows) {
      auto& values = per_kernel[r->kernel];
      values.insert(axis_value(*r, a));
      varies = varies || values.size() > 1;
    }
    if (varies) varying.push_back(a.label);
  }
  if (varying.empty()) return "one point per value";
  std::string s = std::string(how) + " over ";
  for (size_t i = 0; i < varying.size(); ++i)
    s += (i == 0 ? "" : i + 1 == varying.size() ? " and " : ", ") + varying[i];
  return s;
}

class SweepReport {
 public:
  SweepReport(const ResultsDb& db, const ReportOptions& options) : options_(options) {
    sweep_ = options.sweep;
    if (sweep_.empty()) {
      const auto sweeps = db.sweeps();
      if (sweeps.empty()) throw Error("results database '" + db.path() + "' holds no results");
      if (sweeps.size() > 1) {
        std::string names;
        for (const auto& s : sweeps) names += (names.empty() ? "" : ", ") + s;
        throw Error("results database '" + db.path() + "' holds several sweeps (" + names + "): name one with --sweep");
      }
      sweep_ = sweeps.front();
    }
    rows_ = db.rows(sweep_);
    if (rows_.empty()) throw Error("sweep '" + sweep_ + "' has no results in '" + db.path() + "'");
    plot_dir_ = (std::filesystem::path(options.out_dir) / "plots").string();
    summarize();
  }

  ReportFiles write() {
    std::filesystem::create_directories(options_.out_dir);
    Document doc("attnscope precision report: " + sweep_);
    headline(doc);
    kernel_table(doc);
    for (const std::string& dtype : dtypes_) dtype_section(doc, dtype);
    mutant_section(doc);
    errors_and_provenance(doc);
    remove_empty_logs();
    files_.markdown = (std::filesystem::path(options_.out_dir) / "report.md").string();
    write_file_atomic(files_.markdown, render_markdown(doc));
    files_.html = (std::filesystem::path(options_.out_dir) / "report.html").string();
    write_file_atomic(files_.html, render_html(doc, options_.out_dir));
    return files_;
  }

 private:
  void summarize() {
    for (const ResultRow& r : rows_) {
      if (!kernels_.count(r.kernel)) kernel_order_.push_back(r.kernel);
      KernelSummary& k = kernels_[r.kernel];
      k.family = r.config.value("family", "");
      k.planted_bug = r.config.value("planted_bug", "");
      k.dtype = text_of(r.config, "dtype");
      if (!k.dtype.empty() && std::find(dtypes_.begin(), dtypes_.end(), k.dtype) == dtypes_.end())
        dtypes_.push_back(k.dtype);
      if (r.status == "invalid") {
        ++k.invalid;
        continue;
      }
      if (r.status != "ok") {
        ++k.errors;
        problems_.push_back(&r);
        continue;
      }
      ++k.ok;
      const double max_abs = num(r.metrics, "kernel", "max_abs");
      const double ratio = num(r.metrics, "fa_rule_ratio");
      const double excess = num(r.metrics, "excess");
      const double row_ulp = num(r.metrics, "kernel", "row_ulp_max");
      // The worst point: the largest error / bound (the rule's own measure), else max_abs; NaN is worst.
      const double key = r.metrics.contains("fa_rule_ratio") ? ratio : max_abs;
      if (!(key <= k.worst_key)) {
        k.worst_key = std::isnan(key) ? INFINITY : key;
        k.worst_where = text_of(r.config, "label");
      }
      if (!std::isnan(ratio) && !(ratio <= k.worst_ratio)) k.worst_ratio = ratio;
      if (r.metrics.contains("fa_rule_ratio") && r.metrics["fa_rule_ratio"].is_null()) k.worst_ratio = INFINITY;
      if (!(max_abs <= k.worst_max_abs)) k.worst_max_abs = max_abs;  // also NaN / inf
      if (excess_meaningful(r) && !std::isnan(row_ulp) && !(row_ulp <= k.worst_row_ulp)) k.worst_row_ulp = row_ulp;
      if (!excess_meaningful(r)) {
      } else if (r.metrics.contains("excess") && r.metrics["excess"].is_null()) {
        k.worst_excess = INFINITY;
      } else if (!std::isnan(excess)) {
        k.excess.push_back(excess);
        if (!(excess <= k.worst_excess)) k.worst_excess = excess;
      }
      if (r.metrics.contains("fa_rule_pass")) {
        ++k.fa_checked;
        k.fa_pass += r.metrics["fa_rule_pass"].get<bool>() ? 1 : 0;
      }
      if (r.metrics.contains("kernel") && r.metrics["kernel"].contains("ulp_histogram")) {
        const auto h = r.metrics["kernel"]["ulp_histogram"].get<std::vector<double>>();
        if (k.ulp_histogram.size() < h.size()) k.ulp_histogram.resize(h.size(), 0.0);
        for (size_t i = 0; i < h.size(); ++i) k.ulp_histogram[i] += h[i];
      }
      if (r.metrics.contains("numerics") && r.metrics["numerics"].contains("label"))
        ++k.numerics[r.metrics["numerics"]["label"].get<std::string>()];
      if (r.metrics.contains("diagnosis") && r.metrics["diagnosis"].is_object()) {
        const auto& d = r.metrics["diagnosis"];
        const std::string category = d.value("category", "");
        ++k.diagnoses[category.empty() ? d.value("verdict", "?") : category];
      }
      if (r.attribution.is_object() && r.attribution.contains("categories")) {
        const double mse = num(r.attribution, "emulated_mse");
        if (mse > 0 && std::isfinite(mse)) {
          ++k.attributed;
          k.attributed_mse += mse;
          for (const auto& [cat, v] : r.attribution["categories"].items())
            k.category_mse[cat] += v.value("rmse2_share", 0.0) * mse;
        }
      }
    }
  }

  std::vector<const ResultRow*> ok_rows(const std::vector<std::string>& kernels, bool excess_only) const {
    std::vector<const ResultRow*> out;
    for (const ResultRow& r : rows_) {
      if (r.status != "ok" || std::find(kernels.begin(), kernels.end(), r.kernel) == kernels.end()) continue;
      if (excess_only && !excess_meaningful(r)) continue;
      out.push_back(&r);
    }
    return out;
  }

  void add_figure(Document& doc, const std::string& caption, const std::string& svg, const std::string& err) {
    if (!svg.empty()) {
      doc.figure({plain(caption)}, "plots/" + svg);
      ++files_.plots;
    } else if (!err.empty()) {
      files_.plot_errors += err + "\n";
    }
  }

  /// `metric` (excess, or error / bound) of each kernel against one axis, worst over the rest.
  void axis_figure(Document& doc, const std::string& dtype, const std::vector<std::string>& kernels,
                   const std::vector<const ResultRow*>& rows, const Axis& axis, const std::string& metric,
                   const std::string& name_prefix, const std::string& title_prefix, const std::string& note) {
    std::set<AxisValue> values;
    for (const ResultRow* r : rows) {
      const AxisValue v = axis_value(*r, axis);
      if (!v.text.empty() || !std::isnan(v.number)) values.insert(v);
    }
    if (values.size() < 2) return;  // a single value says nothing as a plot
    const std::vector<AxisValue> ordered(values.begin(), values.end());
    // Every kernel must vary along the axis for a line to mean something (a tile is fixed per kernel).
    LinePlot p;
    p.name = name_prefix + "_vs_" + (axis.field == "tile" ? std::string("block_size") : axis.field) + "_" + stem(dtype);
    p.ylabel = metric == "excess" ? "excess = RMSE / rounding-floor RMSE (1 = perfect)" : "error / FlashAttention bound";
    p.logy = true;
    p.y_reference = 1.0;
    auto x_of = [&](const AxisValue& v) {
      const size_t i = static_cast<size_t>(std::find(ordered.begin(), ordered.end(), v) - ordered.begin());
      return axis.scale == Axis::Scale::log_depth ? v.number + 1.0 : static_cast<double>(i);
    };
    for (const AxisValue& v : ordered) p.xtics.push_back({x_of(v), v.text});
    if (axis.scale == Axis::Scale::log_depth) {
      p.logx = true;
      p.xlabel = "cache depth S_k - S_q (log scale of depth + 1: 0 is shown)";
      if (p.xtics.size() > 12) {  // keep every k-th label readable, the ticks all drawn
        const size_t every = (p.xtics.size() + 11) / 12;
        for (size_t i = 0; i < p.xtics.size(); ++i)
          if (i % every && i + 1 != p.xtics.size()) p.xtics[i].label.clear();
      }
    } else {
      p.xlabel = axis.label + " (every value its own tick)";
    }
    if (axis.field == "seqlen_q") {  // where tile-edge bugs live: S_q at a multiple of BLOCK_M
      int block_m = 0;
      for (const ResultRow* r : rows) {
        const int m = tile_field(r->config, "block_m");
        if (m > 0) block_m = block_m ? std::min(block_m, m) : m;
      }
      if (block_m > 0) {
        for (const AxisValue& v : ordered)
          if (v.number > 0 && std::fmod(v.number, block_m) == 0) p.x_marks.push_back(x_of(v));
        p.x_marks_label = "S_q a multiple of BLOCK_M = " + std::to_string(block_m);
      }
    }
    bool any_varies = false;
    for (const std::string& kname : kernels) {
      std::map<double, double> worst;
      for (const ResultRow* r : rows) {
        if (r->kernel != kname) continue;
        const double y = metric == "excess" ? num(r->metrics, "excess") : num(r->metrics, "fa_rule_ratio");
        if (std::isnan(y) || y <= 0) continue;
        const double x = x_of(axis_value(*r, axis));
        worst[x] = std::max(worst.count(x) ? worst[x] : 0.0, y);
      }
      any_varies = any_varies || worst.size() > 1;
      if (!worst.empty()) p.series.push_back({kname, {worst.begin(), worst.end()}});
    }
    if (!any_varies || p.series.empty()) return;
    p.title = title_prefix + " vs " + axis.label + ", " + dtype + ": " + aggregation(rows, axis.field, "worst (max)");
    std::string err;
    add_figure(doc, p.title + (note.empty() ? "" : ". " + note), draw(p, plot_dir_, &err), err);
  }

  /// The correct kernels of a dtype that get a line: the baseline first, then registry order, at
  /// most kMaxSeriesPerPlot; `left_out` names the others.
  std::vector<std::string> drawn_kernels(const std::string& dtype, std::vector<std::string>* left_out) const {
    std::vector<std::string> refs, others;
    for (const std::string& kname : kernel_order_) {
      const KernelSummary& k = kernels_.at(kname);
      if (k.dtype != dtype || k.is_mutant() || k.ok == 0) continue;
      (k.family == "reference" ? refs : others).push_back(kname);
    }
    refs.insert(refs.end(), others.begin(), others.end());
    if (refs.size() > static_cast<size_t>(kMaxSeriesPerPlot)) {
      left_out->assign(refs.begin() + kMaxSeriesPerPlot, refs.end());
      refs.resize(static_cast<size_t>(kMaxSeriesPerPlot));
    }
    return refs;
  }

  void headline(Document& doc) {
    int ok = 0, invalid = 0, errors = 0;
    for (const ResultRow& r : rows_) (r.status == "ok" ? ok : r.status == "invalid" ? invalid : errors)++;
    int fails = 0, missed = 0, mutants = 0;
    for (const auto& [name, k] : kernels_) {
      const std::string v = verdict(k);
      fails += v == "FAIL" || v == "ERROR";
      missed += v.rfind("NOT CAUGHT", 0) == 0;
      mutants += k.is_mutant();
    }
    Inline verdict_line{bold("Verdict: ")};
    verdict_line.push_back(fails ? Span{std::to_string(fails) + " correct kernel(s) FAIL the FlashAttention rule; ",
                                        Span::Style::bad}
                                 : Span{"every correct kernel passes the FlashAttention rule; ", Span::Style::good});
    if (mutants)
      verdict_line.push_back(missed ? Span{std::to_string(missed) + " of " + std::to_string(mutants) +
                                               " mutant(s) NOT caught.",
                                           Span::Style::bad}
                                    : Span{"all " + std::to_string(mutants) + " mutants caught.", Span::Style::good});
    else
      verdict_line.push_back(plain("no mutants in this sweep."));
    doc.paragraph(verdict_line);
    doc.paragraph({plain(std::to_string(rows_.size()) + " points: " + std::to_string(ok) + " ok, " +
                         std::to_string(invalid) + " invalid (the kernel cannot run the problem; never counted as a pass), " +
                         std::to_string(errors) + " errors.")});
    doc.bullets({
        {bold("FlashAttention rule: "), plain("kernel " + fa_rule_text() +
                                              ", the baseline being the same-precision naive kernel on the same "
                                              "inputs; error / bound <= 1 passes.")},
        {bold("Excess: "), plain("kernel RMSE / RMSE of the correctly rounded truth (the rounding floor); 1.0 is the "
                                 "best any kernel can do in the output dtype.")},
        {bold("Row-scale ULP: "), plain("the error in ULPs of its row's largest |output| (near-zero outputs make "
                                        "element ULPs huge for a kernel that is fine).")},
        {bold("growing-max: "), plain("its outputs are near zero by design; its points count for the rule, not for "
                                      "excess or row-scale ULPs.")},
        {bold("Main cause: "), plain("the Shapley attribution's largest share of the kernel's summed squared error "
                                     "(the shares of each kernel sum to 100%); for a kernel without attribution (an "
                                     "external kernel), the semantic diagnosis of its points.")},
        {bold("Worst: "), plain("each table cell and plotted point is the worst (max) over the points it covers; "
                                "every plot title names the axes it takes the worst over.")},
    });
  }

  void kernel_table(Document& doc) {
    const std::vector<std::string> categories = attribution_categories();
    bool any_numerics = false;  // the fingerprint column, when some kernel's points carry it
    for (const auto& [name, k] : kernels_) any_numerics = any_numerics || !k.numerics.empty();
    std::vector<std::vector<Inline>> rows;
    for (const std::string& kname : kernel_order_) {
      const KernelSummary& k = kernels_.at(kname);
      const std::string v = verdict(k);
      std::string cause = "–";
      double best = 0;
      for (const std::string& c : categories)
        if (k.share(c) > best) {
          best = k.share(c);
          cause = c + " (" + fmt(100.0 * best, 3) + "%)";
        }
      if (k.attributed == 0 && !k.diagnoses.empty()) cause = diagnosis_counts(k);
      rows.push_back({{code(kname)},
                      {plain(k.family)},
                      {Span{v, verdict_is_bad(v) ? Span::Style::bad : Span::Style::good}},
                      {plain(std::to_string(k.fa_pass) + "/" + std::to_string(k.fa_checked))},
                      {plain(fmt(k.worst_ratio))},
                      {plain(k.worst_where)},
                      {plain(fmt(k.worst_max_abs))},
                      {plain(fmt(k.worst_row_ulp))},
                      {plain(fmt(median(k.excess)) + " / " + fmt(k.worst_excess))},
                      {plain(cause)}});
      if (any_numerics) rows.back().push_back({plain(numerics_cell(k))});
    }
    std::vector<Inline> header = {{plain("kernel")},       {plain("family")},       {plain("verdict")},
                                  {plain("FA rule pass")}, {plain("worst error / bound")}, {plain("worst at")},
                                  {plain("max_abs")},      {plain("max row-scale ULP")}, {plain("excess median / max")},
                                  {plain("main cause")}};
    if (any_numerics) header.push_back({plain("numerics")});
    doc.table(header, rows);
    if (any_numerics)
      doc.paragraph({plain("numerics: the precision fingerprint of each point's output (issue #16: FA2-style, upcast, or "
                           "the intermediate whose precision explains the error), for kernels attnscope has no source "
                           "for.")});
  }

  void dtype_section(Document& doc, const std::string& dtype) {
    std::vector<std::string> left_out;
    const std::vector<std::string> drawn = drawn_kernels(dtype, &left_out);
    doc.heading(2, {plain(dtype)});
    std::string note;
    if (!left_out.empty()) {
      note = "Not drawn (at most " + std::to_string(kMaxSeriesPerPlot) + " lines a plot; see the table): ";
      for (size_t i = 0; i < left_out.size(); ++i) note += (i ? ", " : "") + left_out[i];
    }
    bool growing_max = false;
    for (const ResultRow& r : rows_) growing_max = growing_max || text_of(r.config, "distribution") == "growing-max";
    const std::vector<const ResultRow*> rows = ok_rows(drawn, /*excess_only=*/true);
    const std::string excess_note = (growing_max ? std::string("growing-max left out (excess means nothing on its "
                                                               "near-zero outputs)")
                                                 : std::string()) +
                                    (growing_max && !note.empty() ? ". " : "") + note;
    for (const Axis& axis : axes()) {
      if (axis.field == "seed" || axis.field == "batch" || axis.field == "mask" || axis.field == "distribution") continue;
      axis_figure(doc, dtype, drawn, rows, axis, "excess", "excess", "Excess", excess_note);
    }
    attribution_figure(doc, dtype);
    histogram_figure(doc, dtype, drawn, note);
  }

  void attribution_figure(Document& doc, const std::string& dtype) {
    BarPlot bars;
    bars.name = "attribution_" + stem(dtype);
    bars.title = "Share of the error (RMSE^2) by cause, " + dtype +
                 ": each kernel's shares of its squared error summed over its attributed points (100% per bar)";
    bars.ylabel = "% of the squared error";
    bars.stacked = true;
    bars.percent = true;
    bars.bars = attribution_categories();
    for (const std::string& kname : kernel_order_) {
      const KernelSummary& k = kernels_.at(kname);
      if (k.dtype != dtype || k.attributed == 0) continue;
      bars.groups.push_back(kname);
      std::vector<double> v;
      for (const std::string& c : bars.bars) v.push_back(100.0 * k.share(c));
      bars.values.push_back(v);
    }
    if (bars.groups.empty()) return;
    std::string err;
    add_figure(doc, bars.title, draw(bars, plot_dir_, &err), err);
  }

  void histogram_figure(Document& doc, const std::string& dtype, const std::vector<std::string>& drawn,
                        const std::string& note) {
    BarPlot hist;
    hist.name = "ulp_histogram_" + stem(dtype);
    hist.title = "Element-ULP error histogram, " + dtype + ": elements of every point summed, % per kernel";
    hist.ylabel = "% of the output elements";
    for (int b = 0; b < kUlpHistogramBins; ++b) {
      const double lo = kUlpHistogramEdges[static_cast<size_t>(b)], hi = kUlpHistogramEdges[static_cast<size_t>(b) + 1];
      hist.groups.push_back(std::isinf(hi) ? ">=" + fmt(lo) : fmt(lo) + "-" + fmt(hi));
    }
    for (const std::string& kname : drawn)
      if (!kernels_.at(kname).ulp_histogram.empty()) hist.bars.push_back(kname);
    if (hist.bars.empty()) return;
    hist.values.assign(hist.groups.size(), std::vector<double>(hist.bars.size(), 0.0));
    for (size_t k = 0; k < hist.bars.size(); ++k) {
      const auto& h = kernels_.at(hist.bars[k]).ulp_histogram;
      double total = 0;
      for (double x : h) total += x;
      for (size_t b = 0; b < hist.groups.size() && b < h.size(); ++b) hist.values[b][k] = total > 0 ? 100.0 * h[b] / total : 0;
    }
    std::string err;
    add_figure(doc, hist.title + (note.empty() ? "" : ". " + note), draw(hist, plot_dir_, &err), err);
  }

  void mutant_section(Document& doc) {
    bool any = false;
    for (const auto& [name, k] : kernels_) any = any || (k.is_mutant() && k.ok > 0);
    if (!any) return;
    doc.heading(2, {plain("Mutants (planted bugs)")});
    doc.paragraph({plain("Each mutant's error / FlashAttention bound; above the grey line at 1 the rule catches it. "
                         "At most " + std::to_string(kMaxSeriesPerPlot) + " mutants a plot.")});
    for (const std::string& dtype : dtypes_) {
      std::vector<std::string> mutants;
      for (const std::string& kname : kernel_order_) {
        const KernelSummary& k = kernels_.at(kname);
        if (k.dtype == dtype && k.is_mutant() && k.ok > 0) mutants.push_back(kname);
      }
      for (size_t start = 0, part = 1; start < mutants.size(); start += kMaxSeriesPerPlot, ++part) {
        const std::vector<std::string> chunk(mutants.begin() + static_cast<std::ptrdiff_t>(start),
                                             mutants.begin() + static_cast<std::ptrdiff_t>(
                                                                   std::min(mutants.size(), start + kMaxSeriesPerPlot)));
        const std::vector<const ResultRow*> rows = ok_rows(chunk, /*excess_only=*/false);
        for (const Axis& axis : axes()) {
          if (axis.field != "seqlen_q" && axis.field != "cache_depth") continue;
          axis_figure(doc, dtype, chunk, rows, axis, "fa_rule_ratio",
                      "mutants" + std::to_string(part), "Mutants error / bound", "");
        }
      }
    }
  }

  void errors_and_provenance(Document& doc) {
    if (!files_.plot_errors.empty()) {
      doc.heading(2, {plain("Plots not drawn")});
      doc.code_block(files_.plot_errors);
    }
    if (!problems_.empty()) {
      doc.heading(2, {plain("Errors")});
      std::vector<Inline> items;
      for (size_t i = 0; i < problems_.size() && i < 20; ++i)
        items.push_back({code(problems_[i]->point_key), plain(": " + problems_[i]->message)});
      if (problems_.size() > 20) items.push_back({plain(std::to_string(problems_.size() - 20) + " more")});
      doc.bullets(items);
    }
    doc.heading(2, {plain("Provenance")});
    doc.code_block(rows_.front().provenance.dump(2, ' ', false, nlohmann::json::error_handler_t::replace));
    if (!options_.command.empty()) doc.paragraph({plain("Report command: "), code(options_.command)});
  }

  void remove_empty_logs() const {
    std::error_code ec;  // an empty gnuplot log says nothing: keep only logs with messages
    if (!std::filesystem::is_directory(plot_dir_, ec)) return;
    for (const auto& e : std::filesystem::directory_iterator(plot_dir_, ec))
      if (e.path().extension() == ".log" && e.is_regular_file(ec) && e.file_size(ec) == 0)
        std::filesystem::remove(e.path(), ec);
  }

  ReportOptions options_;
  std::string sweep_, plot_dir_;
  std::vector<ResultRow> rows_;
  std::map<std::string, KernelSummary> kernels_;
  std::vector<std::string> kernel_order_, dtypes_;
  std::vector<const ResultRow*> problems_;
  ReportFiles files_;
};

}  // namespace

ReportFiles write_sweep_report(const ResultsDb& db, const ReportOptions& options) {
  return SweepReport(db, options).write();
}

}  // namespace attn
