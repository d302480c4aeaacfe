// The command line under hostile input (issue 10): every case runs the real `attnscope` binary
// with an argument vector (never a shell: the hostile names below must reach it verbatim), with a
// time limit (a hang fails) and, outside sanitizer builds, an address-space limit (unbounded
// memory fails), and asserts the documented exit status (0 ok, 1 check failed, 2 usage or input,
// 3 environment), the named error (`attnscope: error: ...` or the flag), no signal, and that no
// file in the case's folder changed except the outputs the command was asked to write.
// One TEST_CASE per hostile case; `test_reliability --list-test-names-only` counts them.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace fs = std::filesystem;

namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;  // ASan reserves terabytes of address space: no RLIMIT_AS
#else
constexpr bool kSanitized = false;
#endif
constexpr uint64_t kAddressLimit = uint64_t{3} << 30;  // 3 GiB: far above any case's honest need

struct Run {
  int status = -1;   ///< exit status, -1 when killed
  int signal = 0;    ///< the signal that ended it, 0 when it exited
  bool timed_out = false;
  std::string out;   ///< stdout + stderr
};

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

/// Runs attnscope with `args` (an argument vector) in `cwd`, killing it after `timeout_s`.
Run attnscope(const std::vector<std::string>& args, const std::string& cwd, double timeout_s = 60) {
  static int counter = 0;
  const std::string log = (fs::temp_directory_path() / ("attnscope_rel_log_" + std::to_string(getpid()) + "_" +
                                                        std::to_string(counter++))).string();
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    if (!kSanitized) {
      const rlimit limit{kAddressLimit, kAddressLimit};
      setrlimit(RLIMIT_AS, &limit);
    }
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    const int null = open("/dev/null", O_RDONLY);
    dup2(null, 0);
    if (chdir(cwd.c_str()) != 0) _exit(126);
    std::vector<char*> argv{const_cast<char*>(ATTNSCOPE_CLI)};
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(ATTNSCOPE_CLI, argv.data());
    _exit(127);
  }
  Run r;
  const auto start = std::chrono::steady_clock::now();
  int status = 0;
  for (;;) {
    const pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() > timeout_s) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      r.timed_out = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (WIFEXITED(status)) r.status = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
  r.out = slurp(log);
  fs::remove(log);
  return r;
}

/// Every file under `dir` with its size and content.
std::map<std::string, std::string> snapshot(const std::string& dir) {
  std::map<std::string, std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    const std::string rel = fs::relative(e.path(), dir).string();
    if (e.is_regular_file()) files[rel] = slurp(e.path().string());
    else if (e.is_directory()) files[rel + "/"] = "";
    else files[rel] = "<special>";
  }
  return files;
}

/// A fresh folder for one case.
std::string case_dir(const std::string& name) {
  const fs::path dir = fs::temp_directory_path() / ("attnscope_rel_" + std::to_string(getpid())) / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

/// Checks a run: the exit status, the message, no signal, no hang, and that nothing in `dir`
/// changed except paths under `outputs` (relative to dir).
void expect(const Run& r, int status, const std::string& message, const std::map<std::string, std::string>& before,
            const std::string& dir, const std::set<std::string>& outputs = {}) {
  INFO("output:\n" << r.out);
  CHECK_FALSE(r.timed_out);
  CHECK(r.signal == 0);
  CHECK(r.status == status);
  if (!message.empty()) CHECK_THAT(r.out, Catch::Contains(message));
  if (status == 2 || status == 3) CHECK_THAT(r.out, !Catch::Contains("terminate called"));
  const auto after = snapshot(dir);
  auto is_output = [&](const std::string& path) {
    for (const std::string& o : outputs)
      if (path == o || path.rfind(o + "/", 0) == 0 || path == o + "/") return true;
    return false;
  };
  for (const auto& [path, content] : after) {
    if (is_output(path)) continue;
    INFO("file " << path);
    const auto it = before.find(path);
    CHECK(it != before.end());  // no file appeared
    if (it != before.end()) CHECK(it->second == content);  // nothing changed
  }
  for (const auto& [path, content] : before) {
    INFO("file " << path);
    if (!is_output(path)) CHECK(after.count(path) == 1);  // nothing disappeared
  }
}

std::string source(const std::string& rel) { return std::string(ATTNSCOPE_SOURCE_DIR) + "/" + rel; }

void write(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

/// A small results database of the smoke sweep (6 points), made once and copied into each case.
std::string smoke_db() {
  static std::string path;
  if (path.empty()) {
    const std::string dir = case_dir("_fixture");
    const Run r = attnscope({"sweep", source("experiments/sweeps/smoke.toml"), "--db", "smoke.sqlite", "--quiet"}, dir);
    REQUIRE(r.status == 0);
    path = dir + "/smoke.sqlite";
  }
  return path;
}

std::string copy_smoke(const std::string& dir) {
  fs::copy_file(smoke_db(), dir + "/results.sqlite");
  return "results.sqlite";
}

const char* kPassTolerances = "[[rule]]\nkernels = [\"naive-*\"]\nfa_rule = 2.0\n";

/// A fresh folder for one gate case holding tol.toml (`tolerances`; by default rules the smoke
/// sweep passes).
std::string gate_case_dir(const std::string& name, const std::string& tolerances = kPassTolerances) {
  const std::string dir = case_dir(name);
  write(dir + "/tol.toml", tolerances);
  return dir;
}

/// Runs `attnscope gate --db DB --tolerances tol.toml EXTRA...` in `dir` and checks it with
/// expect() against the folder as it is just before the run.
void expect_gate(const std::string& dir, const std::string& db, int status, const std::string& message,
                 const std::vector<std::string>& extra = {}) {
  const auto before = snapshot(dir);
  std::vector<std::string> args{"gate", "--db", db, "--tolerances", "tol.toml"};
  args.insert(args.end(), extra.begin(), extra.end());
  expect(attnscope(args, dir), status, message, before, dir);
}

void sql(const std::string& db_path, const std::string& statement) {
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(db_path.c_str(), &db) == SQLITE_OK);
  char* err = nullptr;
  const int rc = sqlite3_exec(db, statement.c_str(), nullptr, nullptr, &err);
  INFO((err ? err : ""));
  sqlite3_free(err);
  sqlite3_close(db);
  REQUIRE(rc == SQLITE_OK);
}

std::string le(uint64_t v, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
  return s;
}

}  // namespace

// ---- gate: fail closed -----------------------------------------------------------------------

TEST_CASE("gate without --db is a usage error and creates no database", "[reliability]") {
  const std::string dir = case_dir("gate_no_db");
  write(dir + "/tol.toml", kPassTolerances);
  const auto before = snapshot(dir);
  expect(attnscope({"gate", "--tolerances", "tol.toml"}, dir), 2, "--db is required", before, dir);
}

TEST_CASE("gate on a database that does not exist fails and creates nothing", "[reliability]") {
  const std::string dir = gate_case_dir("gate_missing_db");
  expect_gate(dir, "results.sqlite", 1, "cannot be read");
}

TEST_CASE("gate on an empty database fails: nothing was gated", "[reliability]") {
  const std::string dir = gate_case_dir("gate_empty_db");
  write(dir + "/results.sqlite", "");
  expect_gate(dir, "results.sqlite", 1, "no results");
}

TEST_CASE("gate on another program's SQLite database fails", "[reliability]") {
  const std::string dir = gate_case_dir("gate_foreign_db");
  sql(dir + "/results.sqlite", "CREATE TABLE orders (id INTEGER); INSERT INTO orders VALUES (7);");
  expect_gate(dir, "results.sqlite", 1, "something else");
}

TEST_CASE("gate with a misspelled --sweep fails and names the sweeps", "[reliability]") {
  const std::string dir = gate_case_dir("gate_bad_sweep");
  expect_gate(dir, copy_smoke(dir), 1, "sweep 'smok' is not in the database (it holds: smoke)", {"--sweep", "smok"});
}

TEST_CASE("gate where no rule matches the points fails unless --allow-unchecked", "[reliability]") {
  const std::string dir = case_dir("gate_unchecked");
  write(dir + "/tol.toml", "[[rule]]\nkernels = [\"naive-bf16\"]\nfa_rule = 2.0\n");
  const std::string db = copy_smoke(dir);
  const auto before = snapshot(dir);
  const Run r = attnscope({"gate", "--db", db, "--tolerances", "tol.toml"}, dir);
  expect(r, 1, "UNCHECKED", before, dir);
  CHECK_THAT(r.out, Catch::Contains("matched no point"));  // the naive-bf16 rule checks nothing
}

TEST_CASE("gate with a baseline that does not exist fails and does not create it", "[reliability]") {
  const std::string dir =
      gate_case_dir("gate_missing_baseline", std::string("[gate]\nbaseline_db = \"base.sqlite\"\n") + kPassTolerances);
  expect_gate(dir, copy_smoke(dir), 1, "baseline");
}

TEST_CASE("gate honours arrays of globs: a failing kernel selected by an array fails", "[reliability]") {
  const std::string dir = gate_case_dir("gate_array_globs", "[[rule]]\nkernels = [\"naive*\"]\nmax_abs = 1e-12\n");
  expect_gate(dir, copy_smoke(dir), 1, "max_abs");
}

TEST_CASE("gate with a tolerance key of the wrong type fails", "[reliability]") {
  const std::string dir = gate_case_dir("gate_wrong_type", "[[rule]]\nkernels = 3\nfa_rule = 2.0\n");
  expect_gate(dir, copy_smoke(dir), 1, "'kernels' must be a string");
}

TEST_CASE("gate --junit onto the database is refused; the rows survive", "[reliability]") {
  const std::string dir = case_dir("gate_junit_db");
  write(dir + "/tol.toml", kPassTolerances);
  const std::string db = copy_smoke(dir);
  const auto before = snapshot(dir);
  expect(attnscope({"gate", "--db", db, "--tolerances", "tol.toml", "--junit", db}, dir), 2, "is an input", before, dir);
  expect(attnscope({"gate", "--db", db, "--tolerances", "tol.toml", "--junit", "./" + db}, dir), 2, "is an input", before,
         dir);
}

TEST_CASE("gate --junit onto the tolerance file is refused", "[reliability]") {
  const std::string dir = gate_case_dir("gate_junit_tol");
  expect_gate(dir, copy_smoke(dir), 2, "is an input", {"--junit", "tol.toml"});
}

TEST_CASE("a passing gate writes JUnit with time and properties, and only that file", "[reliability]") {
  const std::string dir = case_dir("gate_pass");
  write(dir + "/tol.toml", kPassTolerances);
  const std::string db = copy_smoke(dir);
  const auto before = snapshot(dir);
  const Run r = attnscope({"gate", "--db", db, "--tolerances", "tol.toml", "--junit", "gate.xml"}, dir);
  expect(r, 0, "-> PASS", before, dir, {"gate.xml"});
  const std::string xml = slurp(dir + "/gate.xml");
  CHECK_THAT(xml, Catch::Contains("time=\"") && Catch::Contains("<property name=\"commit\"") &&
                      Catch::Contains("<property name=\"spec_hash\" value=\"smoke:") &&
                      Catch::Contains("<property name=\"gpu\""));
}

TEST_CASE("gate on a named pipe does not hang", "[reliability]") {
  const std::string dir = case_dir("gate_fifo");
  REQUIRE(mkfifo((dir + "/results.sqlite").c_str(), 0600) == 0);
  REQUIRE(mkfifo((dir + "/tol.toml").c_str(), 0600) == 0);
  const auto before = snapshot(dir);
  expect(attnscope({"gate", "--db", "results.sqlite", "--tolerances", "tol.toml"}, dir, 20), 1, "named pipe", before, dir);
}

// ---- report: no shell, no lost plots, no overwrite --------------------------------------------

TEST_CASE("report into a folder named like a shell command runs nothing and draws every plot", "[reliability]") {
  const std::string dir = case_dir("report_shell_name");
  const std::string db = copy_smoke(dir);
  const std::string out = "r';touch PWNED;'";
  const auto before = snapshot(dir);
  const Run r = attnscope({"report", "--db", db, "--out", out}, dir);
  expect(r, 0, "report:", before, dir, {out});
  CHECK_FALSE(fs::exists(dir + "/PWNED"));
  CHECK(fs::exists(dir + "/" + out + "/report.md"));
  if (fs::exists("/usr/bin/gnuplot")) {  // the apostrophe no longer drops the plots
    CHECK_THAT(r.out, !Catch::Contains("(0 plots)"));
    bool histogram = false;  // one ULP histogram per dtype: ulp_histogram_<dtype>.svg
    for (const auto& e : fs::directory_iterator(dir + "/" + out + "/plots"))
      histogram = histogram || (e.path().filename().string().rfind("ulp_histogram_", 0) == 0 && e.path().extension() == ".svg");
    CHECK(histogram);
  }
}

TEST_CASE("report of a database whose kernel names hold shell and gnuplot syntax runs nothing", "[reliability]") {
  const std::string dir = case_dir("report_hostile_kernel");
  const std::string db = copy_smoke(dir);
  sql(dir + "/" + db,
      "UPDATE results SET kernel = '`touch PWNED`'' \" $(touch PWNED2)\n!touch PWNED3' WHERE rowid = 1;"
      "UPDATE results SET config = json_set(config, '$.kernel', '`touch PWNED4`') WHERE rowid = 2;");
  const auto before = snapshot(dir);
  expect(attnscope({"report", "--db", db, "--out", "rep"}, dir), 0, "report:", before, dir, {"rep"});
  for (const char* f : {"PWNED", "PWNED2", "PWNED3", "PWNED4"}) CHECK_FALSE(fs::exists(dir + "/" + f));
  CHECK_FALSE(fs::exists(dir + "/rep/plots/PWNED"));
}

TEST_CASE("report --out onto an existing file is refused before any work", "[reliability]") {
  const std::string dir = case_dir("report_out_file");
  const std::string db = copy_smoke(dir);
  write(dir + "/notes.md", "my notes");
  const auto before = snapshot(dir);
  expect(attnscope({"report", "--db", db, "--out", "notes.md"}, dir), 2, "not a folder", before, dir);
}

TEST_CASE("report on a database that does not exist creates nothing", "[reliability]") {
  const std::string dir = case_dir("report_missing_db");
  const auto before = snapshot(dir);
  expect(attnscope({"report", "--db", "nothing.sqlite", "--out", "rep"}, dir), 2, "cannot be read", before, dir);
}

// ---- export: read-only on the database, never onto it -----------------------------------------

TEST_CASE("export --csv onto the database (or its side file) is refused; the rows survive", "[reliability]") {
  const std::string dir = case_dir("export_onto_db");
  const std::string db = copy_smoke(dir);
  const auto before = snapshot(dir);
  expect(attnscope({"export", "--db", db, "--csv", db}, dir), 2, "--csv", before, dir);
  expect(attnscope({"export", "--db", db, "--json", "./" + db}, dir), 2, "--json", before, dir);
  expect(attnscope({"export", "--db", db, "--json", db + "-wal"}, dir), 2, "--json", before, dir);
}

TEST_CASE("export on a database that does not exist creates nothing", "[reliability]") {
  const std::string dir = case_dir("export_missing_db");
  const auto before = snapshot(dir);
  expect(attnscope({"export", "--db", "nothing.sqlite", "--csv", "out.csv"}, dir), 2, "cannot be read", before, dir);
}

TEST_CASE("export with a misspelled --sweep or no output is an error; the database is left byte for byte",
          "[reliability]") {
  const std::string dir = case_dir("export_bad_sweep");
  const std::string db = copy_smoke(dir);
  const auto before = snapshot(dir);
  expect(attnscope({"export", "--db", db, "--csv", "out.csv", "--sweep", "smok"}, dir), 2,
         "--sweep 'smok': no such sweep", before, dir);
  expect(attnscope({"export", "--db", db}, dir), 2, "--csv", before, dir);
  expect(attnscope({"export", "--db", db, "--csv", "out.csv", "--json", "out.json"}, dir), 0, "export", before, dir,
         {"out.csv", "out.json"});
}

// ---- databases: read-only inputs, corrupted files, resume, merge -------------------------------

TEST_CASE("report, gate and merge leave their input databases byte for byte (no -wal / -shm)", "[reliability]") {
  const std::string dir = case_dir("readers_write_nothing");
  const std::string db = copy_smoke(dir);
  write(dir + "/tol.toml", kPassTolerances);
  const auto before = snapshot(dir);
  expect(attnscope({"gate", "--db", db, "--tolerances", "tol.toml"}, dir), 0, "", before, dir);
  expect(attnscope({"report", "--db", db, "--out", "rep"}, dir), 0, "", before, dir, {"rep"});
  expect(attnscope({"merge", "merged.sqlite", db}, dir), 0, "rows added", before, dir, {"rep", "merged.sqlite"});
}

TEST_CASE("a corrupted database stops the sweep with a named error before writing", "[reliability]") {
  const std::string dir = case_dir("corrupted_db");
  const std::string db = copy_smoke(dir);
  {
    std::fstream f(dir + "/" + db, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(4096);
    const std::string garbage(2 * 4096, '\x5a');
    f.write(garbage.data(), static_cast<std::streamsize>(garbage.size()));
  }
  const auto before = snapshot(dir);
  expect(attnscope({"sweep", source("experiments/sweeps/smoke.toml"), "--db", db, "--quiet"}, dir), 2, "results database",
         before, dir);
  write(dir + "/tol.toml", kPassTolerances);
  const auto before_gate = snapshot(dir);
  expect(attnscope({"gate", "--db", db, "--tolerances", "tol.toml"}, dir), 1, "results database", before_gate, dir);
}

TEST_CASE("resume refuses rows of another spec; --fresh starts over, --resume-stale keeps them", "[reliability]") {
  const std::string dir = case_dir("resume_other_spec");
  const std::string db = copy_smoke(dir);
  write(dir + "/two.toml",
        "[sweep]\nname = \"smoke\"\nkernels = [\"naive-fp16\"]\nseqlen_q = [1]\ncache_depth = [0, 9]\nheads = [\"4:2\"]\n"
        "head_dim = [32]\nattribution = false\n");
  const auto before = snapshot(dir);
  expect(attnscope({"sweep", "two.toml", "--db", db, "--quiet"}, dir), 2, "another spec", before, dir);
  const Run stale = attnscope({"sweep", "two.toml", "--db", db, "--quiet", "--resume-stale"}, dir);
  CHECK(stale.status == 0);
  CHECK_THAT(stale.out, Catch::Contains("2 points in shard 0/1, 2 already done"));  // this spec's 2, not 6
  const Run fresh = attnscope({"sweep", "two.toml", "--db", db, "--quiet", "--fresh"}, dir);
  CHECK(fresh.status == 0);
  CHECK_THAT(fresh.out, Catch::Contains("2 points in shard 0/1, 0 already done, 2 ok"));
}

TEST_CASE("resume refuses rows written by another build", "[reliability]") {
  const std::string dir = case_dir("resume_other_build");
  const std::string db = copy_smoke(dir);
  sql(dir + "/" + db, "UPDATE sweep_records SET commit_id = '0123456789ab' WHERE name = 'smoke';");
  const auto before = snapshot(dir);
  expect(attnscope({"sweep", source("experiments/sweeps/smoke.toml"), "--db", db, "--quiet"}, dir), 2,
         "another build (commit 0123456789ab", before, dir);
}

TEST_CASE("merge refuses shards of different specs, and an output that is a shard", "[reliability]") {
  const std::string dir = case_dir("merge_specs");
  const std::string a = copy_smoke(dir);
  write(dir + "/other.toml",
        "[sweep]\nname = \"smoke\"\nkernels = [\"naive-fp16\"]\nseqlen_q = [3]\nheads = [\"4:2\"]\nhead_dim = [32]\n"
        "attribution = false\n");
  REQUIRE(attnscope({"sweep", "other.toml", "--db", "other.sqlite", "--quiet"}, dir).status == 0);
  const auto before = snapshot(dir);
  expect(attnscope({"merge", "merged.sqlite", a, "other.sqlite"}, dir), 2, "another spec", before, dir, {"merged.sqlite"});
  expect(attnscope({"merge", a, "other.sqlite"}, dir), 2, "another spec", before, dir);
  expect(attnscope({"merge", "other.sqlite", "other.sqlite"}, dir), 2, "is an input", before, dir);
}

TEST_CASE("a database path that is not UTF-8 works and is recorded escaped", "[reliability]") {
  const std::string dir = case_dir("non_utf8_path");
  const std::string name = std::string("r\xff\xfe") + ".sqlite";
  const Run r = attnscope({"sweep", source("experiments/sweeps/smoke.toml"), "--db", name, "--quiet"}, dir);
  CHECK(r.signal == 0);
  CHECK(r.status == 0);
  CHECK_THAT(r.out, Catch::Contains("r\\xFF\\xFE.sqlite"));
  write(dir + "/tol.toml", kPassTolerances);
  CHECK(attnscope({"gate", "--db", name, "--tolerances", "tol.toml", "--junit", std::string("\xff.xml")}, dir).status == 0);
}

// ---- sweep specs -----------------------------------------------------------------------------

TEST_CASE("a sweep spec with heads 4:0 is a named error, not SIGFPE", "[reliability]") {
  const std::string dir = case_dir("spec_heads_zero");
  write(dir + "/s.toml", "[sweep]\nkernels = [\"naive-fp16\"]\nheads = [\"4:0\"]\n");
  const auto before = snapshot(dir);
  expect(attnscope({"sweep", "s.toml", "--db", "r.sqlite"}, dir), 2, "heads entry '4:0'", before, dir);
}

TEST_CASE("a sweep spec needing more memory than the machine is refused up front with the number", "[reliability]") {
  const std::string dir = case_dir("spec_too_big");
  write(dir + "/s.toml", "[sweep]\nkernels = [\"naive-fp16\"]\nbatch = [1099511627776]\nattribution = false\n");
  const auto before = snapshot(dir);
  const Run r = attnscope({"sweep", "s.toml", "--db", "r.sqlite"}, dir, 20);
  expect(r, 3, "needs about", before, dir);
  CHECK_THAT(r.out, Catch::Contains("--max-memory"));
  CHECK_FALSE(fs::exists(dir + "/r.sqlite"));
}

TEST_CASE("a sweep spec that is a named pipe does not hang", "[reliability]") {
  const std::string dir = case_dir("spec_fifo");
  REQUIRE(mkfifo((dir + "/s.toml").c_str(), 0600) == 0);
  const auto before = snapshot(dir);
  expect(attnscope({"sweep", "s.toml", "--db", "r.sqlite"}, dir, 20), 2, "named pipe", before, dir);
}

TEST_CASE("sweep --db onto the spec file is refused", "[reliability]") {
  const std::string dir = case_dir("sweep_db_is_spec");
  fs::copy_file(source("experiments/sweeps/smoke.toml"), dir + "/s.toml");
  const auto before = snapshot(dir);
  expect(attnscope({"sweep", "s.toml", "--db", "s.toml"}, dir), 2, "is an input", before, dir);
}

// ---- run, attribute, incremental: sizes, precision, outputs -----------------------------------

TEST_CASE("run --seqlen-k 2^40 is refused with the memory it needs", "[reliability]") {
  const std::string dir = case_dir("run_seqlen_k");
  const auto before = snapshot(dir);
  expect(attnscope({"run", "--seqlen-k", "1099511627776"}, dir, 20), 3, "needs about", before, dir);
}

TEST_CASE("run --batch 2^40 is refused at once instead of hanging", "[reliability]") {
  const std::string dir = case_dir("run_batch");
  const auto before = snapshot(dir);
  expect(attnscope({"run", "--batch", "1099511627776"}, dir, 20), 3, "needs about", before, dir);
}

TEST_CASE("--max-memory lowers the limit; the refusal names it", "[reliability]") {
  const std::string dir = case_dir("max_memory");
  const auto before = snapshot(dir);
  expect(attnscope({"run", "--max-memory", "1M", "--seqlen-q", "512", "--seqlen-k", "512"}, dir), 3,
         "(--max-memory; raise it", before, dir);
  expect(attnscope({"run", "--max-memory", "lots"}, dir), 2, "not a size in bytes", before, dir);
}

TEST_CASE("run --truth-bits 1e9 is a usage error", "[reliability]") {
  const std::string dir = case_dir("truth_bits");
  const auto before = snapshot(dir);
  expect(attnscope({"run", "--truth-bits", "1000000000"}, dir), 2, "--truth-bits", before, dir);
}

TEST_CASE("a mistyped kernel gets the nearest registered names", "[reliability]") {
  const std::string dir = case_dir("kernel_typo");
  const auto before = snapshot(dir);
  expect(attnscope({"run", "--kernel", "emu.fp16.dany.m64n46"}, dir), 2, "did you mean 'emu.fp16.dany.m64n64'", before, dir);
}

TEST_CASE("incremental into an unwritable folder fails before any compute", "[reliability]") {
  const std::string dir = case_dir("incremental_unwritable");
  const auto before = snapshot(dir);
  const auto start = std::chrono::steady_clock::now();
  const Run r = attnscope({"incremental", "--device", "cpu", "--prefill", "512", "--steps", "64", "--out",
                           "/proc/attnscope-cannot-write-here"}, dir);
  expect(r, 3, "cannot be", before, dir);
  CHECK(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() < 10);
}

// ---- dumped files: hostile archives, pipes, truncation -----------------------------------------

TEST_CASE("a 1.2 MB npz whose directory points 2,000 entries at one member is refused in bounded memory", "[reliability]") {
  const std::string dir = case_dir("npz_bomb");
  // One member: a float16 array of 600,000 elements (1.2 MB), then 2,000 directory entries
  // (distinct names) all pointing at its local header.
  std::string header = "{'descr': '<f2', 'fortran_order': False, 'shape': (600000,), }";
  while ((10 + header.size() + 1) % 64) header.push_back(' ');
  header.push_back('\n');
  const std::string member = std::string("\x93NUMPY\x01\x00", 8) + le(header.size(), 2) + header + std::string(1200000, '\0');
  const uint32_t crc = 0;  // never reached: the shared data is refused first
  std::string file = le(0x04034b50, 4) + le(20, 2) + le(0, 2) + le(0, 2) + le(0, 4) + le(crc, 4) + le(member.size(), 4) +
                     le(member.size(), 4) + le(5, 2) + le(0, 2) + "q.npy" + member;
  std::string central;
  for (int i = 0; i < 2000; ++i) {
    const std::string name = "m" + std::to_string(i) + ".npy";
    central += le(0x02014b50, 4) + le(20, 2) + le(20, 2) + le(0, 2) + le(0, 2) + le(0, 4) + le(crc, 4) +
               le(member.size(), 4) + le(member.size(), 4) + le(name.size(), 2) + le(0, 2) + le(0, 2) + le(0, 2) +
               le(0, 2) + le(0, 4) + le(0, 4) + name;
  }
  file += central + le(0x06054b50, 4) + le(0, 2) + le(0, 2) + le(2000, 2) + le(2000, 2) + le(central.size(), 4) +
          le(file.size(), 4) + le(0, 2);
  write(dir + "/bomb.npz", file);
  const auto before = snapshot(dir);
  expect(attnscope({"diagnose", "bomb.npz"}, dir, 30), 2, "share their data", before, dir);
}

TEST_CASE("diagnose on a named pipe does not hang", "[reliability]") {
  const std::string dir = case_dir("diagnose_fifo");
  REQUIRE(mkfifo((dir + "/dump.safetensors").c_str(), 0600) == 0);
  const auto before = snapshot(dir);
  expect(attnscope({"diagnose", "dump.safetensors"}, dir, 20), 2, "named pipe", before, dir);
}

TEST_CASE("diagnose on a truncated safetensors file names the file and the problem", "[reliability]") {
  const std::string dir = case_dir("diagnose_truncated");
  write(dir + "/dump.safetensors", std::string("\x40\x00\x00\x00\x00\x00\x00\x00{\"q\":", 13));
  const auto before = snapshot(dir);
  expect(attnscope({"diagnose", "dump.safetensors"}, dir), 2, "truncated", before, dir);
}

TEST_CASE("diagnose on a safetensors header pointing 2,000 tensors at the same bytes is refused", "[reliability]") {
  const std::string dir = case_dir("safetensors_overlap");
  std::string header = "{";
  for (int i = 0; i < 2000; ++i)
    header += (i ? "," : "") + std::string("\"t") + std::to_string(i) + "\":{\"dtype\":\"F16\",\"shape\":[600000],\"data_offsets\":[0,1200000]}";
  header += "}";
  write(dir + "/dump.safetensors", le(header.size(), 8) + header + std::string(1200000, '\0'));
  const auto before = snapshot(dir);
  expect(attnscope({"diagnose", "dump.safetensors"}, dir, 30), 2, "overlap", before, dir);
}

TEST_CASE("an unknown subcommand and unknown flags are usage errors", "[reliability]") {
  const std::string dir = case_dir("usage");
  const auto before = snapshot(dir);
  expect(attnscope({"frobnicate"}, dir), 2, "", before, dir);
  expect(attnscope({"gate", "--db", "x", "--tolerances", "y", "--frob"}, dir), 2, "--frob", before, dir);
  expect(attnscope({"sweep", "s.toml", "--shard", "3/2"}, dir), 2, "--shard", before, dir);
}
