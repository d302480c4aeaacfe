// Reports: Markdown and HTML are two renderings of one Document (every table cell, verdict and
// definition of one is in the other); hostile text is escaped in both; a plot refuses more than
// kMaxSeriesPerPlot series; the sweep report of a real sweep has per-dtype excess plots on a
// categorical S axis with tile multiples marked and the aggregation in every title, attribution
// bars that sum to 100%, and the same facts in report.md and report.html.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

#include "experiments/register_all.h"
#include "experiments/results_db.h"
#include "experiments/sweep_runner.h"
#include "experiments/sweep_spec.h"
#include "reports/document.h"
#include "reports/plots.h"
#include "reports/sweep_report.h"

namespace {

std::string temp_dir(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / ("attnscope_report_" + std::to_string(getpid())) / name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

/// Text of an HTML page: tags removed, the five entities decoded (no std::regex: pages are large).
std::string html_text(const std::string& html) {
  std::string s;
  bool in_tag = false;
  for (char c : html) {
    if (c == '<') in_tag = true;
    else if (c == '>') in_tag = false;
    else if (!in_tag) s += c;
  }
  for (const auto& [entity, c] : std::vector<std::pair<std::string, std::string>>{
           {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&#39;", "'"}, {"&amp;", "&"}}) {
    size_t at = 0;
    while ((at = s.find(entity, at)) != std::string::npos) {
      s.replace(at, entity.size(), c);
      at += c.size();
    }
  }
  return s;
}

/// Text of Markdown: backslash escapes undone, ** and ` dropped.
std::string markdown_text(const std::string& md) {
  std::string s;
  for (size_t i = 0; i < md.size(); ++i) {
    if (md[i] == '\\' && i + 1 < md.size()) {
      s += md[++i];
    } else if (md[i] == '*' && i + 1 < md.size() && md[i + 1] == '*') {
      ++i;
    } else if (md[i] != '`') {
      s += md[i];
    }
  }
  return s;
}

}  // namespace

TEST_CASE("one document, two renderings: hostile text escaped in both", "[report]") {
  using namespace attn;
  Document doc("report <of> `x` | y");
  doc.paragraph({bold("Verdict: "), Span{"1 FAIL", Span::Style::bad}, plain(" <script>alert(1)</script> a|b *c*")});
  doc.table({{plain("kernel")}, {plain("value")}}, {{{code("k|`1`")}, {plain("<b>2</b>")}}, {{plain("only one cell")}}});
  doc.bullets({{plain("item & more")}});
  doc.code_block("```\nfenced\n");
  const std::string md = render_markdown(doc);
  const std::string html = render_html(doc, temp_dir("escape"));
  // HTML: no tag from the text survives; the text reads the same.
  CHECK_THAT(html, !Catch::Contains("<script>") && !Catch::Contains("<b>2</b>"));
  CHECK_THAT(html, Catch::Contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
  CHECK_THAT(html_text(html), Catch::Contains("1 FAIL <script>alert(1)</script> a|b *c*"));
  CHECK_THAT(html, Catch::Contains("class=\"bad\">1 FAIL"));
  // Markdown: the table keeps two columns (pipes escaped), code spans survive backquotes, a short
  // row is padded to the header's width, the fenced block is not closed by its own content.
  CHECK_THAT(md, Catch::Contains("| `` k\\|`1` `` | \\<b\\>2\\</b\\> |"));
  CHECK_THAT(md, Catch::Contains("| only one cell |  |"));
  CHECK_THAT(md, Catch::Contains("a|b \\*c\\*"));
  CHECK_THAT(md, Catch::Contains("````\n```\nfenced\n````"));
  CHECK_THAT(md, Catch::Contains("**1 FAIL**"));
}

TEST_CASE("a figure is inlined as an image; a missing one says so", "[report]") {
  using namespace attn;
  const std::string dir = temp_dir("figure");
  std::filesystem::create_directories(dir + "/plots");
  std::ofstream(dir + "/plots/a.svg") << "<svg xmlns='http://www.w3.org/2000/svg'><text>hi</text></svg>";
  Document doc("figures");
  doc.figure({plain("drawn")}, "plots/a.svg");
  doc.figure({plain("missing")}, "plots/b.svg");
  const std::string html = render_html(doc, dir);
  CHECK_THAT(html, Catch::Contains("<img alt=\"drawn\" src=\"data:image/svg+xml;base64,PHN2ZyB4bWxucz0n"));
  CHECK_THAT(html, Catch::Contains("(plot not drawn: plots/b.svg)"));
  CHECK_THAT(render_markdown(doc), Catch::Contains("![drawn](plots/a.svg)"));
}

TEST_CASE("a plot refuses more series than a reader can tell apart", "[report]") {
  attn::LinePlot p;
  p.name = "too_many";
  for (int i = 0; i <= attn::kMaxSeriesPerPlot; ++i) p.series.push_back({"s" + std::to_string(i), {{1, 1}, {2, 2}}});
  std::string error;
  CHECK_THROWS_AS(attn::draw(p, temp_dir("too_many"), &error), std::invalid_argument);
}

TEST_CASE("sweep report: per-dtype excess plots, categorical S with tile marks, 100% attribution, md == html",
          "[report]") {
  if (!attn::gnuplot_available()) {
    WARN("SKIPPED: gnuplot is not installed; the plot checks of this test did not run");
    return;
  }
  using namespace attn;
  const std::string dir = temp_dir("sweep");
  {
    std::ofstream spec(dir + "/spec.toml");
    spec << "[sweep]\nname = \"report-test\"\nkernels = [\"naive-fp16\", \"naive-bf16\", \"emu.*.dany.m64n64\", "
            "\"emu.*.dany.m64n64.mutant-top-left-cache\"]\n"
            "dtypes = [\"fp16\", \"bf16\"]\nseqlen_q = [1, 63, 64, 65]\ncache_depth = [0, 9]\nheads = [\"4:2\"]\n"
            "head_dim = [32]\nmasks = [\"causal\"]\ndistributions = [\"normal\"]\nseeds = [0]\nattribution = true\n";
  }
  const SweepSpec spec = parse_sweep_spec(dir + "/spec.toml");
  {
    ResultsDb db(dir + "/r.sqlite");
    SweepOptions options;
    options.attribute = [](const Kernel&, const Problem&, const AttentionInputs&, const Truth&) -> nlohmann::json {
      return nullptr;  // attribution is exercised below with stored shares
    };
    const SweepSummary summary = run_sweep(spec, all_kernels(), db, options);
    REQUIRE(summary.ok > 0);
    REQUIRE(summary.errors == 0);
  }
  // Give the emulator rows shares that do not sum to 1 per point the naive way (one point with
  // zero error has none), so the report must weight them by each point's squared error.
  {
    ResultsDb db(dir + "/r.sqlite");
    int n = 0;
    for (ResultRow row : db.rows()) {
      if (row.kernel.rfind("emu.", 0) != 0 || row.status != "ok") continue;
      const double mse = (n++ % 3 == 0) ? 0.0 : 1e-8 * n;
      row.attribution = {{"categories",
                          {{"accumulation order", {{"rmse2_share", mse > 0 ? 0.25 : 0.0}}},
                           {"output rounding", {{"rmse2_share", mse > 0 ? 0.75 : 0.0}}},
                           {"semantic", {{"rmse2_share", 0.0}}}}},
                         {"emulated_mse", mse}};
      db.insert(row);
    }
  }
  const ResultsDb db(dir + "/r.sqlite", DbMode::read_only);
  const ReportFiles files = write_sweep_report(db, {"", dir + "/out", "test"});
  CHECK(files.plot_errors.empty());
  const std::string md = slurp(files.markdown), html = slurp(files.html);
  // One excess-vs-S plot per dtype, categorical: 4 ticks for 1, 63, 64, 65; 64 marked as a tile multiple.
  for (const char* dtype : {"fp16", "bf16"}) {
    const std::string gp = slurp(dir + "/out/plots/excess_vs_seqlen_q_" + dtype + ".gp");
    CHECK_THAT(gp, Catch::Contains("set xtics ('1' 0, '63' 1, '64' 2, '65' 3)"));
    CHECK_THAT(gp, Catch::Contains("set arrow from 2, graph 0 to 2, graph 1 nohead dt 2"));
    CHECK_THAT(gp, Catch::Contains("S_q a multiple of BLOCK_M = 64"));
    CHECK_THAT(gp, Catch::Contains("worst (max) over cache depth"));
    CHECK_THAT(gp, !Catch::Contains("mutant"));  // mutants have their own figures
    // Cache depth: log axis of depth + 1, 0 labelled.
    const std::string depth = slurp(dir + "/out/plots/excess_vs_cache_depth_" + dtype + ".gp");
    CHECK_THAT(depth, Catch::Contains("set xtics ('0' 1, '9' 10)"));
    CHECK_THAT(depth, Catch::Contains("set logscale x"));
    // Attribution: 100% per kernel, 25/75 whatever the zero-error points.
    std::ifstream bars(dir + "/out/plots/attribution_" + std::string(dtype) + ".dat");
    std::string line;
    bool found = false;
    while (std::getline(bars, line)) {
      const std::string label = "\"emu." + std::string(dtype) + ".dany.m64n64\"";
      if (line.rfind(label, 0) != 0) continue;
      std::istringstream values(line.substr(label.size()));
      std::vector<double> v{std::istream_iterator<double>(values), std::istream_iterator<double>()};
      REQUIRE(v.size() == 5);  // accumulation order, intermediate precision, rescaling, output rounding, semantic
      CHECK(v[0] == Approx(25));
      CHECK(v[3] == Approx(75));
      CHECK(v[0] + v[1] + v[2] + v[3] + v[4] == Approx(100));
      found = true;
    }
    CHECK(found);
    CHECK(std::filesystem::exists(dir + "/out/plots/mutants1_vs_seqlen_q_" + std::string(dtype) + ".svg"));
  }
  // Every plot title names its aggregation; both renderings carry the same words.
  for (const auto& e : std::filesystem::directory_iterator(dir + "/out/plots")) {
    if (e.path().extension() != ".gp") continue;
    const std::string gp = slurp(e.path().string());
    const bool named = gp.find("worst (max) over") != std::string::npos || gp.find("summed") != std::string::npos ||
                       gp.find("one point per value") != std::string::npos;
    INFO(e.path());
    CHECK(named);
  }
  const std::string md_text = markdown_text(md), page_text = html_text(html);
  for (const char* fact : {"Verdict: every correct kernel passes the FlashAttention rule; all 2 mutants caught.",
                           "caught (masking)", "main cause", "max row-scale ULP", "Row-scale ULP:",
                           "emu.fp16.dany.m64n64", "output rounding (75%)"}) {
    INFO(fact);
    CHECK_THAT(md_text, Catch::Contains(fact));
    CHECK_THAT(page_text, Catch::Contains(fact));
  }
}
