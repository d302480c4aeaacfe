// The precision fingerprint and the probe as a user meets them: `diagnose` prints the precision
// verdict first and `--json` carries every hypothesis; `fingerprint-bench` writes a dump and
// names its numerics; `probe` prints the card and checks it against the registered traits;
// unknown names exit 2 with a named error.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "analysis/precision_hypotheses.h"
#include "tests/cli/cli_runner.h"

namespace {

using Run = test_cli::CliResult;
Run attnscope_cli(const std::string& args) { return test_cli::run_attnscope(args); }

}  // namespace

TEST_CASE("cli: fingerprint-bench writes a dump whose diagnosis names the P cast") {
  const auto dir = std::filesystem::temp_directory_path() / ("attnscope_fp_cli_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const std::string dump = (dir / "p_e4m3.safetensors").string();
  const Run bench = attnscope_cli("fingerprint-bench --seqlen-q 200 --seqlen-k 200 --heads 2 --dim 64 --plant 'P e4m3' "
                                  "--repeat 1 --write-dump " + dump);
  INFO(bench.output);
  CHECK(bench.status == 0);
  CHECK_THAT(bench.output, Catch::Contains("verdict: precision: P cast to e4m3 before PV (excess "));
  const Run text = attnscope_cli("diagnose " + dump + " --mask causal");
  INFO(text.output);
  CHECK(text.status == 0);  // no semantic bug: the precision named is a finding, not a failure
  CHECK_THAT(text.output, Catch::StartsWith("verdict: no semantic bug — precision: P cast to e4m3 before PV (excess "));
  CHECK_THAT(text.output, Catch::Contains("precision fingerprint (precision;"));
  const Run json = attnscope_cli("diagnose " + dump + " --mask causal --json");
  REQUIRE(json.status == 0);
  const nlohmann::json j = nlohmann::json::parse(json.output);
  CHECK(j["verdict"] == "no semantic bug");
  CHECK(j["precision"]["label"] == "P e4m3");
  CHECK(j["precision"]["hypotheses"].size() == attn::precision_hypotheses(attn::DType::fp16).size());
  const Run skipped = attnscope_cli("diagnose " + dump + " --mask causal --no-fingerprint");
  CHECK(skipped.status == 1);
  CHECK_THAT(skipped.output, Catch::StartsWith("verdict: unknown bug\n"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("cli: probe prints the card, the calls and the traits check") {
  const Run r = attnscope_cli("probe --kernel emu.fp16.dany.m64n64");
  INFO(r.output);
  CHECK(r.status == 0);
  CHECK_THAT(r.output, Catch::StartsWith("emu.fp16.dany.m64n64: block_n 64, forward order, P fp16 before PV, FP32 "
                                         "accumulators, rescale every tile, bottom-right mask, contiguous GQA"));
  CHECK_THAT(r.output, Catch::Contains("3 calls") && Catch::Contains("-> match"));
  const Run json = attnscope_cli("probe --kernel naive-bf16 --json");
  REQUIRE(json.status == 0);
  const nlohmann::json j = nlohmann::json::parse(json.output);
  CHECK(j["matches_traits"] == true);
  CHECK(j["calls"] == 2);
}

TEST_CASE("cli: unknown kernels and hypotheses are named errors (exit 2)") {
  test_cli::expect_exit("probe --kernel no-such-kernel", 2, Catch::Contains("attnscope: error:"));
  test_cli::expect_exit("fingerprint-bench --seqlen-q 16 --seqlen-k 16 --plant 'P e3m4'", 2,
                        Catch::Contains("unknown precision hypothesis 'P e3m4'"));
  const Run rows = attnscope_cli("fingerprint-grid --rows 1");
  CHECK(rows.status == 2);
  // --plant: a label of either dtype's family ("P bf16" is FP16's only); a typo before any work.
  test_cli::expect_exit("fingerprint-grid --plant 'P e3m4'", 2, Catch::Contains("unknown precision hypothesis 'P e3m4'"));
}
