// elementary_probe.cu: the device side of elementary_probe.h.
#include "kernels/probes/elementary_probe.h"

#include <cuda_runtime.h>

#include "core/pipeline/fp32_elementary.h"
#include "kernels/device_buffer.h"

namespace attn {
namespace {

__global__ void elementary_kernel(const float* x, float* e, float* l, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n; i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    e[i] = pipeline::exp_fp32(x[i]);
    l[i] = pipeline::log_fp32(x[i]);
  }
}

}  // namespace

ElementaryProbe run_elementary_probe(const std::vector<float>& x) {
  const int64_t n = static_cast<int64_t>(x.size());
  const DeviceBuffer dx = upload(x, "copy probe inputs");
  DeviceBuffer de(x.size() * 4), dl(x.size() * 4);
  elementary_kernel<<<4096, 256>>>(dx.as<const float>(), de.as<float>(), dl.as<float>(), n);
  cuda_check(cudaGetLastError(), "elementary probe launch");
  ElementaryProbe out{std::vector<float>(x.size()), std::vector<float>(x.size())};
  cuda_check(cudaMemcpy(out.exp.data(), de.ptr, x.size() * 4, cudaMemcpyDeviceToHost), "copy exp back");
  cuda_check(cudaMemcpy(out.log.data(), dl.ptr, x.size() * 4, cudaMemcpyDeviceToHost), "copy log back");
  return out;
}

}  // namespace attn
