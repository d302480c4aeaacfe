// single_run.h: one configuration measured end to end, the body of `attnscope run` and of
// `attnscope bench --truth`: inputs (unquantized and quantized), the certified truth, the truth
// of the unquantized inputs (input quantization, reported apart), the same-precision baseline,
// the kernel, the metrics — each stage timed. The truth and the baseline run where
// options.truth.device says (reference_device.h). Not a sweep: one point, no database.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "core/generators.h"
#include "core/kernel.h"
#include "core/problem.h"
#include "references/truth.h"

namespace attn {

struct SingleRunOptions {
  TruthOptions truth;  ///< bits, device, MPFR limit, progress of the certified truth (and the baseline's device)
};

/// Runs `kernel` on `problem` with inputs from `spec` and returns the result object of
/// `attnscope run --json` without provenance: kernel, family, problem, distribution, seed,
/// metrics (evaluate_output: kernel, floor, baseline, FA rule, truth method / device / seconds /
/// gap), input_quantization, truth_certified_rows, baseline_implementation, and "seconds"
/// {inputs, truth, certification, fp64, truth_unquantized, baseline, kernel, metrics}.
/// The caller checks that the kernel can run the problem.
nlohmann::json run_single(const Problem& problem, const InputSpec& spec, const Kernel& kernel,
                          const SingleRunOptions& options);

}  // namespace attn
