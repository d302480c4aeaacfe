// decode_mma_rows8.cu: the 8-row instantiations of the tensor-core decode kernel (decode_mma.cuh,
// DecodeMmaTraits<..., Rows = 8>): the registered 12-warp form (FP16/BF16, D 64/128, every S_q x
// group in 8-row blocks), and the 4-warp (FP16/BF16, D 64/128) and 8-warp (FP16, D 128) shapes for
// launches with S_q x group <= 8. Same bits as the 16-row forms (rows 8..15 are padding there);
// no spills at 12 warps. Compiled apart from decode_mma.cu so that the two build in parallel.
#include "kernels/decode/decode_mma_launch.cuh"

namespace attn {

void launch_decode_mma_rows8(const DecodeParams& p, DType dtype, cudaStream_t stream) {
  if (decode_mma_rows(p) != 8) throw Error("decode mma: the 8-row form needs 12 warps or S_q x group <= 8");
  decode::with_mma_traits<8>(
      dtype, p.head_dim, p.mma_warps, [&]<class Traits>() { decode::launch_mma_traits<Traits>(p, stream); }, p.ctas_per_sm);
}

int64_t decode_mma_twelve_warps_resident_ctas(DType dtype, int head_dim, bool co_resident) {
  return decode::with_mma_traits<8>(
      dtype, head_dim, co_resident ? 4 : 12, [&]<class Traits>() { return decode::mma_resident_ctas<Traits>(); }, co_resident ? 3 : 1);
}

}  // namespace attn
