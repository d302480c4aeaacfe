// incremental_experiment.h: the incremental-vs-full experiment. One input of S = P + N tokens
// (causal): the full-sequence kernel attends all S rows at once; the incremental path prefills P
// tokens (a prefill kernel on the first P rows) and then decodes the N others through a decode
// kernel, one token per step (or `decode_chunk` tokens per step: S_q = n against P + t*n + n
// keys, bottom-right: the rows' own positions). Each step's rows are compared with the full
// kernel's same rows (elements that differ, the difference in ULPs of the dtype: at each element
// and at the row's scale, max |O| of the row), both with the truth (MPFI-certified FP64) and with
// the naive same-precision baseline (FlashAttention rule), diagnosed (analysis/diagnosis.h: which
// meaning explains the output) and, on the selected steps, when the decode kernel has an emulator
// model, attributed (Shapley over the 7 stages; the semantic share is v(every stage exact)).
// The FP64 references are compared too: the incremental reference stepping token by token
// against the full-sequence reference, which must agree bit for bit.
// Classification of a step: "bit-identical" (no element differs from the full kernel),
// "rounding" (differs, within the FlashAttention rule, no semantic bug diagnosed), "semantic"
// (a diagnosed bug, or the rule fails). Mutant decode kernels run through the same steps.
// Not the report (reports/incremental_vs_full_report.h) nor the command line
// (cli/incremental_command.cpp); the default kernels per device are chosen here
// (choose_incremental_kernels) so that the command and the tests agree.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/metrics.h"
#include "core/generators.h"
#include "core/problem.h"

namespace attn {

struct IncrementalSpec {
  int64_t batch = 1, heads_q = 8, heads_kv = 2, head_dim = 64;
  DType dtype = DType::fp16;
  int64_t prefill_tokens = 256;  ///< P >= 1
  int64_t decode_steps = 32;     ///< N >= 1
  InputSpec inputs;
  std::string full_kernel, prefill_kernel, decode_kernel;  ///< registry names
  std::vector<std::string> mutant_kernels;  ///< decode kernels with planted bugs, same steps
  int64_t decode_chunk = 1;  ///< new tokens per decode step (>= 1); the last step may take fewer
  /// Decode steps attributed (when the decode kernel is modelled): comma-separated step indices
  /// and/or first, middle, last; "all" or "none". Attribution costs 2^7 emulator runs per step.
  std::string attribute_steps = "first,middle,last";
  std::vector<std::string> notes;  ///< how the kernels were chosen (fallbacks, skipped mutants)
};

/// One step of one path: the prefill chunk (step -1, rows 0..P-1) or decode step t (rows
/// P + t*chunk .. P + t*chunk + rows - 1).
struct StepComparison {
  int64_t step = 0;
  int64_t first_row = 0, rows = 0;  ///< rows of the full sequence this step computes
  int64_t keys = 0;               ///< keys the step's last row attends to
  int64_t elements = 0, differing = 0;  ///< vs the full-sequence kernel's same rows
  double max_abs_diff = 0;
  double max_ulp_diff = 0;      ///< in ULPs of the dtype at the full kernel's element
  double max_row_ulp_diff = 0;  ///< in ULPs of the row's scale (max |O| over its D elements)
  ErrorMetrics incremental, full;  ///< each vs the truth
  double incremental_excess = 0, full_excess = 0;  ///< RMSE / rounding-floor RMSE
  double fa_ratio = 0;  ///< fa_rule(incremental, baseline).ratio: incremental max_abs / bound, the rule holds at <= 1
  std::string verdict, cause;     ///< diagnosis of the incremental output ("category: bug")
  std::vector<std::string> also_matching;  ///< every meaning equally consistent ("category: bug")
  std::string classification;     ///< bit-identical | rounding | semantic
  nlohmann::json attribution;     ///< analysis/attribution.h attribution_to_json, or null
  /// "attributed" | "not modelled" (no emulator model of the kernel) | "not selected"
  /// (--attribute-steps) | "emulator cannot run: <reason>"
  std::string attribution_status;
};

struct PathResult {
  std::string decode_kernel, planted_bug;  ///< planted_bug empty for a correct kernel
  StepComparison prefill;
  std::vector<StepComparison> steps;
  int64_t bit_identical = 0, rounding = 0, semantic = 0;  ///< over the decode steps
  double max_ulp_diff = 0, max_row_ulp_diff = 0, max_abs_diff = 0, worst_fa_ratio = 0;
  std::vector<std::string> causes;  ///< distinct diagnosed causes over the steps
  bool modelled = false;            ///< the decode kernel has an emulator model (attribution)
  /// Attributed steps, and those whose dominant share is "semantic" (v(every stage exact)): the
  /// white-box view, which sees a bug also where it hides below the black-box rounding tests.
  int64_t attributed = 0, semantic_dominant = 0;
};

struct IncrementalResult {
  IncrementalSpec spec;
  bool references_bit_identical = false;  ///< FP64 incremental vs full-sequence reference
  double references_max_diff = 0;
  std::string truth_method;
  double truth_fp64_gap_ulps = 0;
  std::vector<PathResult> paths;  ///< [0]: the correct decode kernel; then the mutants
  double seconds = 0;
};

/// Default kernels by device, as `attnscope incremental` uses them, selected from the registry by
/// their typed metadata (KernelQuery), never by name. CPU: the default FA2 emulator
/// (`emu.<dt>.dany.m64n64`) for the full sequence and the prefill, its 4-way split-KV
/// configuration for the decode steps (flash-decoding's structure, and what the base-2 LSE
/// combine mutant needs), the four emulator cache mutants. GPU: the default `fa2` variant of the
/// dtype and head dim, the default `chunked` one (the full kernel when none is registered), the
/// default `decode` one, the GPU decode variants planting the four cache mutants (compiled for
/// D = 128 only). Every fallback and skip is a note.
void choose_incremental_kernels(IncrementalSpec& spec, bool gpu, bool mutants);

/// Runs the experiment. Throws ProblemError naming the problem: P, N or the chunk < 1, a bad
/// --attribute-steps, an unknown kernel (listing the registered names of the same family), a
/// kernel that cannot run a step's problem (with its reason). `progress` (may be empty) receives
/// one line per path.
IncrementalResult run_incremental_experiment(const IncrementalSpec& spec,
                                             const std::function<void(const std::string&)>& progress = {});

nlohmann::json to_json(const IncrementalResult& result);

}  // namespace attn
