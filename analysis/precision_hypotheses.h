// precision_hypotheses.h: the named family of black-box precision hypotheses (issue #16). Each
// hypothesis is a complete attention pipeline whose intermediates are rounded to chosen formats:
// scores (QK^T) in {fp32, bf16, fp16}; exp as exp / exp2 / the ex2.approx model; the rescale
// factor in {fp32, fp16}; P cast to {fp32, bf16, fp16, e5m2, e4m3} before the PV product; the
// running PV accumulator across key blocks in {fp32, bf16, fp16} (block size a parameter); the
// output rounded to the output dtype. Two softmax forms: online (FlashAttention: running max per
// KV block, unnormalized P, O / l at the end) and two-pass (softmax normalized first, then P V:
// PyTorch's math backend and unfused kernels). "FA2-style" (online, P in the input dtype, FP32
// accumulators) and "upcast" (two-pass, FP32 everywhere: PyTorch's math backend since 2.5) are
// members; the others change one intermediate at a time.
//
// The evaluator runs hypotheses on chosen query rows and shares what they have in common: the
// exact scores (double dot products) and the truth. run_hypothesis runs one as a whole kernel,
// optionally with the tensor-core model for both products (the planted kernels of the grid test:
// a different summation than the evaluator's, as a real kernel's would be).
// What it is not: the scoring against an observed output (analysis/fingerprint.h), nor a model of
// a particular GPU kernel (analysis/emulator.h is that).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/float_format.h"
#include "core/kernel.h"
#include "core/kernel_config.h"

namespace attn {

enum class SoftmaxForm : uint8_t {
  online,    ///< FlashAttention: running max per KV block, unnormalized P, final O / l
  two_pass,  ///< max, exp, sum, P = p / l, then O = P V (PyTorch math backend, unfused kernels)
};

/// Where the softmax scale enters.
enum class ScaleFold : uint8_t {
  scores,          ///< S = q.k in FP32, scaled inside the exponent (FA2, fused kernels)
  q_input_dtype,   ///< q' = round_T(q * scale) before the product (FlashAttention's attention_ref)
  qk_sqrt_input_dtype,  ///< q and k each times sqrt(scale), rounded to T (PyTorch's math backend < 2.5)
};

enum class ExpFlavour : uint8_t {
  exp,         ///< natural exp of the scaled score, FP32: expf(s * scale - m)
  exp2,        ///< exp2 of fma(s, scale*log2e, -m), correctly rounded to FP32
  ex2_approx,  ///< the same through the ex2.approx.ftz model (FP32 subnormal results flushed)
};
const char* exp_flavour_name(ExpFlavour e);

struct PrecisionHypothesis {
  std::string name;   ///< the verdict's words: "P cast to e4m3 before PV"
  std::string label;  ///< short, for a sweep column: "P e4m3"
  SoftmaxForm form = SoftmaxForm::online;
  ScaleFold scale_fold = ScaleFold::scores;
  const FloatFormat* scores = &kFp32;       ///< QK^T rounded to this before the softmax
  ExpFlavour exp = ExpFlavour::ex2_approx;
  const FloatFormat* rescale = &kFp32;      ///< the rescale factor alpha = exp(m_old - m_new)
  const FloatFormat* p = &kFp16;            ///< P cast to this for the PV product (RNE; satfinite for 8-bit formats)
  const FloatFormat* accumulator = &kFp32;  ///< the running O across key blocks
  int block_n = 64;                         ///< keys per softmax tile (online form)
  int accumulate_keys = 64;                 ///< keys per FP32 partial PV added into the accumulator
  // Structure of the online form (the probe's candidates vary these; the family keeps FA2's).
  KvBlockOrder order = KvBlockOrder::forward;  ///< forward | reverse (random is not modelled)
  int num_splits = 1;                          ///< split-KV runs of ceil(tiles / num_splits) tiles
  float rescale_threshold_log2 = 0;            ///< > 0: lazy rescale (FA3-style), log2 units
  /// A planted numeric bug of core/kernel_config.h acting in the pipeline: p_cast_before_final_max,
  /// rescale_in_fp16, base2_lse_natural_combine (others are semantic and not modelled here).
  Mutant numeric_bug = Mutant::none;
  /// No intermediate rounded more coarsely than FA2-style numerics do for this input dtype (P
  /// in the input dtype or finer, FP32 scores, rescale factor and accumulators): not a defect.
  bool healthy = false;
  /// Every knob: "online n64, S fp32, ex2.approx, alpha fp32, P e4m3, acc fp32/64".
  std::string describe() const;
  /// The precision signature: the formats the intermediates are rounded to and nothing else —
  /// q (and k) with the scale folded in, the scores, P, the running PV accumulator (with its
  /// block of keys when it is coarser than FP32: a 16-bit accumulator rounded every 16, 64 or 128
  /// keys is a different precision), the rescale factor when coarser than FP32 (an FP16 alpha or
  /// the rescale_in_fp16 mutant). Not in it: the exp flavour, online vs two-pass (a two-pass
  /// softmax has no rescale factor: FP32 level), the KV tile width where it is not the
  /// accumulation block, order, splits, the other planted bugs. The output format is the dump's,
  /// common to every hypothesis. Example: "S fp32, P e4m3, acc fp32".
  std::string precision_signature() const;
};

/// The family for inputs in `dtype` (FP16 or BF16; throws ProblemError otherwise): FA2-style and
/// upcast first, then their FP32-level variants, then one coarser intermediate at a time.
std::vector<PrecisionHypothesis> precision_hypotheses(DType dtype);
/// The family member called `name` (or `label`); throws ProblemError listing the names.
PrecisionHypothesis find_precision_hypothesis(DType dtype, const std::string& name);

/// One query row (batch b, query head h, row i) of a problem.
struct QueryRow {
  int64_t batch = 0, head = 0, row = 0;
};

/// Rows sampled per (batch, head): all rows when seqlen_q <= max_rows, else max_rows rows evenly
/// spaced with the first and the last included.
std::vector<QueryRow> sample_query_rows(const Problem& problem, int64_t max_rows_per_head);

/// Runs hypotheses on `rows`, sharing the exact scores and the truth between them.
class HypothesisEvaluator {
 public:
  /// Validates the problem and inputs (FP16/BF16 only); out_dtype is what outputs round to.
  HypothesisEvaluator(const Problem& problem, const AttentionInputs& inputs, std::vector<QueryRow> rows,
                      DType out_dtype, int threads = 0);
  const std::vector<QueryRow>& rows() const { return rows_; }
  int64_t head_dim() const { return head_dim_; }
  /// The exact attention of the rows (double, FP64 two-pass): (rows, D).
  const Tensor<double>& truth() const { return truth_; }
  /// The hypothesis' output on the rows, rounded to out_dtype: (rows, D).
  Tensor<double> run(const PrecisionHypothesis& hypothesis) const;

 private:
  struct RowData {
    int64_t kv_head = 0, batch = 0, key_count = 0;
    std::vector<int> keys;       ///< visible keys, ascending
    std::vector<double> scores;  ///< exact q.k of those keys (unscaled)
  };
  /// Exact dot products of row r's keys with the operands of `fold` (q'.k or q'.k').
  std::vector<double> folded_scores(ScaleFold fold, int64_t r) const;
  const AttentionInputs* inputs_ = nullptr;
  std::vector<QueryRow> rows_;
  std::vector<RowData> data_;
  Tensor<double> truth_;
  Tensor<double> folded_keys_;  ///< K times sqrt(scale) in the input dtype (PyTorch math < 2.5), made once
  int64_t head_dim_ = 0;
  double scale_ = 1;
  DType in_dtype_ = DType::fp16, out_dtype_ = DType::fp16;
  int threads_ = 0;
};

/// The hypothesis run as a whole kernel: [B, S_q, H_q, D] in `out_dtype`, every row, or only
/// `only_rows` (the others stay 0: rows are independent, so a caller that reads only those rows,
/// as the fingerprint does, sees what the whole kernel would give). tensor_core_products: QK^T
/// and PV through the H100 tensor-core model (16-element groups, truncating alignment) instead
/// of double dot products.
Tensor<double> run_hypothesis(const Problem& problem, const AttentionInputs& inputs,
                              const PrecisionHypothesis& hypothesis, DType out_dtype, bool tensor_core_products,
                              int threads = 0, const std::vector<QueryRow>* only_rows = nullptr);

}  // namespace attn
