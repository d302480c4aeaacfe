#include "reports/sweep_report.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "core/errors.h"
#include "analysis/metrics.h"
#include "core/io_files.h"
#include "reports/plots.h"

namespace attn {
namespace {

using nlohmann::json;

double num(const json& j, const char* a, const char* b = nullptr) {
  const json* p = &j;
  if (!p->contains(a)) return NAN;
  p = &(*p)[a];
  if (b) {
    if (!p->contains(b)) return NAN;
    p = &(*p)[b];
  }
  return p->is_number() ? p->get<double>() : NAN;
}

std::string fmt(double x, int precision = 3) {
  if (std::isnan(x)) return "–";
  std::ostringstream s;
  s.precision(precision);
  s << x;
  return s.str();
}

/// Everything the report says about one kernel.
struct KernelSummary {
  std::string family, planted_bug;
  int ok = 0, invalid = 0, errors = 0, fa_checked = 0, fa_pass = 0;
  double worst_max_abs = 0, worst_excess = 0, worst_ulp = 0;
  std::string worst_where;
  std::vector<double> excess;
  std::map<std::string, double> category_share_sum;  // attribution: sum of rmse^2 shares
  int attributed = 0;
  std::vector<double> ulp_histogram;
  std::map<std::string, int> numerics;  // fingerprint label -> points (kernels attnscope has no source for)
  std::map<std::string, int> diagnoses;  // diagnosis of each output (sweeps with diagnosis = true)
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
  if (!k.planted_bug.empty()) return fails ? "caught (" + k.planted_bug + ")" : "NOT CAUGHT (" + k.planted_bug + ")";
  if (k.fa_checked == 0) return "no baseline";
  return fails ? "FAIL" : "pass";
}

double median(std::vector<double> v) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::string read_file(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '&') out += "&amp;";
    else out += c;
  }
  return out;
}

}  // namespace

ReportFiles write_sweep_report(const ResultsDb& db, const ReportOptions& options) {
  std::string sweep = options.sweep;
  if (sweep.empty()) {
    const auto sweeps = db.sweeps();
    if (sweeps.empty()) throw Error("results database '" + db.path() + "' holds no results");
    if (sweeps.size() > 1) {
      std::string names;
      for (const auto& s : sweeps) names += (names.empty() ? "" : ", ") + s;
      throw Error("results database '" + db.path() + "' holds several sweeps (" + names + "): name one with --sweep");
    }
    sweep = sweeps.front();
  }
  const std::vector<ResultRow> rows = db.rows(sweep);
  if (rows.empty()) throw Error("sweep '" + sweep + "' has no results in '" + db.path() + "'");
  std::filesystem::create_directories(options.out_dir);
  const std::string plot_dir = (std::filesystem::path(options.out_dir) / "plots").string();

  std::map<std::string, KernelSummary> kernels;
  std::vector<std::string> kernel_order;
  std::vector<const ResultRow*> problems;
  for (const ResultRow& r : rows) {
    if (!kernels.count(r.kernel)) kernel_order.push_back(r.kernel);
    KernelSummary& k = kernels[r.kernel];
    k.family = r.config.value("family", "");
    k.planted_bug = r.config.value("planted_bug", "");
    if (r.status == "invalid") { ++k.invalid; continue; }
    if (r.status != "ok") { ++k.errors; problems.push_back(&r); continue; }
    ++k.ok;
    const double max_abs = num(r.metrics, "kernel", "max_abs");
    const double excess = num(r.metrics, "excess");
    const double ulp = num(r.metrics, "kernel", "ulp_max");
    if (!(max_abs <= k.worst_max_abs)) {  // also catches NaN/inf
      k.worst_max_abs = max_abs;
      k.worst_where = r.config.value("label", "");
    }
    if (!std::isnan(excess)) {
      k.excess.push_back(excess);
      k.worst_excess = std::max(k.worst_excess, excess);
    }
    if (!std::isnan(ulp)) k.worst_ulp = std::max(k.worst_ulp, ulp);
    if (r.metrics.contains("numerics") && r.metrics["numerics"].contains("label"))
      ++k.numerics[r.metrics["numerics"]["label"].get<std::string>()];
    if (r.metrics.contains("fa_rule_pass")) {
      ++k.fa_checked;
      k.fa_pass += r.metrics["fa_rule_pass"].get<bool>() ? 1 : 0;
    }
    if (r.metrics.contains("kernel") && r.metrics["kernel"].contains("ulp_histogram")) {
      const auto h = r.metrics["kernel"]["ulp_histogram"].get<std::vector<double>>();
      if (k.ulp_histogram.size() < h.size()) k.ulp_histogram.resize(h.size(), 0.0);
      for (size_t i = 0; i < h.size(); ++i) k.ulp_histogram[i] += h[i];
    }
    if (r.metrics.contains("diagnosis") && r.metrics["diagnosis"].is_object()) {
      const auto& d = r.metrics["diagnosis"];
      const std::string category = d.value("category", "");
      ++k.diagnoses[category.empty() ? d.value("verdict", "?") : category];
    }
    if (r.attribution.is_object() && r.attribution.contains("categories")) {
      ++k.attributed;
      for (const auto& [cat, v] : r.attribution["categories"].items())
        k.category_share_sum[cat] += v.value("rmse2_share", 0.0);
    }
  }

  // ---- plots ----------------------------------------------------------------------------------
  ReportFiles files;
  std::vector<std::pair<std::string, std::string>> plots;  // (caption, svg relative path)
  auto add_plot = [&](const std::string& caption, const std::string& svg, const std::string& err) {
    if (!svg.empty()) {
      plots.push_back({caption, "plots/" + svg});
      ++files.plots;
    } else if (!err.empty()) {
      files.plot_errors += err + "\n";
    }
    std::error_code ignored;  // an empty gnuplot log says nothing: keep only logs with messages
    for (const char* stem : {"max_abs_vs_seqlen", "excess_vs_seqlen", "max_abs_vs_cache_depth", "max_abs_vs_gqa",
                             "ulp_vs_dim", "attribution", "ulp_histogram"}) {
      const auto log = std::filesystem::path(plot_dir) / (std::string(stem) + ".log");
      if (std::filesystem::exists(log, ignored) && std::filesystem::file_size(log, ignored) == 0)
        std::filesystem::remove(log, ignored);
    }
  };
  // Error against one axis: per kernel, the worst value of `metric` at each axis value.
  auto axis_plot = [&](const std::string& name, const std::string& axis, const std::string& xlabel,
                       const char* m1, const char* m2, const std::string& ylabel, bool logx) {
    LinePlot p{name, ylabel + " vs " + xlabel, xlabel, ylabel, logx, true, {}};
    std::set<double> distinct_x;
    for (const std::string& kname : kernel_order) {
      if (kernels[kname].family == "mutant") continue;  // mutants are judged in the table, not drawn
      std::map<double, double> worst;
      for (const ResultRow& r : rows) {
        if (r.kernel != kname || r.status != "ok" || !r.config.contains(axis)) continue;
        double x = r.config[axis].is_number() ? r.config[axis].get<double>() : NAN;
        const double y = num(r.metrics, m1, m2);
        if (std::isnan(x) || std::isnan(y) || y <= 0) continue;
        distinct_x.insert(x);
        worst[x] = std::max(worst.count(x) ? worst[x] : 0.0, y);
      }
      if (!worst.empty()) p.series.push_back({kname, {worst.begin(), worst.end()}});
    }
    if (distinct_x.size() < 2) return;  // a single value on the axis says nothing as a plot
    std::string err;
    add_plot(p.title, draw(p, plot_dir, &err), err);
  };
  // Line plots show the correct kernels (and baselines); every mutant's verdict is in the table.
  axis_plot("max_abs_vs_seqlen", "seqlen_q", "S_q", "kernel", "max_abs", "max_abs", true);
  axis_plot("excess_vs_seqlen", "seqlen_q", "S_q", "excess", nullptr, "excess over rounding floor", true);
  axis_plot("max_abs_vs_cache_depth", "cache_depth", "cache depth (S_k - S_q)", "kernel", "max_abs", "max_abs", false);
  axis_plot("max_abs_vs_gqa", "gqa_ratio", "GQA ratio H_q/H_kv", "kernel", "max_abs", "max_abs", true);
  axis_plot("ulp_vs_dim", "head_dim", "head dim", "kernel", "ulp_max", "max ULP error", true);
  {
    BarPlot bars{"attribution", "Share of error (RMSE^2) by cause, mean over points", "share", {}, {}, {}, true};
    std::set<std::string> cats;
    for (const auto& [name, k] : kernels)
      for (const auto& [c, _] : k.category_share_sum) cats.insert(c);
    bars.bars.assign(cats.begin(), cats.end());
    for (const std::string& kname : kernel_order) {
      const KernelSummary& k = kernels[kname];
      if (!k.attributed) continue;
      bars.groups.push_back(kname);
      std::vector<double> v;
      for (const std::string& c : bars.bars)
        v.push_back(k.category_share_sum.count(c) ? k.category_share_sum.at(c) / k.attributed : 0.0);
      bars.values.push_back(v);
    }
    if (!bars.groups.empty()) {
      std::string err;
      add_plot(bars.title, draw(bars, plot_dir, &err), err);
    }
  }
  {
    BarPlot hist{"ulp_histogram", "ULP error histogram (fraction of elements)", "fraction", {}, {}, {}, false};
    static const char* kBins[] = {"<0.5", "0.5-1", "1-2", "2-4", "4-8", "8-16", "16-32", "32-64", ">=64"};
    size_t nbins = 0;
    for (const auto& [_, k] : kernels) nbins = std::max(nbins, k.ulp_histogram.size());
    nbins = std::min<size_t>(nbins, 9);
    for (size_t b = 0; b < nbins; ++b) hist.groups.push_back(kBins[b]);
    for (const std::string& kname : kernel_order)
      if (!kernels[kname].ulp_histogram.empty()) hist.bars.push_back(kname);
    for (size_t b = 0; b < nbins; ++b) {
      std::vector<double> v;
      for (const std::string& kname : hist.bars) {
        const auto& h = kernels[kname].ulp_histogram;
        double total = 0;
        for (double x : h) total += x;
        // the last shown bin absorbs every higher bin
        double value = 0;
        for (size_t i = b; i < (b + 1 == nbins ? h.size() : b + 1); ++i) value += i < h.size() ? h[i] : 0;
        v.push_back(total > 0 ? value / total : 0);
      }
      hist.values.push_back(v);
    }
    if (!hist.bars.empty() && nbins > 0) {
      std::string err;
      add_plot(hist.title, draw(hist, plot_dir, &err), err);
    }
  }

  // ---- Markdown -------------------------------------------------------------------------------
  const json& prov = rows.front().provenance;
  int ok = 0, invalid = 0, errors = 0;
  for (const ResultRow& r : rows) (r.status == "ok" ? ok : r.status == "invalid" ? invalid : errors)++;
  std::ostringstream md;
  md << "# attnscope precision report: " << sweep << "\n\n";
  md << rows.size() << " points: " << ok << " ok, " << invalid << " invalid (kernel cannot run the problem), "
     << errors << " errors.\n\n";
  int fails = 0, missed = 0;
  for (const auto& [name, k] : kernels) {
    const std::string v = verdict(k);
    fails += v == "FAIL";
    missed += v.rfind("NOT CAUGHT", 0) == 0;
  }
  md << "**Verdict:** " << (fails ? std::to_string(fails) + " correct kernel(s) FAIL the FlashAttention rule; "
                                  : "every correct kernel passes the FlashAttention rule; ")
     << (missed ? std::to_string(missed) + " mutant(s) NOT caught." : "every mutant present is caught.") << "\n\n";
  md << "FlashAttention rule: kernel " << fa_rule_text() << " (baseline: the same-precision naive kernel). "
        "Excess = kernel RMSE / RMSE of the correctly rounded truth (1.0 is the physical limit).\n\n";
  bool any_numerics = false;  // the fingerprint column, when some kernel's points carry it
  for (const auto& [name, k] : kernels) any_numerics = any_numerics || !k.numerics.empty();
  md << "| kernel | family | verdict | FA rule pass | max_abs (worst) | worst at | max ULP | excess median / max | main cause |"
     << (any_numerics ? " numerics |\n" : "\n") << "|---|---|---|---|---|---|---|---|---|" << (any_numerics ? "---|\n" : "\n");
  for (const std::string& kname : kernel_order) {
    const KernelSummary& k = kernels[kname];
    std::string cause = "–";
    double best = -1;
    for (const auto& [c, v] : k.category_share_sum)
      if (v > best) { best = v; cause = c + " (" + fmt(100.0 * v / std::max(1, k.attributed), 2) + "%)"; }
    if (k.attributed == 0 && !k.diagnoses.empty()) cause = diagnosis_counts(k);
    md << "| `" << kname << "` | " << k.family << " | " << verdict(k) << " | " << k.fa_pass << "/" << k.fa_checked
       << " | " << fmt(k.worst_max_abs) << " | " << k.worst_where << " | " << fmt(k.worst_ulp) << " | "
       << fmt(median(k.excess)) << " / " << fmt(k.worst_excess) << " | " << cause << " |"
       << (any_numerics ? " " + numerics_cell(k) + " |\n" : "\n");
  }
  if (any_numerics)
    md << "\nnumerics: the precision fingerprint of each point's output (issue #16: FA2-style, upcast, or the "
          "intermediate whose precision explains the error), for kernels attnscope has no source for.\n";
  md << "\n";
  for (const auto& [caption, svg] : plots) md << "### " << caption << "\n\n![" << caption << "](" << svg << ")\n\n";
  if (!files.plot_errors.empty()) md << "Plots not drawn:\n\n```\n" << files.plot_errors << "```\n\n";
  if (!problems.empty()) {
    md << "## Errors\n\n";
    for (size_t i = 0; i < problems.size() && i < 20; ++i)
      md << "- `" << problems[i]->point_key << "`: " << problems[i]->message << "\n";
    md << "\n";
  }
  md << "## Provenance\n\n```\n" << prov.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n```\n\n";
  if (!options.command.empty()) md << "Report command: `" << options.command << "`\n";
  files.markdown = (std::filesystem::path(options.out_dir) / "report.md").string();
  write_file_atomic(files.markdown, md.str());

  // ---- HTML (self-contained: SVGs inlined) -----------------------------------------------------
  std::ostringstream html;
  html << "<!doctype html><html><head><meta charset='utf-8'><title>attnscope: " << html_escape(sweep)
       << "</title><style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;}"
          "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px}"
          "th{background:#f3f3f3}.fail{color:#b00;font-weight:bold}.pass{color:#070}</style></head><body>\n";
  html << "<h1>attnscope precision report: " << html_escape(sweep) << "</h1>\n<p>" << rows.size() << " points: " << ok
       << " ok, " << invalid << " invalid, " << errors << " errors.</p>\n";
  html << "<table><tr><th>kernel</th><th>family</th><th>verdict</th><th>FA rule pass</th><th>max_abs</th>"
          "<th>worst at</th><th>max ULP</th><th>excess median / max</th></tr>\n";
  for (const std::string& kname : kernel_order) {
    const KernelSummary& k = kernels[kname];
    const std::string v = verdict(k);
    const bool bad = v == "FAIL" || v.rfind("NOT", 0) == 0 || v == "ERROR";
    html << "<tr><td><code>" << html_escape(kname) << "</code></td><td>" << k.family << "</td><td class='"
         << (bad ? "fail" : "pass") << "'>" << html_escape(v) << "</td><td>" << k.fa_pass << "/" << k.fa_checked
         << "</td><td>" << fmt(k.worst_max_abs) << "</td><td>" << html_escape(k.worst_where) << "</td><td>"
         << fmt(k.worst_ulp) << "</td><td>" << fmt(median(k.excess)) << " / " << fmt(k.worst_excess) << "</td></tr>\n";
  }
  html << "</table>\n";
  for (const auto& [caption, svg] : plots) {
    std::string body = read_file((std::filesystem::path(options.out_dir) / svg).string());
    const auto start = body.find("<svg");
    html << "<h3>" << html_escape(caption) << "</h3>\n" << (start == std::string::npos ? "" : body.substr(start)) << "\n";
  }
  html << "<h2>Provenance</h2><pre>" << html_escape(prov.dump(2, ' ', false, nlohmann::json::error_handler_t::replace)) << "</pre>\n";
  if (!options.command.empty()) html << "<p>Report command: <code>" << html_escape(options.command) << "</code></p>\n";
  html << "</body></html>\n";
  files.html = (std::filesystem::path(options.out_dir) / "report.html").string();
  write_file_atomic(files.html, html.str());
  return files;
}

}  // namespace attn
