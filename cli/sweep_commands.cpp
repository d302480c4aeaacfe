// `attnscope sweep SPEC.toml --db results.sqlite [--shard i/n] [--fresh | --resume-stale]`: runs
//   (or resumes) a sweep; refuses to mix rows of another spec or build.
// `attnscope report --db results.sqlite --out DIR`: Markdown + HTML report with plots.
// `attnscope gate --db results.sqlite --tolerances FILE.toml [--junit out.xml]`: exit 0 / 1.
// `attnscope merge OUT.sqlite SHARD.sqlite...`: shards of one sweep (one spec) into one database.
// Inputs of report, gate and merge are opened read-only; every output path is checked before
// any work (never an input, never a special file, its folder writable) and written atomically.
#include "cli/sweep_commands.h"

#include "cli/commands.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>
#include <filesystem>
#include <iostream>

#include "analysis/attribution.h"
#include "analysis/emulator.h"
#include "core/errors.h"
#include "core/io_files.h"
#include "experiments/gate.h"
#include "experiments/provenance.h"
#include "experiments/register_all.h"
#include "experiments/results_db.h"
#include "experiments/sweep_runner.h"
#include "experiments/sweep_spec.h"
#include "kernels/register_gpu_kernels.h"
#include "reports/sweep_report.h"

extern char** environ;

namespace attn::cli {
namespace {

// Attribution of one sweep point: Shapley shares over the stages of the emulated algorithm of
// the kernel (for CUDA kernels: the emulator of the same tiling and policy), against the truth.
std::function<nlohmann::json(const Kernel&, const Problem&, const AttentionInputs&, const Truth&)> sweep_attribution() {
  return [](const Kernel& kernel, const Problem& problem, const AttentionInputs& inputs,
            const Truth& truth) -> nlohmann::json {
    const std::optional<AlgorithmConfig>& algorithm = kernel.info.algorithm;
    if (!algorithm || emulator_invalid_reason(problem, *algorithm)) return nullptr;
    AttributionOptions options;
    options.algorithm = *algorithm;
    return attribution_to_json(attribute_error(problem, inputs, options, &truth.o));
  };
}

struct SweepFlags {
  std::string spec_path, db_path = "results.sqlite", shard = "0/1", device = "auto", truth_device = "auto";
  bool quiet = false, verbose = false, fresh = false, resume_stale = false;
  double progress_every = 30;  // seconds between plain progress lines when stdout is not a terminal
  std::string devices;         // "0,1,...": one worker process per local GPU (run_on_devices)
};

struct ReportFlags {
  std::string db, out = "report", sweep;
};

struct GateFlags {
  std::string db, tolerances, junit, sweep, baseline;
  bool allow_unchecked = false;
};

struct MergeFlags {
  std::string out;
  std::vector<std::string> shards;
  bool allow_mixed_commits = false;
};

/// "0,2,3" -> {0, 2, 3}; distinct non-negative integers (CUDA device ordinals).
std::vector<int> parse_devices(const std::string& text) {
  std::vector<int> ids;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    char* end = nullptr;
    const long v = std::strtol(item.c_str(), &end, 10);
    if (item.empty() || *end != 0 || v < 0 || v > 1023)
      throw CLI::ValidationError("--devices", "expected GPU ordinals like 0,1,2, got '" + text + "'");
    if (std::find(ids.begin(), ids.end(), static_cast<int>(v)) != ids.end())
      throw CLI::ValidationError("--devices", "device " + std::to_string(v) + " is listed twice");
    ids.push_back(static_cast<int>(v));
  }
  if (ids.empty()) throw CLI::ValidationError("--devices", "no device given");
  return ids;
}

/// `sweep --devices 0,1,...`: one worker process per GPU (this same binary, CUDA_VISIBLE_DEVICES
/// set to its device, an argument vector: no shell), each running shard I*D+j of N*D into its own
/// database beside --db (<db>.device<id>.sqlite, log <db>.device<id>.log: no two writers on one
/// SQLite file); when all have finished, the shards are merged into --db (merge's checks: the same
/// spec and build). The row set equals a one-process run's: shards partition the points by index.
void run_on_devices(const SweepFlags& f, int index, int count) {
  const std::vector<int> devices = parse_devices(f.devices);
  const int n = static_cast<int>(devices.size());
  check_output_path(f.db_path, OutputKind::file, {f.spec_path}, "--db");
  std::vector<std::string> shard_dbs, logs;
  std::vector<pid_t> pids;
  for (int j = 0; j < n; ++j) {
    const std::string stem = f.db_path + ".device" + std::to_string(devices[static_cast<size_t>(j)]);
    shard_dbs.push_back(stem + ".sqlite");
    logs.push_back(stem + ".log");
    check_output_path(shard_dbs.back(), OutputKind::file, {f.spec_path, f.db_path}, "--devices shard database");
  }
  const auto started = std::chrono::steady_clock::now();
  for (int j = 0; j < n; ++j) {
    std::vector<std::string> args = {"/proc/self/exe", "sweep", f.spec_path, "--db", shard_dbs[static_cast<size_t>(j)],
                                     "--shard", std::to_string(index * n + j) + "/" + std::to_string(count * n),
                                     "--device", f.device, "--truth-device", f.truth_device,
                                     "--progress-every", std::to_string(f.progress_every)};
    if (f.fresh) args.push_back("--fresh");
    if (f.resume_stale) args.push_back("--resume-stale");
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    // The worker's environment: ours, with CUDA_VISIBLE_DEVICES naming its one GPU.
    std::vector<std::string> env_strings;
    for (char** e = environ; *e; ++e)
      if (std::strncmp(*e, "CUDA_VISIBLE_DEVICES=", 21) != 0) env_strings.emplace_back(*e);
    env_strings.push_back("CUDA_VISIBLE_DEVICES=" + std::to_string(devices[static_cast<size_t>(j)]));
    std::vector<char*> envp;
    for (std::string& e : env_strings) envp.push_back(e.data());
    envp.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, logs[static_cast<size_t>(j)].c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    pid_t pid = 0;
    const int rc = posix_spawn(&pid, "/proc/self/exe", &actions, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) {
      for (pid_t p : pids) ::kill(p, SIGTERM);
      throw EnvironmentError(std::string("--devices: cannot start a worker: ") + std::strerror(rc));
    }
    pids.push_back(pid);
    if (!f.quiet)
      std::cout << "sweep --devices: worker " << j << " on GPU " << devices[static_cast<size_t>(j)] << " (pid " << pid
                << "), shard " << index * n + j << "/" << count * n << ", log " << printable_path(logs[static_cast<size_t>(j)])
                << std::endl;
  }
  // Wait for every worker; meanwhile print each worker's last progress line now and then.
  std::vector<int> status(static_cast<size_t>(n), -1);
  int running = n;
  double last_print = 0;
  while (running > 0) {
    for (int j = 0; j < n; ++j) {
      if (status[static_cast<size_t>(j)] != -1) continue;
      int raw = 0;
      const pid_t done = ::waitpid(pids[static_cast<size_t>(j)], &raw, WNOHANG);
      if (done == pids[static_cast<size_t>(j)]) {
        status[static_cast<size_t>(j)] = WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw);
        --running;
      }
    }
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    if (!f.quiet && (elapsed - last_print >= f.progress_every || running == 0)) {
      last_print = elapsed;
      for (int j = 0; j < n; ++j) {
        std::ifstream log(logs[static_cast<size_t>(j)]);
        std::string line, last;
        while (std::getline(log, line))
          if (line.rfind("sweep '", 0) == 0) last = line;
        if (!last.empty()) std::cout << "[GPU " << devices[static_cast<size_t>(j)] << "] " << last << "\n";
      }
      std::cout << std::flush;
    }
    if (running > 0) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  for (int j = 0; j < n; ++j)
    if (status[static_cast<size_t>(j)] != 0 && status[static_cast<size_t>(j)] != 1)  // 1: ERROR rows, still merged
      throw EnvironmentError("--devices: the worker on GPU " + std::to_string(devices[static_cast<size_t>(j)]) +
                             " exited with status " + std::to_string(status[static_cast<size_t>(j)]) + " (see " +
                             printable_path(logs[static_cast<size_t>(j)]) + "); nothing merged");
  std::vector<std::unique_ptr<ResultsDb>> shards;
  for (const std::string& path : shard_dbs) shards.push_back(std::make_unique<ResultsDb>(path, DbMode::read_only));
  {  // every check before the output is touched (as `merge`)
    ResultsDb scratch(":memory:", DbMode::read_write);
    if (std::filesystem::exists(f.db_path)) scratch.merge_from(ResultsDb(f.db_path, DbMode::read_only));
    for (const auto& shard : shards) scratch.merge_from(*shard);
  }
  int added = 0;
  {
    ResultsDb out(f.db_path, DbMode::read_write);
    for (const auto& shard : shards) added += out.merge_from(*shard);
  }
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::cout << "sweep --devices " << f.devices << ": " << n << " workers, " << added << " rows merged into "
            << printable_path(f.db_path) << " in " << wall << " s" << std::endl;
  for (int j = 0; j < n; ++j)
    if (status[static_cast<size_t>(j)] == 1) throw CLI::RuntimeError(static_cast<int>(ExitCode::check_failed));
}

void run_sweep_command(const SweepFlags& f) {
  int index = 0, count = 1;
  char tail = 0;
  if (std::sscanf(f.shard.c_str(), "%d/%d%c", &index, &count, &tail) != 2 || count < 1 || index < 0 || index >= count)
    throw CLI::ValidationError("--shard", "expected I/N with 0 <= I < N, got '" + f.shard + "'");
  if (f.fresh && f.resume_stale) throw CLI::ValidationError("--fresh", "give --fresh or --resume-stale, not both");
  const SweepSpec spec = parse_sweep_spec(f.spec_path);
  if (!f.devices.empty()) return run_on_devices(f, index, count);
  // The database is both input and output: checked before any point runs.
  check_output_path(f.db_path, OutputKind::file, {f.spec_path}, "--db");
  std::string why;
  const bool have_gpu = gpu_available(&why);
  if (f.device == "gpu" && !have_gpu) throw EnvironmentError("--device gpu: " + why);
  SweepOptions options;
  options.shard_index = index;
  options.shard_count = count;
  options.use_gpu = f.device == "gpu" || (f.device == "auto" && have_gpu);
  options.reference_device = parse_reference_device(f.truth_device);
  options.provenance = collect_provenance(invoked_command());
  options.build_commit = options.provenance.value("commit", "unknown");
  options.attribute = sweep_attribution();
  options.resume = f.fresh ? ResumePolicy::fresh : f.resume_stale ? ResumePolicy::resume_stale : ResumePolicy::same_spec;
  if (f.verbose) options.log = [](const std::string& line) { std::cout << line << std::endl; };
  if (!f.quiet && !f.verbose) {
    // Progress: on a terminal one line rewritten in place (at most 4 times a second); otherwise
    // (a log, CI) a plain line every --progress-every seconds, and the last one.
    const bool terminal = ::isatty(STDOUT_FILENO) == 1;
    const double every = terminal ? 0.25 : f.progress_every;
    auto last = std::make_shared<double>(-1e300);
    options.progress = [terminal, every, last](const SweepProgress& p) {
      const bool final = p.done == p.to_run;
      if (!final && p.elapsed - *last < every) return;
      *last = p.elapsed;
      if (terminal) std::cout << "\r\033[K" << progress_line(p) << (final ? "\n" : "") << std::flush;
      else std::cout << progress_line(p) << std::endl;
    };
    // A long truth (minutes at 32k tokens) reports its own progress between the points' lines.
    options.truth_progress = [terminal](const std::string& line) {
      std::cout << (terminal ? "\r\033[K" : "") << line << std::endl;
    };
  }
  if (!f.quiet)
    std::cout << "sweep '" << spec.name << "' on " << (options.use_gpu ? "the GPU" : "the CPU (emulator)")
              << (options.use_gpu ? "" : " — " + why) << ", results in " << printable_path(f.db_path) << std::endl;
  // Sizes beyond the memory limit are refused before the database is created or touched.
  require_sweep_memory(spec, expand_sweep(spec, sweep_registry(spec, all_kernels()), options.use_gpu));
  ResultsDb db(f.db_path, DbMode::read_write);
  const SweepSummary s = run_sweep(spec, all_kernels(), db, options);
  std::cout << "sweep '" << spec.name << "' (spec " << s.spec_hash << "): " << s.points << " points in shard " << f.shard
            << ", " << s.already_done << " already done, " << s.ok << " ok, " << s.invalid << " invalid, " << s.errors
            << " errors -> " << printable_path(f.db_path) << std::endl;
  if (!f.quiet) std::cout << "sweep '" << spec.name << "': " << throughput_line(s) << std::endl;
  if (s.errors) throw CLI::RuntimeError(static_cast<int>(ExitCode::check_failed));
}

void run_report_command(const ReportFlags& f) {
  const ResultsDb db(f.db, DbMode::read_only);
  check_output_path(f.out, OutputKind::directory, {f.db}, "--out");
  const ReportFiles files = write_sweep_report(db, {f.sweep, f.out, invoked_command()});
  std::cout << "report: " << printable_path(files.markdown) << ", " << printable_path(files.html) << " (" << files.plots
            << " plots)\n";
  if (!files.plot_errors.empty()) std::cerr << "attnscope report: some plots were not drawn:\n" << files.plot_errors;
}

void run_gate_command(const GateFlags& f) {
  const auto started = std::chrono::steady_clock::now();
  // Outputs first: a JUnit path that is an input (the database, the tolerances) is refused
  // before anything is read, so it can never be overwritten.
  if (!f.junit.empty())
    check_output_path(f.junit, OutputKind::file, {f.db, f.tolerances, f.baseline}, "--junit");
  GateOptions options;
  if (!f.sweep.empty()) options.sweep = f.sweep;
  options.allow_unchecked = f.allow_unchecked;
  // The gate fails closed: any reason it cannot vouch for the results (an unreadable or foreign
  // database, a malformed tolerance file) is a failed gate, exit 1.
  GateSpec spec;
  std::unique_ptr<ResultsDb> db;
  try {
    spec = parse_gate_spec(f.tolerances);
    if (!f.baseline.empty()) {
      spec.baseline_db = f.baseline;
      if (spec.ratchet.empty()) spec.ratchet["max_abs"] = 1.10;
    }
    db = std::make_unique<ResultsDb>(f.db, DbMode::read_only);
  } catch (const EnvironmentError&) {
    throw;
  } catch (const Error& e) {
    if (!f.junit.empty()) {  // CI reads the XML: the reason is there too
      GateResult failed;
      failed.cases.push_back({"gate", "attnscope-gate", GateOutcome::problem, e.what(), -1, 0});
      failed.problems = 1;
      write_file_atomic(f.junit, to_junit_xml(failed, {{"database", f.db}, {"tolerances", f.tolerances}}));
    }
    throw CheckFailed(std::string("gate: ") + e.what() + " -> FAIL");
  }
  const GateResult r = run_gate(*db, spec, options);
  std::cout << "gate: database " << printable_path(f.db) << " (read-only)\n" << gate_summary(r, spec);
  if (!f.junit.empty()) {
    std::map<std::string, std::string> properties = gate_properties(*db, options);
    properties["database"] = f.db;
    properties["tolerances"] = f.tolerances;
    properties["attnscope"] = collect_provenance(invoked_command()).value("commit", "unknown");
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    write_file_atomic(f.junit, to_junit_xml(r, properties, seconds));
    std::cout << "gate: JUnit XML in " << printable_path(f.junit) << "\n";
  }
  if (!r.ok()) throw CLI::RuntimeError(static_cast<int>(ExitCode::check_failed));
}

void run_merge_command(const MergeFlags& f) {
  check_output_path(f.out, OutputKind::file, f.shards, "merge output");
  std::vector<std::unique_ptr<ResultsDb>> shards;  // all opened (and checked) before the output is touched
  for (const std::string& path : f.shards) shards.push_back(std::make_unique<ResultsDb>(path, DbMode::read_only));
  // Shards of different specs (or builds) are refused before anything is written: each shard is
  // first merged into an in-memory scratch database, which runs every check merge_from runs.
  {
    ResultsDb scratch(":memory:", DbMode::read_write);
    if (std::filesystem::exists(f.out)) scratch.merge_from(ResultsDb(f.out, DbMode::read_only), f.allow_mixed_commits);
    for (const auto& shard : shards) scratch.merge_from(*shard, f.allow_mixed_commits);
  }
  ResultsDb out(f.out, DbMode::read_write);
  for (const auto& shard : shards)
    std::cout << printable_path(shard->path()) << ": " << out.merge_from(*shard, f.allow_mixed_commits) << " rows added\n";
}

}  // namespace

void add_sweep_commands(CLI::App& app) {
  // ---- sweep ----
  auto sf = std::make_shared<SweepFlags>();
  auto* sweep = app.add_subcommand("sweep", "Run (or resume) a sweep spec; one database row per point");
  sweep->add_option("spec", sf->spec_path, "Sweep file (TOML), e.g. experiments/sweeps/default.toml")->required();
  sweep->add_option("--db", sf->db_path, "Results database (created if missing; resumed if it holds this spec)")
      ->capture_default_str();
  sweep->add_option("--shard", sf->shard, "Run shard I of N as I/N (merge shards with `attnscope merge`)");
  sweep->add_option("--device", sf->device, "auto | gpu | cpu: which kernel list of the spec to use")
      ->check(CLI::IsMember({"auto", "gpu", "cpu"}));
  sweep->add_option("--truth-device", sf->truth_device, "auto | gpu | cpu: where the truth and the baseline run")
      ->check(CLI::IsMember({"auto", "gpu", "cpu"}))
      ->capture_default_str();
  sweep->add_flag("--fresh", sf->fresh, "Delete this sweep's rows in the database and start over");
  sweep->add_flag("--resume-stale", sf->resume_stale,
                  "Keep rows written by another spec or build of this sweep (recorded as stale in the database)");
  sweep->add_flag("--quiet", sf->quiet, "Only the summary line");
  sweep->add_option("--devices", sf->devices,
                    "GPU ordinals, e.g. 0,1: one worker process per GPU, shards merged into --db at the end");
  sweep->add_flag("--verbose", sf->verbose, "One line per point (instead of the progress line)");
  sweep->add_option("--progress-every", sf->progress_every,
                    "Seconds between progress lines when stdout is not a terminal (a terminal gets one live line)")
      ->check(CLI::Range(1.0, 86400.0))
      ->capture_default_str();
  sweep->callback([sf] { run_sweep_command(*sf); });

  // ---- report ----
  auto rf = std::make_shared<ReportFlags>();
  auto* report = app.add_subcommand("report", "Write the precision report (Markdown + HTML + plots) of a sweep");
  report->add_option("--db", rf->db, "Results database (opened read-only)")->required();
  report->add_option("--out", rf->out, "Output folder (report.md, report.html, plots/)")->capture_default_str();
  report->add_option("--sweep", rf->sweep, "Sweep name (needed when the database holds several)");
  report->callback([rf] { run_report_command(*rf); });

  // ---- gate ----
  auto gf = std::make_shared<GateFlags>();
  auto* gate = app.add_subcommand(
      "gate", "Check results against a tolerance file; exit 0 only when every point was checked and passed");
  gate->add_option("--db", gf->db, "Results database (opened read-only)")->required();
  gate->add_option("--tolerances", gf->tolerances, "Tolerance file (TOML)")->required();
  gate->add_option("--junit", gf->junit, "Write JUnit XML here (never onto an input)");
  gate->add_option("--sweep", gf->sweep, "Only this sweep (it must exist)");
  gate->add_option("--baseline", gf->baseline, "Baseline database for the ratchet (overrides the file's baseline_db)");
  gate->add_flag("--allow-unchecked", gf->allow_unchecked, "Points that no rule matches are reported, not failed");
  gate->callback([gf] { run_gate_command(*gf); });

  // ---- merge ----
  auto mf = std::make_shared<MergeFlags>();
  auto* merge = app.add_subcommand("merge", "Merge shard databases of one sweep (one spec) into one");
  merge->add_option("out", mf->out, "Merged database (created if missing; never one of the shards)")->required();
  merge->add_option("shards", mf->shards, "Shard databases (opened read-only)")->required();
  merge->add_flag("--allow-mixed-commits", mf->allow_mixed_commits,
                  "Merge shards of the same spec built from different commits (recorded)");
  merge->callback([mf] { run_merge_command(*mf); });
}

}  // namespace attn::cli
