// kernel.h: what every runnable attention implementation — reference at low precision, CPU
// emulator configuration, CUDA kernel, mutant, peer — looks like to sweeps, tests and reports.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>

#include "core/generators.h"
#include "core/problem.h"
#include "core/tensor.h"

namespace attn {

/// Output of one run. `o` is [B, S_q, H_q, D] holding values exactly representable in
/// `out_dtype`; `lse` is [B, H_q, S_q], natural log-sum-exp of the scaled scores (empty if the
/// implementation does not produce it; -inf for fully masked rows).
struct AttentionOutputs {
  Tensor<double> o;
  Tensor<double> lse;
  DType out_dtype = DType::fp16;
  /// Optional measurements of this run, in milliseconds (an external worker's write / wait /
  /// read time and its own kernel time); sweeps store them with the row. Empty for most kernels.
  std::map<std::string, double> run_info;
};

/// Stable metadata of a registered implementation.
struct KernelInfo {
  std::string name;         ///< stable, e.g. "fa2.bf16.d128.m128n64", "naive-fp16", "emu.fa2.m64n64"
  std::string family;       ///< "reference" | "emulator" | "cuda" | "mutant" | "peer"
  std::string description;  ///< one line for `attnscope list`
  std::map<std::string, std::string> traits;  ///< dtypes, tiles, exp flavour, order, precision policy
  bool needs_gpu = false;
  /// For mutants: the bug category it plants ("masking", "gqa", "cache-length", "rescaling",
  /// "intermediate-precision", "split-combine"); empty for a correct implementation.
  std::string planted_bug;
};

struct Kernel {
  KernelInfo info;
  /// Empty when the kernel can run `problem`; otherwise the reason (reported as INVALID by sweeps).
  std::function<std::optional<std::string>(const Problem&)> invalid_reason;
  std::function<AttentionOutputs(const Problem&, const AttentionInputs&)> run;
};

}  // namespace attn
