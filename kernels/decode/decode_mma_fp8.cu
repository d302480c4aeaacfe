// decode_mma_fp8.cu: the E4M3-cache instantiations of the tensor-core decode kernel
// (decode_mma.cuh with Fp8Cache: raw E4M3 stages dequantized per tile into the FP16/BF16 layout
// the 16-bit form reads): the registered 12-warp shape in 8-row blocks, FP16/BF16 x D 64/128
// (kernels/variants.toml's mma12-fp8- variants). Compiled apart so that it builds in parallel
// with the other decode_mma TUs. Not the 16-bit forms, nor the bulk kernel's FP8 path.
#include "kernels/decode/decode_mma_launch.cuh"

namespace attn {

void launch_decode_mma_fp8(const DecodeParams& p, DType dtype, cudaStream_t stream) {
  if (p.mma_warps != 12) throw Error("decode mma: the FP8 cache is compiled for the 12-warp form only");
  if (p.k_scale == nullptr || p.v_scale == nullptr) throw Error("decode mma: FP8 cache without scales");
  if (dtype != DType::fp16 && dtype != DType::bf16) throw Error("decode mma: dtype must be fp16 or bf16");
  if (p.head_dim != 64 && p.head_dim != 128) throw Error("decode mma: head_dim must be 64 or 128");
  const bool bf16 = dtype == DType::bf16;
  if (p.head_dim == 64) {
    if (bf16) decode::launch_mma_traits<DecodeMmaTwelveWarpsFp8<DType::bf16, 64>>(p, stream);
    else decode::launch_mma_traits<DecodeMmaTwelveWarpsFp8<DType::fp16, 64>>(p, stream);
  } else {
    if (bf16) decode::launch_mma_traits<DecodeMmaTwelveWarpsFp8<DType::bf16, 128>>(p, stream);
    else decode::launch_mma_traits<DecodeMmaTwelveWarpsFp8<DType::fp16, 128>>(p, stream);
  }
}

}  // namespace attn
