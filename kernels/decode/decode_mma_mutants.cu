// decode_mma_mutants.cu: the planted cache-path and split-combine mutants of the tensor-core
// decode kernel (kernels/variants.toml's mma12-fixed64 and mma12-fp8-fixed64 mutants), FP16/BF16,
// D = 128, the registered 12-warp shape in 8-row blocks (decode_mma_launch.cuh), over a 16-bit
// cache (this TU) or an E4M3 one (decode_mma_fp8_mutants.cu). A mutant is a traits value, never a
// runtime flag.
#include "kernels/decode/decode_mma_launch.cuh"

namespace attn {
namespace {

template <Mutant M>
void launch_mutant(const DecodeParams& p, DType dtype, cudaStream_t stream) {
  if (dtype == DType::bf16) decode::launch_mma_traits<DecodeMmaTwelveWarps<DType::bf16, 128, M>>(p, stream);
  else decode::launch_mma_traits<DecodeMmaTwelveWarps<DType::fp16, 128, M>>(p, stream);
}

}  // namespace

void launch_decode_mma_mutant(const DecodeParams& p, DType dtype, Mutant mutant, cudaStream_t stream) {
  if (dtype != DType::fp16 && dtype != DType::bf16) throw Error("decode mma: dtype must be fp16 or bf16");
  if (p.fp8_cache) {
    launch_decode_mma_fp8_mutant(p, dtype, mutant, stream);
    return;
  }
  switch (mutant) {
    case Mutant::stale_seqlens: launch_mutant<Mutant::stale_seqlens>(p, dtype, stream); break;
    case Mutant::interleaved_gqa_in_cache_path: launch_mutant<Mutant::interleaved_gqa_in_cache_path>(p, dtype, stream); break;
    case Mutant::top_left_in_cache_path: launch_mutant<Mutant::top_left_in_cache_path>(p, dtype, stream); break;
    case Mutant::base2_lse_natural_combine: launch_mutant<Mutant::base2_lse_natural_combine>(p, dtype, stream); break;
    default: throw Error(std::string("decode mma: no decode variant plants ") + mutant_name(mutant));
  }
}

}  // namespace attn
