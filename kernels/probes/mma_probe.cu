// mma_probe.cu: one warp per m16n8k16 MMA, fragments loaded straight from global memory in the
// PTX ISA's fragment layout (see kernels/prefill/mma.cuh), result stored in the same layout.
#include "kernels/probes/mma_probe.h"

#include <cuda_runtime.h>

#include <string>

#include "core/errors.h"
#include "kernels/prefill/mma.cuh"

namespace attn {
namespace {

template <DType Elem>
__global__ void mma_probe_kernel(const uint16_t* a, const uint16_t* b, const float* c, float* d, int count) {
  const int mma = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
  if (mma >= count) return;
  const int lane = threadIdx.x % 32, g = lane / 4, t = lane % 4;
  const uint16_t* A = a + mma * 256;  // (16 m, 16 k)
  const uint16_t* B = b + mma * 128;  // (8 n, 16 k)
  const float* C = c + mma * 128;     // (16 m, 8 n)
  float* Dm = d + mma * 128;
  auto pair = [](const uint16_t* p) { return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 16); };
  const uint32_t ra[4] = {pair(A + g * 16 + 2 * t), pair(A + (g + 8) * 16 + 2 * t), pair(A + g * 16 + 2 * t + 8),
                          pair(A + (g + 8) * 16 + 2 * t + 8)};
  const uint32_t b0 = pair(B + g * 16 + 2 * t), b1 = pair(B + g * 16 + 2 * t + 8);
  float acc[4] = {C[g * 8 + 2 * t], C[g * 8 + 2 * t + 1], C[(g + 8) * 8 + 2 * t], C[(g + 8) * 8 + 2 * t + 1]};
  fa2::mma_16816<Elem>(acc, ra, b0, b1);
  Dm[g * 8 + 2 * t] = acc[0];
  Dm[g * 8 + 2 * t + 1] = acc[1];
  Dm[(g + 8) * 8 + 2 * t] = acc[2];
  Dm[(g + 8) * 8 + 2 * t + 1] = acc[3];
}

void probe_check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw Error(std::string("mma probe: ") + what + ": " + cudaGetErrorString(e));
}

}  // namespace

std::vector<float> run_mma_sync_probe(const std::vector<uint16_t>& a, const std::vector<uint16_t>& b,
                                      const std::vector<float>& c, int count, DType dtype) {
  if (a.size() != static_cast<size_t>(count) * 256 || b.size() != static_cast<size_t>(count) * 128 ||
      c.size() != static_cast<size_t>(count) * 128)
    throw Error("mma probe: operand sizes do not match count");
  if (dtype != DType::fp16 && dtype != DType::bf16) throw Error("mma probe: dtype must be fp16 or bf16");
  uint16_t *da, *db;
  float *dc, *dd;
  probe_check(cudaMalloc(&da, a.size() * 2), "cudaMalloc");
  probe_check(cudaMalloc(&db, b.size() * 2), "cudaMalloc");
  probe_check(cudaMalloc(&dc, c.size() * 4), "cudaMalloc");
  probe_check(cudaMalloc(&dd, c.size() * 4), "cudaMalloc");
  cudaMemcpy(da, a.data(), a.size() * 2, cudaMemcpyHostToDevice);
  cudaMemcpy(db, b.data(), b.size() * 2, cudaMemcpyHostToDevice);
  cudaMemcpy(dc, c.data(), c.size() * 4, cudaMemcpyHostToDevice);
  const int warps_per_block = 4;
  const int blocks = (count + warps_per_block - 1) / warps_per_block;
  if (dtype == DType::fp16)
    mma_probe_kernel<DType::fp16><<<blocks, 32 * warps_per_block>>>(da, db, dc, dd, count);
  else
    mma_probe_kernel<DType::bf16><<<blocks, 32 * warps_per_block>>>(da, db, dc, dd, count);
  probe_check(cudaGetLastError(), "launch");
  probe_check(cudaDeviceSynchronize(), "execution");
  std::vector<float> d(c.size());
  cudaMemcpy(d.data(), dd, d.size() * 4, cudaMemcpyDeviceToHost);
  cudaFree(da); cudaFree(db); cudaFree(dc); cudaFree(dd);
  return d;
}

}  // namespace attn
