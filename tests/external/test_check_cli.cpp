// make-inputs / check / diagnose --layout as a kernel team uses them: a case out, outputs in (.npy,
// .safetensors; fp16, bf16 as uint16 bits), PASS for a correct output, exit 1 and the named bug for
// a wrong one, the layout named when the output fits the other one, named errors for bad input.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>

#include "core/io_npy.h"
#include "core/io_safetensors.h"
#include "core/layout.h"
#include "experiments/external/case_file.h"
#include "experiments/register_all.h"
#include "tests/external/run_command.h"

namespace {

std::filesystem::path temp_dir(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / ("attnscope_check_" + std::to_string(getpid()) + "_" + name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

test_util::CommandResult cli(std::vector<std::string> args) {
  args.insert(args.begin(), ATTNSCOPE_CLI);
  return test_util::run_command(args);
}

/// The output of a registered kernel on the case's inputs, under the case's problem with `mask`.
attn::Tensor<double> kernel_output(const attn::CaseFile& c, const std::string& kernel, const std::string& mask) {
  attn::Problem p = c.problem;
  p.mask = attn::parse_mask(mask);
  return attn::all_kernels().get(kernel).run(p, c.inputs).o;
}

}  // namespace

TEST_CASE("make-inputs writes a case; check passes a correct output and fails a wrong one with its bug") {
  const auto dir = temp_dir("roundtrip");
  const std::string case_path = (dir / "case.safetensors").string();
  const auto made = cli({"make-inputs", "--seqlen-q", "7", "--seqlen-k", "40", "--heads", "8:2", "--dim", "32",
                         "--dtype", "fp16", "--layout", "bhsd", "--out", case_path});
  INFO(made.output);
  REQUIRE(made.status == 0);
  CHECK_THAT(made.output, Catch::Contains("layout bhsd") && Catch::Contains("FlashAttention rule"));
  const attn::CaseFile c = attn::read_case(case_path);
  CHECK(c.layout == attn::TensorLayout::bhsd);
  CHECK(c.truth.method == "fp64");
  CHECK(c.floor["rmse"].get<double>() > 0);
  CHECK(c.baseline["metrics"]["max_abs"].get<double>() > 0);

  // The naive FP16 kernel is within the FA rule by construction (it is the baseline).
  const std::string good = (dir / "good.npy").string();
  attn::write_npy(good, {attn::StoredType::f16, attn::to_layout(kernel_output(c, "naive-fp16", "causal"), attn::TensorLayout::bhsd)});
  const auto pass = cli({"check", case_path, good});
  INFO(pass.output);
  CHECK(pass.status == 0);
  CHECK_THAT(pass.output, Catch::Contains("FlashAttention rule") && Catch::Contains("PASS") &&
                              Catch::Contains("no semantic bug"));
  const auto json = cli({"check", case_path, good, "--json"});
  REQUIRE(json.status == 0);
  const auto j = nlohmann::json::parse(json.output);
  CHECK(j["pass"].get<bool>());
  CHECK(j["metrics"]["fa_rule_pass"].get<bool>());

  // A top-left mask: exit 1, the verdict names it.
  const std::string wrong = (dir / "wrong.safetensors").string();
  attn::TensorFile f;
  f.tensors["o"] = {attn::StoredType::f16, attn::to_layout(kernel_output(c, "naive-fp16", "top-left"), attn::TensorLayout::bhsd)};
  attn::write_safetensors(wrong, f);
  const auto fail = cli({"check", case_path, wrong});
  INFO(fail.output);
  CHECK(fail.status == 1);
  CHECK_THAT(fail.output, Catch::Contains("FAIL") && Catch::Contains("semantic bug — masking: top-left causal"));

  // The output in the other layout (shapes differ): a named input error that says which.
  const std::string bshd = (dir / "bshd.npy").string();
  attn::write_npy(bshd, {attn::StoredType::f16, kernel_output(c, "naive-fp16", "causal")});
  const auto shape = cli({"check", case_path, bshd});
  CHECK(shape.status == 2);
  CHECK_THAT(shape.output, Catch::Contains("attnscope: error:") && Catch::Contains("pass --layout bshd"));
  CHECK(cli({"check", case_path, bshd, "--layout", "bshd"}).status == 0);
  CHECK(cli({"check", case_path, bshd, "--layout", "bsdh"}).status == 2);
  CHECK(cli({"check", (dir / "missing.safetensors").string(), good}).status == 2);
  CHECK_THAT(cli({"check", good, good}).output, Catch::Contains("attnscope: error:"));
}

TEST_CASE("check: equal shapes in both layouts — the verdict names the layout that fits; bf16 as bits") {
  const auto dir = temp_dir("layout");
  const std::string case_path = (dir / "case.safetensors").string();
  // S_q == H_q: [B, S, H, D] and [B, H, S, D] have the same shape.
  REQUIRE(cli({"make-inputs", "--seqlen-q", "8", "--seqlen-k", "30", "--heads", "8:2", "--dim", "16", "--dtype", "bf16",
               "--out", case_path})
              .status == 0);
  const attn::CaseFile c = attn::read_case(case_path);
  const attn::Tensor<double> o = kernel_output(c, "naive-bf16", "causal");
  const std::string as_bhsd = (dir / "o_bhsd.npy").string();
  attn::write_npy(as_bhsd, {attn::StoredType::bf16, attn::to_layout(o, attn::TensorLayout::bhsd)});  // '<u2' bits
  const auto r = cli({"check", case_path, as_bhsd});
  INFO(r.output);
  CHECK(r.status == 1);
  CHECK_THAT(r.output, Catch::Contains("layout: the output misses as bshd but fits as bhsd"));
  const auto ok = cli({"check", case_path, as_bhsd, "--layout", "bhsd"});
  INFO(ok.output);
  CHECK(ok.status == 0);
  CHECK_THAT(ok.output, Catch::Contains("judged as bf16"));
}

TEST_CASE("diagnose --layout bhsd; a bhsd dump diagnosed as bshd is named") {
  const auto dir = temp_dir("diagnose");
  attn::CaseFile c;
  c.problem.seqlen_q = 5;
  c.problem.seqlen_k = 23;
  c.problem.num_heads_q = 4;
  c.problem.num_heads_kv = 2;
  c.problem.head_dim = 16;
  c.inputs = attn::generate_inputs(c.problem, {});
  const attn::Tensor<double> o = kernel_output(c, "naive-fp16", "causal");
  attn::TensorFile f;
  for (const auto& [name, t] : {std::pair<const char*, const attn::Tensor<double>*>{"q", &c.inputs.q}, {"k", &c.inputs.k},
                                {"v", &c.inputs.v}, {"o", &o}})
    f.tensors[name] = {attn::StoredType::f16, attn::to_layout(*t, attn::TensorLayout::bhsd)};
  const std::string path = (dir / "dump.safetensors").string();
  attn::write_safetensors(path, f);
  const auto declared = cli({"diagnose", path, "--layout", "bhsd"});
  INFO(declared.output);
  CHECK(declared.status == 0);
  CHECK_THAT(declared.output, Catch::Contains("verdict: no semantic bug"));
  const auto misdeclared = cli({"diagnose", path});
  INFO(misdeclared.output);
  CHECK_THAT(misdeclared.output, Catch::Contains("verdict: layout: the output misses as bshd but fits as bhsd"));
}
