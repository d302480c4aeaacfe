// reference_device.h: where the references run — the FP64 truth and the same-precision
// baseline on the GPU when one is present (references/gpu/, tiled kernels), on every CPU core
// otherwise — and the one entry point for the baseline that run, sweep and incremental share.
// `auto` means the GPU when this build has CUDA and a device answers, else the CPU; `gpu`
// without a GPU is an error, never a silent fallback. The certification (MPFI) always runs on
// the CPU (truth.h). Not a device abstraction: two places, chosen once per call and recorded.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/generators.h"
#include "core/kernel.h"
#include "core/problem.h"
#include "references/progress.h"

namespace attn {

enum class ReferenceDevice { automatic, cpu, gpu };

/// "auto", "cpu", "gpu".
std::string_view reference_device_name(ReferenceDevice device);
/// Parses "auto" | "cpu" | "gpu"; throws ProblemError naming the allowed values.
ReferenceDevice parse_reference_device(const std::string& text);

/// True when this build has CUDA and a GPU answers; otherwise false and the reason in *why.
bool reference_gpu_available(std::string* why = nullptr);

/// cpu or gpu: `requested` itself, or for automatic the GPU when reference_gpu_available().
/// Throws Error when the GPU is requested and not available (the reason named).
ReferenceDevice resolve_reference_device(ReferenceDevice requested);

/// The same-precision baseline of a result row, with where and how it ran.
struct BaselineResult {
  AttentionOutputs outputs;
  std::string name;            ///< the peer it stands for: "naive-fp16", "naive-bf16", "naive-fp32"
  std::string implementation;  ///< "gpu", "cpu-avx2", "cpu-scalar" (fp16/bf16); "cpu-plain" (fp32)
  double seconds = 0;          ///< wall time
};

/// The same-precision baseline of `problem` on `inputs`: naive_baseline.h's for fp16/bf16 (on
/// the GPU when `device` resolves to it, else the fast CPU version), the plain FP32 reference
/// (naive-fp32, CPU) for fp32, none (nullopt) for fp64 inputs, which have no narrower peer.
std::optional<BaselineResult> same_precision_baseline(const Problem& problem, const AttentionInputs& inputs,
                                                      ReferenceDevice device = ReferenceDevice::automatic,
                                                      int threads = 0, const ProgressCallback& progress = {});

}  // namespace attn
