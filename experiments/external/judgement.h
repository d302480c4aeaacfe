// judgement.h: judging an output that came from outside (a worker's o.npy, a file given to
// `attnscope check`, an array given to the Python package) exactly like an internal kernel's:
// the metrics against the truth (max_abs, RMSE, ULPs, the rounding floor, excess), the
// FlashAttention rule against the same-precision naive baseline, and the semantic diagnosis —
// plus the one thing only outside outputs get wrong: the layout. One verdict, one pass/fail.
//
// Pass = the FlashAttention rule holds, the output is finite, and the diagnosis finds no semantic
// bug. When the declared layout misses but the output fits the other layout ([B, S, H, D] vs
// [B, H, S, D]), the verdict says so.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "analysis/diagnosis.h"
#include "core/io_safetensors.h"
#include "core/kernel.h"
#include "core/layout.h"
#include "references/truth.h"

namespace attn {

/// The CLI's verdict line: "no semantic bug", "semantic bug — masking: top-left causal ...",
/// "unknown bug" (`attnscope diagnose` adds the precision fingerprint's summary after it).
std::string verdict_line(const Diagnosis& d);
/// The diagnosis as JSON: verdict, category, bug, also_matching, declared, alternatives, where,
/// rows_checked, rows_total, precision (the fingerprint with its best hypothesis, or null) (the
/// schema of `attnscope diagnose --json`, which lists every hypothesis).
nlohmann::json diagnosis_json(const Diagnosis& d);
nlohmann::json candidate_json(const SemanticCandidate& c);

/// The dtype an output is judged in: its stored dtype, except that FP32/FP64 storage holding only
/// values representable in the problem's dtype counts as the problem's dtype. Throws for integers.
DType output_dtype_of(StoredType stored, const Tensor<double>& values, DType problem_dtype);
/// Throws attn::Error counting the NaN and Inf values and naming the first one's [b, s, h, d].
void require_finite_output(const Tensor<double>& o_bshd);

struct Judgement {
  nlohmann::json metrics;     ///< experiments/sweep_runner.h evaluate_output (kernel, floor, excess, FA rule)
  Diagnosis diagnosis;
  std::string verdict;        ///< verdict_line, or the layout verdict
  std::optional<TensorLayout> fits_layout;  ///< set when the output fits the other layout instead
  bool passed = false;
  std::vector<std::string> failures;  ///< why it failed (FA rule, non-finite, diagnosis, layout)
  nlohmann::json to_json() const;
};

/// Judges `o_bshd` (values in `out_dtype`) for `problem` on `inputs` (both [B, S, H, D]) against
/// `truth`. `baseline` may be null (no FA rule; then the verdict rests on the diagnosis alone).
Judgement judge_output(const Problem& problem, const AttentionInputs& inputs, const Tensor<double>& o_bshd,
                       DType out_dtype, const Truth& truth, const AttentionOutputs* baseline,
                       const DiagnosisOptions& options = {});
/// When `judgement` failed and `other` (the diagnosis of the same data read in the other layout)
/// finds no semantic bug, the verdict becomes the layout one ("misses as bshd but fits as bhsd").
void note_layout_fit(Judgement& judgement, TensorLayout declared, const Diagnosis& other);

/// What a user declares about tensors handed over from outside; the sizes come from the shapes.
struct DeclaredSemantics {
  Mask mask{};
  GqaMapping gqa = GqaMapping::contiguous;
  std::optional<double> scale;        ///< default 1/sqrt(D)
  std::vector<int64_t> seq_lens;      ///< valid keys per batch entry (empty: all)
  DType dtype = DType::fp16;          ///< of q, k, v
  TensorLayout layout = TensorLayout::bshd;
  bool allow_masked_rows = true;      ///< rows that see no key are legal (output 0)
};

/// The problem q, k, v (stored in `declared.layout`) describe; throws ProblemError naming the
/// tensor whose shape does not fit (k vs v, batch, head_dim, H_q vs H_kv).
Problem problem_from_tensors(const Tensor<double>& q, const Tensor<double>& k, const Tensor<double>& v,
                             const DeclaredSemantics& declared);
/// q, k, v stored in `layout` as [B, S, H, D] inputs.
AttentionInputs inputs_from_layout(const Tensor<double>& q, const Tensor<double>& k, const Tensor<double>& v,
                                   TensorLayout layout);

/// Semantic diagnosis of q, k, v, o all stored in `declared.layout` (`attnscope diagnose FILE`,
/// attnscope.diagnose). When the declared layout gives an invalid problem or a bug, and the other
/// layout gives no bug, `fits_layout` says so and `verdict` names it.
struct TensorDiagnosis {
  Problem problem;
  Diagnosis diagnosis;
  std::string verdict;
  std::optional<TensorLayout> fits_layout;
};
TensorDiagnosis diagnose_tensors(const Tensor<double>& q, const Tensor<double>& k, const Tensor<double>& v,
                                 const Tensor<double>& o, const DeclaredSemantics& declared, DType out_dtype,
                                 const DiagnosisOptions& options = {});

/// The full judgement of q, k, v, o all stored in `declared.layout` (attnscope.check): truth,
/// metrics, FA rule against the naive baseline, diagnosis, layout check.
Judgement judge_tensors(const Tensor<double>& q, const Tensor<double>& k, const Tensor<double>& v,
                        const Tensor<double>& o, const DeclaredSemantics& declared, DType out_dtype,
                        const DiagnosisOptions& options = {});

/// The same-precision naive baseline of the FlashAttention rule for `problem`
/// (references/reference_device.h same_precision_baseline: the GPU when present, else every CPU
/// core), or null when there is none for its dtype (fp64).
std::unique_ptr<AttentionOutputs> naive_baseline_output(const Problem& problem, const AttentionInputs& inputs);

}  // namespace attn
