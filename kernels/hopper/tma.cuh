// tma.cuh: device side of the Tensor Memory Accelerator as thin PTX wrappers: 4-D tiled loads
// that complete on an mbarrier (transaction bytes), 4-D tiled stores from shared memory in bulk
// groups, and the waits on those groups. Coordinates are in elements, innermost dimension first
// ({column, head, row, batch} for the [B, S, H, D] tensors); a box reaching past a dimension's
// extent is zero-filled on load and clipped on store (no store past S_q). The tensor maps are
// built on the host (tensor_map.h). No logic here.
#pragma once

#include <cuda.h>

#include <cstdint>

#include "kernels/hopper/barrier.cuh"

namespace attn::hopper {

/// Loads one box of `map` at {c0, c1, c2, c3} into shared memory at `smem_dst` (1024-byte aligned
/// for the 128-byte swizzle); the bytes count toward `bar`'s current transaction phase.
__device__ __forceinline__ void tma_load_4d(void* smem_dst, const CUtensorMap* map, uint64_t* bar, int c0, int c1, int c2,
                                            int c3) {
  asm volatile(
      "cp.async.bulk.tensor.4d.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1, {%3, %4, %5, %6}], [%2];\n" ::"r"(
          smem_u32(smem_dst)),
      "l"(reinterpret_cast<uint64_t>(map)), "r"(smem_u32(bar)), "r"(c0), "r"(c1), "r"(c2), "r"(c3)
      : "memory");
}

/// Stores one box from shared memory to `map` at {c0, c1, c2, c3}; elements outside the tensor
/// are not written. Completion is tracked per bulk group (tma_store_commit / tma_store_wait*).
__device__ __forceinline__ void tma_store_4d(const CUtensorMap* map, const void* smem_src, int c0, int c1, int c2, int c3) {
  asm volatile("cp.async.bulk.tensor.4d.global.shared::cta.bulk_group [%0, {%2, %3, %4, %5}], [%1];\n" ::"l"(
                   reinterpret_cast<uint64_t>(map)),
               "r"(smem_u32(smem_src)), "r"(c0), "r"(c1), "r"(c2), "r"(c3)
               : "memory");
}
__device__ __forceinline__ void tma_store_commit() { asm volatile("cp.async.bulk.commit_group;\n" ::: "memory"); }
/// Waits until every committed store group has finished reading shared memory (the source
/// buffer may be overwritten).
__device__ __forceinline__ void tma_store_wait_read_all() { asm volatile("cp.async.bulk.wait_group.read 0;\n" ::: "memory"); }
/// Waits until every committed store group has completed its global writes.
__device__ __forceinline__ void tma_store_wait_all() { asm volatile("cp.async.bulk.wait_group 0;\n" ::: "memory"); }

/// Brings a tensor map (a __grid_constant__ kernel parameter) into the descriptor cache early.
__device__ __forceinline__ void tma_prefetch_descriptor(const CUtensorMap* map) {
  asm volatile("prefetch.tensormap [%0];\n" ::"l"(reinterpret_cast<uint64_t>(map)) : "memory");
}

/// Byte offset of 16-byte chunk `chunk` (0..7) of row `row` inside a (rows, 64) 16-bit column
/// block written by TMA with CU_TENSOR_MAP_SWIZZLE_128B (block base 1024-byte aligned): the
/// chunk index is XORed with the row index modulo 8 (CuTe's Swizzle<3,4,3>).
__host__ __device__ __forceinline__ constexpr uint32_t swizzle128_offset(uint32_t row, uint32_t chunk) {
  return row * 128u + ((chunk ^ (row & 7u)) << 4);
}

}  // namespace attn::hopper
