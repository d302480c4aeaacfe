// incremental_vs_full_report.h: the report of the incremental-vs-full experiment
// (experiments/incremental_experiment.h): report.md (a one-paragraph answer, headline per path,
// prefill chunk, every decode step of the correct path, the mutants' diagnosed causes, the
// Shapley shares of the attributed steps, provenance), gnuplot plots of the per-step difference
// from the full kernel in ULPs and of the attribution (data and scripts kept), results.json.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "experiments/incremental_experiment.h"

namespace attn {

/// Writes <dir>/report.md, <dir>/results.json, <dir>/step_ulp_diff.{dat,gp,svg} and, when a step
/// was attributed, <dir>/step_attribution.{dat,gp,svg}; creates dir.
/// Returns the path of report.md. Throws attn::Error when a file cannot be written.
std::string write_incremental_report(const IncrementalResult& result, const nlohmann::json& provenance,
                                     const std::string& dir);

}  // namespace attn
