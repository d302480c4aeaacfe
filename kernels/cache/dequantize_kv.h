// dequantize_kv.h: an E4M3 KV cache's storage copied to the cache's 16-bit format on the device,
// row for row (contiguous [B, capacity, H_kv, D] or a page pool [pages, page_size, H_kv, D]: the
// same rows, so the layout and block table stay valid), with kernels/cache/fp8_dequantize.cuh's
// exact dequantization. What reads it: the chunked prefill over an FP8 cache (register_chunked_
// prefill.cpp), whose FA2 kernel then computes what it computes on a 16-bit cache holding the
// dequantized values, bit for bit. Not the decode path (decode_mma.cuh dequantizes per tile).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "core/float_format.h"

namespace attn {

/// dst[r, h, d] = E4M3 src[r, h, d] x scales[h] in dtype (FP16 / BF16), for `rows` storage rows
/// of heads_kv x head_dim bytes (head_dim a multiple of 8). NaN bytes (unused, poisoned rows)
/// stay NaN. Throws attn::Error on a bad argument or a launch error.
void launch_dequantize_kv_e4m3(const void* src, void* dst, int64_t rows, int heads_kv, int head_dim, const float* scales,
                               DType dtype, cudaStream_t stream);

}  // namespace attn
