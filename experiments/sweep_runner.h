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

struct SweepOptions {
  int shard_index = 0;  ///< this process runs points with index % shard_count == shard_index
  int shard_count = 1;
  bool use_gpu = false;
  ReferenceDevice reference_device = ReferenceDevice::automatic;  ///< where the truth and the baseline run
  nlohmann::json provenance;  ///< stored in every row (commit, host, GPU, time, command)
  /// Optional attribution of one point (e.g. Shapley over the emulator's stages); null = none.
  std::function<nlohmann::json(const Kernel&, const Problem&, const AttentionInputs&, const Truth&)> attribute;
  std::function<void(const std::string&)> log;  ///< progress lines; may be empty
};

struct SweepSummary {
  int points = 0;          ///< points in this shard
  int already_done = 0;    ///< skipped because the database has them (resume)
  int ok = 0, invalid = 0, errors = 0;
};

/// JSON of error metrics (max_abs, rmse, ULP max / p99 / histogram, NaN / Inf counts).
nlohmann::json metrics_json(const ErrorMetrics& metrics);

SweepSummary run_sweep(const SweepSpec& spec, const Registry& registry, ResultsDb& db, const SweepOptions& options);

/// The metrics row of one kernel output against truth (kernel, floor, baseline, excess, FA rule).
nlohmann::json evaluate_output(const Problem& problem, const AttentionOutputs& out, const Truth& truth,
                               const AttentionOutputs* baseline);

}  // namespace attn
