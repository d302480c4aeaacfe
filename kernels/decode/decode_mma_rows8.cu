// decode_mma_rows8.cu: the 8-row instantiations of the tensor-core decode kernel (decode_mma.cuh,
// DecodeMmaTraits<..., Rows = 8>): every production shape (4 warps: FP16/BF16, D 64/128; 8 and 12
// warps: FP16, D 128) for launches with S_q x group <= 8, the decode step of GQA 4 and 8. Same
// bits as the 16-row forms (rows 8..15 are padding there); no spills at 12 warps. Compiled apart
// from decode_mma.cu so that the two build in parallel.
#include "kernels/decode/decode_mma_launch.cuh"

namespace attn {

void launch_decode_mma_rows8(const DecodeParams& p, DType dtype, cudaStream_t stream) {
  if (decode_mma_rows(p) != 8) throw Error("decode mma: the 8-row form needs S_q x group <= 8");
  decode::with_mma_traits<8>(dtype, p.head_dim, p.mma_warps, [&]<class Traits>() { decode::launch_mma_traits<Traits>(p, stream); });
}

int64_t decode_mma_twelve_warps_resident_ctas(DType dtype, int head_dim) {
  return decode::with_mma_traits<8>(dtype, head_dim, 12, [&]<class Traits>() { return decode::mma_resident_ctas<Traits>(); });
}

}  // namespace attn
