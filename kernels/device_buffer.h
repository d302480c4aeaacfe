// device_buffer.h: host-side CUDA helpers shared by the kernels' registration code (only built
// with CUDA): an owning device buffer, an error check that throws attn::Error naming the step,
// and the FP16/BF16 bit conversions of the uploads and downloads.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/errors.h"
#include "core/float_format.h"
#include "core/half.h"
#include "core/kernel.h"
#include "core/problem.h"
#include "core/tensor.h"

namespace attn {

inline void cuda_check(cudaError_t e, const std::string& what) {
  if (e != cudaSuccess) throw Error("CUDA: " + what + ": " + cudaGetErrorString(e));
}

/// Device buffer freed on scope exit (so a failed check never leaks). Movable, not copyable.
struct DeviceBuffer {
  void* ptr = nullptr;
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t bytes) { cuda_check(cudaMalloc(&ptr, bytes == 0 ? 16 : bytes), "cudaMalloc"); }
  ~DeviceBuffer() { cudaFree(ptr); }
  DeviceBuffer(DeviceBuffer&& o) noexcept : ptr(o.ptr) { o.ptr = nullptr; }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    std::swap(ptr, o.ptr);
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  template <class T>
  T* as() const { return static_cast<T*>(ptr); }
};

/// Uploads a host vector into a new device buffer.
template <class T>
DeviceBuffer upload(const std::vector<T>& host, const std::string& what) {
  DeviceBuffer d(host.size() * sizeof(T));
  if (!host.empty()) cuda_check(cudaMemcpy(d.ptr, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice), what);
  return d;
}

inline uint16_t dtype_bits(double x, DType dtype) { return dtype == DType::bf16 ? BFloat16(x).bits() : Half(x).bits(); }
inline double dtype_value(uint16_t bits, DType dtype) {
  return dtype == DType::bf16 ? BFloat16::from_bits(bits).to_double() : Half::from_bits(bits).to_double();
}

/// FP16/BF16 bits of a tensor whose values are already representable in `dtype`.
inline std::vector<uint16_t> to_bits(const Tensor<double>& t, DType dtype) {
  std::vector<uint16_t> bits(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) bits[static_cast<size_t>(i)] = dtype_bits(t.flat(i), dtype);
  return bits;
}

/// O ([B, S_q, H_q, D] FP16/BF16 bits) and LSE ([B, H_q, S_q] FP32) of `problem` copied back.
inline AttentionOutputs download_outputs(const DeviceBuffer& o, const DeviceBuffer& lse, const Problem& problem) {
  AttentionOutputs out;
  out.out_dtype = problem.dtype;
  out.o = Tensor<double>(problem.q_shape());
  out.lse = Tensor<double>(problem.lse_shape());
  std::vector<uint16_t> ob(static_cast<size_t>(out.o.numel()));
  std::vector<float> lb(static_cast<size_t>(out.lse.numel()));
  cuda_check(cudaMemcpy(ob.data(), o.ptr, ob.size() * 2, cudaMemcpyDeviceToHost), "copy O back");
  cuda_check(cudaMemcpy(lb.data(), lse.ptr, lb.size() * 4, cudaMemcpyDeviceToHost), "copy LSE back");
  for (size_t i = 0; i < ob.size(); ++i) out.o.flat(static_cast<int64_t>(i)) = dtype_value(ob[i], problem.dtype);
  for (size_t i = 0; i < lb.size(); ++i) out.lse.flat(static_cast<int64_t>(i)) = lb[i];
  return out;
}

}  // namespace attn
