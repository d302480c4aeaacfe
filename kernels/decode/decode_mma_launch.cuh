// decode_mma_launch.cuh: the launch helpers of the tensor-core decode kernel shared by its
// translation units (decode_mma.cu: production instantiations; decode_mma_rows8.cu: the 8-row
// instantiations; decode_mma_fp8.cu: the E4M3-cache forms; decode_mma_mutants.cu and
// decode_mma_fp8_mutants.cu: the planted mutants; each TU compiled apart so that they build in
// parallel): the shared-memory opt-in, one launch, the occupancy query, the production dispatch.
// CUDA host code; not the kernel itself.
#pragma once

#include <cuda_runtime.h>

#include <atomic>
#include <cstdint>
#include <string>

#include "core/errors.h"
#include "kernels/decode/decode_launch.h"
#include "kernels/decode/decode_mma.cuh"

namespace attn {

/// The production shape: 4 warps of 32-key tiles, 3 stages each. Rows: 16, or 8 where
/// S_q x group <= 8 (DecodeMmaTraits; the launch picks it, the bits are the same).
template <DType Elem, int HeadDim, Mutant M = Mutant::none, int Rows = kDecodeMmaMaxRows>
using DecodeMmaProduction = DecodeMmaTraits<Elem, HeadDim, 4, 32, 3, M, Rows>;
/// The alternative measured against it (DecodeParams::mma_warps = 8): 8 warps of 16-key tiles,
/// 3 stages each (FP16, D 128: 192 KiB of stages, two warps per scheduler).
template <int Rows = kDecodeMmaMaxRows>
using DecodeMmaEightWarps = DecodeMmaTraits<DType::fp16, 128, 8, 16, 3, Mutant::none, Rows>;
/// The registered form (kernels/variants.toml's mma12- variants; every dtype and D): 12 warps of
/// 16-key tiles, three warps per scheduler, Q in shared memory, 8-row blocks only (at the
/// 168-register cap the 16-row form spills): S_q x group > 8 runs ceil(rows / 8) CTAs per (split,
/// KV head, entry). D 128: 2 stages, D 64: 4, the same 192 KiB of stages (the same bytes in
/// flight); with Q, the combine's rows and the cluster combine's 8 slots 226 KiB (D 128), 209 KiB (D 64).
template <DType Elem, int HeadDim, Mutant M = Mutant::none>
using DecodeMmaTwelveWarps = DecodeMmaTraits<Elem, HeadDim, 12, 16, HeadDim == 128 ? 2 : 4, M, 8>;
/// Its E4M3-cache form (decode_mma_fp8.cu): raw stages of half the bytes plus one dequantized
/// tile per warp; D 128: 2 raw stages (2 tiles in flight during a tile's compute), D 64: 6; the
/// 16-bit form's shared memory per CTA. The cache mutants are planted in it too
/// (decode_mma_fp8_mutants.cu): their bugs live in the split plan, the head map, the mask and
/// the combine, which both caches share.
template <DType Elem, int HeadDim, Mutant M = Mutant::none>
using DecodeMmaTwelveWarpsFp8 = DecodeMmaTraits<Elem, HeadDim, 12, 16, HeadDim == 128 ? 2 : 6, M, 8, true>;

/// The co-resident form (DecodeParams::mma_warps 4 with ctas_per_sm 3; a bench shape): the
/// 12-warp form's warps per SM, stages and 16-key tiles as 3 CTAs of 4 warps per SM, 8-row blocks,
/// Q in shared memory (3 x 70 KiB at D 128, 3 x 74 KiB at D 64), so that the heuristic plan
/// launches 3 CTAs per SM: more, smaller CTAs to balance the SMs' finishing times.
template <DType Elem, int HeadDim>
using DecodeMmaCoResident = DecodeMmaTraits<Elem, HeadDim, 4, 16, HeadDim == 128 ? 2 : 4, Mutant::none, 8>;  // kCtasPerSm 3

/// The rows of one CTA of a launch: 8 for the 12-warp and co-resident forms and wherever S_q x
/// group <= 8, else 16.
inline int decode_mma_rows(const DecodeParams& p) {
  return p.mma_warps == 12 || decode_mma_co_resident(p.mma_warps, p.ctas_per_sm) ||
                 p.seqlen_q * (p.num_heads_q / p.num_heads_kv) <= 8
             ? 8
             : kDecodeMmaMaxRows;
}

/// The planted-mutant half of the dispatch (decode_mma_mutants.cu; D = 128, the 12-warp form,
/// 16-bit or E4M3 cache).
void launch_decode_mma_mutant(const DecodeParams& p, DType dtype, Mutant mutant, cudaStream_t stream);
/// Its E4M3-cache half (decode_mma_fp8_mutants.cu).
void launch_decode_mma_fp8_mutant(const DecodeParams& p, DType dtype, Mutant mutant, cudaStream_t stream);
/// The 8-row half of the production dispatch (decode_mma_rows8.cu; S_q x group <= 8).
void launch_decode_mma_rows8(const DecodeParams& p, DType dtype, cudaStream_t stream);
/// The E4M3-cache half of the dispatch (decode_mma_fp8.cu; the 12-warp form, every dtype and D).
void launch_decode_mma_fp8(const DecodeParams& p, DType dtype, cudaStream_t stream);
/// Resident CTAs of the 12-warp form, or (co_resident) of the co-resident form (decode_mma_rows8.cu:
/// both exist with 8 rows only).
int64_t decode_mma_twelve_warps_resident_ctas(DType dtype, int head_dim, bool co_resident = false);
/// The tensor-core kernel's half of launch_decode (decode_mma.cu), after the common checks.
void launch_decode_mma(const DecodeParams& p, DType dtype, Mutant mutant, cudaStream_t stream);

namespace decode {

template <class Traits>
void configure_mma_smem() {
  static bool configured = false;  // opt in to > 48 KiB dynamic shared memory once per instantiation
  if (configured) return;
  const cudaError_t e =
      cudaFuncSetAttribute(decode_mma_kernel<Traits>, cudaFuncAttributeMaxDynamicSharedMemorySize, Traits::kSmemBytes);
  if (e != cudaSuccess) throw Error(std::string("decode mma: cudaFuncSetAttribute: ") + cudaGetErrorString(e));
  configured = true;
}

/// Clusters of `size` CTAs of this instantiation the GPU holds at once (cudaOccupancyMaxActiveClusters,
/// asked once per size).
template <class Traits>
int mma_resident_clusters(int size) {
  static std::atomic<int> cached[Traits::kMaxClusterSplits + 1] = {};
  int n = cached[size].load();
  if (n > 0) return n;
  cudaLaunchConfig_t config = {};
  config.gridDim = dim3(static_cast<unsigned>(size));
  config.blockDim = dim3(Traits::kThreads);
  config.dynamicSmemBytes = Traits::kSmemBytes;
  cudaLaunchAttribute cluster;
  cluster.id = cudaLaunchAttributeClusterDimension;
  cluster.val.clusterDim.x = static_cast<unsigned>(size);
  cluster.val.clusterDim.y = 1;
  cluster.val.clusterDim.z = 1;
  config.attrs = &cluster;
  config.numAttrs = 1;
  if (cudaOccupancyMaxActiveClusters(&n, decode_mma_kernel<Traits>, &config) != cudaSuccess || n < 1) n = 0;
  cached[size].store(n);
  return n;
}

/// Whether a launch combines its splits in a thread block cluster (DecodeParams::cluster_combine):
/// a form whose merge fits the cluster protocol, one row block (the cluster is then exactly the
/// splits of one (entry, KV head) along grid.x, rank = split), 2 to kMaxClusterSplits splits, and
/// every cluster resident at once. In a launch of several waves the combine's latency hides behind
/// the next wave, while clusters of one-SM CTAs leave SMs idle between waves (call 23: 8-CTA
/// clusters over 4 waves at 0.90x the global combine); in one wave the combine is the tail.
template <class Traits>
bool mma_cluster_combine(const DecodeParams& p, int row_blocks) {
  if (!Traits::kClusterCombine || !p.cluster_combine || row_blocks != 1 || p.max_splits < 2 ||
      p.max_splits > Traits::kMaxClusterSplits)
    return false;
  return static_cast<int64_t>(p.batch) * p.num_heads_kv <= mma_resident_clusters<Traits>(p.max_splits);
}

template <class Traits>
void launch_mma_traits(const DecodeParams& p, cudaStream_t stream) {
  configure_mma_smem<Traits>();
  const int row_blocks = decode_mma_row_blocks(p.seqlen_q * (p.num_heads_q / p.num_heads_kv), Traits::kRows);
  const dim3 grid(static_cast<unsigned>(p.max_splits) * row_blocks, p.num_heads_kv, p.batch);  // x: (split, row block)
  if (!mma_cluster_combine<Traits>(p, row_blocks)) {
    decode_mma_kernel<Traits><<<grid, Traits::kThreads, Traits::kSmemBytes, stream>>>(p);
    return;
  }
  cudaLaunchConfig_t config = {};
  config.gridDim = grid;
  config.blockDim = dim3(Traits::kThreads);
  config.dynamicSmemBytes = Traits::kSmemBytes;
  config.stream = stream;
  cudaLaunchAttribute cluster;
  cluster.id = cudaLaunchAttributeClusterDimension;
  cluster.val.clusterDim.x = static_cast<unsigned>(p.max_splits);
  cluster.val.clusterDim.y = 1;
  cluster.val.clusterDim.z = 1;
  config.attrs = &cluster;
  config.numAttrs = 1;
  const cudaError_t e = cudaLaunchKernelEx(&config, decode_mma_kernel<Traits>, p);
  if (e != cudaSuccess) throw Error(std::string("decode mma: cluster launch: ") + cudaGetErrorString(e));
}

template <class Traits>
int64_t mma_resident_ctas() {
  configure_mma_smem<Traits>();
  int per_sm = 0, device = 0, sms = 0;
  if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, decode_mma_kernel<Traits>, Traits::kThreads, Traits::kSmemBytes) !=
          cudaSuccess ||
      cudaGetDevice(&device) != cudaSuccess || cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device) != cudaSuccess)
    throw Error("decode mma: occupancy query failed");
  return static_cast<int64_t>(per_sm > 1 ? per_sm : 1) * sms;
}

/// Launches Form<dtype, 128, mutant>: the cache-path and split-combine mutants the decode kernel
/// plants (kernels/variants.toml's mma12[-fp8]-fixed64 mutants; D 128), one dispatch for every
/// form that plants them (decode_mma_mutants.cu: 16-bit caches; decode_mma_fp8_mutants.cu: E4M3).
template <template <DType, int, Mutant> class Form>
void launch_mma_mutant(const DecodeParams& p, DType dtype, Mutant mutant, cudaStream_t stream) {
  if (dtype != DType::fp16 && dtype != DType::bf16) throw Error("decode mma: dtype must be fp16 or bf16");
  auto run = [&]<Mutant M>() {
    if (dtype == DType::bf16) launch_mma_traits<Form<DType::bf16, 128, M>>(p, stream);
    else launch_mma_traits<Form<DType::fp16, 128, M>>(p, stream);
  };
  switch (mutant) {
    case Mutant::stale_seqlens: run.template operator()<Mutant::stale_seqlens>(); break;
    case Mutant::interleaved_gqa_in_cache_path: run.template operator()<Mutant::interleaved_gqa_in_cache_path>(); break;
    case Mutant::top_left_in_cache_path: run.template operator()<Mutant::top_left_in_cache_path>(); break;
    case Mutant::base2_lse_natural_combine: run.template operator()<Mutant::base2_lse_natural_combine>(); break;
    default: throw Error(std::string("decode mma: no decode variant plants ") + mutant_name(mutant));
  }
}

/// The 12-warp form as a template of (dtype, D) alone (for with_dtype_dim).
template <DType Elem, int HeadDim>
using DecodeMmaTwelveWarpsForm = DecodeMmaTwelveWarps<Elem, HeadDim>;

/// Calls fn.template operator()<Form<dtype, D>>() for FP16 / BF16 and D 64 / 128.
template <template <DType, int> class Form, class Fn>
auto with_dtype_dim(DType dtype, int head_dim, Fn&& fn) {
  const bool bf16 = dtype == DType::bf16;
  if (head_dim == 64)
    return bf16 ? fn.template operator()<Form<DType::bf16, 64>>() : fn.template operator()<Form<DType::fp16, 64>>();
  return bf16 ? fn.template operator()<Form<DType::bf16, 128>>() : fn.template operator()<Form<DType::fp16, 128>>();
}

/// Calls fn.template operator()<Traits>() for the instantiation of (dtype, D, warps) with Rows rows
/// (4 warps with ctas_per_sm 3: the co-resident form).
template <int Rows, class Fn>
auto with_mma_traits(DType dtype, int head_dim, int warps, Fn&& fn, int ctas_per_sm = 1) {
  if (head_dim != 64 && head_dim != 128) throw Error("decode mma: head_dim must be 64 or 128");
  if (dtype != DType::fp16 && dtype != DType::bf16) throw Error("decode mma: dtype must be fp16 or bf16");
  if (warps != 4 && warps != 8 && warps != 12) throw Error("decode mma: 4, 8 or 12 warps per CTA");
  if (warps == 8 && (dtype != DType::fp16 || head_dim != 128)) throw Error("decode mma: 8 warps are compiled for FP16, D = 128 only");
  if (warps == 8) return fn.template operator()<DecodeMmaEightWarps<Rows>>();
  const bool bf16 = dtype == DType::bf16;
  constexpr Mutant none = Mutant::none;
  if (decode_mma_co_resident(warps, ctas_per_sm)) {
    if constexpr (Rows == 8) {
      return with_dtype_dim<DecodeMmaCoResident>(dtype, head_dim, fn);
    } else {
      throw Error("decode mma: the co-resident form is compiled with 8-row blocks only");
    }
  }
  if (ctas_per_sm != 1) throw Error("decode mma: 3 CTAs per SM are compiled for 4 warps only");
  if (warps == 12) {
    if constexpr (Rows == 8) {
      return with_dtype_dim<DecodeMmaTwelveWarpsForm>(dtype, head_dim, fn);
    } else {
      throw Error("decode mma: 12 warps are compiled with 8-row blocks only (the 16-row form spills)");
    }
  }
  if (head_dim == 64)
    return bf16 ? fn.template operator()<DecodeMmaProduction<DType::bf16, 64, none, Rows>>()
                : fn.template operator()<DecodeMmaProduction<DType::fp16, 64, none, Rows>>();
  return bf16 ? fn.template operator()<DecodeMmaProduction<DType::bf16, 128, none, Rows>>()
              : fn.template operator()<DecodeMmaProduction<DType::fp16, 128, none, Rows>>();
}

}  // namespace decode
}  // namespace attn
