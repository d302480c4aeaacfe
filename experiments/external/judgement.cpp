#include "experiments/external/judgement.h"

#include <cmath>

#include "core/errors.h"
#include "experiments/sweep_runner.h"
#include "references/reference_device.h"

namespace attn {

std::string verdict_line(const Diagnosis& d) {
  return d.category.empty() ? d.verdict : d.verdict + " — " + d.category + ": " + d.bug;
}

nlohmann::json candidate_json(const SemanticCandidate& c) {
  return {{"name", c.name}, {"category", c.category}, {"excess", c.excess}, {"ulp_max", c.error.ulp_max},
          {"max_abs", c.error.max_abs}, {"indistinguishable", c.indistinguishable},
          {"rows_differing", c.rows_differing}, {"excess_on_rows", c.excess_on_rows},
          {"declared_excess_on_rows", c.declared_excess_on_rows}};
}

nlohmann::json diagnosis_json(const Diagnosis& d) {
  nlohmann::json alternatives = nlohmann::json::array();
  for (const SemanticCandidate& a : d.alternatives) alternatives.push_back(candidate_json(a));
  return {{"verdict", d.verdict},         {"category", d.category},       {"bug", d.bug},
          {"also_matching", d.also_matching}, {"declared", candidate_json(d.declared)},
          {"alternatives", alternatives}, {"where", d.where},             {"rows_checked", d.rows_checked},
          {"rows_total", d.rows_total},
          {"precision", d.precision ? fingerprint_json(*d.precision, false) : nlohmann::json()}};
}

DType output_dtype_of(StoredType stored, const Tensor<double>& values, DType problem_dtype) {
  if (stored == StoredType::i32 || stored == StoredType::i64)
    throw Error(std::string("an output of integer type ") + stored_type_name(stored) + " is not an attention output");
  const DType dtype = stored_float_dtype(stored);
  if (dtype != DType::fp32 && dtype != DType::fp64) return dtype;
  // Widened storage of a narrower output: judged in the narrowest of (problem dtype, fp32) that
  // holds every value exactly.
  auto holds_all = [&](DType d) {
    for (double x : values.storage())
      if (std::isfinite(x) && round_to(d, x) != x) return false;
    return true;
  };
  if (holds_all(problem_dtype)) return problem_dtype;
  if (dtype == DType::fp64 && holds_all(DType::fp32)) return DType::fp32;
  return dtype;
}

void require_finite_output(const Tensor<double>& o) {
  int64_t nan = 0, inf = 0, first = -1;
  for (int64_t i = 0; i < o.numel(); ++i) {
    const double x = o.flat(i);
    if (std::isnan(x)) ++nan;
    else if (std::isinf(x)) ++inf;
    else continue;
    if (first < 0) first = i;
  }
  if (first < 0) return;
  std::string at;
  if (o.rank() == 4) {
    int64_t rest = first;
    std::vector<int64_t> index(4);
    for (int d = 3; d >= 0; --d) {
      index[static_cast<size_t>(d)] = rest % o.dim(d);
      rest /= o.dim(d);
    }
    at = " (first at [b, s, h, d] = " + shape_string(index) + ")";
  }
  throw Error("the output has " + std::to_string(nan) + " NaN and " + std::to_string(inf) + " Inf values" + at);
}

namespace {

std::string layout_verdict(TensorLayout declared) {
  const std::string other = layout_name(other_layout(declared));
  return "layout: the output misses as " + layout_name(declared) + " but fits as " + other + " (pass --layout " +
         other + ", layout=\"" + other + "\" in Python)";
}

}  // namespace

nlohmann::json Judgement::to_json() const {
  nlohmann::json j{{"metrics", metrics},   {"diagnosis", diagnosis_json(diagnosis)}, {"verdict", verdict},
                   {"pass", passed},       {"failures", failures}};
  j["fits_layout"] = fits_layout ? nlohmann::json(layout_name(*fits_layout)) : nlohmann::json(nullptr);
  return j;
}

Judgement judge_output(const Problem& problem, const AttentionInputs& inputs, const Tensor<double>& o_bshd,
                       DType out_dtype, const Truth& truth, const AttentionOutputs* baseline,
                       const DiagnosisOptions& options) {
  Judgement j;
  AttentionOutputs out;
  out.o = o_bshd;
  out.out_dtype = out_dtype;
  j.metrics = evaluate_output(problem, out, truth, baseline);
  j.diagnosis = diagnose(problem, inputs, o_bshd, out_dtype, options);
  j.verdict = verdict_line(j.diagnosis);
  const auto& kernel = j.metrics["kernel"];
  if (kernel["nan_count"].get<int64_t>() || kernel["inf_count"].get<int64_t>())
    j.failures.push_back("non-finite output (" + kernel["nan_count"].dump() + " NaN, " + kernel["inf_count"].dump() + " Inf)");
  if (j.metrics.contains("fa_rule_pass") && !j.metrics["fa_rule_pass"].get<bool>())
    j.failures.push_back("FlashAttention rule: max_abs " + kernel["max_abs"].dump() + " > bound " +
                         j.metrics["fa_rule_bound"].dump());
  if (j.diagnosis.verdict != "no semantic bug") j.failures.push_back("diagnosis: " + j.verdict);
  j.passed = j.failures.empty();
  return j;
}

void note_layout_fit(Judgement& j, TensorLayout declared, const Diagnosis& other) {
  if (j.passed || other.verdict != "no semantic bug") return;
  j.fits_layout = other_layout(declared);
  j.verdict = layout_verdict(declared);
  j.failures.push_back(j.verdict);
}

AttentionInputs inputs_from_layout(const Tensor<double>& q, const Tensor<double>& k, const Tensor<double>& v,
                                   TensorLayout layout) {
  return {from_layout(q, layout), from_layout(k, layout), from_layout(v, layout)};
}

Problem problem_from_tensors(const Tensor<double>& q_stored, const Tensor<double>& k_stored,
                             const Tensor<double>& v_stored, const DeclaredSemantics& declared) {
  const std::string layout = layout_name(declared.layout);
  for (const auto& [name, t] : {std::pair<const char*, const Tensor<double>*>{"q", &q_stored}, {"k", &k_stored}, {"v", &v_stored}})
    if (t->rank() != 4)
      throw ProblemError(std::string(name) + " has shape " + shape_string(t->shape()) + ", expected 4 dimensions (" +
                         layout + ")");
  const std::vector<int64_t> q = shape_in_layout(q_stored.shape(), declared.layout);  // [B, S, H, D]
  const std::vector<int64_t> k = shape_in_layout(k_stored.shape(), declared.layout);
  if (k_stored.shape() != v_stored.shape())
    throw ProblemError("k " + shape_string(k_stored.shape()) + " and v " + shape_string(v_stored.shape()) +
                       " differ in shape");
  if (q[0] != k[0]) throw ProblemError("q and k differ in batch size (layout " + layout + ")");
  if (q[3] != k[3]) throw ProblemError("q and k differ in head_dim (layout " + layout + ")");
  Problem p;
  p.batch = q[0];
  p.seqlen_q = q[1];
  p.num_heads_q = q[2];
  p.head_dim = q[3];
  p.seqlen_k = k[1];
  p.num_heads_kv = k[2];
  p.dtype = declared.dtype;
  p.mask = declared.mask;
  p.gqa = declared.gqa;
  p.softmax_scale = declared.scale;
  p.seqlens_k = declared.seq_lens;
  p.validate();
  if (!declared.allow_masked_rows) p.require_no_fully_masked_rows();
  p.require_memory_for_run();  // refused up front (EnvironmentError, exit 3), never the allocator's abort
  return p;
}

TensorDiagnosis diagnose_tensors(const Tensor<double>& q, const Tensor<double>& k, const Tensor<double>& v,
                                 const Tensor<double>& o, const DeclaredSemantics& declared, DType out_dtype,
                                 const DiagnosisOptions& options) {
  auto attempt = [&](TensorLayout layout) {
    DeclaredSemantics as = declared;
    as.layout = layout;
    TensorDiagnosis t;
    t.problem = problem_from_tensors(q, k, v, as);
    const AttentionInputs in = inputs_from_layout(q, k, v, layout);
    t.diagnosis = diagnose(t.problem, in, from_layout(o, layout), out_dtype, options);
    t.verdict = verdict_line(t.diagnosis);
    return t;
  };
  std::optional<TensorDiagnosis> declared_result;
  std::string declared_error;
  try {
    declared_result = attempt(declared.layout);
    if (declared_result->diagnosis.verdict == "no semantic bug") return *declared_result;
  } catch (const ProblemError& e) {
    declared_error = e.what();
  }
  try {
    TensorDiagnosis other = attempt(other_layout(declared.layout));
    if (other.diagnosis.verdict == "no semantic bug") {
      TensorDiagnosis t = declared_result ? *declared_result : other;
      t.fits_layout = other_layout(declared.layout);
      t.verdict = layout_verdict(declared.layout);
      if (!declared_result) t.verdict += " (as " + layout_name(declared.layout) + ": " + declared_error + ")";
      return t;
    }
  } catch (const ProblemError&) {
  }
  if (!declared_result) throw ProblemError(declared_error);
  return *declared_result;
}

Judgement judge_tensors(const Tensor<double>& q, const Tensor<double>& k, const Tensor<double>& v,
                        const Tensor<double>& o, const DeclaredSemantics& declared, DType out_dtype,
                        const DiagnosisOptions& options) {
  Problem problem;
  try {
    problem = problem_from_tensors(q, k, v, declared);
  } catch (const ProblemError& e) {
    // The shapes make no problem as declared: say so, and whether the other layout fits.
    const TensorDiagnosis t = diagnose_tensors(q, k, v, o, declared, out_dtype, options);
    throw ProblemError(t.fits_layout ? t.verdict : e.what());
  }
  const AttentionInputs inputs = inputs_from_layout(q, k, v, declared.layout);
  const Tensor<double> o_bshd = from_layout(o, declared.layout);
  if (o_bshd.shape() != problem.q_shape())
    throw ProblemError("o has shape " + shape_string(o.shape()) + ", expected " +
                       shape_string(shape_in_layout(problem.q_shape(), declared.layout)) + " (layout " +
                       layout_name(declared.layout) + ")");
  const Truth truth = compute_truth(problem, inputs);
  const std::unique_ptr<AttentionOutputs> baseline = naive_baseline_output(problem, inputs);
  Judgement j = judge_output(problem, inputs, o_bshd, out_dtype, truth, baseline.get(), options);
  if (!j.passed) {
    try {
      const TensorDiagnosis t = diagnose_tensors(q, k, v, o, declared, out_dtype, options);
      if (t.fits_layout) {
        j.fits_layout = t.fits_layout;
        j.verdict = layout_verdict(declared.layout);
        j.failures.push_back(j.verdict);
      }
    } catch (const ProblemError&) {
    }
  }
  return j;
}

std::unique_ptr<AttentionOutputs> naive_baseline_output(const Problem& problem, const AttentionInputs& inputs) {
  std::optional<BaselineResult> base = same_precision_baseline(problem, inputs);  // the GPU when present
  if (!base) return nullptr;
  return std::make_unique<AttentionOutputs>(std::move(base->outputs));
}

}  // namespace attn
