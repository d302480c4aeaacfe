// single_run.cpp: one configuration measured end to end (single_run.h).
#include "experiments/single_run.h"

#include <chrono>
#include <optional>

#include "analysis/metrics.h"
#include "experiments/sweep_runner.h"
#include "references/reference_device.h"

namespace attn {
namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

nlohmann::json run_single(const Problem& problem, const InputSpec& spec, const Kernel& kernel,
                          const SingleRunOptions& options) {
  auto started = std::chrono::steady_clock::now();
  const AttentionInputs unrounded = generate_inputs_unquantized(problem, spec);
  AttentionInputs inputs = unrounded;
  quantize_inputs(inputs, problem.dtype);
  nlohmann::json seconds{{"inputs", seconds_since(started)}};

  const Truth truth = compute_truth(problem, inputs, options.truth);
  seconds["truth"] = truth.seconds;
  seconds["fp64"] = truth.seconds_fp64;
  seconds["certification"] = truth.seconds_certify;
  // The truth of the unquantized inputs only measures the input quantization (about 1e-3
  // relative), so FP64 uncertified is enough (its error is about 1e-13); fp64 inputs are not
  // quantized at all.
  std::optional<Truth> unrounded_truth;
  if (problem.dtype != DType::fp64) {
    TruthOptions unrounded_options = options.truth;
    unrounded_options.certify_rows = 0;
    unrounded_truth = compute_truth(problem, unrounded, unrounded_options);
  }
  seconds["truth_unquantized"] = unrounded_truth ? unrounded_truth->seconds : 0.0;

  const std::optional<BaselineResult> baseline =
      same_precision_baseline(problem, inputs, options.truth.device, options.truth.threads, options.truth.progress);
  seconds["baseline"] = baseline ? baseline->seconds : 0.0;
  started = std::chrono::steady_clock::now();
  // The kernel named like the baseline is the baseline's CPU implementation: not run twice.
  const bool kernel_is_baseline = baseline && baseline->name == kernel.info.name && baseline->implementation != "gpu";
  const AttentionOutputs out = kernel_is_baseline ? baseline->outputs : kernel.run(problem, inputs);
  seconds["kernel"] = kernel_is_baseline ? 0.0 : seconds_since(started);

  started = std::chrono::steady_clock::now();
  const nlohmann::json metrics = evaluate_output(problem, out, truth, baseline ? &baseline->outputs : nullptr);
  const ErrorMetrics quantization = compute_metrics(truth.o, unrounded_truth ? unrounded_truth->o : truth.o, DType::fp64);
  seconds["metrics"] = seconds_since(started);
  return {{"kernel", kernel.info.name},
          {"family", kernel.info.family},
          {"problem", problem.label()},
          {"distribution", distribution_name(spec.distribution)},
          {"seed", spec.seed},
          {"metrics", metrics},
          {"input_quantization",
           {{"max_abs", quantization.max_abs}, {"rel_fro", quantization.rel_fro}, {"truth_method", "fp64 (uncertified)"}}},
          {"truth_certified_rows", truth.certified_rows},
          {"baseline_implementation", baseline ? baseline->implementation : "none"},
          {"seconds", seconds}};
}

}  // namespace attn
