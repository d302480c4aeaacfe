// decode_mma_fp8_mutants.cu: the planted cache-path and split-combine mutants of the tensor-core
// decode kernel over an E4M3 cache (kernels/variants.toml's mma12-fp8-fixed64 mutants; FP16/BF16,
// D = 128, the 12-warp form DecodeMmaTwelveWarpsFp8). The same four bugs as the 16-bit cache's
// (decode_mma_mutants.cu), so that a user's FP8 cache path is judged by the same planted bugs.
// Compiled apart so that it builds in parallel with the 16-bit mutants.
#include "kernels/decode/decode_mma_launch.cuh"

namespace attn {
namespace {

template <Mutant M>
void launch_mutant(const DecodeParams& p, DType dtype, cudaStream_t stream) {
  if (dtype == DType::bf16) decode::launch_mma_traits<DecodeMmaTwelveWarpsFp8<DType::bf16, 128, M>>(p, stream);
  else decode::launch_mma_traits<DecodeMmaTwelveWarpsFp8<DType::fp16, 128, M>>(p, stream);
}

}  // namespace

void launch_decode_mma_fp8_mutant(const DecodeParams& p, DType dtype, Mutant mutant, cudaStream_t stream) {
  if (p.k_scale == nullptr || p.v_scale == nullptr) throw Error("decode mma: FP8 cache without scales");
  switch (mutant) {
    case Mutant::stale_seqlens: launch_mutant<Mutant::stale_seqlens>(p, dtype, stream); break;
    case Mutant::interleaved_gqa_in_cache_path: launch_mutant<Mutant::interleaved_gqa_in_cache_path>(p, dtype, stream); break;
    case Mutant::top_left_in_cache_path: launch_mutant<Mutant::top_left_in_cache_path>(p, dtype, stream); break;
    case Mutant::base2_lse_natural_combine: launch_mutant<Mutant::base2_lse_natural_combine>(p, dtype, stream); break;
    default: throw Error(std::string("decode mma: no FP8-cache decode variant plants ") + mutant_name(mutant));
  }
}

}  // namespace attn
