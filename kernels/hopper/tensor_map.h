// tensor_map.h: host-side construction of the TMA tensor maps of the Hopper kernels. A
// [B, S, H, D] tensor (DESIGN.md's layout) is described as a 4-D map {D, H, S, B} (innermost
// first) with a box of {64 columns, box_heads heads, box_rows rows, 1 batch entry}, 128-byte swizzle and
// zero fill outside the tensor. cuTensorMapEncodeTiled is taken from the driver through
// cudaGetDriverEntryPointByVersion, so nothing links -lcuda. Include from CUDA sources only.
// Not the device side (tma.cuh).
#pragma once

#include <cuda.h>

#include <cstdint>

namespace attn::hopper {

/// Shape of one [B, S, H, D] tensor and the box one TMA instruction moves.
struct TensorMapShape {
  const void* base = nullptr;
  int64_t batch = 1, seqlen = 1, heads = 1, head_dim = 64;
  int element_bytes = 2;   ///< 2 (FP16/BF16) or 1 (FP8)
  int box_rows = 64;       ///< rows of S per box (at most 256)
  int box_columns = 64;    ///< elements of D per box: 128 bytes, the swizzle width
  int box_heads = 1;       ///< heads per box (packed GQA rows: the query heads of one KV head)
};

/// Encodes the map; throws attn::Error naming the field the driver rejected (or that the
/// driver entry point is missing).
CUtensorMap make_tensor_map(const TensorMapShape& shape);

}  // namespace attn::hopper
