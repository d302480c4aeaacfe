// decode_mma_fp8_mutants.cu: the planted cache-path and split-combine mutants of the tensor-core
// decode kernel over an E4M3 cache (kernels/variants.toml's mma12-fp8-fixed64 mutants; FP16/BF16,
// D = 128, the 12-warp form DecodeMmaTwelveWarpsFp8). The same four bugs as the 16-bit cache's
// (decode_mma_mutants.cu), so that a user's FP8 cache path is judged by the same planted bugs.
// Compiled apart so that it builds in parallel with the 16-bit mutants.
#include "kernels/decode/decode_mma_launch.cuh"

namespace attn {

void launch_decode_mma_fp8_mutant(const DecodeParams& p, DType dtype, Mutant mutant, cudaStream_t stream) {
  if (p.k_scale == nullptr || p.v_scale == nullptr) throw Error("decode mma: FP8 cache without scales");
  decode::launch_mma_mutant<DecodeMmaTwelveWarpsFp8>(p, dtype, mutant, stream);
}

}  // namespace attn
