// The command line as a user meets it: argument errors name the flag and exit 2, `run --json`
// carries real metrics, `sweep` + `report` + `gate` work end to end and a failing gate exits 1.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "tests/cli/cli_runner.h"

namespace {

using Result = test_cli::CliResult;
Result attnscope(const std::string& args) { return test_cli::run_attnscope(args); }

std::string temp_dir() {
  const auto dir = std::filesystem::temp_directory_path() / ("attnscope_cli_" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir.string();
}

}  // namespace

TEST_CASE("argument errors name the flag and exit 2") {
  using test_cli::expect_exit;
  expect_exit("run --dtype fp8", 2, Catch::Contains("--dtype") && Catch::Contains("fp16, bf16, fp32, fp64"));
  expect_exit("run --mask diagonal", 2, Catch::Contains("--mask") && Catch::Contains("top-left"));
  expect_exit("run --heads 6:4", 2, Catch::Contains("--heads") && Catch::Contains("not a multiple of H_kv"));
  expect_exit("run --seqlen-q -3", 2, Catch::Contains("seqlen_q"));
  expect_exit("run --seqlen-q 20 --seqlen-k 4", 2, Catch::Contains("--allow-masked-rows"));
  expect_exit("run --kernel fa9.nothing", 2, Catch::Contains("unknown kernel 'fa9.nothing'"));
  expect_exit("run --kernel naive-fp61", 2, Catch::Contains("did you mean 'naive-fp16'"));
  // One spelling per concept; the old ones stay as hidden aliases for scripts.
  CHECK(attnscope("run --seqlen-q 4 --seqlen-k 9 --heads 2:1 --head-dim 16 --distribution uniform").status == 0);
  CHECK(attnscope("run --seqlen-q 4 --seqlen-k 9 --heads 2 --dim 16 --dist uniform").status == 0);
  const auto help = attnscope("run --help");
  CHECK_THAT(help.output, Catch::Contains("--head-dim") && Catch::Contains("--distribution"));
  CHECK_THAT(help.output, !Catch::Contains("--dim ") && !Catch::Contains("--dist "));
  const auto version = attnscope("--version");
  CHECK(version.status == 0);
  CHECK_THAT(version.output, Catch::StartsWith("attnscope 0.") && Catch::Contains("commit "));
  CHECK(attnscope("frobnicate").status == 2);
}

TEST_CASE("run --json reports the kernel against truth, floor and baseline") {
  const auto r = attnscope(
      "run --batch 1 --seqlen-q 10 --seqlen-k 74 --heads 8:2 --dim 64 --dtype fp16 --mask causal --kernel naive-fp16 --json");
  REQUIRE(r.status == 0);
  const auto j = nlohmann::json::parse(r.output);
  const auto& m = j["metrics"];
  CHECK(m["kernel"]["max_abs"].get<double>() > 0);
  CHECK(m["kernel"]["max_abs"].get<double>() < 1e-2);
  CHECK(m["excess"].get<double>() >= 1.0);  // no kernel beats the correctly rounded truth in rmse
  CHECK(m["fa_rule_pass"].get<bool>());
  CHECK(m["kernel"]["nan_count"].get<int>() == 0);
  CHECK(j["metrics"]["truth_method"].get<std::string>() == "fp64");
  CHECK(j["provenance"]["command"].get<std::string>().find("--seqlen-k 74") != std::string::npos);
}

TEST_CASE("sweep, resume, report and gate end to end") {
  const std::string dir = temp_dir();
  const std::string db = dir + "/smoke.sqlite";
  const std::string spec = std::string(ATTNSCOPE_SOURCE_DIR) + "/experiments/sweeps/smoke.toml";
  const auto first = attnscope("sweep " + spec + " --db " + db + " --quiet");
  REQUIRE(first.status == 0);
  CHECK_THAT(first.output, Catch::Contains("6 ok"));
  const auto again = attnscope("sweep " + spec + " --db " + db + " --quiet");
  CHECK_THAT(again.output, Catch::Contains("6 already done"));
  const auto report = attnscope("report --db " + db + " --out " + dir + "/report");
  REQUIRE(report.status == 0);
  std::ifstream md(dir + "/report/report.md");
  std::string text((std::istreambuf_iterator<char>(md)), {});
  CHECK_THAT(text, Catch::Contains("naive-fp16") && Catch::Contains("Provenance"));
  // export: the flat table has the database's rows with their stored values; the ULP bins of a
  // row sum to the elements compared.
  const auto exported = attnscope("export --db " + db + " --json " + dir + "/flat.json --csv " + dir + "/flat.csv");
  REQUIRE(exported.status == 0);
  {
    std::ifstream in(dir + "/flat.json");
    const nlohmann::json flat = nlohmann::json::parse(in);
    REQUIRE(flat.size() == 6);
    for (const auto& row : flat) {
      CHECK(row["kernel"] == "naive-fp16");
      CHECK(row["status"] == "ok");
      CHECK(row["cache_depth"].get<int>() == row["seqlen_k"].get<int>() - row["seqlen_q"].get<int>());
      CHECK(row["kernel_max_abs"].get<double>() <= row["fa_rule_bound"].get<double>());
      CHECK(row["fa_rule_pass"] == 1);  // the baseline against itself
      CHECK(row["excess"].get<double>() >= 1.0);
      int64_t in_bins = 0;
      for (const char* bin : {"kernel_ulp_0_0p5", "kernel_ulp_0p5_1", "kernel_ulp_1_2", "kernel_ulp_2_4", "kernel_ulp_4_8",
                              "kernel_ulp_8_16", "kernel_ulp_16_32", "kernel_ulp_32_64", "kernel_ulp_ge_64"})
        in_bins += row[bin].get<int64_t>();
      CHECK(in_bins == row["kernel_count"].get<int64_t>());
    }
    std::ifstream csv(dir + "/flat.csv");
    int lines = 0;
    for (std::string line; std::getline(csv, line);) ++lines;
    CHECK(lines == 7);  // header + 6 rows
  }
  {
    std::ofstream tol(dir + "/pass.toml");
    tol << "[[rule]]\nkernels = \"naive-*\"\nfa_rule = 2.0\n";
  }
  CHECK(attnscope("gate --db " + db + " --tolerances " + dir + "/pass.toml --junit " + dir + "/g.xml").status == 0);
  {
    std::ofstream tol(dir + "/fail.toml");
    tol << "[[rule]]\nkernels = \"naive-*\"\nmax_abs = 1e-9\n";
  }
  const auto fail = attnscope("gate --db " + db + " --tolerances " + dir + "/fail.toml");
  CHECK(fail.status == 1);
  CHECK_THAT(fail.output, Catch::Contains("max_abs") && Catch::Contains("> 1e-09"));
  // A FAIL of `run` exits 1: the mutant fails the FlashAttention rule.
  const auto run_fail = attnscope("run --seqlen-q 7 --seqlen-k 307 --heads 8:2 --kernel emu.fp16.dany.m64n64.mutant-top-left-cache");
  CHECK(run_fail.status == 1);
  CHECK_THAT(run_fail.output, Catch::Contains("FAIL"));
}

#include "analysis/emulator.h"
#include "core/generators.h"
#include "core/io_safetensors.h"

TEST_CASE("diagnose a dumped file: a top-left cache mask is named, a correct output is not") {
  attn::Problem p;
  p.seqlen_q = 10;
  p.seqlen_k = 74;
  p.num_heads_q = 8;
  p.num_heads_kv = 2;
  p.head_dim = 32;
  const attn::AttentionInputs in = attn::generate_inputs(p, {attn::Distribution::normal, 4});
  const std::string dir = temp_dir();
  for (attn::Mutant m : {attn::Mutant::none, attn::Mutant::top_left_in_cache_path}) {
    attn::EmulatorConfig config;
    config.algorithm.mutant = m;
    attn::TensorFile file;
    file.tensors["q"] = {attn::StoredType::f16, in.q};
    file.tensors["k"] = {attn::StoredType::f16, in.k};
    file.tensors["v"] = {attn::StoredType::f16, in.v};
    file.tensors["o"] = {attn::StoredType::f16, attn::emulate_attention(p, in, config).o};
    const std::string path = dir + "/" + attn::mutant_name(m) + ".safetensors";
    attn::write_safetensors(path, file);
    const auto r = attnscope("diagnose " + path + " --mask causal");
    // Exit 0: no bug; exit 1: the check failed (a bug was found).
    REQUIRE(r.status == (m == attn::Mutant::none ? 0 : 1));
    if (m == attn::Mutant::none) CHECK_THAT(r.output, Catch::StartsWith("verdict: no semantic bug"));
    else CHECK_THAT(r.output, Catch::StartsWith("verdict: semantic bug — masking: top-left causal"));
    // Declaring the kernel's actual semantics makes the mutant's output correct.
    if (m != attn::Mutant::none)
      CHECK_THAT(attnscope("diagnose " + path + " --mask top-left").output, Catch::StartsWith("verdict: no semantic bug"));
  }
  std::ofstream(dir + "/broken.safetensors") << "\x10\x00\x00\x00\x00\x00\x00\x00{\"q\":";
  test_cli::expect_exit("diagnose " + dir + "/broken.safetensors", 2,
                        Catch::Contains("broken.safetensors") && Catch::Contains("truncated"));
}

TEST_CASE("incremental writes its report; bad input names the problem") {
  const std::string dir = temp_dir() + "/incremental";
  const auto ok = attnscope("incremental --device cpu --prefill 40 --steps 3 --heads 2:1 --dim 64 --no-mutants --out " + dir);
  CHECK(ok.status == 0);
  CHECK_THAT(ok.output, Catch::Contains("FP64 references (incremental vs full): bit-identical") &&
                            Catch::Contains("emu.fp16.dany.m64n64.decode-tc12-fixed256"));
  CHECK(std::filesystem::exists(dir + "/report.md"));
  CHECK(std::filesystem::exists(dir + "/results.json"));
  CHECK(std::filesystem::exists(dir + "/step_ulp_diff.dat"));
  const auto heads = attnscope("incremental --device cpu --prefill 4 --steps 1 --heads 6:4 --out " + dir);
  CHECK(heads.status != 0);
  CHECK_THAT(heads.output, Catch::Contains("not a multiple"));
  const auto steps = attnscope("incremental --device cpu --prefill 4 --steps 0 --out " + dir);
  CHECK(steps.status != 0);
  CHECK_THAT(steps.output, Catch::Contains("--steps"));
  CHECK(attnscope("incremental --dtype fp8").status == 2);
}

TEST_CASE("incremental: chunked decode steps, chosen attribution steps, mutants, bad steps list") {
  const std::string dir = temp_dir() + "/incremental-chunk";
  const auto ok = attnscope("incremental --device cpu --prefill 66 --steps 5 --decode-chunk 2 --heads 2:1 --dim 64 --dtype bf16 "
                            "--attribute-steps last --mutants --out " + dir);
  REQUIRE(ok.status == 0);
  CHECK_THAT(ok.output, Catch::Contains("emu.bf16.dany.m64n64.decode-fixed64.mutant-top-left-cache") && Catch::Contains("masking: top-left causal"));
  std::ifstream json_file(dir + "/results.json");
  const auto j = nlohmann::json::parse(json_file);
  REQUIRE(j["paths"].size() == 5);  // the correct decode path and the four emulator cache mutants
  const auto& steps = j["paths"][0]["steps"];
  REQUIRE(steps.size() == 3);  // rows 66..67, 68..69, 70
  CHECK(steps[2]["first_row"] == 70);
  CHECK(steps[2]["rows"] == 1);
  CHECK(steps[0]["attribution_status"] == "not selected");
  CHECK(steps[2]["attribution_status"] == "attributed");
  CHECK(j["paths"][0]["semantic"] == 0);
  CHECK(j["provenance"]["command"].get<std::string>().find("--decode-chunk 2") != std::string::npos);
  std::ifstream md(dir + "/report.md");
  const std::string report((std::istreambuf_iterator<char>(md)), std::istreambuf_iterator<char>());
  CHECK_THAT(report, Catch::Contains("2 at a time") && Catch::Contains("| 0 | 66..67 | 68 |"));
  const auto bad = attnscope("incremental --device cpu --prefill 8 --steps 2 --attribute-steps 2 --no-mutants --out " + dir);
  CHECK(bad.status != 0);
  CHECK_THAT(bad.output, Catch::Contains("--attribute-steps") && Catch::Contains("0..1"));
}

TEST_CASE("attribute --decode: the decode kernels' emulator, its stages, bad plans refused") {
  const auto r = attnscope("attribute --seqlen-q 1 --seqlen-k 3000 --heads 4:1 --dim 64 --decode splits:4 --no-order --json");
  REQUIRE(r.status == 0);
  const auto j = nlohmann::json::parse(r.output);
  CHECK(j["config"] == "decode.m8n16.mma.split4.precise");  // the production kernel's contract by default
  CHECK(j["attribution"]["dominant"] == "output rounding");
  const auto fma = attnscope("attribute --seqlen-q 1 --seqlen-k 3000 --heads 4:1 --dim 64 --decode splits:4 --decode-contract fma --no-order --json");
  REQUIRE(fma.status == 0);
  const auto jf = nlohmann::json::parse(fma.output);
  CHECK(jf["config"] == "decode.m64n64.split4");
  CHECK(jf["attribution"]["stages"]["p_cast"]["shapley_mse"].get<double>() == 0.0);  // P stays FP32
  const auto mma = attnscope("attribute --seqlen-q 4 --seqlen-k 700 --heads 8:2 --dim 64 --decode fixed:256 --decode-contract mma --no-order");
  CHECK(mma.status == 0);
  CHECK_THAT(mma.output, Catch::Contains("decode.m64n64.mma.fixed256"));
  CHECK(attnscope("attribute --seqlen-q 1 --seqlen-k 300 --decode splits:2 --decode-contract fast").status == 2);
  const auto bad = attnscope("attribute --seqlen-q 1 --seqlen-k 300 --decode fixed:100");
  CHECK(bad.status == 2);
  CHECK_THAT(bad.output, Catch::Contains("multiple of 64"));
  CHECK(attnscope("attribute --seqlen-q 1 --seqlen-k 300 --decode sometimes").status == 2);
  CHECK(attnscope("attribute --seqlen-q 1 --seqlen-k 300 --decode splits:2 --precise").status == 2);
  const auto no_gpu_bench = attnscope("bench --decode --prefill");
  CHECK(no_gpu_bench.status == 2);  // the modes exclude each other
  CHECK(attnscope("bench --decode --truth").status == 2);
  // Without a GPU (or without CUDA) the decode bench is an environment error, named.
  CHECK(attnscope("bench --decode --batch 8").status == 2);    // --batch is --truth's; --decode takes --batches
  CHECK(attnscope("bench --truth --batches 8").status == 2);  // a decode option without --decode
  const auto decode_bench = attnscope("bench --decode --batches 1 --cache-lens 64 --cases cuda-cores --warmup 0 --iters 1");
  if (decode_bench.status != 0) {
    CHECK(decode_bench.status == 3);
    CHECK_THAT(decode_bench.output, Catch::Contains("attnscope: error:") && Catch::Contains("bench --decode"));
  }
  // The chunked mode: its options only with it, the modes exclusive, no GPU an environment error.
  CHECK(attnscope("bench --chunked --decode").status == 2);
  CHECK(attnscope("bench --chunked --truth").status == 2);
  CHECK(attnscope("bench --chunked --batch 2").status == 2);  // --batch is --truth's
  CHECK(attnscope("bench --depths 4096").status == 2);        // a chunked option without --chunked
  CHECK(attnscope("bench --decode --chunks 64").status == 2);
  // Impossible shapes are named before the GPU is looked for: exit 2 on any machine.
  const auto zero_chunk = attnscope("bench --chunked --chunks 0");
  CHECK(zero_chunk.status == 2);
  CHECK_THAT(zero_chunk.output, Catch::Contains("--chunks: 0 is not a chunk length"));
  CHECK(attnscope("bench --chunked --depths -5").status == 2);
  CHECK(attnscope("bench --chunked --chunk-heads 6:4").status == 2);  // H_q not a multiple of H_kv
  CHECK(attnscope("bench --chunked --depths 2000000000").status == 2);  // past the kernels' 2^30 keys per entry
  CHECK(attnscope("bench --chunked --chunk-batches 100000 --depths 1000000").status == 3);  // the memory budget
  const auto chunked_bench = attnscope("bench --chunked --chunk-batches 1 --chunks 64 --depths 128 --chunk-cases fa3.paged16 --warmup 0 --iters 1");
  if (chunked_bench.status != 0) {
    CHECK(chunked_bench.status == 3);
    CHECK_THAT(chunked_bench.output, Catch::Contains("attnscope: error:") && Catch::Contains("bench --chunked"));
  }
}

TEST_CASE("sweep: progress lines with rate and ETA; --devices merges one worker per device into the same rows") {
  const std::string dir = temp_dir() + "_devices";
  std::filesystem::create_directories(dir);
  const std::string spec = std::string(ATTNSCOPE_SOURCE_DIR) + "/experiments/sweeps/smoke.toml";
  // Not a terminal (a pipe): plain progress lines, the last at 100%, then the time split.
  const auto one = attnscope("sweep " + spec + " --db " + dir + "/one.sqlite --progress-every 1");
  REQUIRE(one.status == 0);
  CHECK_THAT(one.output, Catch::Contains("sweep 'smoke': 6/6 (100.0%),") && Catch::Contains("points/min, ETA"));
  CHECK_THAT(one.output, Catch::Contains("time: truth ") && Catch::Contains(", database "));
  CHECK_THAT(one.output, !Catch::Contains("\r"));
  const auto two = attnscope("sweep " + spec + " --db " + dir + "/two.sqlite --devices 0,1 --device cpu");
  REQUIRE(two.status == 0);
  CHECK_THAT(two.output, Catch::Contains("2 workers, 6 rows merged"));
  const auto rows = [&](const std::string& db) {
    if (attnscope("export --db " + db + " --json " + db + ".json").status != 0) return nlohmann::json();
    std::ifstream in(db + ".json");
    return nlohmann::json::parse(in);
  };
  nlohmann::json a = rows(dir + "/one.sqlite"), b = rows(dir + "/two.sqlite");
  REQUIRE(a.size() == 6);
  REQUIRE(b.size() == 6);
  auto by_key = [](nlohmann::json rows) {
    std::map<std::string, nlohmann::json> m;
    for (auto& r : rows) {
      for (const char* volatile_column : {"created_at", "time_utc", "point_seconds", "truth_seconds", "host"}) r.erase(volatile_column);
      m[r["point_key"].get<std::string>()] = r;
    }
    return m;
  };
  CHECK(by_key(a) == by_key(b));  // every column but the times
  const auto twice = attnscope("sweep " + spec + " --db " + dir + "/x.sqlite --devices 0,0");
  CHECK(twice.status == 2);
  CHECK_THAT(twice.output, Catch::Contains("--devices") && Catch::Contains("listed twice"));
}

TEST_CASE("run --truth-device: the truth's device and time and every stage's seconds; bench --truth prints the split") {
  const auto run = attnscope("run --seqlen-q 100 --seqlen-k 100 --heads 4:2 --dim 32 --truth-device cpu --json");
  REQUIRE(run.status == 0);
  const auto r = nlohmann::json::parse(run.output);
  CHECK(r["metrics"]["truth_device"] == "cpu");
  CHECK(r["metrics"]["truth_method"] == "fp64");
  CHECK(r["metrics"]["truth_seconds"].get<double>() > 0);
  for (const char* stage : {"inputs", "truth", "certification", "truth_unquantized", "baseline", "kernel", "metrics"})
    CHECK(r["seconds"].contains(stage));
  CHECK(r["baseline_implementation"].get<std::string>().rfind("cpu-", 0) == 0);
  test_cli::expect_exit("run --truth-device tpu", 2, Catch::Contains("--truth-device"));
  const auto gpu = attnscope("run --seqlen-q 16 --seqlen-k 16 --truth-device gpu");
  if (gpu.status != 0) CHECK_THAT(gpu.output, Catch::Contains("attnscope: error:") && Catch::Contains("GPU"));
  const auto bench = attnscope("bench --truth --seqlens 64 --heads 4:2 --head-dim 32 --truth-device cpu");
  REQUIRE(bench.status == 0);
  CHECK_THAT(bench.output, Catch::Contains("certify") && Catch::Contains("database") &&
                               Catch::Contains("b1.sq64.sk64.h4:2.d32.fp16.causal"));
}

TEST_CASE("probe --spec: an unreadable or malformed spec and an unknown kernel are input errors (exit 2), named") {
  const auto missing = attnscope("probe --spec /nonexistent/spec.toml --kernel x");
  CHECK(missing.status == 2);
  CHECK_THAT(missing.output, Catch::Contains("attnscope: error: sweep file") && Catch::Contains("cannot be read"));
  const std::string spec = std::string(ATTNSCOPE_SOURCE_DIR) + "/experiments/sweeps/external_numpy.toml";
  const auto unknown = attnscope("probe --spec " + spec + " --kernel numpy.nope");
  CHECK(unknown.status == 2);
  CHECK_THAT(unknown.output, Catch::Contains("unknown kernel 'numpy.nope'"));
}
