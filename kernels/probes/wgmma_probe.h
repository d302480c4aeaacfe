// wgmma_probe.h: runs batches of single-warpgroup wgmma.mma_async chains on the device so their
// bits can be compared with analysis/tensor_core_model.h, and so the Hopper kernels' operand
// layouts (128-byte-swizzled K-major and MN-major shared-memory tiles, register A fragments) are
// checked against plain row-major data. Plain C++ interface; built only with CUDA. Not a benchmark.
#pragma once

#include <cstdint>
#include <vector>

namespace attn {

/// Operand types a probe can feed: 16-bit (k16 steps) or FP8 (k32 steps, A and B K-major only).
enum class WgmmaInput { fp16, bf16, e4m3, e5m2 };

/// How A and B reach the instruction.
enum class WgmmaForm {
  ss_k_major,      ///< A and B from shared memory, both K-major (the kernels' QK^T)
  rs_b_mn_major,   ///< A from registers, B MN-major in shared memory (the kernels' PV); 16-bit only
  rs_k_major,      ///< A from registers, B K-major in shared memory (the FP8 kernels' PV, V^T); E4M3 only
};

/// One batch: `count` independent instances of D (64 x n) = C + A (64 x k) B^T, with B given as
/// (n x k), all row-major; a and b hold raw bits (16-bit values, or FP8 bytes in the low byte).
/// The chain runs k / k_step wgmma instructions (k_step 16, or 32 for FP8), each taking the
/// previous FP32 result as its accumulator. n is 64 or 128 (128: ss with 16-bit inputs and
/// the rs forms only); k a multiple of 64 elements (of 128 for FP8), at most 256. The rs forms
/// hold A in registers as the kernels do: 16-bit pairs (m16n8k16 A layout), or for E4M3 four
/// values per register, k = 4 (lane % 4) .. + 3 (and + 16) of rows lane / 4 (and + 8).
struct WgmmaProbeBatch {
  WgmmaInput input = WgmmaInput::fp16;
  WgmmaForm form = WgmmaForm::ss_k_major;
  int count = 1, n = 64, k = 64;
  std::vector<uint16_t> a;  ///< count x 64 x k
  std::vector<uint16_t> b;  ///< count x n x k
  std::vector<float> c;     ///< count x 64 x n
};

/// Returns D (count x 64 x n, row-major) as the hardware computes it. Throws attn::Error on a
/// bad batch or a CUDA failure.
std::vector<float> run_wgmma_probe(const WgmmaProbeBatch& batch);

/// The TMA + swizzle check: a [batch, seqlen, heads, head_dim] 16-bit tensor of the given bits
/// is loaded box by box ({64 columns, 1 head, box_rows rows, 1 batch entry} at every column
/// block of row `row0`, head `head`, entry `entry`) through a CU_TENSOR_MAP_SWIZZLE_128B map,
/// and the shared-memory bytes come back unswizzled with the kernels' formula
/// (kernels/hopper/tma.cuh swizzle128_offset): element (r, c) of the tile = source element
/// (row0 + r, c), or 0 where row0 + r is outside [0, seqlen). Result: box_rows x head_dim bits.
std::vector<uint16_t> run_tma_tile_probe(const std::vector<uint16_t>& tensor, int batch, int seqlen, int heads,
                                         int head_dim, int box_rows, int entry, int head, int row0);

}  // namespace attn
