// fingerprint.h: black-box precision attribution (issue #16, DESIGN.md "Precision fingerprint").
// For an output with no semantic bug, every hypothesis of analysis/precision_hypotheses.h is run
// on the same inputs (sampled rows, shared scores and truth) and scored against the observed
// output with statistics that do not need the kernel's summation order:
//  * correlation: Pearson correlation, element by element, of the observed error O - truth with
//    the hypothesis' error H - truth (a hypothesis that replays the kernel's roundings: ~1);
//  * rmse ratio: RMSE(O - truth) / RMSE(H - truth) (the right magnitude: ~1);
//  * row profile: Pearson correlation over rows of the per-row RMSEs (the same rows hurt: ~1);
//  * mismatch: RMSE(O - H) in units of the rounding floor (diagnostic).
// The fit combines them (see fingerprint.cpp, "The fit"); the best fit is the verdict, runners-up
// follow, and hypotheses whose outputs the input cannot separate from the best are tied. Ties
// between hypotheses of different precision signatures go to the difference test: on the
// elements where their outputs differ, the observed output must sit decisively on one side (a
// sign test); the loser is separated. What stays tied is listed as indistinguishable. A healthy
// kernel (FA2-style or upcast numerics, or anything as fine) is never named a precision defect:
// a defect is named only when it fits clearly better than every healthy hypothesis, or has beaten
// every tied healthy one in the difference test.
// What it is not: semantic diagnosis (analysis/diagnosis.h runs first and calls this), nor a
// white-box attribution (analysis/attribution.h).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "analysis/precision_hypotheses.h"
#include "core/kernel.h"

namespace attn {

/// How well one hypothesis explains the observed output.
struct HypothesisFit {
  std::string name, label, numerics;  ///< numerics: PrecisionHypothesis::describe()
  std::string signature;              ///< PrecisionHypothesis::precision_signature()
  bool healthy = false;
  double excess = 0;               ///< the hypothesis' RMSE vs truth / rounding floor RMSE
  double correlation = 0;          ///< Pearson(O - truth, H - truth), element by element
  double rmse_ratio = 0;           ///< RMSE(O - truth) / RMSE(H - truth)
  double profile_correlation = 0;  ///< Pearson over rows of per-row RMSE(O - truth), RMSE(H - truth)
  double mismatch = 0;             ///< RMSE(O - H) / rounding floor RMSE
  double fit = 0;                  ///< combined, in [0, 1]; 1 = explains the output completely
};

enum class FingerprintOutcome {
  healthy,      ///< the best fit is healthy numerics (FA2-style, upcast, ...)
  precision,    ///< a coarser intermediate explains the error clearly better than healthy numerics
  unexplained,  ///< no hypothesis fits
};
const char* fingerprint_outcome_name(FingerprintOutcome o);

struct PrecisionFingerprint {
  FingerprintOutcome outcome = FingerprintOutcome::unexplained;
  /// The verdict after "no semantic bug — ": "precision: P cast to e4m3 before PV (excess 894;
  /// this hypothesis: 880, correlation 0.98; next: P cast to e5m2, 0.61)",
  /// "precision consistent with FA2-style numerics (P fp16, FP32 accumulators)", or
  /// "precision: no candidate numerics explains the error (...)".
  std::string summary;
  std::string label;                 ///< best fit's short label ("P e4m3", "FA2-style", "unexplained")
  /// The named hypothesis as fitted (its KV tile width found); meaningless when unexplained.
  PrecisionHypothesis named_hypothesis;
  double observed_excess = 0;        ///< RMSE(O - truth) / floor RMSE on the sampled rows
  std::vector<HypothesisFit> fits;   ///< every hypothesis, best first
  /// Hypotheses that cannot be told apart from the named one on this input: the best fit and
  /// those whose outputs differ from the best's by no more than the observed output does (or
  /// that fit as well), less the one named.
  std::vector<std::string> indistinguishable;
  /// Tied hypotheses the difference test separated: "alpha fp16 over FA2-style: closer in 57 of
  /// the 61 elements where they differ, farther in 2".
  std::vector<std::string> separations;
  std::string confidence;            ///< "high" | "low: ..." (why)
  int64_t rows_sampled = 0, rows_total = 0;
  double seconds = 0;                ///< wall time of the fingerprint
};

struct FingerprintOptions {
  /// Query rows sampled per (batch, head); fewer when the scores would exceed 2^23 doubles.
  int64_t max_rows_per_head = 64;
  int threads = 0;                 ///< 0: hardware concurrency
};

/// Fingerprints `output` ([B, S_q, H_q, D], values in out_dtype) of `problem` on `inputs`
/// (FP16/BF16). Throws ProblemError for another dtype or mismatched shapes.
PrecisionFingerprint fingerprint_precision(const Problem& problem, const AttentionInputs& inputs,
                                           const Tensor<double>& output, DType out_dtype,
                                           const FingerprintOptions& options = {});

/// JSON of a fingerprint: outcome, summary, label, observed excess, confidence, indistinguishable,
/// rows, seconds, and (every_hypothesis) each hypothesis' scores ("hypotheses"), else the best's.
nlohmann::json fingerprint_json(const PrecisionFingerprint& fp, bool every_hypothesis);

/// Whether a sweep fingerprints this kernel's outputs (the "numerics" column): kernels attnscope
/// has no source for (families "external" and "peer"); the fingerprint costs ~1 s per point.
bool wants_numerics_column(const KernelInfo& info);

/// The sweep's "numerics" entry for one output: fingerprint_json without the per-hypothesis table,
/// or {"label": "n/a", "why": ...} when the fingerprint cannot run (dtype, non-finite output).
nlohmann::json numerics_column(const Problem& problem, const AttentionInputs& inputs, const AttentionOutputs& out);

}  // namespace attn
