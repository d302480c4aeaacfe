// wgmma.cuh: the warpgroup MMA primitives of the Hopper kernels: shared-memory matrix
// descriptors for the 128-byte-swizzled layouts TMA writes, wgmma.fence / commit / wait, the
// register fences that keep the compiler from moving accumulator accesses across an async
// MMA, and the two GEMMs of attention on one warpgroup's 64 rows:
//   gemm_qk:  S (64, BLOCK_N)  = Q (64, D) K^T   — A and B from shared memory, both K-major;
//   gemm_pv:  O (64, D)       += P (64, BLOCK_N) V — A (P) from registers, B (V) MN-major.
// k-steps run in increasing k (D for QK^T, keys for PV), each wgmma k16 step taking the FP32
// result of the previous one as its accumulator (the order analysis/tensor_core_model.h models).
// Accumulators are float[N/8][4]: n8 block j, element e holds row 16 w + lane/4 + 8 (e/2) and
// column 8 j + 2 (lane%4) + (e%2) of the warpgroup's tile (w: warp in the warpgroup), the
// mma.sync m16n8 C layout repeated; P's A fragment for k-step kk is blocks 2kk and 2kk+1 of S
// packed in pairs, exactly the mma.sync m16n8k16 A layout (PTX ISA, "wgmma register fragments").
#pragma once

#include <cstdint>

#include "core/float_format.h"
#include "kernels/hopper/barrier.cuh"
#include "kernels/hopper/hopper_traits.h"

namespace attn::hopper {

enum class Fp8Type : int { e4m3 = 0, e5m2 = 1 };

/// wgmma m64nNk16, A and B K-major in shared memory: d = A B^T (+ d when accumulate != 0).
template <DType Elem, int N>
struct WgmmaSS;
/// wgmma m64nNk16, A from registers, B MN-major in shared memory (transposed B).
template <DType Elem, int N>
struct WgmmaRSTransB;
/// wgmma m64nNk32 on FP8 inputs, A and B K-major in shared memory.
template <Fp8Type A, Fp8Type B, int N>
struct WgmmaSSFp8;
/// wgmma m64nNk32 on FP8 inputs, A from registers, B K-major in shared memory.
template <Fp8Type A, Fp8Type B, int N>
struct WgmmaRSFp8;

}  // namespace attn::hopper

#include "kernels/hopper/wgmma_instructions.cuh"

namespace attn::hopper {

/// Orders earlier register writes (and reads) of wgmma operands before the next wgmma.
__device__ __forceinline__ void wgmma_fence() { asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory"); }
__device__ __forceinline__ void wgmma_commit() { asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory"); }
/// Waits until at most `Pending` committed wgmma groups are still in flight.
template <int Pending>
__device__ __forceinline__ void wgmma_wait() {
  asm volatile("wgmma.wait_group.sync.aligned %0;\n" ::"n"(Pending) : "memory");
}

/// Pins every register of an accumulator at this point of the program (an empty asm that
/// "modifies" it), so no access of it is scheduled across a wgmma issue or wait.
template <int Rows, int Cols>
__device__ __forceinline__ void fence_registers(float (&r)[Rows][Cols]) {
#pragma unroll
  for (int i = 0; i < Rows; ++i)
#pragma unroll
    for (int j = 0; j < Cols; ++j) asm volatile("" : "+f"(r[i][j])::"memory");
}
template <int Rows, int Cols>
__device__ __forceinline__ void fence_registers(uint32_t (&r)[Rows][Cols]) {
#pragma unroll
  for (int i = 0; i < Rows; ++i)
#pragma unroll
    for (int j = 0; j < Cols; ++j) asm volatile("" : "+r"(r[i][j])::"memory");
}

/// Descriptor of a K-major operand in a 128-byte-swizzled column block at shared address
/// `addr` (rows of 128 bytes; 8-row groups 1024 bytes apart: SBO = 1024; LBO unused = 1).
/// Advancing k by 16 elements inside the 64-column block is +32 bytes on the start address.
__device__ __forceinline__ uint64_t desc_k_major_sw128(uint32_t addr) {
  return static_cast<uint64_t>((addr & 0x3FFFF) >> 4) | (uint64_t{1} << 16) | (uint64_t{kSwizzleAtomBytes >> 4} << 32) |
         (uint64_t{1} << 62);
}
/// Descriptor of an MN-major operand (V: rows = k, 128 bytes of N per row) in 128-byte-swizzled
/// column blocks `block_stride_bytes` apart (LBO: the next 64 columns of N); 8-row k groups
/// 1024 bytes apart (SBO).
__device__ __forceinline__ uint64_t desc_mn_major_sw128(uint32_t addr, uint32_t block_stride_bytes) {
  return static_cast<uint64_t>((addr & 0x3FFFF) >> 4) | (static_cast<uint64_t>(block_stride_bytes >> 4) << 16) |
         (uint64_t{kSwizzleAtomBytes >> 4} << 32) | (uint64_t{1} << 62);
}

/// S = Q K^T for one warpgroup: sQ_rows is the shared address of the warpgroup's first Q row in
/// column block 0 (column blocks q_block_stride bytes apart), sK of the K stage (column blocks
/// BLOCK_N * 128 bytes apart). k-steps of 32 bytes (16 FP16/BF16 or 32 E4M3 elements) in
/// increasing d, zero-initialized by the first. Issues and commits one wgmma group; the caller waits.
template <class Traits>
__device__ __forceinline__ void gemm_qk(float (&s)[Traits::kBlockN / 8][4], uint32_t sQ_rows, uint32_t q_block_stride,
                                        uint32_t sK) {
  constexpr int kStepBytes = 32;
  constexpr int kSteps = Traits::kHeadDim * Traits::kOperandBytes / kStepBytes;
  constexpr int kStepsPerBlock = 128 / kStepBytes;
  const uint64_t a0 = desc_k_major_sw128(sQ_rows), b0 = desc_k_major_sw128(sK);
  wgmma_fence();
#pragma unroll
  for (int kk = 0; kk < kSteps; ++kk) {
    const uint32_t block = kk / kStepsPerBlock, k_bytes = (kk % kStepsPerBlock) * 32;
    // Descriptor start addresses count 16-byte units: an offset adds offset / 16.
    const uint64_t a = a0 + ((block * q_block_stride + k_bytes) >> 4);
    const uint64_t b = b0 + ((block * (Traits::kBlockN * 128) + k_bytes) >> 4);
    if constexpr (Traits::kFp8) WgmmaSSFp8<Fp8Type::e4m3, Fp8Type::e4m3, Traits::kBlockN>::run(s, a, b, kk > 0 ? 1 : 0);
    else WgmmaSS<Traits::kElem, Traits::kBlockN>::run(s, a, b, kk > 0 ? 1 : 0);
  }
  wgmma_commit();
}

/// O += P V for one warpgroup: P as kPFragments A fragments. 16-bit: sV is the shared address
/// of the V stage (keys as rows, MN-major B; column blocks BLOCK_N * 128 bytes apart), 16 keys per
/// k-step; with p_lo (precise mode) each k-step issues hi then lo. FP8: sV is the transposed V
/// (D rows of BLOCK_N key bytes, K-major B), 32 keys per k-step in the order of
/// pipeline::fp8_pv_key_of_k. Keys in increasing k-steps. Issues and commits one wgmma group;
/// the caller waits.
template <class Traits, bool WithLo>
__device__ __forceinline__ void gemm_pv(float (&o)[Traits::kHeadDim / 8][4], const uint32_t (&p)[Traits::kPFragments][4],
                                        const uint32_t (&p_lo)[WithLo ? Traits::kPFragments : 1][4], uint32_t sV) {
  if constexpr (Traits::kFp8) {
    const uint64_t b0 = desc_k_major_sw128(sV);
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < Traits::kPFragments; ++kk)
      WgmmaRSFp8<Fp8Type::e4m3, Fp8Type::e4m3, Traits::kHeadDim>::run(o, p[kk], b0 + ((kk * 32) >> 4), 1);
    wgmma_commit();
  } else {
    const uint64_t b0 = desc_mn_major_sw128(sV, Traits::kBlockN * 128);
    wgmma_fence();
#pragma unroll
    for (int kk = 0; kk < Traits::kPFragments; ++kk) {
      const uint64_t b = b0 + ((kk * 16 * 128) >> 4);
      WgmmaRSTransB<Traits::kElem, Traits::kHeadDim>::run(o, p[kk], b, 1);
      if constexpr (WithLo) WgmmaRSTransB<Traits::kElem, Traits::kHeadDim>::run(o, p_lo[kk], b, 1);
    }
    wgmma_commit();
  }
}

}  // namespace attn::hopper
