// gpu_references.cu: the FP64 truth and the naive same-precision baseline on the GPU. One CTA of
// 128 threads per (query row, head, batch); keys are visited in chunks of 128, one per thread.
// The mask is core/mask.h's (host-device), the GQA rule core/gqa.h's. Not fast, not clever.
#include "references/gpu/gpu_references.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/errors.h"

namespace attn {
namespace {

constexpr int kThreads = 128;

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw Error(std::string("gpu reference: ") + what + ": " + cudaGetErrorString(e));
}

struct RefParams {
  const double *q, *k, *v;
  double* o;
  double* lse;
  const long long* seqlens_k;
  int batch, seqlen_q, seqlen_k, heads_q, heads_kv, head_dim;
  GqaMapping gqa;
  double scale;
  Mask mask;
  int dtype;  // 0 fp16, 1 bf16 (baseline only)
};

template <class T>
__device__ T block_reduce(T x, T* scratch, bool is_max) {
  scratch[threadIdx.x] = x;
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s /= 2) {
    if (threadIdx.x < s) {
      const T a = scratch[threadIdx.x], b = scratch[threadIdx.x + s];
      scratch[threadIdx.x] = is_max ? (a > b ? a : b) : a + b;
    }
    __syncthreads();
  }
  const T r = scratch[0];
  __syncthreads();
  return r;
}

// ---- FP64 truth: pass 1 row max, pass 2 exp, row sum and P V (FP64 throughout) -----------------
__global__ void truth_fp64_kernel(RefParams p) {
  const int i = blockIdx.x, h = blockIdx.y, b = blockIdx.z, D = p.head_dim;
  const int seqlen_k = p.seqlens_k ? static_cast<int>(p.seqlens_k[b]) : p.seqlen_k;
  const int hk = static_cast<int>(kv_head_for(h, p.heads_q, p.heads_kv, p.gqa));
  __shared__ double scratch[kThreads];
  __shared__ double chunk_p[kThreads];
  extern __shared__ double q_row[];  // (D)
  const double* q = p.q + ((static_cast<long long>(b) * p.seqlen_q + i) * p.heads_q + h) * D;
  for (int d = threadIdx.x; d < D; d += kThreads) q_row[d] = q[d];
  __syncthreads();
  auto key_ptr = [&](const double* base, int j) {
    return base + ((static_cast<long long>(b) * p.seqlen_k + j) * p.heads_kv + hk) * D;
  };
  auto score = [&](int j) {
    const double* kj = key_ptr(p.k, j);
    double s = 0;
    for (int d = 0; d < D; ++d) s += q_row[d] * kj[d];
    return s * p.scale;
  };
  double local_max = -INFINITY;
  for (int j = threadIdx.x; j < seqlen_k; j += kThreads)
    if (key_visible(p.mask, i, j, p.seqlen_q, seqlen_k)) local_max = fmax(local_max, score(j));
  const double m = block_reduce(local_max, scratch, true);
  double local_sum = 0;
  double acc[2] = {0, 0};  // this thread's output columns d = tid and tid + 128 (D <= 256)
  if (m != -INFINITY) {
    for (int j0 = 0; j0 < seqlen_k; j0 += kThreads) {
      const int j = j0 + threadIdx.x;
      double pj = 0;
      if (j < seqlen_k && key_visible(p.mask, i, j, p.seqlen_q, seqlen_k)) pj = exp(score(j) - m);
      local_sum += pj;
      chunk_p[threadIdx.x] = pj;
      __syncthreads();
      const int n = min(kThreads, seqlen_k - j0);
      for (int c = 0; c < 2; ++c) {
        const int d = threadIdx.x + c * kThreads;
        if (d >= D) continue;
        for (int t = 0; t < n; ++t) acc[c] += chunk_p[t] * key_ptr(p.v, j0 + t)[d];
      }
      __syncthreads();
    }
  }
  const double l = block_reduce(local_sum, scratch, false);
  double* o = p.o + ((static_cast<long long>(b) * p.seqlen_q + i) * p.heads_q + h) * D;
  for (int c = 0; c < 2; ++c) {
    const int d = threadIdx.x + c * kThreads;
    if (d < D) o[d] = l > 0 ? acc[c] / l : 0.0;  // fully masked row: defined as 0
  }
  if (threadIdx.x == 0)
    p.lse[(static_cast<long long>(b) * p.heads_q + h) * p.seqlen_q + i] = l > 0 ? m + log(l) : -INFINITY;
}

__device__ float round_to_dtype(float x, int dtype) {
  return dtype == 0 ? __half2float(__float2half_rn(x)) : __bfloat162float(__float2bfloat16_rn(x));
}

// ---- naive same-precision baseline: every tensor a PyTorch op would materialize is rounded ----
__global__ void naive_baseline_kernel(RefParams p) {
  const int i = blockIdx.x, h = blockIdx.y, b = blockIdx.z, D = p.head_dim;
  const int seqlen_k = p.seqlens_k ? static_cast<int>(p.seqlens_k[b]) : p.seqlen_k;
  const int hk = static_cast<int>(kv_head_for(h, p.heads_q, p.heads_kv, p.gqa));
  __shared__ float scratch[kThreads];
  __shared__ float chunk_p[kThreads];
  extern __shared__ double q_row_d[];
  float* q_row = reinterpret_cast<float*>(q_row_d);  // (D): q * scale rounded to the dtype
  const double* q = p.q + ((static_cast<long long>(b) * p.seqlen_q + i) * p.heads_q + h) * D;
  for (int d = threadIdx.x; d < D; d += kThreads) q_row[d] = round_to_dtype(static_cast<float>(q[d]) * static_cast<float>(p.scale), p.dtype);
  __syncthreads();
  auto key_ptr = [&](const double* base, int j) {
    return base + ((static_cast<long long>(b) * p.seqlen_k + j) * p.heads_kv + hk) * D;
  };
  auto score = [&](int j) {  // FP32 accumulation, the product rounded to the dtype
    const double* kj = key_ptr(p.k, j);
    float s = 0;
    for (int d = 0; d < D; ++d) s = __fmaf_rn(q_row[d], static_cast<float>(kj[d]), s);
    return round_to_dtype(s, p.dtype);
  };
  float local_max = -INFINITY;
  for (int j = threadIdx.x; j < seqlen_k; j += kThreads)
    if (key_visible(p.mask, i, j, p.seqlen_q, seqlen_k)) local_max = fmaxf(local_max, score(j));
  const float m = block_reduce(local_max, scratch, true);
  float local_sum = 0;
  if (m != -INFINITY)
    for (int j = threadIdx.x; j < seqlen_k; j += kThreads)
      if (key_visible(p.mask, i, j, p.seqlen_q, seqlen_k)) local_sum += expf(score(j) - m);
  const float l = block_reduce(local_sum, scratch, false);
  float acc[2] = {0, 0};
  if (m != -INFINITY) {
    for (int j0 = 0; j0 < seqlen_k; j0 += kThreads) {
      const int j = j0 + threadIdx.x;
      float pj = 0;
      if (j < seqlen_k && key_visible(p.mask, i, j, p.seqlen_q, seqlen_k)) pj = round_to_dtype(expf(score(j) - m) / l, p.dtype);
      chunk_p[threadIdx.x] = pj;
      __syncthreads();
      const int n = min(kThreads, seqlen_k - j0);
      for (int c = 0; c < 2; ++c) {
        const int d = threadIdx.x + c * kThreads;
        if (d >= D) continue;
        for (int t = 0; t < n; ++t) acc[c] = __fmaf_rn(chunk_p[t], static_cast<float>(key_ptr(p.v, j0 + t)[d]), acc[c]);
      }
      __syncthreads();
    }
  }
  double* o = p.o + ((static_cast<long long>(b) * p.seqlen_q + i) * p.heads_q + h) * D;
  for (int c = 0; c < 2; ++c) {
    const int d = threadIdx.x + c * kThreads;
    if (d < D) o[d] = m != -INFINITY ? round_to_dtype(acc[c], p.dtype) : 0.0;
  }
  if (threadIdx.x == 0)
    p.lse[(static_cast<long long>(b) * p.heads_q + h) * p.seqlen_q + i] = m != -INFINITY ? m + log(static_cast<double>(l)) : -INFINITY;
}

template <class Kernel>
AttentionOutputs run_reference(const Problem& problem, const AttentionInputs& in, Kernel kernel, bool rounded) {
  problem.validate();
  if (problem.head_dim > 2 * kThreads) throw ProblemError("gpu reference: head_dim above 256 is not supported");
  if (problem.seqlen_q > 2147483647LL || problem.batch > 65535 || problem.num_heads_q > 65535)
    throw ProblemError("gpu reference: grid too large for one launch");
  const size_t nq = in.q.storage().size(), nk = in.k.storage().size();
  const size_t nlse = static_cast<size_t>(problem.batch * problem.num_heads_q * problem.seqlen_q);
  double *dq, *dk, *dv, *dout, *dlse;
  long long* dlens = nullptr;
  check(cudaMalloc(&dq, nq * 8), "cudaMalloc");
  check(cudaMalloc(&dk, nk * 8), "cudaMalloc");
  check(cudaMalloc(&dv, nk * 8), "cudaMalloc");
  check(cudaMalloc(&dout, nq * 8), "cudaMalloc");
  check(cudaMalloc(&dlse, nlse * 8), "cudaMalloc");
  check(cudaMemcpy(dq, in.q.data(), nq * 8, cudaMemcpyHostToDevice), "copy q");
  check(cudaMemcpy(dk, in.k.data(), nk * 8, cudaMemcpyHostToDevice), "copy k");
  check(cudaMemcpy(dv, in.v.data(), nk * 8, cudaMemcpyHostToDevice), "copy v");
  if (!problem.seqlens_k.empty()) {
    std::vector<long long> lens(problem.seqlens_k.begin(), problem.seqlens_k.end());
    check(cudaMalloc(&dlens, lens.size() * 8), "cudaMalloc");
    check(cudaMemcpy(dlens, lens.data(), lens.size() * 8, cudaMemcpyHostToDevice), "copy seqlens");
  }
  RefParams p{dq, dk, dv, dout, dlse, dlens,
              static_cast<int>(problem.batch), static_cast<int>(problem.seqlen_q), static_cast<int>(problem.seqlen_k),
              static_cast<int>(problem.num_heads_q), static_cast<int>(problem.num_heads_kv), static_cast<int>(problem.head_dim),
              problem.gqa, problem.scale(), problem.mask, problem.dtype == DType::bf16 ? 1 : 0};
  const dim3 grid(static_cast<unsigned>(problem.seqlen_q), static_cast<unsigned>(problem.num_heads_q), static_cast<unsigned>(problem.batch));
  kernel<<<grid, kThreads, problem.head_dim * sizeof(double)>>>(p);
  check(cudaGetLastError(), "launch");
  check(cudaDeviceSynchronize(), "kernel");
  AttentionOutputs out;
  out.o = Tensor<double>(problem.q_shape());
  out.lse = Tensor<double>(problem.lse_shape());
  out.out_dtype = rounded ? problem.dtype : DType::fp64;
  check(cudaMemcpy(out.o.data(), dout, nq * 8, cudaMemcpyDeviceToHost), "copy o");
  check(cudaMemcpy(out.lse.data(), dlse, nlse * 8, cudaMemcpyDeviceToHost), "copy lse");
  cudaFree(dq); cudaFree(dk); cudaFree(dv); cudaFree(dout); cudaFree(dlse);
  if (dlens) cudaFree(dlens);
  return out;
}

}  // namespace

AttentionOutputs gpu_truth_fp64(const Problem& problem, const AttentionInputs& inputs) {
  return run_reference(problem, inputs, truth_fp64_kernel, false);
}
AttentionOutputs gpu_naive_baseline(const Problem& problem, const AttentionInputs& inputs) {
  return run_reference(problem, inputs, naive_baseline_kernel, true);
}

}  // namespace attn
