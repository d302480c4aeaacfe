// tensor_map.cu: host-side TMA tensor-map encoding (see tensor_map.h).
#include "kernels/hopper/tensor_map.h"

#include <cuda_runtime.h>
#include <cudaTypedefs.h>

#include <string>

#include "core/errors.h"

namespace attn::hopper {
namespace {

PFN_cuTensorMapEncodeTiled_v12000 encode_function() {
  static PFN_cuTensorMapEncodeTiled_v12000 fn = [] {
    void* symbol = nullptr;
    cudaDriverEntryPointQueryResult found{};
    const cudaError_t e =
        cudaGetDriverEntryPointByVersion("cuTensorMapEncodeTiled", &symbol, 12000, cudaEnableDefault, &found);
    if (e != cudaSuccess || found != cudaDriverEntryPointSuccess || symbol == nullptr)
      throw Error(std::string("TMA: the driver has no cuTensorMapEncodeTiled (") + cudaGetErrorString(e) + ")");
    return reinterpret_cast<PFN_cuTensorMapEncodeTiled_v12000>(symbol);
  }();
  return fn;
}

}  // namespace

CUtensorMap make_tensor_map(const TensorMapShape& s) {
  if (s.element_bytes != 1 && s.element_bytes != 2) throw Error("TMA: element_bytes must be 1 or 2");
  if (s.box_rows < 1 || s.box_rows > 256) throw Error("TMA: box_rows " + std::to_string(s.box_rows) + " outside 1..256");
  if (s.box_columns * s.element_bytes != 128) throw Error("TMA: a box row must be 128 bytes (the swizzle width)");
  if (s.head_dim % s.box_columns != 0) throw Error("TMA: head_dim must be a multiple of the box width");
  if (s.box_heads < 1 || s.box_heads > 256 || s.box_heads > s.heads)
    throw Error("TMA: box_heads " + std::to_string(s.box_heads) + " outside 1..min(256, heads)");
  // Dimensions innermost first: D, H, S, B. Strides (bytes) of dimensions 1..3.
  const cuuint64_t dims[4] = {static_cast<cuuint64_t>(s.head_dim), static_cast<cuuint64_t>(s.heads),
                              static_cast<cuuint64_t>(s.seqlen), static_cast<cuuint64_t>(s.batch)};
  const cuuint64_t row_bytes = static_cast<cuuint64_t>(s.head_dim) * s.element_bytes;
  const cuuint64_t strides[3] = {row_bytes, row_bytes * dims[1], row_bytes * dims[1] * dims[2]};
  const cuuint32_t box[4] = {static_cast<cuuint32_t>(s.box_columns), static_cast<cuuint32_t>(s.box_heads),
                             static_cast<cuuint32_t>(s.box_rows), 1};
  const cuuint32_t element_strides[4] = {1, 1, 1, 1};
  CUtensorMap map{};
  const CUresult r = encode_function()(
      &map, s.element_bytes == 2 ? CU_TENSOR_MAP_DATA_TYPE_UINT16 : CU_TENSOR_MAP_DATA_TYPE_UINT8, 4,
      const_cast<void*>(s.base), dims, strides, box, element_strides, CU_TENSOR_MAP_INTERLEAVE_NONE,
      CU_TENSOR_MAP_SWIZZLE_128B, CU_TENSOR_MAP_L2_PROMOTION_L2_256B, CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE);
  if (r != CUDA_SUCCESS)
    throw Error("TMA: cuTensorMapEncodeTiled failed (CUresult " + std::to_string(static_cast<int>(r)) + ") for [B=" +
                std::to_string(s.batch) + ", S=" + std::to_string(s.seqlen) + ", H=" + std::to_string(s.heads) +
                ", D=" + std::to_string(s.head_dim) + "], box rows " + std::to_string(s.box_rows));
  return map;
}

}  // namespace attn::hopper
