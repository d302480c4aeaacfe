// The gate: bounds, the FlashAttention rule, mutants that must fail, ratchet, unchecked rows,
// ERROR rows, malformed tolerance files, JUnit XML.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>

#include "core/errors.h"
#include "experiments/gate.h"

namespace {

std::string temp_db(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / ("attnscope_gate_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const auto p = dir / name;
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(p.string() + suffix);
  return p.string();
}

attn::ResultRow point(const std::string& kernel, const std::string& key, double max_abs, double baseline,
                      double ulp = 1.0) {
  // Real point keys start with the kernel name (SweepPoint::key), so keys are unique per sweep.
  return {"g", kernel + "|" + key, kernel, "ok", "",
          {{"dtype", "fp16"}, {"label", key}},
          {{"kernel", {{"max_abs", max_abs}, {"ulp_max", ulp}, {"nan_count", 0}, {"inf_count", 0}}},
           {"baseline", {{"max_abs", baseline}}},
           {"excess", 1.2}},
          nullptr, nullptr};
}

}  // namespace

TEST_CASE("gate applies the first matching rule and the FlashAttention rule") {
  attn::ResultsDb db(temp_db("gate.sqlite"));
  db.insert(point("fa2.fp16.a", "p1", 1e-3, 1e-3));        // 1e-3 <= 2e-3 + 1e-5: pass
  db.insert(point("fa2.fp16.a", "p2", 3e-3, 1e-3));        // 3e-3 > 2.01e-3: fail
  db.insert(point("fa2.fp16.a", "p3", 1e-3, 1e-3, 20.0));  // ULP bound violated
  db.insert(point("emu.mutant.x", "p1", 0.5, 1e-3));       // mutant caught at p1
  db.insert(point("emu.mutant.x", "p2", 1e-3, 1e-3));
  db.insert(point("emu.mutant.y", "p1", 1e-3, 1e-3));      // mutant never caught
  db.insert(point("other", "p1", 1e-3, 1e-3));             // no rule: unchecked
  attn::ResultRow err = point("fa2.fp16.a", "p4", 0, 0);
  err.status = "error";
  err.message = "launch failed";
  db.insert(err);

  const attn::GateSpec spec = attn::parse_gate_spec_text(R"(
[[rule]]
kernels = "emu.mutant.*"
fa_rule = 2.0
expect = "fail"

[[rule]]
kernels = "fa2.*"
dtype = "fp16"
fa_rule = 2.0
ulp_max = 8
)");
  const attn::GateResult r = attn::run_gate(db, std::nullopt, spec);
  CHECK(r.passed == 2);     // p1 and mutant x
  CHECK(r.failed == 4);     // p2, p3, the error row, mutant y
  CHECK(r.unchecked == 1);  // "other"
  CHECK_FALSE(r.ok());
  const std::string xml = attn::to_junit_xml(r);
  CHECK(xml.find("tests=\"7\"") != std::string::npos);
  CHECK(xml.find("failures=\"4\"") != std::string::npos);
  CHECK(xml.find("not caught at any point") != std::string::npos);
  CHECK(xml.find("launch failed") != std::string::npos);
}

TEST_CASE("ratchet against a baseline database") {
  const std::string base_path = temp_db("base.sqlite");
  {
    attn::ResultsDb base(base_path);
    base.insert(point("k", "p", 1.0e-3, 1));
  }
  attn::ResultsDb now(temp_db("now.sqlite"));
  now.insert(point("k", "p", 1.2e-3, 1));  // 20% worse than the stored baseline
  attn::GateSpec spec = attn::parse_gate_spec_text("[gate]\nratchet_slack = 1.1\n[[rule]]\nmax_abs = 1.0\n");
  spec.baseline_db = base_path;
  const attn::GateResult r = attn::run_gate(now, std::nullopt, spec);
  REQUIRE(r.cases.size() == 1);
  CHECK_FALSE(r.cases[0].passed);
  CHECK(r.cases[0].failure.find("ratchet") != std::string::npos);
}

TEST_CASE("malformed tolerance files name the problem") {
  CHECK_THROWS_WITH(attn::parse_gate_spec_text("[[rule]]\nkernels = \"x\"\n"),
                    Catch::Contains("at least one bound"));
  CHECK_THROWS_WITH(attn::parse_gate_spec_text("[[rule]]\nmax_abs = \"big\"\n"), Catch::Contains("max_abs"));
  CHECK_THROWS_WITH(attn::parse_gate_spec_text("[[rule]]\nmax_abs = 1\nexpect = \"maybe\"\n"),
                    Catch::Contains("expect"));
  CHECK_THROWS_WITH(attn::parse_gate_spec_text("[[rule]]\nmax_abs = 1\nmaxabs = 2\n"), Catch::Contains("maxabs"));
  CHECK_THROWS_WITH(attn::parse_gate_spec_text("[[rule]\n"), Catch::Contains("not valid TOML"));
  CHECK_THROWS_WITH(attn::parse_gate_spec_text("[gate]\n"), Catch::Contains("no [[rule]]"));
}
