// incremental_experiment.cpp: the incremental-vs-full experiment (incremental_experiment.h).
#include "experiments/incremental_experiment.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <set>
#include <sstream>

#include "analysis/attribution.h"
#include "analysis/diagnosis.h"
#include "analysis/emulator.h"
#include "analysis/metrics.h"
#include "core/errors.h"
#include "experiments/register_all.h"
#include "experiments/sweep_runner.h"
#include "references/full_attention.h"
#include "references/incremental_attention.h"
#include "references/truth.h"

namespace attn {
namespace {

/// Rows [begin, begin + count) of a [B, S, H, D] tensor.
Tensor<double> rows_of(const Tensor<double>& t, int64_t begin, int64_t count) {
  const auto& s = t.shape();
  Tensor<double> out({s[0], count, s[2], s[3]});
  for (int64_t b = 0; b < s[0]; ++b)
    for (int64_t i = 0; i < count; ++i)
      for (int64_t h = 0; h < s[2]; ++h)
        for (int64_t d = 0; d < s[3]; ++d) out(b, i, h, d) = t(b, begin + i, h, d);
  return out;
}

/// The registered kernel `name`, or ProblemError listing the kernels of the same kind (names
/// sharing the text before the first '.', e.g. "decode.*"), or every kind when none does.
const Kernel& kernel_named(const std::string& name, const std::string& role) {
  if (const Kernel* k = all_kernels().find(name)) return *k;
  const std::string kind = name.substr(0, name.find('.'));
  std::string same_kind;
  std::set<std::string> kinds;
  for (const Kernel* k : all_kernels().all()) {
    const std::string& n = k->info.name;
    kinds.insert(n.substr(0, n.find('.')) + (n.find('.') == std::string::npos ? "" : ".*"));
    if (n.find('.') != std::string::npos && n.substr(0, n.find('.')) == kind) same_kind += (same_kind.empty() ? "" : ", ") + n;
  }
  std::string listed;
  for (const std::string& k : kinds) listed += (listed.empty() ? "" : ", ") + k;
  throw ProblemError("incremental: unknown " + role + " kernel '" + name + "'; " +
                     (same_kind.empty() ? "kinds registered: " + listed : "registered " + kind + ".*: " + same_kind) +
                     " (`attnscope list` shows every kernel)");
}

/// Which of `steps` decode steps to attribute: "all", "none", or a comma list of indices and
/// first / middle / last.
std::vector<bool> steps_to_attribute(const std::string& text, int64_t steps) {
  std::vector<bool> chosen(static_cast<size_t>(steps), false);
  std::string item;
  std::istringstream list(text);
  while (std::getline(list, item, ',')) {
    item.erase(0, item.find_first_not_of(' '));
    item.erase(item.find_last_not_of(' ') + 1);
    if (item == "all") std::fill(chosen.begin(), chosen.end(), true);
    else if (item == "none" || item.empty()) continue;
    else if (item == "first") chosen.front() = true;
    else if (item == "middle") chosen[static_cast<size_t>(steps / 2)] = true;
    else if (item == "last") chosen.back() = true;
    else {
      size_t used = 0;
      int64_t t = -1;
      try {
        t = std::stoll(item, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != item.size() || t < 0 || t >= steps)
        throw ProblemError("incremental: --attribute-steps '" + text + "': '" + item +
                           "' is not all, none, first, middle, last or a step index in 0.." + std::to_string(steps - 1));
      chosen[static_cast<size_t>(t)] = true;
    }
  }
  return chosen;
}

AttentionOutputs run_checked(const Kernel& k, const Problem& pr, const AttentionInputs& in, const std::string& role) {
  if (k.invalid_reason)
    if (auto why = k.invalid_reason(pr)) throw ProblemError("incremental: " + role + " kernel " + k.info.name + " cannot run " + pr.label() + ": " + *why);
  return k.run(pr, in);
}

/// Difference of `inc` and the full kernel's rows `full` ([B, rows, H, D]): elements differing,
/// max |diff|, max |diff| in ULPs at the full value, and in ULPs of the row's scale (the largest
/// |O| of its D elements: near-zero outputs make the element ULP meaningless).
void compare_with_full(const Tensor<double>& inc, const Tensor<double>& full, DType dtype, StepComparison& c) {
  const FloatFormat& f = format_of(dtype);
  const auto& shape = full.shape();
  const int64_t D = shape[3], vectors = full.numel() / D;
  c.elements = inc.numel();
  for (int64_t v = 0; v < vectors; ++v) {
    double scale = 0;
    for (int64_t d = 0; d < D; ++d) scale = std::max(scale, std::fabs(full.flat(v * D + d)));
    const double row_ulp = ulp_of(scale, f);
    for (int64_t d = 0; d < D; ++d) {
      const double a = inc.flat(v * D + d), b = full.flat(v * D + d);
      if (a == b) continue;
      ++c.differing;
      const double diff = std::fabs(a - b);
      if (std::isnan(diff)) {
        c.max_abs_diff = c.max_ulp_diff = c.max_row_ulp_diff = INFINITY;
        continue;
      }
      c.max_abs_diff = std::max(c.max_abs_diff, diff);
      c.max_ulp_diff = std::max(c.max_ulp_diff, diff / ulp_of(b, f));
      c.max_row_ulp_diff = std::max(c.max_row_ulp_diff, diff / row_ulp);
    }
  }
}

/// Fills the truth / baseline / diagnosis / attribution fields of one step and classifies it.
void judge(const Kernel& kernel, const Problem& pr, const AttentionInputs& in, const Tensor<double>& out,
           const Tensor<double>& full_rows, const Tensor<double>& truth_rows, double baseline_max_abs,
           bool attribute, StepComparison& c) {
  compare_with_full(out, full_rows, pr.dtype, c);
  c.incremental = compute_metrics(out, truth_rows, pr.dtype);
  c.full = compute_metrics(full_rows, truth_rows, pr.dtype);
  const double floor = rounding_floor(truth_rows, pr.dtype).rmse;
  c.incremental_excess = floor > 0 ? c.incremental.rmse / floor : (c.incremental.rmse > 0 ? INFINITY : 1.0);
  c.full_excess = floor > 0 ? c.full.rmse / floor : (c.full.rmse > 0 ? INFINITY : 1.0);
  const FaRuleVerdict rule =
      fa_rule(c.incremental.max_abs, baseline_max_abs, c.incremental.nan_count + c.incremental.inf_count == 0);
  c.fa_ratio = rule.ratio;
  const Diagnosis d = diagnose(pr, in, out, pr.dtype);
  c.verdict = d.verdict;
  c.cause = d.category.empty() ? "" : d.category + ": " + d.bug;
  c.also_matching = d.also_matching;
  const bool semantic = d.verdict != "no semantic bug" || !rule.pass;
  c.classification = semantic ? "semantic" : c.differing == 0 ? "bit-identical" : "rounding";
  if (semantic && c.cause.empty()) c.cause = d.verdict == "no semantic bug" ? "FlashAttention rule failed" : d.verdict;
  c.attribution = nullptr;
  const std::optional<AlgorithmConfig>& algorithm = kernel.info.algorithm;
  if (!algorithm) {
    c.attribution_status = "not modelled";
    return;
  }
  if (!attribute) {
    c.attribution_status = "not selected";
    return;
  }
  if (const auto why = emulator_invalid_reason(pr, *algorithm)) {
    c.attribution_status = "emulator cannot run: " + *why;
    return;
  }
  AttributionOptions options;
  options.algorithm = *algorithm;
  c.attribution = attribution_to_json(attribute_error(pr, in, options, &truth_rows));
  c.attribution_status = "attributed";
}

void tally(PathResult& path) {
  std::set<std::string> causes;
  for (const StepComparison& s : path.steps) {
    path.bit_identical += s.classification == "bit-identical";
    path.rounding += s.classification == "rounding";
    path.semantic += s.classification == "semantic";
    path.max_ulp_diff = std::max(path.max_ulp_diff, s.max_ulp_diff);
    path.max_row_ulp_diff = std::max(path.max_row_ulp_diff, s.max_row_ulp_diff);
    path.max_abs_diff = std::max(path.max_abs_diff, s.max_abs_diff);
    path.worst_fa_ratio = std::max(path.worst_fa_ratio, s.fa_ratio);
    if (!s.cause.empty()) causes.insert(s.cause);
    if (!s.attribution.is_null()) {
      ++path.attributed;
      path.semantic_dominant += s.attribution["dominant"] == "semantic";
    }
  }
  path.causes.assign(causes.begin(), causes.end());
}

/// FP64 references: the incremental reference stepping one token at a time from an empty cache
/// against the full-sequence reference. Returns the largest difference (0: bit for bit).
double reference_difference(const Problem& full, const AttentionInputs& in) {
  const ReferenceResult<double> whole = full_attention<double>(full, in);
  IncrementalAttention<double> inc(full, full.seqlen_k);
  double worst = 0;
  for (int64_t t = 0; t < full.seqlen_q; ++t) {
    const ReferenceResult<double> r = inc.step(rows_of(in.q, t, 1), rows_of(in.k, t, 1), rows_of(in.v, t, 1));
    for (int64_t b = 0; b < full.batch; ++b)
      for (int64_t h = 0; h < full.num_heads_q; ++h)
        for (int64_t d = 0; d < full.head_dim; ++d) {
          const double diff = std::fabs(r.o(b, 0, h, d) - whole.o(b, t, h, d));
          worst = std::isnan(diff) ? INFINITY : std::max(worst, diff);
        }
  }
  return worst;
}

}  // namespace

void choose_incremental_kernels(IncrementalSpec& spec, bool gpu, bool mutants) {
  const Registry& registry = all_kernels();
  const std::string dt(dtype_name(spec.dtype)), d = std::to_string(spec.head_dim);
  const Mutant cache_mutants[] = {Mutant::stale_seqlens, Mutant::interleaved_gqa_in_cache_path,
                                  Mutant::top_left_in_cache_path, Mutant::base2_lse_natural_combine};
  auto first = [&](KernelQuery q) -> const Kernel* {
    q.dtype = spec.dtype;
    q.head_dim = static_cast<int>(spec.head_dim);
    const std::vector<const Kernel*> found = registry.select(q);
    return found.empty() ? nullptr : found.front();
  };
  auto name_of = [](const Kernel* k) { return k ? k->info.name : std::string(); };
  spec.mutant_kernels.clear();
  const std::string design = gpu ? "fa2" : "emu";
  // The full sequence: the default variant of the prefill design (the emulator on the CPU).
  spec.full_kernel = name_of(first({.design = design, .mutant = Mutant::none, .default_only = true}));
  if (spec.full_kernel.empty())
    throw ProblemError("incremental: no default " + design + " kernel for " + dt + " d" + d + " is registered");
  if (!gpu) {
    // CPU: the FA2 emulator prefills too; the emulated decode kernels decode (their default
    // configuration and their cache mutants, analysis/decode_emulator.h).
    spec.prefill_kernel = spec.full_kernel;
    spec.decode_kernel =
        name_of(first({.design = "emu", .path = KernelPath::decode, .mutant = Mutant::none, .default_only = true}));
    if (spec.decode_kernel.empty()) throw ProblemError("incremental: no emulated decode kernel for " + dt + " is registered");
    if (mutants)
      for (Mutant m : cache_mutants)
        if (const Kernel* k = first({.design = "emu", .path = KernelPath::decode, .mutant = m}))
          spec.mutant_kernels.push_back(k->info.name);
    return;
  }
  spec.prefill_kernel = name_of(first({.design = "chunked", .mutant = Mutant::none, .default_only = true}));
  if (spec.prefill_kernel.empty()) {
    spec.notes.push_back("prefill: no chunked-prefill kernel for " + dt + " d" + d + " is registered in this build; the full kernel " +
                         spec.full_kernel + " prefills instead (no cache in the prefill)");
    spec.prefill_kernel = spec.full_kernel;
  }
  spec.decode_kernel = name_of(first({.design = "decode", .mutant = Mutant::none, .default_only = true}));
  if (spec.decode_kernel.empty()) throw ProblemError("incremental: no decode kernel for " + dt + " d" + d + " is registered");
  if (!mutants) return;
  for (Mutant m : cache_mutants) {
    if (const Kernel* k = first({.design = "decode", .mutant = m})) spec.mutant_kernels.push_back(k->info.name);
    else
      spec.notes.push_back(std::string("mutants: no GPU decode variant plants ") + mutant_name(m) + " at " + dt + " d" + d +
                           " in this build (kernels/variants.toml compiles them for D = 128); skipped");
  }
}

IncrementalResult run_incremental_experiment(const IncrementalSpec& spec,
                                             const std::function<void(const std::string&)>& progress) {
  const auto started = std::chrono::steady_clock::now();
  if (spec.prefill_tokens < 1) throw ProblemError("incremental: --prefill must be >= 1 token");
  if (spec.decode_steps < 1) throw ProblemError("incremental: --steps must be >= 1");
  if (spec.decode_chunk < 1) throw ProblemError("incremental: --decode-chunk must be >= 1 token");
  const int64_t num_steps = (spec.decode_steps + spec.decode_chunk - 1) / spec.decode_chunk;
  const std::vector<bool> attribute = steps_to_attribute(spec.attribute_steps, num_steps);
  Problem full;
  full.batch = spec.batch;
  full.seqlen_q = full.seqlen_k = spec.prefill_tokens + spec.decode_steps;
  full.num_heads_q = spec.heads_q;
  full.num_heads_kv = spec.heads_kv;
  full.head_dim = spec.head_dim;
  full.dtype = spec.dtype;
  full.mask = parse_mask("causal");
  full.validate();
  full.require_memory_for_run();  // the whole sequence, refused up front with the number
  const Kernel& full_kernel = kernel_named(spec.full_kernel, "full-sequence");
  const Kernel& prefill_kernel = kernel_named(spec.prefill_kernel, "prefill");
  std::vector<const Kernel*> decoders = {&kernel_named(spec.decode_kernel, "decode")};
  for (const std::string& m : spec.mutant_kernels) decoders.push_back(&kernel_named(m, "mutant decode"));
  const Kernel& baseline = kernel_named(spec.dtype == DType::bf16 ? "naive-bf16" : "naive-fp16", "baseline");

  IncrementalResult result;
  result.spec = spec;
  const AttentionInputs in = generate_inputs(full, spec.inputs);
  TruthOptions truth_options;
  truth_options.certify_rows = 4;
  const Truth truth = compute_truth(full, in, truth_options);
  result.truth_method = truth.method;
  result.truth_fp64_gap_ulps = truth.fp64_gap_ulps;
  result.references_max_diff = reference_difference(full, in);
  result.references_bit_identical = result.references_max_diff == 0;
  if (progress) progress("references: FP64 incremental vs full max diff " + std::to_string(result.references_max_diff));
  const AttentionOutputs whole = run_checked(full_kernel, full, in, "full-sequence");

  // Prefill chunk: rows 0..P-1 through the prefill kernel (the same for every path).
  const int64_t P = spec.prefill_tokens;
  Problem pre = full;
  pre.seqlen_q = pre.seqlen_k = P;
  const AttentionInputs pre_in{rows_of(in.q, 0, P), rows_of(in.k, 0, P), rows_of(in.v, 0, P)};
  StepComparison prefill;
  prefill.step = -1;
  prefill.first_row = 0;
  prefill.rows = P;
  prefill.keys = P;
  const Tensor<double> pre_truth = rows_of(truth.o, 0, P);
  const double pre_baseline = compute_metrics(baseline.run(pre, pre_in).o, pre_truth, full.dtype).max_abs;
  judge(prefill_kernel, pre, pre_in, run_checked(prefill_kernel, pre, pre_in, "prefill").o, rows_of(whole.o, 0, P),
        pre_truth, pre_baseline, false, prefill);
  if (prefill.attribution_status == "not selected") prefill.attribution_status = "not attributed (prefill chunk)";

  // Decode steps: one problem per step, shared by every path (inputs, truth rows, baseline).
  // Step t computes rows [first, first + n) against keys [0, first + n): bottom-right causal
  // puts each row at its own position, exactly as in the full problem.
  struct Step {
    Problem problem;
    AttentionInputs inputs;
    Tensor<double> truth, full;
    double baseline_max_abs = 0;
    int64_t first_row = 0, rows = 0;
  };
  std::vector<Step> steps;
  for (int64_t t = 0; t < num_steps; ++t) {
    Step s;
    s.first_row = P + t * spec.decode_chunk;
    s.rows = std::min(spec.decode_chunk, full.seqlen_q - s.first_row);
    s.problem = full;
    s.problem.seqlen_q = s.rows;
    s.problem.seqlen_k = s.first_row + s.rows;
    s.inputs = {rows_of(in.q, s.first_row, s.rows), rows_of(in.k, 0, s.problem.seqlen_k),
                rows_of(in.v, 0, s.problem.seqlen_k)};
    s.truth = rows_of(truth.o, s.first_row, s.rows);
    s.full = rows_of(whole.o, s.first_row, s.rows);
    s.baseline_max_abs = compute_metrics(baseline.run(s.problem, s.inputs).o, s.truth, full.dtype).max_abs;
    steps.push_back(std::move(s));
  }
  for (const Kernel* k : decoders) {
    PathResult path;
    path.decode_kernel = k->info.name;
    path.planted_bug = k->info.planted_bug;
    path.prefill = prefill;
    const std::optional<AlgorithmConfig>& algorithm = k->info.algorithm;
    path.modelled = algorithm.has_value();
    for (int64_t t = 0; t < num_steps; ++t) {
      const Step& s = steps[static_cast<size_t>(t)];
      StepComparison c;
      c.step = t;
      c.first_row = s.first_row;
      c.rows = s.rows;
      c.keys = s.problem.seqlen_k;
      judge(*k, s.problem, s.inputs, run_checked(*k, s.problem, s.inputs, "decode").o, s.full, s.truth,
            s.baseline_max_abs, attribute[static_cast<size_t>(t)], c);
      path.steps.push_back(std::move(c));
    }
    tally(path);
    if (progress)
      progress(path.decode_kernel + ": " + std::to_string(path.bit_identical) + " bit-identical, " +
               std::to_string(path.rounding) + " rounding, " + std::to_string(path.semantic) + " semantic steps; max " +
               std::to_string(path.max_row_ulp_diff) + " row-scale ULP from the full kernel");
    result.paths.push_back(std::move(path));
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return result;
}

nlohmann::json to_json(const IncrementalResult& r) {
  auto step_json = [](const StepComparison& s) {
    return nlohmann::json{{"step", s.step},
                          {"first_row", s.first_row},
                          {"rows", s.rows},
                          {"keys", s.keys},
                          {"elements", s.elements},
                          {"differing", s.differing},
                          {"max_abs_diff", s.max_abs_diff},
                          {"max_ulp_diff", s.max_ulp_diff},
                          {"max_row_ulp_diff", s.max_row_ulp_diff},
                          {"incremental", metrics_json(s.incremental)},
                          {"full", metrics_json(s.full)},
                          {"incremental_excess", s.incremental_excess},
                          {"full_excess", s.full_excess},
                          {"fa_ratio", s.fa_ratio},
                          {"verdict", s.verdict},
                          {"cause", s.cause},
                          {"also_matching", s.also_matching},
                          {"classification", s.classification},
                          {"attribution", s.attribution},
                          {"attribution_status", s.attribution_status}};
  };
  nlohmann::json paths = nlohmann::json::array();
  for (const PathResult& p : r.paths) {
    nlohmann::json steps = nlohmann::json::array();
    for (const StepComparison& s : p.steps) steps.push_back(step_json(s));
    paths.push_back({{"decode_kernel", p.decode_kernel},
                     {"planted_bug", p.planted_bug},
                     {"modelled", p.modelled},
                     {"prefill", step_json(p.prefill)},
                     {"steps", steps},
                     {"bit_identical", p.bit_identical},
                     {"rounding", p.rounding},
                     {"semantic", p.semantic},
                     {"max_ulp_diff", p.max_ulp_diff},
                     {"max_row_ulp_diff", p.max_row_ulp_diff},
                     {"max_abs_diff", p.max_abs_diff},
                     {"worst_fa_ratio", p.worst_fa_ratio},
                     {"attributed", p.attributed},
                     {"semantic_dominant", p.semantic_dominant},
                     {"causes", p.causes}});
  }
  const IncrementalSpec& s = r.spec;
  return {{"spec",
           {{"batch", s.batch}, {"heads_q", s.heads_q}, {"heads_kv", s.heads_kv}, {"head_dim", s.head_dim},
            {"dtype", std::string(dtype_name(s.dtype))}, {"prefill_tokens", s.prefill_tokens},
            {"decode_steps", s.decode_steps}, {"distribution", distribution_name(s.inputs.distribution)},
            {"seed", s.inputs.seed}, {"full_kernel", s.full_kernel}, {"prefill_kernel", s.prefill_kernel},
            {"decode_kernel", s.decode_kernel}, {"mutant_kernels", s.mutant_kernels},
            {"decode_chunk", s.decode_chunk}, {"attribute_steps", s.attribute_steps}, {"notes", s.notes}}},
          {"references_bit_identical", r.references_bit_identical},
          {"references_max_diff", r.references_max_diff},
          {"truth_method", r.truth_method},
          {"truth_fp64_gap_ulps", r.truth_fp64_gap_ulps},
          {"paths", paths},
          {"seconds", r.seconds}};
}

}  // namespace attn
