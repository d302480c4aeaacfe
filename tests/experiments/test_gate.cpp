// The gate: bounds, the FlashAttention rule, mutants that must fail, strict xfail, selectors
// (arrays of globs, dtype, S ranges, distribution), ratchet per metric, and failing closed:
// nothing gated, points no rule matches, rules that match nothing, an unknown sweep, a missing or
// non-covering baseline, wrong key types, ERROR rows. JUnit XML with time, properties, skipped
// invalid points and errors.
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
                      double ulp = 1.0, const std::string& dtype = "fp16", int64_t seqlen_q = 64,
                      const std::string& distribution = "normal") {
  // Real point keys start with the kernel name (SweepPoint::key), so keys are unique per sweep.
  return {"g", kernel + "|" + key, kernel, "ok", "",
          {{"dtype", dtype}, {"label", key}, {"seqlen_q", seqlen_q}, {"seqlen_k", seqlen_q + 10},
           {"cache_depth", 10}, {"distribution", distribution}, {"mask", "causal"}, {"head_dim", 64}, {"gqa_ratio", 4}},
          {{"kernel", {{"max_abs", max_abs}, {"rmse", max_abs / 3}, {"ulp_max", ulp}, {"nan_count", 0}, {"inf_count", 0}}},
           {"baseline", {{"max_abs", baseline}}},
           {"excess", 1.2}},
          nullptr, {{"commit", "abc123"}, {"gpu", "none"}, {"point_seconds", 0.25}}};
}

attn::GateResult gate(const attn::ResultsDb& db, const std::string& tolerances, attn::GateOptions options = {}) {
  return attn::run_gate(db, attn::parse_gate_spec_text(tolerances), options);
}

bool has_problem(const attn::GateResult& r, const std::string& text) {
  for (const attn::GateCase& c : r.cases)
    if (c.outcome == attn::GateOutcome::problem && c.message.find(text) != std::string::npos) return true;
  return false;
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
  attn::ResultRow invalid = point("fa2.fp16.a", "p5", 0, 0);
  invalid.status = "invalid";
  invalid.message = "S_q too large for this kernel";
  db.insert(invalid);

  const attn::GateSpec spec = attn::parse_gate_spec_text(R"(
[[rule]]
kernels = "emu.mutant.*"
fa_rule = 2.0
expect = "fail"

[[rule]]
kernels = ["fa2.*", "nothing.*"]
dtype = "fp16"
fa_rule = 2.0
ulp_max = 8
)");
  const attn::GateResult r = attn::run_gate(db, spec);
  CHECK(r.passed == 1);     // p1
  CHECK(r.failed == 2);     // p2, p3
  CHECK(r.caught == 1);     // mutant x
  CHECK(r.not_caught == 1); // mutant y
  CHECK(r.errors == 1);     // the error row
  CHECK(r.unchecked == 1);  // "other"
  CHECK(r.invalid == 1);
  CHECK(r.gated == 6);
  CHECK_FALSE(r.ok());
  const std::string xml = attn::to_junit_xml(r, {{"commit", "abc123"}, {"spec_hash", "sweep:0123"}}, 1.5);
  CHECK(xml.find("failures=\"4\"") != std::string::npos);  // p2, p3, mutant y, unchecked
  CHECK(xml.find("errors=\"1\"") != std::string::npos);
  CHECK(xml.find("skipped=\"1\"") != std::string::npos);   // the invalid point
  CHECK(xml.find("time=\"1.500\"") != std::string::npos);
  CHECK(xml.find("time=\"0.250\"") != std::string::npos);  // a point's run time
  CHECK(xml.find("<property name=\"spec_hash\" value=\"sweep:0123\"/>") != std::string::npos);
  CHECK(xml.find("<error message=\"run failed (error): launch failed\"/>") != std::string::npos);
  CHECK(xml.find("<skipped message=\"invalid point: S_q too large for this kernel\"/>") != std::string::npos);
  CHECK(xml.find("not caught") != std::string::npos);
  // It says what it checked: rows, rules with their points and kernels, the baseline.
  const std::string summary = attn::gate_summary(r, spec);
  CHECK_THAT(summary, Catch::Contains("9 rows: 6 gated, 1 invalid") && Catch::Contains("1 run errors") &&
                          Catch::Contains("rule 1 kernels=[\"emu.mutant.*\"] expect=fail: 3 points, 2 kernel(s)") &&
                          Catch::Contains("baseline: none") && Catch::Contains("-> FAIL"));
}

TEST_CASE("--allow-unchecked turns unmatched points into reports, not failures") {
  attn::ResultsDb db(temp_db("unchecked.sqlite"));
  db.insert(point("fa2.fp16.a", "p1", 1e-3, 1e-3));
  db.insert(point("other", "p1", 1e-3, 1e-3));
  const std::string tol = "[[rule]]\nkernels = \"fa2.*\"\nfa_rule = 2.0\n";
  CHECK_FALSE(gate(db, tol).ok());
  attn::GateOptions allow;
  allow.allow_unchecked = true;
  const attn::GateResult r = gate(db, tol, allow);
  CHECK(r.ok());
  CHECK(r.unchecked == 1);
  CHECK(attn::to_junit_xml(r).find("<skipped message=\"no tolerance rule matches this point\"/>") != std::string::npos);
}

TEST_CASE("selectors: arrays of globs, dtype, S ranges, distribution") {
  attn::ResultsDb db(temp_db("selectors.sqlite"));
  db.insert(point("naive-fp16", "short", 1e-3, 1e-3, 1.0, "fp16", 7));
  db.insert(point("naive-fp16", "long", 5e-3, 1e-3, 1.0, "fp16", 1000));
  db.insert(point("naive-bf16", "bf", 5e-3, 1e-3, 1.0, "bf16", 7));
  db.insert(point("naive-fp16", "gm", 5e-3, 1e-3, 1.0, "fp16", 7, "growing-max"));
  const attn::GateResult r = gate(db, R"(
[[rule]]
kernels = ["naive-*"]
distribution = "growing-max"
max_abs = 1.0
[[rule]]
kernels = ["emu.*", "naive-*"]
dtype = ["bf16"]
max_abs = 1.0
[[rule]]
kernels = ["naive-*"]
seqlen_q = ["..64", 128]
max_abs = 2e-3
[[rule]]
kernels = ["naive-*"]
seqlen_q = "65.."
max_abs = 1e-2
)");
  CHECK(r.ok());
  REQUIRE(r.rule_usage.size() == 4);
  CHECK(r.rule_usage[0].points == 1);  // growing-max
  CHECK(r.rule_usage[1].points == 1);  // bf16
  CHECK(r.rule_usage[2].points == 1);  // S_q 7
  CHECK(r.rule_usage[3].points == 1);  // S_q 1000
  // Before this fix an array was read as "*": every mutant passed. Now a glob array selects.
  const attn::GateResult mutants = gate(db, "[[rule]]\nkernels = [\"naive-bf16\"]\nmax_abs = 1e-9\n[[rule]]\nmax_abs = 1\n");
  CHECK(mutants.failed == 1);
}

TEST_CASE("xfail is strict: an expected failure that passes fails the gate") {
  attn::ResultsDb db(temp_db("xfail.sqlite"));
  db.insert(point("fa2.fp16.a", "bad", 3e-3, 1e-3));
  db.insert(point("fa2.fp16.b", "good", 1e-3, 1e-3));
  const std::string tol = R"(
[[rule]]
kernels = ["fa2.fp16.a", "fa2.fp16.b"]
fa_rule = 2.0
expect = "xfail"
reason = "issue 42: tile-edge rounding"
)";
  const attn::GateResult r = gate(db, tol);
  CHECK(r.xfailed == 1);
  CHECK(r.xpassed == 1);
  CHECK_FALSE(r.ok());
  bool named = false;
  for (const attn::GateCase& c : r.cases) named = named || c.message.find("issue 42") != std::string::npos;
  CHECK(named);
  attn::ResultsDb only_bad(temp_db("xfail_ok.sqlite"));
  only_bad.insert(point("fa2.fp16.a", "bad", 3e-3, 1e-3));
  const attn::GateResult ok = gate(only_bad, tol);
  CHECK(ok.ok());
  CHECK(ok.xfailed == 1);
  CHECK(attn::to_junit_xml(ok).find("<skipped message=\"xfail (issue 42") != std::string::npos);
  CHECK_THROWS_WITH(attn::parse_gate_spec_text("[[rule]]\nmax_abs = 1\nexpect = \"xfail\"\n"), Catch::Contains("reason"));
}

TEST_CASE("ratchet against a baseline database, per metric") {
  const std::string base_path = temp_db("base.sqlite");
  {
    attn::ResultsDb base(base_path);
    base.insert(point("k", "p", 1.0e-3, 1));
  }
  attn::ResultsDb now(temp_db("now.sqlite"));
  now.insert(point("k", "p", 1.2e-3, 1));  // 20% worse than the stored baseline
  attn::GateSpec spec = attn::parse_gate_spec_text("[gate]\nbaseline_db = \"" + base_path +
                                                   "\"\n[gate.ratchet]\nmax_abs = 1.1\nrmse = 1.5\n[[rule]]\nmax_abs = 1.0\n");
  const attn::GateResult r = attn::run_gate(now, spec);
  CHECK(r.baseline_covered == 1);
  REQUIRE(r.failed == 1);
  bool ratchet = false;
  for (const attn::GateCase& c : r.cases)
    ratchet = ratchet || (c.message.find("ratchet: max_abs") != std::string::npos &&
                          c.message.find("ratchet: rmse") == std::string::npos);  // rmse within its 1.5
  CHECK(ratchet);
  spec.ratchet = {{"max_abs", 1.25}};
  CHECK(attn::run_gate(now, spec).ok());
}

TEST_CASE("the gate fails closed") {
  const std::string tol = "[[rule]]\nkernels = \"k\"\nmax_abs = 1.0\n";
  SECTION("an empty database gates nothing") {
    attn::ResultsDb empty(temp_db("empty.sqlite"));
    const attn::GateResult r = gate(empty, tol);
    CHECK_FALSE(r.ok());
    CHECK(has_problem(r, "holds no results"));
  }
  attn::ResultsDb db(temp_db("closed.sqlite"));
  db.insert(point("k", "p", 1e-3, 1e-3));
  SECTION("a misspelled --sweep") {
    attn::GateOptions o;
    o.sweep = "gg";
    const attn::GateResult r = gate(db, tol, o);
    CHECK_FALSE(r.ok());
    CHECK(has_problem(r, "sweep 'gg' is not in the database (it holds: g)"));
  }
  SECTION("a rule that matches nothing") {
    const attn::GateResult r = gate(db, tol + "[[rule]]\nkernels = \"naiv-*\"\nmax_abs = 1.0\n");
    CHECK_FALSE(r.ok());
    CHECK(has_problem(r, "matched no point"));
  }
  SECTION("only invalid points: nothing gated") {
    attn::ResultsDb invalid_only(temp_db("invalid_only.sqlite"));
    attn::ResultRow row = point("k", "p", 0, 0);
    row.status = "invalid";
    invalid_only.insert(row);
    const attn::GateResult r = gate(invalid_only, tol);
    CHECK_FALSE(r.ok());
    CHECK(has_problem(r, "no point was gated"));
  }
  SECTION("a baseline that does not exist is a failure, and is not created") {
    const std::string missing = temp_db("missing_baseline.sqlite");
    const attn::GateResult r = gate(db, "[gate]\nbaseline_db = \"" + missing + "\"\n" + tol);
    CHECK_FALSE(r.ok());
    CHECK(has_problem(r, "baseline"));
    CHECK_FALSE(std::filesystem::exists(missing));
  }
  SECTION("a baseline that covers no gated point") {
    const std::string other = temp_db("other_baseline.sqlite");
    {
      attn::ResultsDb base(other);
      base.insert(point("k", "another point", 1e-3, 1e-3));
    }
    const attn::GateResult r = gate(db, "[gate]\nbaseline_db = \"" + other + "\"\n" + tol);
    CHECK_FALSE(r.ok());
    CHECK(has_problem(r, "covers none"));
  }
  SECTION("NaN in the output fails even without a NaN-specific bound") {
    attn::ResultsDb nan_db(temp_db("nan.sqlite"));
    attn::ResultRow row = point("k", "p", 1e-3, 1e-3);
    row.metrics["kernel"]["nan_count"] = 3;
    nan_db.insert(row);
    CHECK(gate(nan_db, tol).failed == 1);
  }
}

TEST_CASE("malformed tolerance files name the problem") {
  using attn::parse_gate_spec_text;
  CHECK_THROWS_WITH(parse_gate_spec_text("[[rule]]\nkernels = \"x\"\n"), Catch::Contains("at least one bound"));
  CHECK_THROWS_WITH(parse_gate_spec_text("[[rule]]\nmax_abs = \"big\"\n"), Catch::Contains("max_abs"));
  CHECK_THROWS_WITH(parse_gate_spec_text("[[rule]]\nmax_abs = 1\nexpect = \"maybe\"\n"), Catch::Contains("expect"));
  CHECK_THROWS_WITH(parse_gate_spec_text("[[rule]]\nmax_abs = 1\nmaxabs = 2\n"), Catch::Contains("maxabs"));
  CHECK_THROWS_WITH(parse_gate_spec_text("[[rule]\n"), Catch::Contains("not valid TOML"));
  CHECK_THROWS_WITH(parse_gate_spec_text("[gate]\n"), Catch::Contains("no [[rule]]"));
  // Wrong types are errors, never silently a default ("kernels = 3" used to read as "*").
  CHECK_THROWS_WITH(parse_gate_spec_text("[[rule]]\nkernels = 3\nmax_abs = 1\n"), Catch::Contains("kernels"));
  CHECK_THROWS_WITH(parse_gate_spec_text("[[rule]]\nkernels = [\"a\", 3]\nmax_abs = 1\n"), Catch::Contains("kernels"));
  CHECK_THROWS_WITH(parse_gate_spec_text("[[rule]]\nkernels = []\nmax_abs = 1\n"), Catch::Contains("empty"));
  CHECK_THROWS_WITH(parse_gate_spec_text("[[rule]]\ndtype = \"fp9\"\nmax_abs = 1\n"), Catch::Contains("dtype"));
  CHECK_THROWS_WITH(parse_gate_spec_text("[[rule]]\ndistribution = \"gaussian\"\nmax_abs = 1\n"),
                    Catch::Contains("gaussian"));
  CHECK_THROWS_WITH(parse_gate_spec_text("[[rule]]\nseqlen_q = \"9..3\"\nmax_abs = 1\n"), Catch::Contains("empty"));
  CHECK_THROWS_WITH(parse_gate_spec_text("[[rule]]\nseqlen_q = 1.5\nmax_abs = 1\n"), Catch::Contains("seqlen_q"));
  CHECK_THROWS_WITH(parse_gate_spec_text("[[rule]]\nmax_abs = true\n"), Catch::Contains("max_abs"));
  CHECK_THROWS_WITH(parse_gate_spec_text("[[rule]]\nmax_abs = nan\n"), Catch::Contains("non-negative"));
  CHECK_THROWS_WITH(parse_gate_spec_text("[[rule]]\nmax_abs = 1\nmax_diff = 2\n"), Catch::Contains("not both"));
  CHECK_THROWS_WITH(parse_gate_spec_text("[gate]\nbaseline_db = 3\n[[rule]]\nmax_abs = 1\n"), Catch::Contains("baseline_db"));
  CHECK_THROWS_WITH(parse_gate_spec_text("[gate]\nratchet_slack = 0.5\nbaseline_db = \"b\"\n[[rule]]\nmax_abs = 1\n"),
                    Catch::Contains(">= 1"));
  CHECK_THROWS_WITH(parse_gate_spec_text("[gate.ratchet]\nmax_abs = 1.1\n[[rule]]\nmax_abs = 1\n"),
                    Catch::Contains("baseline_db"));
  CHECK_THROWS_WITH(parse_gate_spec_text("rule = 3\n"), Catch::Contains("array of tables"));
  CHECK_THROWS_WITH(parse_gate_spec_text("[[rules]]\nmax_abs = 1\n"), Catch::Contains("rules"));
  // Aliases users write: max_diff for max_abs, excess_max for excess, dtypes for dtype.
  const attn::GateSpec spec = parse_gate_spec_text("[[rule]]\ndtypes = [\"fp16\", \"bf16\"]\nmax_diff = 1e-3\nexcess_max = 4\n");
  CHECK(spec.rules[0].max_abs == 1e-3);
  CHECK(spec.rules[0].excess == 4.0);
  CHECK(spec.rules[0].dtypes.size() == 2);
}
