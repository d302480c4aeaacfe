// decode_mma.cu: host launchers of the tensor-core decode kernel (decode_mma.cuh): the dispatch
// from (dtype, head dim, planted mutant) to a DecodeMmaTraits instantiation, the shared-memory
// opt-in and the occupancy query of the split planner. Instantiations: 12 warps (key streams) of
// 16-key tiles in 8-row blocks, every dtype and D (the registered form, decode_mma_rows8.cu);
// 4 warps of 32-key tiles, 3 cp.async stages per warp (D 128: 204 KiB, one CTA per SM; D 64:
// 108 KiB, two) and 8 warps of 16-key tiles (FP16 D 128) as measured alternatives, in 16-row
// blocks (this TU) or 8 where S_q x group <= 8 (decode_mma_rows8.cu); the mutants (D = 128, the
// 12-warp form, 16-bit and E4M3 caches) decode_mma_mutants.cu's; the E4M3-cache forms decode_mma_fp8.cu's. The common checks are launch_decode's (decode.cu).
#include "kernels/decode/decode_mma_launch.cuh"

namespace attn {

int64_t decode_mma_resident_ctas(DType dtype, int head_dim, int warps, int ctas_per_sm) {
  // The 16-row form's occupancy for every launch (the split plan, and the emulator's, must not
  // depend on which form runs; the 8-row form has the same shared memory).
  if (warps == 12) return decode_mma_twelve_warps_resident_ctas(dtype, head_dim);
  if (decode_mma_co_resident(warps, ctas_per_sm)) return decode_mma_twelve_warps_resident_ctas(dtype, head_dim, true);
  return decode::with_mma_traits<kDecodeMmaMaxRows>(dtype, head_dim, warps,
                                                    [&]<class Traits>() { return decode::mma_resident_ctas<Traits>(); });
}

void launch_decode_mma(const DecodeParams& p, DType dtype, Mutant mutant, cudaStream_t stream) {
  // S_q x group <= kDecodeMaxRows (launch_decode's check): ceil(rows / R) row blocks of R rows.
  if (p.keys_per_split % 64 != 0) throw Error("decode mma: split size not a multiple of 64");
  if (p.fp8_cache && mutant == Mutant::none) {
    launch_decode_mma_fp8(p, dtype, stream);
    return;
  }
  if (mutant == Mutant::none) {
    if (decode_mma_rows(p) == 8) {
      launch_decode_mma_rows8(p, dtype, stream);
      return;
    }
    decode::with_mma_traits<kDecodeMmaMaxRows>(dtype, p.head_dim, p.mma_warps,
                                               [&]<class Traits>() { decode::launch_mma_traits<Traits>(p, stream); });
    return;
  }
  if (p.head_dim != 128 || p.mma_warps != 12)
    throw Error(std::string("decode mma: mutant ") + mutant_name(mutant) + " is compiled for D = 128, 12 warps only");
  launch_decode_mma_mutant(p, dtype, mutant, stream);
}

}  // namespace attn
