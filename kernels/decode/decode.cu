// decode.cu: host launchers of the KV-cache decode split kernels: launch_decode's checks, then
// the bulk kernel (decode_bulk.cu), the tensor-core one (decode_mma.cu) or the CUDA-core one
// (decode_split.cuh): for the last, the dispatch from (dtype, head dim, stages, planted mutant) to a DecodeTraits instantiation, the shared-memory
// opt-in and the occupancy query the split planner uses. Every production instantiation is
// Mutant::none; the mutants (kernels/variants.toml) are compiled for D = 128, two stages. Not the
// kernels themselves, the combine (decode_combine.cuh) or the append (append.cu).
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "core/errors.h"
#include "kernels/decode/decode_launch.h"
#include "kernels/decode/decode_split.cuh"
#include "kernels/decode/decode_traits.h"

namespace attn {
namespace {

template <class Traits>
void configure_smem() {
  static bool configured = false;  // opt in to > 48 KiB dynamic shared memory once per instantiation
  if (configured) return;
  const cudaError_t e = cudaFuncSetAttribute(decode::decode_split_kernel<Traits>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                             static_cast<int>(Traits::smem_bytes(kDecodeRowsPerCta)));
  if (e != cudaSuccess) throw Error(std::string("decode: cudaFuncSetAttribute: ") + cudaGetErrorString(e));
  configured = true;
}

template <class Traits>
void launch_traits(const DecodeParams& p, cudaStream_t stream) {
  const int total_rows = p.seqlen_q * (p.num_heads_q / p.num_heads_kv);
  const int row_blocks = (total_rows + kDecodeRowsPerCta - 1) / kDecodeRowsPerCta;
  const size_t smem = Traits::smem_bytes(round_up4(std::min(total_rows, kDecodeRowsPerCta)));
  configure_smem<Traits>();
  decode::decode_split_kernel<Traits>
      <<<dim3(p.max_splits, p.num_heads_kv * row_blocks, p.batch), Traits::kThreads, smem, stream>>>(p);
}

template <class Traits>
int64_t resident_ctas(int rows) {
  const size_t smem = Traits::smem_bytes(round_up4(std::min(std::max(rows, 1), kDecodeRowsPerCta)));
  configure_smem<Traits>();
  int per_sm = 0, device = 0, sms = 0;
  if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, decode::decode_split_kernel<Traits>, Traits::kThreads, smem) !=
          cudaSuccess ||
      cudaGetDevice(&device) != cudaSuccess || cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device) != cudaSuccess)
    throw Error("decode: occupancy query failed");
  return static_cast<int64_t>(std::max(per_sm, 1)) * sms;
}

/// Calls fn.template operator()<Traits>() for the production instantiation of (dtype, D, stages).
template <class Fn>
auto with_traits(DType dtype, int head_dim, int stages, Fn&& fn) {
  if (head_dim != 64 && head_dim != 128) throw Error("decode: head_dim must be 64 or 128");
  if (stages != 2 && stages != 3) throw Error("decode: stages must be 2 or 3");
  if (dtype != DType::fp16 && dtype != DType::bf16) throw Error("decode: dtype must be fp16 or bf16");
  const bool bf16 = dtype == DType::bf16;
  if (head_dim == 64) {
    if (stages == 2) return bf16 ? fn.template operator()<DecodeTraits<DType::bf16, 64, 2>>() : fn.template operator()<DecodeTraits<DType::fp16, 64, 2>>();
    return bf16 ? fn.template operator()<DecodeTraits<DType::bf16, 64, 3>>() : fn.template operator()<DecodeTraits<DType::fp16, 64, 3>>();
  }
  if (stages == 2) return bf16 ? fn.template operator()<DecodeTraits<DType::bf16, 128, 2>>() : fn.template operator()<DecodeTraits<DType::fp16, 128, 2>>();
  return bf16 ? fn.template operator()<DecodeTraits<DType::bf16, 128, 3>>() : fn.template operator()<DecodeTraits<DType::fp16, 128, 3>>();
}

template <Mutant M>
void launch_mutant(const DecodeParams& p, DType dtype, cudaStream_t stream) {
  if (dtype == DType::bf16) launch_traits<DecodeTraits<DType::bf16, 128, 2, M>>(p, stream);
  else launch_traits<DecodeTraits<DType::fp16, 128, 2, M>>(p, stream);
}

}  // namespace

/// The bulk kernel's half of the dispatch (decode_bulk.cu), after the common checks below.
void launch_decode_bulk(const DecodeParams& p, DType dtype, Mutant mutant, void* stream);
/// The tensor-core kernel's half (decode_mma.cu).
void launch_decode_mma(const DecodeParams& p, DType dtype, Mutant mutant, cudaStream_t stream);
/// The CUDA-core kernel's half (below).
void launch_cuda_cores(const DecodeParams& p, DType dtype, Mutant mutant, cudaStream_t s);

int64_t decode_resident_ctas(DType dtype, int head_dim, int rows, int stages) {
  return with_traits(dtype, head_dim, stages, [&]<class Traits>() { return resident_ctas<Traits>(rows); });
}

void launch_decode(const DecodeParams& p, DType dtype, Mutant mutant, void* stream) {
  if (p.head_dim != 64 && p.head_dim != 128) throw Error("decode: head_dim must be 64 or 128");
  if (p.num_heads_kv <= 0 || p.num_heads_q % p.num_heads_kv != 0) throw Error("decode: H_q not a multiple of H_kv");
  const int rows = p.seqlen_q * (p.num_heads_q / p.num_heads_kv);
  if (rows > kDecodeMaxRows || rows < 1) throw Error("decode: S_q x group = " + std::to_string(rows) + " rows; at most 128");
  if (p.keys_per_split <= 0 || p.keys_per_split % 64 != 0) throw Error("decode: split size not a multiple of 64");
  if (p.max_splits < 1) throw Error("decode: at least one split");
  if (p.split_counters == nullptr) throw Error("decode: split_counters missing (decode_counter_count() zeroed ints)");
  if (p.layout.paged() && (p.layout.page_size < kMinPageSize || p.layout.page_size > kMaxPageSize ||
                           p.capacity != p.layout.pages_per_seq * p.layout.page_size))
    throw Error("decode: page size " + std::to_string(p.layout.page_size) + " outside [16, 256] or capacity " +
                std::to_string(p.capacity) + " != pages_per_seq x page_size");
  if (p.kind == DecodeKernelKind::bulk) {
    launch_decode_bulk(p, dtype, mutant, stream);
  } else if (p.kind == DecodeKernelKind::mma) {
    launch_decode_mma(p, dtype, mutant, static_cast<cudaStream_t>(stream));
  } else {
    if (p.stages != 2 && p.stages != 3) throw Error("decode: stages must be 2 or 3");
    if (p.fp8_cache) throw Error("decode: the FP8 cache is read by the bulk and tensor-core kernels only");
    launch_cuda_cores(p, dtype, mutant, static_cast<cudaStream_t>(stream));
  }
  const cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) throw Error(std::string("decode launch: ") + cudaGetErrorString(e));
}

void launch_cuda_cores(const DecodeParams& p, DType dtype, Mutant mutant, cudaStream_t s) {
  if (mutant == Mutant::none) {
    with_traits(dtype, p.head_dim, p.stages, [&]<class Traits>() { launch_traits<Traits>(p, s); });
  } else {
    if (p.head_dim != 128 || p.stages != 2 || (dtype != DType::fp16 && dtype != DType::bf16))
      throw Error(std::string("decode: mutant ") + mutant_name(mutant) + " is compiled for fp16/bf16, D = 128, two stages only");
    switch (mutant) {
      case Mutant::stale_seqlens: launch_mutant<Mutant::stale_seqlens>(p, dtype, s); break;
      case Mutant::interleaved_gqa_in_cache_path: launch_mutant<Mutant::interleaved_gqa_in_cache_path>(p, dtype, s); break;
      case Mutant::top_left_in_cache_path: launch_mutant<Mutant::top_left_in_cache_path>(p, dtype, s); break;
      case Mutant::base2_lse_natural_combine: launch_mutant<Mutant::base2_lse_natural_combine>(p, dtype, s); break;
      default: throw Error(std::string("decode: no decode variant plants ") + mutant_name(mutant));
    }
  }
}

}  // namespace attn
