// sweep_runner.h: runs the points of a sweep and writes one results row per point. Inputs and
// truth are computed once per (problem, distribution, seed) and shared by every kernel of that
// point, so adding kernels to a sweep costs only their own runs. A point a kernel cannot run is
// stored as INVALID with the reason; a point that throws is stored as ERROR with the message —
// neither stops the sweep, and neither is ever counted as a pass.
#pragma once

#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "analysis/metrics.h"
#include "core/registry.h"
#include "experiments/results_db.h"
#include "experiments/sweep_spec.h"
#include "references/reference_device.h"
#include "references/truth.h"

namespace attn {

/// What a sweep does when the database already holds rows of a sweep with the same name.
enum class ResumePolicy {
  same_spec,     ///< resume only when the recorded spec hash and build commit match; refuse otherwise
  fresh,         ///< delete that sweep's rows and record, start over (`--fresh`)
  resume_stale,  ///< keep rows of another spec or build, explicitly (`--resume-stale`); recorded
};

struct SweepProgress;

struct SweepOptions {
  /// This process runs the points of every shard_count-th data group (the points that share inputs
  /// and truth), starting at group shard_index: shards never compute the same truth twice.
  int shard_index = 0;
  int shard_count = 1;
  bool use_gpu = false;
  ReferenceDevice reference_device = ReferenceDevice::automatic;  ///< where the truth and the baseline run
  nlohmann::json provenance;  ///< stored in every row (commit, host, GPU, time, command)
  /// Optional attribution of one point (e.g. Shapley over the emulator's stages); null = none.
  std::function<nlohmann::json(const Kernel&, const Problem&, const AttentionInputs&, const Truth&)> attribute;
  std::function<void(const std::string&)> log;  ///< one line per point (--verbose); may be empty
  std::function<void(const SweepProgress&)> progress;  ///< after each point; may be empty
  std::function<void(const std::string&)> truth_progress;  ///< long truths' own progress (else `log`)
  ResumePolicy resume = ResumePolicy::same_spec;
  std::string build_commit;   ///< recorded with the spec hash; another commit makes old rows stale
};

/// Where the time of a sweep went (seconds, summed over the points this run computed).
struct SweepTimes {
  double truth = 0;        ///< inputs, certified truth and the same-precision baseline (shared per data point)
  double kernel = 0;       ///< the kernels' own runs
  double metrics = 0;      ///< metrics against the truth, diagnosis
  double attribution = 0;  ///< Shapley attribution
  double database = 0;     ///< writing the rows
  double wall = 0;         ///< the whole run_sweep call
};

struct SweepSummary {
  std::string spec_hash;   ///< hash of the expanded spec (recorded in the database)
  int points = 0;          ///< points of this spec in this shard
  int already_done = 0;    ///< skipped because the database has them (resume)
  int ok = 0, invalid = 0, errors = 0;
  SweepTimes times;
};

/// The state of a running sweep after each point (SweepOptions::progress).
struct SweepProgress {
  std::string sweep;
  int done = 0;            ///< points computed by this run so far
  int to_run = 0;          ///< points this run computes (the shard's, less those already in the database)
  int ok = 0, invalid = 0, errors = 0;
  double elapsed = 0;      ///< seconds since the first point started
  std::string last_key;    ///< the point just written
  std::string last_status;
};

/// "sweep 'default': 412/968 (42.6%), 31.2 points/min, ETA 17m40s; 410 ok, 2 invalid, 0 errors".
std::string progress_line(const SweepProgress& progress);
/// "968 points in 20m05s: 48.2 points/min; time: truth 31%, kernel 22%, metrics 9%, attribution 36%, database 2%".
std::string throughput_line(const SweepSummary& summary);

/// JSON of error metrics (max_abs, rmse, ULP max / p99 / histogram, NaN / Inf counts).
nlohmann::json metrics_json(const ErrorMetrics& metrics);

/// Throws EnvironmentError naming the largest point and the number when a point of the spec needs
/// more memory than the limit (core/memory_budget.h); run_sweep calls it before the first row.
void require_sweep_memory(const SweepSpec& spec, const std::vector<SweepPoint>& points);

/// The kernels a sweep runs: `base` plus the spec's [[external]] kernels (each worker starts at its
/// first point and stops when the registry is destroyed; experiments/external/external_kernel.h).
Registry sweep_registry(const SweepSpec& spec, const Registry& base);

/// Runs the shard's points not yet in `db`. Before the first row: refuses (attn::Error) a database
/// whose record of this sweep has another spec hash or build commit (see ResumePolicy), and
/// (EnvironmentError) a spec with a point that needs more memory than the limit (memory_budget.h).
SweepSummary run_sweep(const SweepSpec& spec, const Registry& registry, ResultsDb& db, const SweepOptions& options);

/// The metrics row of one kernel output against truth (kernel, floor, baseline, excess, FA rule).
nlohmann::json evaluate_output(const Problem& problem, const AttentionOutputs& out, const Truth& truth,
                               const AttentionOutputs* baseline);

}  // namespace attn
