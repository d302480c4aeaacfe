// prefill_bench.cu: CUDA-event timing of prefill variants (see prefill_bench.h).
#include "kernels/prefill_bench.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

#include "core/errors.h"
#include "kernels/device_buffer.h"

namespace attn {
namespace {

void bench_check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw Error(std::string("bench: ") + what + ": " + cudaGetErrorString(e));
}

/// Uniform [-1, 1) as FP16 or BF16 bits from an integer hash of the index (timing data only).
__global__ void fill_uniform_bits(uint16_t* out, int64_t n, uint32_t seed, int is_bf16) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n; i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    uint32_t h = static_cast<uint32_t>(i) * 0x9E3779B1u ^ seed;
    h ^= h >> 16; h *= 0x85EBCA6Bu; h ^= h >> 13; h *= 0xC2B2AE35u; h ^= h >> 16;
    const float x = static_cast<float>(h >> 8) * (1.0f / 8388608.0f) - 1.0f;
    if (is_bf16) {
      __nv_bfloat16 b = __float2bfloat16_rn(x);
      out[i] = *reinterpret_cast<uint16_t*>(&b);
    } else {
      __half b = __float2half_rn(x);
      out[i] = *reinterpret_cast<uint16_t*>(&b);
    }
  }
}

}  // namespace

double attention_flops(const Problem& pr) {
  const double per_pair = 4.0 * pr.batch * pr.num_heads_q * pr.head_dim;
  const double sq = static_cast<double>(pr.seqlen_q), sk = static_cast<double>(pr.seqlen_k);
  const bool causal = pr.mask.kind == MaskKind::causal_bottom_right || pr.mask.kind == MaskKind::causal_top_left;
  if (!causal) return per_pair * sq * sk;
  if (pr.seqlen_q == pr.seqlen_k) return per_pair * sq * sk / 2;
  // Row i sees keys [0, i + 1 + offset), clipped to [0, S_k]: offset S_k - S_q (bottom-right), 0 (top-left).
  const int64_t offset = pr.mask.kind == MaskKind::causal_bottom_right ? pr.seqlen_k - pr.seqlen_q : 0;
  double pairs = 0;
  for (int64_t i = 0; i < pr.seqlen_q; ++i) pairs += static_cast<double>(std::clamp<int64_t>(i + 1 + offset, 0, pr.seqlen_k));
  return per_pair * pairs;
}

PrefillTiming time_prefill(const PrefillVariant& v, const Problem& pr, int warmup, int iterations, BenchKv kv) {
  pr.validate();
  if (kv.page_size < 0 || (kv.page_size > 0 && !kv.cache)) throw Error("bench: a page size needs a cache");
  const int64_t nq = pr.batch * pr.seqlen_q * pr.num_heads_q * pr.head_dim;
  // A paged cache: ceil(S_k / page) pages per entry, every entry's pages shuffled over the pool.
  const int64_t pages_per_seq = kv.page_size ? (pr.seqlen_k + kv.page_size - 1) / kv.page_size : 0;
  const int64_t rows = kv.page_size ? pr.batch * pages_per_seq * kv.page_size : pr.batch * pr.seqlen_k;
  const int64_t nk = rows * pr.num_heads_kv * pr.head_dim;
  // Owning buffers: a launch that throws (a variant refusing the shape) leaks nothing.
  DeviceBuffer q(static_cast<size_t>(nq) * 2), k(static_cast<size_t>(nk) * 2), vv(static_cast<size_t>(nk) * 2),
      o(static_cast<size_t>(nq) * 2), lse(static_cast<size_t>(pr.batch * pr.num_heads_q * pr.seqlen_q) * 4), seqlens, table;
  const int bf16 = v.dtype == DType::bf16;
  fill_uniform_bits<<<1024, 256>>>(q.as<uint16_t>(), nq, 1, bf16);
  fill_uniform_bits<<<1024, 256>>>(k.as<uint16_t>(), nk, 2, bf16);
  fill_uniform_bits<<<1024, 256>>>(vv.as<uint16_t>(), nk, 3, bf16);
  PrefillParams p = make_prefill_params(pr);
  p.q = q.ptr; p.k = k.ptr; p.v = vv.ptr; p.o = o.ptr; p.lse = lse.as<float>();
  if (kv.cache) {
    seqlens = upload(std::vector<int>(static_cast<size_t>(pr.batch), static_cast<int>(pr.seqlen_k)), "copy seq_lens");
    p.seqlens_k = seqlens.as<const int>();
  }
  if (kv.page_size) {
    // The pool's pages in a fixed pseudo-random order (an LCG permutation: a multiplier coprime
    // to the pool size), as a serving cache scatters them: neighbouring logical pages lie `step`
    // physical pages apart.
    const int64_t pool = pr.batch * pages_per_seq;
    int64_t step = 0x9E3779B1 % pool;
    while (std::gcd(step, pool) != 1) ++step;
    std::vector<int> pages(static_cast<size_t>(pool));
    for (int64_t i = 0; i < pool; ++i) pages[static_cast<size_t>(i)] = static_cast<int>((i * step + 7) % pool);
    table = upload(pages, "copy block table");
    p.layout = KvLayout{table.as<const int>(), kv.page_size, static_cast<int>(pages_per_seq), static_cast<int>(pool)};
  }
  for (int i = 0; i < warmup; ++i) v.launch(p, nullptr);
  bench_check(cudaGetLastError(), "launch");
  bench_check(cudaDeviceSynchronize(), "warm-up");
  std::vector<cudaEvent_t> events(static_cast<size_t>(iterations) + 1);
  for (auto& e : events) bench_check(cudaEventCreate(&e), "cudaEventCreate");
  cudaEventRecord(events[0]);
  for (int i = 0; i < iterations; ++i) {
    v.launch(p, nullptr);
    cudaEventRecord(events[static_cast<size_t>(i) + 1]);
  }
  bench_check(cudaEventSynchronize(events.back()), "timed runs");
  std::vector<double> ms(static_cast<size_t>(iterations));
  for (int i = 0; i < iterations; ++i) {
    float t = 0;
    cudaEventElapsedTime(&t, events[static_cast<size_t>(i)], events[static_cast<size_t>(i) + 1]);
    ms[static_cast<size_t>(i)] = t;
  }
  for (auto& e : events) cudaEventDestroy(e);
  std::sort(ms.begin(), ms.end());
  PrefillTiming t;
  t.iterations = iterations;
  t.median_ms = ms[ms.size() / 2];
  t.min_ms = ms.front();
  t.max_ms = ms.back();
  t.flops = attention_flops(pr);
  t.tflops = t.flops / (t.median_ms * 1e-3) / 1e12;
  return t;
}

std::string gpu_description() {
  cudaDeviceProp prop{};
  int driver = 0, runtime = 0;
  bench_check(cudaGetDeviceProperties(&prop, 0), "cudaGetDeviceProperties");
  cudaDriverGetVersion(&driver);
  cudaRuntimeGetVersion(&runtime);
  return std::string(prop.name) + ", " + std::to_string(prop.multiProcessorCount) + " SMs, driver API " +
         std::to_string(driver / 1000) + "." + std::to_string(driver % 1000 / 10) + ", CUDA runtime " +
         std::to_string(runtime / 1000) + "." + std::to_string(runtime % 1000 / 10);
}

}  // namespace attn
