// decode_bulk.cu: host side of the bulk decode kernel (decode_bulk.cuh): the launch shape (KV
// heads per CTA and pipeline stages from the SM's shared memory), the dispatch from (dtype, FP8
// cache, head dim, CTAs per SM, mutant) to an instantiation, and its resident-CTA count for the
// heuristic split plan. The instantiations compile in decode_bulk_fp16.cu / decode_bulk_bf16.cu.
// Not the kernel, nor launch_decode's checks (decode.cu).
#include <cuda_runtime.h>

#include <algorithm>
#include <string>

#include "core/errors.h"
#include "kernels/decode/decode_bulk_launch.cuh"
#include "kernels/decode/decode_launch.h"

namespace attn {
namespace decode {
ATTN_DECODE_BULK_INSTANTIATIONS(ATTN_DECODE_BULK_EXTERN, DType::fp16)
ATTN_DECODE_BULK_INSTANTIATIONS(ATTN_DECODE_BULK_EXTERN, DType::bf16)
}  // namespace decode

namespace {

struct SharedMemoryLimits {
  int per_sm = 0, per_block_optin = 0, reserved_per_block = 0, sms = 0;
};

const SharedMemoryLimits& device_limits() {
  static const SharedMemoryLimits limits = [] {
    SharedMemoryLimits l;
    int device = 0;
    if (cudaGetDevice(&device) != cudaSuccess ||
        cudaDeviceGetAttribute(&l.per_sm, cudaDevAttrMaxSharedMemoryPerMultiprocessor, device) != cudaSuccess ||
        cudaDeviceGetAttribute(&l.per_block_optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, device) != cudaSuccess ||
        cudaDeviceGetAttribute(&l.reserved_per_block, cudaDevAttrReservedSharedMemoryPerBlock, device) != cudaSuccess ||
        cudaDeviceGetAttribute(&l.sms, cudaDevAttrMultiProcessorCount, device) != cudaSuccess)
      throw Error("decode bulk: cannot read the device's shared-memory limits");
    return l;
  }();
  return limits;
}

template <bool Fp8, int D>
DecodeBulkShape shape_for(int num_heads_kv, int rows_per_head, int ctas_per_sm, int max_heads_per_cta) {
  using Traits = decode::DecodeBulkTraits<DType::fp16, Fp8, D, 1>;  // the layout does not depend on the rest
  DecodeBulkShape shape;
  if (rows_per_head < 1 || rows_per_head > kDecodeBulkMaxRowsPerHead) {
    shape.invalid = "S_q x group above 16 rows per KV head (one m16 tile of the score MMA)";
    return shape;
  }
  const SharedMemoryLimits& l = device_limits();
  constexpr int kStaticSmem = 256;  // the kernel's static shared memory (the combine's flag; ptxas: 128 bytes)
  const int budget = std::min(l.per_block_optin, l.per_sm / ctas_per_sm - l.reserved_per_block) - kStaticSmem;
  const int rows4 = round_up4(rows_per_head);
  for (int heads : {4, 2, 1}) {
    if (heads > max_heads_per_cta || num_heads_kv % heads != 0 || heads * rows4 > Traits::kMaxRows) continue;
    if (ctas_per_sm == 2 && heads > 2) continue;  // the register cap of two CTAs per SM holds one QK unit per warp
    const int stages = std::min(Traits::kMaxStages, (budget - Traits::kFixedBytes) / Traits::stage_bytes(heads));
    if (stages < (heads == 1 ? 2 : 3)) continue;  // several heads only with a deep pipeline
    shape.heads_per_cta = heads;
    shape.stages = stages;
    shape.smem_bytes = decode::bulk_smem_bytes<Traits>(heads, stages);
    return shape;
  }
  shape.invalid = "no KV-head grouping fits two pipeline stages in the shared memory";
  return shape;
}

template <DType E, bool Fp8, int D>
void launch_bulk_ctas(const DecodeParams& p, Mutant mutant, cudaStream_t s) {
  using namespace decode;
  if (mutant != Mutant::none) {
    if constexpr (!Fp8 && D == 128) {
      switch (mutant) {
        case Mutant::stale_seqlens: return launch_bulk_traits<DecodeBulkTraits<E, false, 128, 1, Mutant::stale_seqlens>>(p, s);
        case Mutant::interleaved_gqa_in_cache_path:
          return launch_bulk_traits<DecodeBulkTraits<E, false, 128, 1, Mutant::interleaved_gqa_in_cache_path>>(p, s);
        case Mutant::top_left_in_cache_path:
          return launch_bulk_traits<DecodeBulkTraits<E, false, 128, 1, Mutant::top_left_in_cache_path>>(p, s);
        case Mutant::base2_lse_natural_combine:
          return launch_bulk_traits<DecodeBulkTraits<E, false, 128, 1, Mutant::base2_lse_natural_combine>>(p, s);
        default: break;
      }
    }
    throw Error(std::string("decode bulk: no instantiation plants ") + mutant_name(mutant) +
                " here (FP16/BF16 cache, D = 128, one CTA per SM only)");
  }
  if (p.ctas_per_sm == 2) {
    if constexpr (!Fp8 && D == 128) return launch_bulk_traits<DecodeBulkTraits<E, false, 128, 2>>(p, s);
    throw Error("decode bulk: two CTAs per SM are compiled for the FP16/BF16 cache at D = 128 only");
  }
  launch_bulk_traits<DecodeBulkTraits<E, Fp8, D, 1>>(p, s);
}

template <DType E>
void launch_bulk_dtype(const DecodeParams& p, Mutant mutant, cudaStream_t s) {
  if (p.fp8_cache) {
    if (p.head_dim == 64) return launch_bulk_ctas<E, true, 64>(p, mutant, s);
    return launch_bulk_ctas<E, true, 128>(p, mutant, s);
  }
  if (p.head_dim == 64) return launch_bulk_ctas<E, false, 64>(p, mutant, s);
  launch_bulk_ctas<E, false, 128>(p, mutant, s);
}

}  // namespace

DecodeBulkShape decode_bulk_shape(int head_dim, bool fp8_cache, int num_heads_kv, int rows_per_head, int ctas_per_sm,
                                  int max_heads_per_cta) {
  if (ctas_per_sm != 1 && ctas_per_sm != 2) throw Error("decode bulk: 1 or 2 CTAs per SM");
  if (head_dim != 64 && head_dim != 128) {
    DecodeBulkShape shape;
    shape.invalid = "head_dim must be 64 or 128";
    return shape;
  }
  if (fp8_cache) {
    return head_dim == 64 ? shape_for<true, 64>(num_heads_kv, rows_per_head, ctas_per_sm, max_heads_per_cta)
                          : shape_for<true, 128>(num_heads_kv, rows_per_head, ctas_per_sm, max_heads_per_cta);
  }
  return head_dim == 64 ? shape_for<false, 64>(num_heads_kv, rows_per_head, ctas_per_sm, max_heads_per_cta)
                        : shape_for<false, 128>(num_heads_kv, rows_per_head, ctas_per_sm, max_heads_per_cta);
}

int64_t decode_bulk_resident_ctas(int ctas_per_sm) { return static_cast<int64_t>(device_limits().sms) * ctas_per_sm; }

/// The bulk half of launch_decode (decode.cu checks the parameters first).
void launch_decode_bulk(const DecodeParams& p, DType dtype, Mutant mutant, void* stream) {
  if (p.heads_per_cta < 1 || p.num_heads_kv % p.heads_per_cta != 0)
    throw Error("decode bulk: " + std::to_string(p.heads_per_cta) + " KV heads per CTA do not divide H_kv");
  // The launch's heads and stages must be a shape decode_bulk_shape would choose (they fit).
  const DecodeBulkShape shape = decode_bulk_shape(p.head_dim, p.fp8_cache, p.num_heads_kv,
                                                  p.seqlen_q * (p.num_heads_q / p.num_heads_kv), p.ctas_per_sm, p.heads_per_cta);
  if (shape.invalid) throw Error(std::string("decode bulk: ") + shape.invalid);
  if (shape.heads_per_cta != p.heads_per_cta || p.stages < 2 || p.stages > shape.stages)
    throw Error("decode bulk: " + std::to_string(p.heads_per_cta) + " KV heads per CTA x " + std::to_string(p.stages) +
                " stages do not fit (" + std::to_string(shape.heads_per_cta) + " x " + std::to_string(shape.stages) + " do)");
  if (p.fp8_cache && (p.k_scale == nullptr || p.v_scale == nullptr)) throw Error("decode bulk: FP8 cache without scales");
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  if (dtype == DType::bf16) launch_bulk_dtype<DType::bf16>(p, mutant, s);
  else launch_bulk_dtype<DType::fp16>(p, mutant, s);
}

}  // namespace attn
