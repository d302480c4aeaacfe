// decode_bulk_fp16.cu: the FP16 instantiations of the bulk decode kernel (decode_bulk_launch.cuh's
// list), compiled apart so that two files build at once. Nothing else.
#include "kernels/decode/decode_bulk_launch.cuh"

namespace attn::decode {
ATTN_DECODE_BULK_INSTANTIATIONS(ATTN_DECODE_BULK_DEFINE, DType::fp16)
}  // namespace attn::decode
