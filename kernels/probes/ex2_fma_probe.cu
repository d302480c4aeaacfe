// ex2_fma_probe.cu: the device side of ex2_fma_probe.h.
#include "kernels/probes/ex2_fma_probe.h"

#include <cuda_runtime.h>

#include "core/pipeline/ex2_fma.h"
#include "kernels/device_buffer.h"

namespace attn {
namespace {

__global__ void ex2_fma_kernel(const float* x, float* y, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n; i += static_cast<int64_t>(gridDim.x) * blockDim.x)
    y[i] = pipeline::ex2_fma(x[i]);
}

}  // namespace

std::vector<float> run_ex2_fma_probe(const std::vector<float>& x) {
  const DeviceBuffer dx = upload(x, "copy probe inputs");
  DeviceBuffer dy(x.size() * 4);
  ex2_fma_kernel<<<4096, 256>>>(dx.as<const float>(), dy.as<float>(), static_cast<int64_t>(x.size()));
  cuda_check(cudaGetLastError(), "ex2_fma probe launch");
  std::vector<float> y(x.size());
  cuda_check(cudaMemcpy(y.data(), dy.ptr, x.size() * 4, cudaMemcpyDeviceToHost), "copy ex2_fma back");
  return y;
}

}  // namespace attn
