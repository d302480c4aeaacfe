// diagnosis.h: semantic diagnosis of an attention output, also for a black-box kernel whose
// q, k, v and o were dumped to a file (DESIGN.md, "Semantic diagnosis"). The output is compared
// with the exact attention (FP64) under the declared semantics and under a family of
// alternatives that differ in meaning — top-left vs bottom-right causal, no mask, padded keys
// leaking into the softmax (unmasked tile edges), interleaved GQA, a stale cache length (newest
// key dropped, or one extra zero key read), scale 1/D or 1 instead of 1/sqrt(D), and base-2
// LSEs merged with natural exp in a split-KV combine.
//
// Decision rule (errors in units of the rounding floor, "excess" = RMSE / RMSE of round_T(truth)):
//  * a correct FP16/BF16 kernel sits at excess ~1-4 (FA2 with its P cast; the naive same-
//    precision baseline reaches ~6); kExcessRounding = 16 leaves 4x headroom above that;
//  * each alternative is judged on the rows where its exact output and the declared one differ
//    by more than half an ULP (a bug in one tile edge or one cache slot touches few rows, and an
//    RMSE over all rows would dilute it); no such row: "indistinguishable on this input" (e.g.
//    S_q == S_k makes top-left == bottom-right), listed, never reported as found or ruled out;
//  * "semantic bug": on those rows the alternative matches within rounding (excess <=
//    kExcessRounding) and explains the output at least kExplainFactor = 4x better than the
//    declared semantics (a correct kernel cannot be explained better than by its own truth:
//    every output rounded to T has excess >= 1 against it);
//  * "unknown bug": the declared semantics miss (excess > kExcessRounding) and no alternative
//    matches; otherwise "no semantic bug".
//  Several alternatives can be the same function on an input (dropping the newest key at depth 1
//  equals a top-left mask): all matching ones are listed in `also_matching`.
// When no semantic alternative explains the output, the precision fingerprint
// (analysis/fingerprint.h) asks which intermediate's precision does: an "unknown bug" that a
// coarse intermediate explains becomes "no semantic bug" with the precision named.
// What it is not: rounding attribution (analysis/attribution.h).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "analysis/fingerprint.h"
#include "analysis/metrics.h"
#include "core/kernel.h"
#include "core/pipeline/semantics.h"

namespace attn {

inline constexpr double kExcessRounding = 16.0;
inline constexpr double kExplainFactor = 4.0;

struct SemanticCandidate {
  std::string name;       ///< "declared", "top-left causal", "unmasked tile edges (pad 64)", ...
  std::string category;   ///< "" for declared; masking | gqa | cache-length | scale | split-combine
  ErrorMetrics error;     ///< output vs this candidate's exact attention (sampled rows)
  double excess = 0;      ///< error.rmse / floor rmse of this candidate's truth
  bool indistinguishable = false;  ///< exact output within half an ULP of the declared one everywhere
  int64_t rows_differing = 0;      ///< sampled rows where this candidate and the declared differ
  double excess_on_rows = 0;       ///< excess of the output against this candidate, on those rows
  double declared_excess_on_rows = 0;  ///< ... and against the declared semantics, same rows
};

struct Diagnosis {
  std::string verdict;     ///< "no semantic bug" | "semantic bug" | "unknown bug"
  std::string category;    ///< of the bug (empty when none)
  std::string bug;         ///< name of the matching alternative
  std::vector<std::string> also_matching;  ///< "category: name" of every matching alternative
  SemanticCandidate declared;
  std::vector<SemanticCandidate> alternatives;  ///< sorted by excess, best first
  std::string where;       ///< rows / heads / key ranges where the declared semantics miss
  int64_t rows_checked = 0, rows_total = 0;
  /// The precision fingerprint, when it ran (no semantic bug found; FP16/BF16 inputs).
  std::optional<PrecisionFingerprint> precision;
};

struct DiagnosisOptions {
  int64_t max_rows_per_head = 256;  ///< rows sampled per (batch, head); all rows when fewer
  bool fingerprint = true;          ///< run the precision fingerprint when no semantic bug is found
  FingerprintOptions fingerprint_options;
};

/// The exact (FP64) attention of every row under `semantics` — the declared meaning of `problem`,
/// or one planted bug (pipeline::plant_bug) — computed through core/pipeline/'s stages in exact
/// arithmetic, optionally through a split-KV combine of `splits` runs of whole `split_tile`-key
/// tiles: what the diagnosis compares an output with. [B, S_q, H_q, D].
Tensor<double> exact_attention_under(const Problem& problem, const AttentionInputs& inputs,
                                     const pipeline::Semantics& semantics, int splits = 1, int64_t split_tile = 64);

/// Diagnoses `output` ([B, S_q, H_q, D], values in `out_dtype`) produced for `problem` (the
/// declared semantics) on `inputs`. Throws ProblemError/NonFiniteError for invalid input.
Diagnosis diagnose(const Problem& problem, const AttentionInputs& inputs, const Tensor<double>& output,
                   DType out_dtype, const DiagnosisOptions& options = {});

}  // namespace attn
