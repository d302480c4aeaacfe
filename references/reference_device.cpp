// reference_device.cpp: choosing the device of the references and the baseline entry point
// (reference_device.h). The GPU functions exist only in a CUDA build (ATTNSCOPE_HAVE_CUDA).
#include "references/reference_device.h"

#include <chrono>

#include "core/errors.h"
#include "references/full_attention.h"
#include "references/naive_baseline.h"
#if defined(ATTNSCOPE_HAVE_CUDA)
#include "references/gpu/gpu_references.h"
#endif

namespace attn {

std::string_view reference_device_name(ReferenceDevice device) {
  switch (device) {
    case ReferenceDevice::automatic: return "auto";
    case ReferenceDevice::cpu: return "cpu";
    case ReferenceDevice::gpu: return "gpu";
  }
  return "?";
}

ReferenceDevice parse_reference_device(const std::string& text) {
  for (ReferenceDevice d : {ReferenceDevice::automatic, ReferenceDevice::cpu, ReferenceDevice::gpu})
    if (text == reference_device_name(d)) return d;
  throw ProblemError("unknown reference device '" + text + "' (allowed: auto, cpu, gpu)");
}

bool reference_gpu_available(std::string* why) {
#if defined(ATTNSCOPE_HAVE_CUDA)
  return gpu_references_available(why);
#else
  if (why) *why = "this build has no CUDA (configure with nvcc and ATTNSCOPE_ENABLE_CUDA=ON)";
  return false;
#endif
}

ReferenceDevice resolve_reference_device(ReferenceDevice requested) {
  if (requested == ReferenceDevice::cpu) return ReferenceDevice::cpu;
  std::string why;
  const bool gpu = reference_gpu_available(&why);
  if (requested == ReferenceDevice::gpu && !gpu)
    // TODO(gate): EnvironmentError (exit 3) once core/errors.h has it.
    throw Error("the references were asked to run on the GPU, but " + why);
  return gpu ? ReferenceDevice::gpu : ReferenceDevice::cpu;
}

std::optional<BaselineResult> same_precision_baseline(const Problem& problem, const AttentionInputs& inputs,
                                                      ReferenceDevice device, int threads,
                                                      const ProgressCallback& progress) {
  if (problem.dtype == DType::fp64) return std::nullopt;
  const auto start = std::chrono::steady_clock::now();
  BaselineResult result;
  result.name = "naive-" + std::string(dtype_name(problem.dtype));
  if (problem.dtype == DType::fp32) {  // naive-fp32: the plain FP32 reference (register_reference_kernels.cpp)
    result.outputs = to_outputs(full_attention<float>(problem, inputs), DType::fp32);
    result.implementation = "cpu-plain";
  } else if (resolve_reference_device(device) == ReferenceDevice::gpu) {
#if defined(ATTNSCOPE_HAVE_CUDA)
    result.outputs = gpu_naive_baseline(problem, inputs);
    result.implementation = "gpu";
#endif
  } else {
    const BaselineOptions options{threads, true, progress};
    result.outputs = naive_same_precision_attention(problem, inputs, options);
    result.implementation = naive_baseline_cpu_path(options);
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace attn
