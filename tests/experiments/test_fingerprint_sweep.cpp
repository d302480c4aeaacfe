// The fingerprint as a sweep column (issue #16): a kernel attnscope has no source for (family
// "external") gets metrics.numerics in its results rows and a "numerics" column in the report;
// the registered kernels with source do not pay for it.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "analysis/fingerprint.h"
#include "experiments/results_db.h"
#include "experiments/sweep_runner.h"
#include "reports/sweep_report.h"

namespace {

attn::Kernel planted_external(const std::string& name, const std::string& label) {
  attn::Kernel k;
  k.info.name = name;
  k.info.family = "external";
  k.invalid_reason = [](const attn::Problem& p) -> std::optional<std::string> {
    if (p.dtype != attn::DType::fp16) return std::string("fp16 only");
    return std::nullopt;
  };
  k.run = [label](const attn::Problem& p, const attn::AttentionInputs& in) {
    attn::AttentionOutputs out;
    out.out_dtype = p.dtype;
    out.o = attn::run_hypothesis(p, in, attn::find_precision_hypothesis(p.dtype, label), p.dtype, true);
    return out;
  };
  return k;
}

}  // namespace

TEST_CASE("sweep: external kernels get a numerics column, in the rows and in the report") {
  attn::Registry registry;
  registry.add(planted_external("ext.p-e4m3", "P e4m3"));
  registry.add(planted_external("ext.fa2", "FA2-style"));
  attn::Kernel internal = planted_external("emu.like", "FA2-style");
  internal.info.family = "emulator";  // a kernel with source: no fingerprint
  registry.add(internal);
  attn::SweepSpec spec;
  spec.name = "fingerprint-column";
  spec.kernels = {"ext.*", "emu.like"};
  spec.seqlen_q = {200};
  spec.heads = {{2, 2}};
  spec.attribution = false;
  const auto dir = std::filesystem::temp_directory_path() / ("attnscope_fp_sweep_" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  {
    attn::ResultsDb db((dir / "results.db").string());
    const attn::SweepSummary s = attn::run_sweep(spec, registry, db, {});
    CHECK(s.ok == 3);
    for (const attn::ResultRow& r : db.rows()) {
      INFO(r.kernel << ": " << r.metrics.dump());
      if (r.kernel == "emu.like") {
        CHECK_FALSE(r.metrics.contains("numerics"));
        continue;
      }
      REQUIRE(r.metrics.contains("numerics"));
      CHECK(r.metrics["numerics"]["label"] == (r.kernel == "ext.fa2" ? "FA2-style" : "P e4m3"));
      CHECK(r.metrics["numerics"].contains("best"));
    }
    const attn::ReportFiles files = attn::write_sweep_report(db, {spec.name, (dir / "report").string(), "test"});
    std::ifstream md(files.markdown);
    std::stringstream text;
    text << md.rdbuf();
    CHECK_THAT(text.str(), Catch::Contains("| numerics |") && Catch::Contains("P e4m3 (1/1)") &&
                               Catch::Contains("FA2-style (1/1)"));
  }
  std::filesystem::remove_all(dir);
}

TEST_CASE("numerics column: a dtype without hypotheses or a non-finite output is n/a, not an error") {
  attn::Problem p;
  p.seqlen_q = p.seqlen_k = 8;
  p.head_dim = 16;
  p.dtype = attn::DType::fp32;
  const attn::AttentionInputs in = attn::generate_inputs(p, {attn::Distribution::normal, 1});
  attn::AttentionOutputs out;
  out.out_dtype = attn::DType::fp32;
  out.o = attn::Tensor<double>(p.q_shape(), 0.0);
  CHECK(attn::numerics_column(p, in, out)["label"] == "n/a");
  p.dtype = attn::DType::fp16;
  out.out_dtype = attn::DType::fp16;
  out.o(0, 1, 0, 2) = std::nan("");
  const nlohmann::json j = attn::numerics_column(p, attn::generate_inputs(p, {attn::Distribution::normal, 1}), out);
  CHECK(j["label"] == "n/a");
  CHECK(j.contains("why"));
}
