// The [[external]] path: the NumPy worker, correct and with every planted bug, swept like an
// internal kernel and gated (the committed spec and tolerance file); each bug diagnosed in its
// category; and every way a worker can fail — killed, exiting, hanging, garbage, a wrong id, a
// wrong shape, NaN, an error answer, an INVALID answer, a command that does not exist — gives a
// named row (never a pass), the worker restarted and the sweep going on, no committed row lost.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <map>
#include <set>

#include "core/errors.h"
#include "analysis/probe.h"
#include "experiments/external/external_kernel.h"
#include "experiments/gate.h"
#include "experiments/register_all.h"
#include "experiments/results_db.h"
#include "experiments/sweep_runner.h"
#include "experiments/sweep_spec.h"
#include "tests/external/run_command.h"

namespace {

const std::string kSource = ATTNSCOPE_SOURCE_DIR;
const std::string kWorker = kSource + "/experiments/peers/numpy_worker.py";

std::filesystem::path temp_dir(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() /
                   ("attnscope_external_" + std::to_string(getpid()) + "_" + name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

/// The interpreter CMake found with NumPy stands in for "python3" (which may lack it).
void use_test_python(attn::SweepSpec& spec) {
  for (attn::ExternalKernelSpec& e : spec.externals)
    if (!e.command.empty() && e.command[0] == "python3") e.command[0] = ATTNSCOPE_PYTHON;
}

/// A small sweep over one faulty NumPy worker: points 1..n of one kernel.
attn::SweepSpec fault_spec(const std::string& fault_args, const std::string& extra = "", int seqlens = 6) {
  std::string seqlen_q = "[";
  for (int s = 1; s <= seqlens; ++s) seqlen_q += (s > 1 ? ", " : "") + std::to_string(s + 2);
  seqlen_q += "]";
  attn::SweepSpec spec = attn::parse_sweep_spec_text(
      "[sweep]\nname = \"faults\"\nkernels = [\"faulty\"]\nseqlen_q = " + seqlen_q +
      "\ncache_depth = [3]\nheads = [\"2:1\"]\nhead_dim = [16]\nattribution = false\n"
      "[[external]]\nname = \"faulty\"\ncommand = [\"" ATTNSCOPE_PYTHON "\", \"" + kWorker + "\"" + fault_args +
      "]\nlayout = \"bhsd\"\ntimeout_s = 3\nstartup_timeout_s = 30\n" + extra);
  return spec;
}

std::vector<attn::ResultRow> sweep(const attn::SweepSpec& spec, const std::string& db_path,
                                   attn::SweepSummary* summary = nullptr) {
  attn::ResultsDb db(db_path);
  const attn::SweepSummary s = attn::run_sweep(spec, attn::all_kernels(), db, {});
  if (summary) *summary = s;
  return db.rows(spec.name);
}

}  // namespace

TEST_CASE("NumPy worker through [[external]]: correct passes the gate, every planted bug caught in its category") {
  attn::SweepSpec spec = attn::parse_sweep_spec(kSource + "/experiments/sweeps/external_numpy.toml");
  use_test_python(spec);
  REQUIRE(spec.externals.size() == 8);
  REQUIRE(spec.diagnosis);
  const auto dir = temp_dir("numpy_sweep");
  attn::SweepSummary summary;
  const auto rows = sweep(spec, (dir / "r.sqlite").string(), &summary);
  CHECK(summary.points == 96);
  CHECK(summary.errors == 0);
  CHECK(summary.invalid == 0);
  for (const auto& r : rows) {
    INFO(r.point_key << ": " << r.message);
    CHECK(r.status == "ok");
  }

  attn::GateOptions gate_options;
  gate_options.sweep = spec.name;
  const attn::GateResult gate =
      attn::run_gate(attn::ResultsDb((dir / "r.sqlite").string(), attn::DbMode::read_only),
                     attn::parse_gate_spec(kSource + "/experiments/tolerances/external_numpy.toml"), gate_options);
  for (const auto& c : gate.cases) {
    INFO(c.name << ": " << c.message);
    CHECK((c.outcome == attn::GateOutcome::passed || c.outcome == attn::GateOutcome::caught));
  }
  CHECK(gate.ok());
  CHECK(gate.unchecked == 0);
  CHECK(gate.passed == 2 * 12);  // 24 points of the two correct kernels
  CHECK(gate.caught == 6);       // every planted bug

  std::map<std::string, int> failing, named;  // per bug kernel: points failing the FA rule / diagnosed in its category
  for (const auto& r : rows) {
    const std::string planted = r.config.value("planted_bug", "");
    const auto& dx = r.metrics.at("diagnosis");
    const bool fa_pass = r.metrics.at("fa_rule_pass").get<bool>();
    INFO(r.point_key << " verdict " << dx.at("verdict") << " " << dx.at("category"));
    if (planted.empty()) {
      CHECK(fa_pass);
      CHECK(dx.at("verdict") == "no semantic bug");
      CHECK(r.metrics.at("excess").get<double>() < 1.5);
      CHECK(r.metrics.at("run_info").at("external_total_ms").get<double>() > 0);
      CHECK(r.metrics.at("run_info").contains("external_kernel_ms"));
      continue;
    }
    if (fa_pass) continue;
    ++failing[r.kernel];
    if (planted == "intermediate-precision") {
      // A coarse P is no change of meaning: no semantic alternative may claim it. The FA rule
      // catches it; naming the format is the precision fingerprint's job (when it reports a
      // category, it must be this one).
      CHECK(dx.at("verdict") != "semantic bug");
      if (!dx.at("category").get<std::string>().empty()) CHECK(dx.at("category") == planted);
      ++named[r.kernel];
      continue;
    }
    // Every failing point of a semantic bug is diagnosed, and the planted category is among the
    // meanings that explain it (some inputs make two meanings coincide, e.g. depth 1).
    CHECK(dx.at("verdict") == "semantic bug");
    bool listed = dx.at("category") == planted;
    for (const auto& m : dx.at("also_matching")) listed = listed || m.get<std::string>().rfind(planted + ":", 0) == 0;
    CHECK(listed);
    if (dx.at("category") == planted) ++named[r.kernel];
  }
  // `check` and `diagnose` on the same inputs say what the sweep said (the device script's check).
  const auto agreement = test_util::run_command(
      {ATTNSCOPE_PYTHON, kSource + "/experiments/device/external_agreement.py", "--attnscope", ATTNSCOPE_CLI, "--spec",
       kSource + "/experiments/sweeps/external_numpy.toml", "--db", (dir / "r.sqlite").string(), "--out",
       (dir / "agreement").string(), "--points",
       "numpy.reference:7:37,numpy.bug.top-left-mask:7:37,numpy.bug.interleaved-gqa:65:0:8:2:bf16,"
       "numpy.reference.bshd:1:37:8:2:bf16,numpy.bug.stale-cache-length:1:0"},
      {{"PYTHONDONTWRITEBYTECODE", "1"}});
  INFO(agreement.output);
  CHECK(agreement.status == 0);
  CHECK_THAT(agreement.output, Catch::Contains("all points agree"));

  for (const std::string bug : {"top-left-mask", "unmasked-tile-edge", "interleaved-gqa", "stale-cache-length",
                                "wrong-scale", "p-e4m3"}) {
    INFO(bug);
    CHECK(failing["numpy.bug." + bug] > 0);
    CHECK(named["numpy.bug." + bug] > 0);
  }
}

TEST_CASE("a worker killed mid-sweep: earlier rows kept, a named error row, restarted, the sweep goes on") {
  const auto dir = temp_dir("kill");
  const std::string marker = (dir / "fired").string();
  const attn::SweepSpec spec = fault_spec(", \"--fault\", \"kill@3\", \"--fault-marker\", \"" + marker + "\"");
  attn::SweepSummary summary;
  const auto rows = sweep(spec, (dir / "r.sqlite").string(), &summary);
  REQUIRE(rows.size() == 6);
  CHECK(summary.ok == 5);
  CHECK(summary.errors == 1);
  for (size_t i = 0; i < rows.size(); ++i) {
    INFO(rows[i].point_key << ": " << rows[i].message);
    if (i == 2) {
      CHECK(rows[i].status == "error");
      CHECK_THAT(rows[i].message, Catch::Contains("external kernel 'faulty' on b1.sq5.sk8") &&
                                      Catch::Contains("killed by signal 9") &&
                                      Catch::Contains("fault 'kill' at request 3") && Catch::Contains("restarted"));
    } else {
      CHECK(rows[i].status == "ok");
      CHECK(rows[i].metrics.at("fa_rule_pass").get<bool>());
    }
  }
  // The restarted worker paid its start-up again at the point after the failure.
  CHECK(rows[3].metrics.at("run_info").at("external_worker_started").get<double>() == 1);
  CHECK(rows[4].metrics.at("run_info").at("external_worker_started").get<double>() == 0);
}

TEST_CASE("every protocol failure is a named error row, never a pass") {
  struct Case {
    std::string fault, expect;
  };
  const std::vector<Case> cases = {
      {"exit", "exited with status 3"},
      {"hang", "no answer within 3 s"},
      {"garbage", "answer is not a JSON object: 'this is not JSON'"},
      {"wrong-id", "does not carry the request's id"},
      {"wrong-shape", "expected [1, 2, 5, 16]"},
      {"nan", "1 NaN and 0 Inf values (first at [b, s, h, d] = [0, 0, 0, 0])"},
      {"error", "the worker reported an error: RuntimeError: planted worker error"},
  };
  for (const Case& c : cases) {
    DYNAMIC_SECTION(c.fault) {
      const auto dir = temp_dir("fault_" + c.fault);
      const attn::SweepSpec spec = fault_spec(", \"--fault\", \"" + c.fault + "@3\", \"--fault-marker\", \"" +
                                              (dir / "fired").string() + "\"");
      const auto rows = sweep(spec, (dir / "r.sqlite").string());
      REQUIRE(rows.size() == 6);
      INFO(rows[2].message);
      CHECK(rows[2].status == "error");
      CHECK_THAT(rows[2].message, Catch::Contains(c.expect) && Catch::Contains("b1.sq5.sk8"));
      CHECK_THAT(rows[2].message, Catch::Contains("worker stderr"));
      for (size_t i : {0u, 1u, 3u, 4u, 5u}) CHECK(rows[i].status == "ok");
    }
  }
}

TEST_CASE("a worker that declines a point gives an INVALID row; undeclared dtypes are INVALID too") {
  const auto dir = temp_dir("invalid");
  attn::SweepSpec spec = fault_spec(", \"--fault\", \"invalid@2\"", "dtypes = [\"fp16\"]\n", 2);
  spec.dtypes = {attn::DType::fp16, attn::DType::bf16};
  const auto rows = sweep(spec, (dir / "r.sqlite").string());
  REQUIRE(rows.size() == 4);
  CHECK(rows[0].status == "ok");
  CHECK(rows[1].status == "invalid");
  CHECK_THAT(rows[1].message, Catch::Contains("declines the problem"));
  CHECK(rows[2].status == "invalid");
  CHECK_THAT(rows[2].message, Catch::Contains("declares dtypes fp16, not bf16"));
}

TEST_CASE("a worker that cannot start or keeps failing is given up after max_failures") {
  const auto dir = temp_dir("give_up");
  attn::SweepSpec spec = fault_spec(", \"--fault\", \"exit@1\"", "max_failures = 2\n", 4);
  const auto rows = sweep(spec, (dir / "r.sqlite").string());
  REQUIRE(rows.size() == 4);
  for (const auto& r : rows) CHECK(r.status == "error");
  CHECK_THAT(rows[0].message, Catch::Contains("exited with status 3"));
  CHECK_THAT(rows[2].message, Catch::Contains("failed 2 times in a row and is not restarted"));

  attn::SweepSpec missing = attn::parse_sweep_spec_text(
      "[sweep]\nname = \"m\"\nkernels = [\"nothing\"]\nseqlen_q = [4]\nattribution = false\n"
      "[[external]]\nname = \"nothing\"\ncommand = [\"/nonexistent/worker\"]\nlayout = \"bshd\"\n");
  const auto r2 = sweep(missing, (dir / "m.sqlite").string());
  REQUIRE(r2.size() == 1);
  CHECK(r2[0].status == "error");
  CHECK_THAT(r2[0].message, Catch::Contains("cannot start worker '/nonexistent/worker'"));
}

TEST_CASE("[[external]] entries are validated with named errors") {
  auto parse = [](const std::string& entry) {
    return attn::parse_sweep_spec_text("[sweep]\nkernels = [\"x\"]\n[[external]]\n" + entry, "s.toml");
  };
  CHECK_THROWS_WITH(parse("name = \"x\"\nlayout = \"bshd\"\n"), Catch::Contains("'command' is required"));
  CHECK_THROWS_WITH(parse("name = \"x\"\ncommand = [\"w\"]\n"), Catch::Contains("'layout' is required"));
  CHECK_THROWS_WITH(parse("name = \"x\"\ncommand = [\"w\"]\nlayout = \"bsdh\"\n"), Catch::Contains("bhsd"));
  CHECK_THROWS_WITH(parse("name = \"a|b\"\ncommand = [\"w\"]\nlayout = \"bshd\"\n"), Catch::Contains("key 'name'"));
  CHECK_THROWS_WITH(parse("name = \"x\"\ncommand = [\"w\"]\nlayout = \"bshd\"\nshell = true\n"),
                    Catch::Contains("unknown key 'shell'"));
  CHECK_THROWS_WITH(parse("name = \"x\"\ncommand = [\"w\"]\nlayout = \"bshd\"\ntimeout_s = -1\n"),
                    Catch::Contains("positive"));
  CHECK_THROWS_WITH(parse("name = \"x\"\ncommand = [\"w\"]\nlayout = \"bshd\"\ndtypes = [\"fp8\"]\n"),
                    Catch::Contains("key 'dtypes'"));
  CHECK_THROWS_WITH(parse("name = \"x\"\ncommand = \"w --flag\"\nlayout = \"bshd\"\n"),
                    Catch::Contains("array of strings"));
  CHECK_THROWS_WITH(parse("name = \"x\"\ncommand = [\"w\"]\nlayout = \"bshd\"\n[[external]]\nname = \"x\"\ncommand = "
                          "[\"w\"]\nlayout = \"bshd\"\n"),
                    Catch::Contains("two [[external]] entries"));
  // A name already registered is refused when the sweep registers it.
  attn::Registry r = attn::all_kernels();
  attn::ExternalKernelSpec clash;
  clash.name = "naive-fp16";
  clash.command = {"w"};
  CHECK_THROWS_WITH(attn::register_external_kernels(r, {clash}), Catch::Contains("registered twice"));
}

TEST_CASE("probe through [[external]]: the NumPy worker's card names its mask, GQA map and P format") {
  // What `attnscope probe --spec SPEC --kernel NAME` runs: the spec's workers join a copy of the
  // registry and the three probe calls go through the protocol like sweep points.
  attn::SweepSpec spec = attn::parse_sweep_spec(kSource + "/experiments/sweeps/external_numpy.toml");
  use_test_python(spec);
  const attn::Registry registry = attn::sweep_registry(spec, attn::all_kernels());
  const attn::ProbeResult reference = attn::probe_kernel(registry.get("numpy.reference"), {});
  CHECK(reference.calls == 3);
  CHECK(reference.card.mask == "bottom-right");
  CHECK(reference.card.gqa == "contiguous");
  CHECK(reference.card.p_format == "fp32");  // NumPy's softmax in float32, P never rounded
  CHECK(reference.card.accumulator == "fp32");
  CHECK(attn::probe_kernel(registry.get("numpy.bug.p-e4m3"), {}).card.p_format == "e4m3");
  CHECK(attn::probe_kernel(registry.get("numpy.bug.interleaved-gqa"), {}).card.gqa == "interleaved");
  CHECK(attn::probe_kernel(registry.get("numpy.bug.top-left-mask"), {}).card.mask == "top-left");
}

TEST_CASE("probe through [[external]]: a worker that declines H_q != H_kv gets the call again with H_q == H_kv") {
  // SDPA's efficient backend answers "No available kernel" to enable_gqa; the probe's first call
  // is grouped (H 4:2). The worker's "invalid" is a KernelDeclinedError: the probe repeats the
  // call ungrouped, and the card says the GQA map was not probed.
  attn::SweepSpec spec = attn::parse_sweep_spec(kSource + "/experiments/sweeps/external_numpy.toml");
  use_test_python(spec);
  attn::ExternalKernelSpec mha = spec.externals.front();
  REQUIRE(mha.name == "numpy.reference");
  mha.name = "numpy.reference.mha-only";
  mha.command.push_back("--mha-only");
  spec.externals = {mha};
  const attn::Registry registry = attn::sweep_registry(spec, attn::all_kernels());
  const attn::ProbeResult r = attn::probe_kernel(registry.get("numpy.reference.mha-only"), {});
  INFO(r.card.to_string());
  CHECK(r.calls == 4);  // the declined grouped call counts
  CHECK(r.card.gqa == "declined");
  CHECK(r.card.mask == "bottom-right");
  CHECK(r.card.p_format == "fp32");
  CHECK_THAT(r.notes.front(), Catch::Contains("No available kernel for H_q != H_kv"));
  CHECK_THAT(r.card.to_string(), Catch::EndsWith("GQA declined (probed with H_q == H_kv)"));
}
