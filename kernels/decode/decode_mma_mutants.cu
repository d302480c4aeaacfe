// decode_mma_mutants.cu: the planted cache-path and split-combine mutants of the tensor-core
// decode kernel (kernels/variants.toml's mma12-fixed64 and mma12-fp8-fixed64 mutants), FP16/BF16,
// D = 128, the registered 12-warp shape in 8-row blocks (decode_mma_launch.cuh), over a 16-bit
// cache (this TU) or an E4M3 one (decode_mma_fp8_mutants.cu). A mutant is a traits value, never a
// runtime flag.
#include "kernels/decode/decode_mma_launch.cuh"

namespace attn {

void launch_decode_mma_mutant(const DecodeParams& p, DType dtype, Mutant mutant, cudaStream_t stream) {
  if (p.fp8_cache) {
    launch_decode_mma_fp8_mutant(p, dtype, mutant, stream);
    return;
  }
  decode::launch_mma_mutant<DecodeMmaTwelveWarps>(p, dtype, mutant, stream);
}

}  // namespace attn
