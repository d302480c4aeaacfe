// decode_bench.cu: CUDA-event timing of the decode kernels (see decode_bench.h).
#include "kernels/decode/decode_bench.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "core/errors.h"
#include "kernels/cache/cache_plan.h"
#include "kernels/decode/decode_launch.h"
#include "kernels/device_buffer.h"

namespace attn {
namespace {

void check(cudaError_t e, const std::string& what) {
  if (e != cudaSuccess) throw Error("decode bench: " + what + ": " + cudaGetErrorString(e));
}

/// Pseudo-random timing data (never zeros): FP16/BF16 values uniform in [-1, 1), or finite E4M3
/// bytes (any sign, exponent and mantissa but the NaN pattern).
__global__ void fill_random(uint8_t* out, int64_t elements, int element_bytes, uint32_t seed, int is_bf16) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < elements;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    uint32_t h = static_cast<uint32_t>(i) * 0x9E3779B1u ^ seed;
    h ^= h >> 16; h *= 0x85EBCA6Bu; h ^= h >> 13; h *= 0xC2B2AE35u; h ^= h >> 16;
    if (element_bytes == 1) {
      uint8_t b = static_cast<uint8_t>(h);
      if ((b & 0x7F) == 0x7F) b ^= 1;  // S.1111.111 is NaN in E4M3
      out[i] = b;
      continue;
    }
    const float x = static_cast<float>(h >> 8) * (1.0f / 8388608.0f) - 1.0f;
    uint16_t bits;
    if (is_bf16) {
      __nv_bfloat16 v = __float2bfloat16_rn(x);
      bits = *reinterpret_cast<uint16_t*>(&v);
    } else {
      __half v = __float2half_rn(x);
      bits = *reinterpret_cast<uint16_t*>(&v);
    }
    reinterpret_cast<uint16_t*>(out)[i] = bits;
  }
}

void fill(DeviceBuffer& buffer, int64_t elements, int element_bytes, uint32_t seed, DType dtype) {
  const int blocks = static_cast<int>(std::min<int64_t>((elements + 255) / 256, 65536));
  fill_random<<<blocks, 256>>>(static_cast<uint8_t*>(buffer.ptr), elements, element_bytes, seed, dtype == DType::bf16);
  check(cudaGetLastError(), "fill");
}

}  // namespace

std::vector<DecodeBenchCase> decode_bench_cases() {
  auto make = [](std::string label, DecodeKernelKind kind, int fixed, int page, bool fp8, int ctas, int heads) {
    DecodeVariant v;
    v.name = "bench." + label;
    v.kind = kind;
    v.fixed_split_keys = fixed;
    v.page_size = page;
    v.fp8_cache = fp8;
    v.ctas_per_sm = ctas;
    v.max_heads_per_cta = heads;
    return DecodeBenchCase{std::move(label), v};
  };
  auto warps = [](DecodeBenchCase c, int n) {
    c.variant.mma_warps = n;
    return c;
  };
  auto splits = [](DecodeBenchCase c, int n) {  // a fixed split count (the count plan) instead of the heuristic
    c.variant.fixed_splits = n;
    return c;
  };
  auto global_combine = [](DecodeBenchCase c) {  // the last-CTA combine from global memory, not the cluster's
    c.variant.cluster_combine = false;
    return c;
  };
  const DecodeKernelKind bulk = DecodeKernelKind::bulk, cores = DecodeKernelKind::cuda_cores, mma = DecodeKernelKind::mma;
  // mma: the 4-warp form; mma.w12*: the registered 12-warp form (the production default);
  // mma.w4x3*: the co-resident form (4 warps x 3 CTAs per SM; decode_mma_co_resident);
  // mma.w12.s6: the 12-warp form with 6 splits per (entry, KV head) (B 8: 384 CTAs in 3 waves).
  // *.gcomb: the split combine by the last CTA from global memory instead of the cluster's shared memory.
  return {warps(make("mma", mma, 0, 0, false, 1, 1), 4),  warps(make("mma.paged16", mma, 0, 16, false, 1, 1), 4),
          warps(make("mma.paged256", mma, 0, 256, false, 1, 1), 4), warps(make("mma.fixed256", mma, 256, 0, false, 1, 1), 4),
          warps(make("mma.w8", mma, 0, 0, false, 1, 1), 8), warps(make("mma.w12", mma, 0, 0, false, 1, 1), 12),
          warps(make("mma.w12.paged16", mma, 0, 16, false, 1, 1), 12),
          global_combine(warps(make("mma.w12.gcomb", mma, 0, 0, false, 1, 1), 12)),
          global_combine(warps(make("mma.w12.fixed2048.gcomb", mma, 2048, 0, false, 1, 1), 12)),
          global_combine(warps(make("mma.w12.fp8.gcomb", mma, 0, 0, true, 1, 1), 12)),
          splits(warps(make("mma.w12.s6", mma, 0, 0, false, 1, 1), 12), 6),
          warps(make("mma.w4x3", mma, 0, 0, false, 3, 1), 4), warps(make("mma.w4x3.paged16", mma, 0, 16, false, 3, 1), 4),
          warps(make("mma.w12.paged256", mma, 0, 256, false, 1, 1), 12),
          warps(make("mma.w12.fixed256", mma, 256, 0, false, 1, 1), 12),
          warps(make("mma.w12.fixed512", mma, 512, 0, false, 1, 1), 12),
          warps(make("mma.w12.fixed1024", mma, 1024, 0, false, 1, 1), 12),
          warps(make("mma.w12.fixed2048", mma, 2048, 0, false, 1, 1), 12),
          warps(make("mma.w12.fixed4096", mma, 4096, 0, false, 1, 1), 12),
          warps(make("mma.w12.fp8", mma, 0, 0, true, 1, 1), 12),
          warps(make("mma.w12.fp8.paged16", mma, 0, 16, true, 1, 1), 12),
          make("bulk", bulk, 0, 0, false, 1, 4),          make("bulk.paged16", bulk, 0, 16, false, 1, 4),
          make("bulk.paged256", bulk, 0, 256, false, 1, 4), make("bulk.fixed256", bulk, 256, 0, false, 1, 4),
          make("bulk.fp8", bulk, 0, 0, true, 1, 4),        make("bulk1h", bulk, 0, 0, false, 2, 1),
          make("bulk1h.1cta", bulk, 0, 0, false, 1, 1),
          make("cuda-cores", cores, 0, 0, false, 1, 1),     make("cuda-cores.paged16", cores, 0, 16, false, 1, 1),
          make("cuda-cores.paged256", cores, 0, 256, false, 1, 1), make("cuda-cores.fixed256", cores, 256, 0, false, 1, 1)};
}

DecodeTiming time_decode_case(const DecodeBenchCase& bench_case, const DecodeBenchShape& s, int warmup, int iterations) {
  DecodeVariant v = bench_case.variant;
  v.dtype = s.dtype;
  v.head_dim = s.head_dim;
  const int B = s.batch, L = s.keys, Hq = s.heads_q, Hkv = s.heads_kv, D = s.head_dim, Sq = s.seqlen_q;
  if (L < 1 || B < 1 || Hkv < 1 || Hq % Hkv != 0 || iterations < 1) throw Error("decode bench: bad shape");
  const int page = v.page_size, element_bytes = v.fp8_cache ? 1 : 2;
  const int capacity = page ? (L + page - 1) / page * page : L;
  const int64_t cache_elements = static_cast<int64_t>(B) * capacity * Hkv * D;
  DeviceBuffer dq(static_cast<size_t>(B) * Sq * Hq * D * 2), dk(static_cast<size_t>(cache_elements) * element_bytes),
      dv(static_cast<size_t>(cache_elements) * element_bytes), dout(static_cast<size_t>(B) * Sq * Hq * D * 2),
      dlse(static_cast<size_t>(B) * Hq * Sq * 4);
  fill(dq, static_cast<int64_t>(B) * Sq * Hq * D, 2, 1, s.dtype);
  fill(dk, cache_elements, element_bytes, 2, s.dtype);
  fill(dv, cache_elements, element_bytes, 3, s.dtype);
  const std::vector<int64_t> lens(static_cast<size_t>(B), L);
  const SplitPlan plan = decode_split_plan(v, lens, Hkv, static_cast<int64_t>(Sq) * (Hq / Hkv));
  const size_t rows = static_cast<size_t>(B) * Hq * Sq;
  DeviceBuffer dpo(static_cast<size_t>(plan.max_splits) * rows * D * 4), dplse(static_cast<size_t>(plan.max_splits) * rows * 4);
  const size_t counters = static_cast<size_t>(decode_counter_count(B, Hq, Hkv, Sq));
  DeviceBuffer dcount(counters * 4), dlens(static_cast<size_t>(B) * 4), dtable, dks, dvs;
  check(cudaMemset(dcount.ptr, 0, counters * 4), "clear counters");
  const std::vector<int> lens32(static_cast<size_t>(B), L);
  check(cudaMemcpy(dlens.ptr, lens32.data(), lens32.size() * 4, cudaMemcpyHostToDevice), "copy seq_lens");
  DecodeParams p;
  p.q = dq.ptr; p.k_cache = dk.ptr; p.v_cache = dv.ptr; p.o = dout.ptr; p.lse = dlse.as<float>();
  p.partial_o = dpo.as<float>(); p.partial_lse = dplse.as<float>(); p.split_counters = dcount.as<int>();
  p.seqlens_k = dlens.as<const int>();
  if (page > 0) {  // identity block table: the address arithmetic is what costs, not the order
    std::vector<int> table(static_cast<size_t>(B) * (capacity / page));
    for (size_t i = 0; i < table.size(); ++i) table[i] = static_cast<int>(i);
    dtable = upload(table, "copy block table");
    p.layout = KvLayout{dtable.as<const int>(), page, capacity / page, B * (capacity / page)};
  }
  p.batch = B; p.seqlen_q = Sq; p.capacity = capacity; p.num_heads_q = Hq; p.num_heads_kv = Hkv; p.head_dim = D;
  p.keys_per_split = static_cast<int>(plan.keys_per_split);
  p.max_splits = static_cast<int>(plan.max_splits);
  p.scale = 1.0f / std::sqrt(static_cast<float>(D));
  DecodeTiming t;
  if (v.kind == DecodeKernelKind::bulk) {
    const DecodeBulkShape shape = decode_bulk_shape(D, v.fp8_cache, Hkv, Sq * (Hq / Hkv), v.ctas_per_sm, v.max_heads_per_cta);
    if (shape.invalid) throw Error(std::string("decode bench: ") + shape.invalid);
    p.kind = DecodeKernelKind::bulk;
    p.heads_per_cta = shape.heads_per_cta;
    p.stages = shape.stages;
    p.ctas_per_sm = v.ctas_per_sm;
  }
  p.fp8_cache = v.fp8_cache;
  if (v.fp8_cache) {
    const std::vector<float> scales(static_cast<size_t>(Hkv), 0.0625f);
    dks = upload(scales, "copy K scales");
    dvs = upload(scales, "copy V scales");
    p.k_scale = dks.as<const float>();
    p.v_scale = dvs.as<const float>();
  }
  if (v.kind == DecodeKernelKind::mma) {
    p.kind = DecodeKernelKind::mma;
    p.mma_warps = v.mma_warps;
    p.ctas_per_sm = v.ctas_per_sm;
    p.cluster_combine = v.cluster_combine;
  }
  t.splits = p.max_splits;
  t.keys_per_split = p.keys_per_split;
  t.heads_per_cta = p.heads_per_cta;
  t.stages = p.stages;
  t.bytes = 2.0 * B * static_cast<double>(L) * Hkv * D * element_bytes;

  constexpr size_t kScratch = size_t{256} << 20;  // larger than the H200's 60 MB L2
  DeviceBuffer scratch(kScratch);
  auto launch = [&] { launch_decode(p, v.dtype, Mutant::none, nullptr); };
  for (int w = 0; w < warmup; ++w) launch();
  check(cudaDeviceSynchronize(), "warm-up");
  cudaEvent_t start, stop;
  check(cudaEventCreate(&start), "event");
  check(cudaEventCreate(&stop), "event");
  std::vector<float> ms(static_cast<size_t>(iterations));
  for (int it = 0; it < iterations; ++it) {
    check(cudaMemsetAsync(scratch.ptr, it & 0xFF, kScratch), "evict L2");
    cudaEventRecord(start);
    launch();
    cudaEventRecord(stop);
    check(cudaEventSynchronize(stop), "cold launch");
    cudaEventElapsedTime(&ms[static_cast<size_t>(it)], start, stop);
  }
  std::nth_element(ms.begin(), ms.begin() + iterations / 2, ms.end());
  t.cold_us = 1e3 * ms[static_cast<size_t>(iterations / 2)];
  cudaEventRecord(start);
  for (int it = 0; it < iterations; ++it) launch();
  cudaEventRecord(stop);
  check(cudaEventSynchronize(stop), "warm launches");
  float total = 0;
  cudaEventElapsedTime(&total, start, stop);
  t.warm_us = 1e3 * total / iterations;
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  check(cudaGetLastError(), "timing");
  t.cold_tbps = t.bytes / (t.cold_us * 1e-6) / 1e12;
  t.warm_tbps = t.bytes / (t.warm_us * 1e-6) / 1e12;
  return t;
}

}  // namespace attn
