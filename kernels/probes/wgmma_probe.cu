// wgmma_probe.cu: one warpgroup per instance runs a chain of wgmma.mma_async instructions on
// operands it first writes into shared memory in the Hopper kernels' own layouts (128-byte
// swizzle, K-major or MN-major; P-style register fragments for the RS form), using the same
// descriptor and instruction wrappers (kernels/hopper/wgmma.cuh) — so a layout bug shows here
// as wrong products, and a rounding difference as differing bits. Also the TMA tile probe.
#include "kernels/probes/wgmma_probe.h"

#include <cuda_runtime.h>

#include <string>

#include "core/errors.h"
#include "kernels/hopper/tensor_map.h"
#include "kernels/hopper/tma.cuh"
#include "kernels/hopper/wgmma.cuh"

namespace attn {
namespace {

using hopper::desc_k_major_sw128;
using hopper::desc_mn_major_sw128;
using hopper::swizzle128_offset;

constexpr int kMaxK = 256;

__host__ __device__ constexpr bool is_fp8(WgmmaInput in) { return in == WgmmaInput::e4m3 || in == WgmmaInput::e5m2; }

/// Byte offset of element `col` of row `row` in a K-major 128-byte-swizzled tile whose column
/// blocks (128-byte rows) are `block_stride` bytes apart.
__device__ __forceinline__ uint32_t k_major_offset(int row, int col, int element_bytes, uint32_t block_stride) {
  const int per_row = 128 / element_bytes;
  const int byte = (col % per_row) * element_bytes;
  return (col / per_row) * block_stride + swizzle128_offset(row, byte / 16) + byte % 16;
}

template <WgmmaInput In, WgmmaForm Form, int N>
__global__ void __launch_bounds__(128) wgmma_probe_kernel(const uint16_t* a, const uint16_t* b, const float* c, float* d, int k) {
  extern __shared__ __align__(1024) uint8_t smem_raw[];
  uint8_t* smem = smem_raw + ((1024 - (hopper::smem_u32(smem_raw) & 1023u)) & 1023u);
  constexpr int kBytes = is_fp8(In) ? 1 : 2;
  const int instance = blockIdx.x, tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const uint16_t* A = a + static_cast<int64_t>(instance) * 64 * k;  // (64, k)
  const uint16_t* B = b + static_cast<int64_t>(instance) * N * k;   // (N, k)
  uint8_t* sA = smem;                                                // 64 rows x k (K-major)
  uint8_t* sB = smem + 64 * kMaxK * 2;                               // N rows x k, or k rows x N
  // ---- operands into shared memory with plain stores, in the kernels' layouts -----------------
  for (int i = tid; i < 64 * k; i += 128) {
    const int row = i / k, col = i % k;
    uint8_t* dst = sA + k_major_offset(row, col, kBytes, 64 * 128);
    if constexpr (kBytes == 2) *reinterpret_cast<uint16_t*>(dst) = A[i]; else *dst = static_cast<uint8_t>(A[i]);
  }
  for (int i = tid; i < N * k; i += 128) {
    const int n = i / k, col = i % k;
    if constexpr (Form != WgmmaForm::rs_b_mn_major) {
      uint8_t* dst = sB + k_major_offset(n, col, kBytes, N * 128);
      if constexpr (kBytes == 2) *reinterpret_cast<uint16_t*>(dst) = B[i]; else *dst = static_cast<uint8_t>(B[i]);
    } else {  // MN-major like V: row = k index, 64 n-values per 128-byte row, n blocks k*128 apart
      uint8_t* dst = sB + (n / 64) * (k * 128) + swizzle128_offset(col, (n % 64) / 8) + (n % 8) * 2;
      *reinterpret_cast<uint16_t*>(dst) = B[i];
    }
  }
  hopper::fence_proxy_async_shared();
  __syncthreads();
  // ---- accumulator from C (wgmma D layout) --------------------------------------------------------
  const float* C = c + static_cast<int64_t>(instance) * 64 * N;
  float acc[N / 8][4];
  const int r0 = warp * 16 + lane / 4, col0 = (lane % 4) * 2;
#pragma unroll
  for (int j = 0; j < N / 8; ++j) {
    acc[j][0] = C[r0 * N + 8 * j + col0];
    acc[j][1] = C[r0 * N + 8 * j + col0 + 1];
    acc[j][2] = C[(r0 + 8) * N + 8 * j + col0];
    acc[j][3] = C[(r0 + 8) * N + 8 * j + col0 + 1];
  }
  const uint32_t a_base = hopper::smem_u32(sA), b_base = hopper::smem_u32(sB);
  constexpr int kStep = is_fp8(In) ? 32 : 16;
  hopper::fence_registers(acc);
  hopper::wgmma_fence();
  for (int s = 0; s < k / kStep; ++s) {
    const uint32_t col = s * kStep, block = col * kBytes / 128, byte = col * kBytes % 128;
    if constexpr (Form == WgmmaForm::ss_k_major) {
      const uint64_t da = desc_k_major_sw128(a_base + block * 64 * 128 + byte);
      const uint64_t db = desc_k_major_sw128(b_base + block * N * 128 + byte);
      if constexpr (In == WgmmaInput::fp16) hopper::WgmmaSS<DType::fp16, N>::run(acc, da, db, 1);
      if constexpr (In == WgmmaInput::bf16) hopper::WgmmaSS<DType::bf16, N>::run(acc, da, db, 1);
      if constexpr (In == WgmmaInput::e4m3) hopper::WgmmaSSFp8<hopper::Fp8Type::e4m3, hopper::Fp8Type::e4m3, N>::run(acc, da, db, 1);
      if constexpr (In == WgmmaInput::e5m2) hopper::WgmmaSSFp8<hopper::Fp8Type::e5m2, hopper::Fp8Type::e5m2, N>::run(acc, da, db, 1);
    } else if constexpr (Form == WgmmaForm::rs_k_major) {  // E4M3 A in registers, B K-major (V^T)
      auto quad = [&](int row, int kk) {
        uint32_t r = 0;
        for (int i = 0; i < 4; ++i) r |= static_cast<uint32_t>(A[row * k + kk + i] & 0xFF) << (8 * i);
        return r;
      };
      const int kk = s * 32 + (lane % 4) * 4;
      const uint32_t frag[4] = {quad(r0, kk), quad(r0 + 8, kk), quad(r0, kk + 16), quad(r0 + 8, kk + 16)};
      const uint64_t db = desc_k_major_sw128(b_base + block * N * 128 + byte);
      hopper::WgmmaRSFp8<hopper::Fp8Type::e4m3, hopper::Fp8Type::e4m3, N>::run(acc, frag, db, 1);
    } else {
      auto pair = [&](int row, int kk) {
        return static_cast<uint32_t>(A[row * k + kk]) | (static_cast<uint32_t>(A[row * k + kk + 1]) << 16);
      };
      const int kk = s * 16 + col0;
      const uint32_t frag[4] = {pair(r0, kk), pair(r0 + 8, kk), pair(r0, kk + 8), pair(r0 + 8, kk + 8)};
      const uint64_t db = desc_mn_major_sw128(b_base + s * 16 * 128, k * 128);
      if constexpr (In == WgmmaInput::fp16) hopper::WgmmaRSTransB<DType::fp16, N>::run(acc, frag, db, 1);
      if constexpr (In == WgmmaInput::bf16) hopper::WgmmaRSTransB<DType::bf16, N>::run(acc, frag, db, 1);
    }
  }
  hopper::wgmma_commit();
  hopper::wgmma_wait<0>();
  hopper::fence_registers(acc);
  float* D = d + static_cast<int64_t>(instance) * 64 * N;
#pragma unroll
  for (int j = 0; j < N / 8; ++j) {
    D[r0 * N + 8 * j + col0] = acc[j][0];
    D[r0 * N + 8 * j + col0 + 1] = acc[j][1];
    D[(r0 + 8) * N + 8 * j + col0] = acc[j][2];
    D[(r0 + 8) * N + 8 * j + col0 + 1] = acc[j][3];
  }
}

void probe_check(cudaError_t e, const std::string& what) {
  if (e != cudaSuccess) throw Error("wgmma probe: " + what + ": " + cudaGetErrorString(e));
}

template <WgmmaInput In, WgmmaForm Form, int N>
void launch_probe(const uint16_t* a, const uint16_t* b, const float* c, float* d, int count, int k) {
  auto kernel = wgmma_probe_kernel<In, Form, N>;
  const int smem = 64 * kMaxK * 2 + 128 * kMaxK * 2 + 1024;
  probe_check(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem), "smem opt-in");
  kernel<<<count, 128, smem>>>(a, b, c, d, k);
}

/// One CTA: TMA-loads every column block of one box and writes the tile back unswizzled.
__global__ void tma_tile_probe_kernel(const __grid_constant__ CUtensorMap map, uint16_t* out, int blocks, int box_rows,
                                      int entry, int head, int row0) {
  extern __shared__ __align__(1024) uint8_t smem_raw[];
  uint8_t* smem = smem_raw + ((1024 - (hopper::smem_u32(smem_raw) & 1023u)) & 1023u);
  uint64_t* bar = reinterpret_cast<uint64_t*>(smem + blocks * box_rows * 128);
  if (threadIdx.x == 0) {
    hopper::mbarrier_init(bar, 1);
    hopper::fence_barrier_init();
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    hopper::mbarrier_arrive_expect_tx(bar, blocks * box_rows * 128);
    for (int c = 0; c < blocks; ++c) hopper::tma_load_4d(smem + c * box_rows * 128, &map, bar, c * 64, head, row0, entry);
  }
  hopper::mbarrier_wait(bar, 0, hopper::WaitSite::q_full, hopper::WatchdogReport{});
  const int head_dim = blocks * 64;
  for (int i = threadIdx.x; i < box_rows * head_dim; i += blockDim.x) {
    const int r = i / head_dim, col = i % head_dim;
    const uint32_t byte = (col / 64) * box_rows * 128 + swizzle128_offset(r, (col % 64) / 8) + (col % 8) * 2;
    out[i] = *reinterpret_cast<const uint16_t*>(smem + byte);
  }
}

}  // namespace

std::vector<float> run_wgmma_probe(const WgmmaProbeBatch& batch) {
  const bool fp8 = batch.input == WgmmaInput::e4m3 || batch.input == WgmmaInput::e5m2;
  const int count = batch.count, n = batch.n, k = batch.k;
  if (count < 1 || count > 65535) throw Error("wgmma probe: count must be 1..65535");
  if (k < 1 || k > kMaxK || k % (fp8 ? 128 : 64) != 0) throw Error("wgmma probe: k must be a multiple of 64 (FP8: 128), at most 256");
  if (n != 64 && n != 128) throw Error("wgmma probe: n must be 64 or 128");
  if (fp8 && batch.form == WgmmaForm::rs_b_mn_major) throw Error("wgmma probe: FP8 has no MN-major B");
  if (fp8 && batch.form == WgmmaForm::ss_k_major && n != 64) throw Error("wgmma probe: FP8 SS runs with n = 64");
  if (batch.form == WgmmaForm::rs_k_major && (batch.input != WgmmaInput::e4m3 || n != 128))
    throw Error("wgmma probe: the K-major RS form runs E4M3 with n = 128 (the FP8 PV)");
  const size_t na = static_cast<size_t>(count) * 64 * k, nb = static_cast<size_t>(count) * n * k, nc = static_cast<size_t>(count) * 64 * n;
  if (batch.a.size() != na || batch.b.size() != nb || batch.c.size() != nc) throw Error("wgmma probe: operand sizes do not match count, n, k");
  uint16_t *da = nullptr, *db = nullptr;
  float *dc = nullptr, *dd = nullptr;
  probe_check(cudaMalloc(&da, na * 2), "cudaMalloc");
  probe_check(cudaMalloc(&db, nb * 2), "cudaMalloc");
  probe_check(cudaMalloc(&dc, nc * 4), "cudaMalloc");
  probe_check(cudaMalloc(&dd, nc * 4), "cudaMalloc");
  probe_check(cudaMemcpy(da, batch.a.data(), na * 2, cudaMemcpyHostToDevice), "copy A");
  probe_check(cudaMemcpy(db, batch.b.data(), nb * 2, cudaMemcpyHostToDevice), "copy B");
  probe_check(cudaMemcpy(dc, batch.c.data(), nc * 4, cudaMemcpyHostToDevice), "copy C");
  probe_check(cudaMemset(dd, 0xFF, nc * 4), "poison D");
  const bool ss = batch.form == WgmmaForm::ss_k_major;
  switch (batch.input) {
    case WgmmaInput::fp16:
      if (ss) (n == 64 ? launch_probe<WgmmaInput::fp16, WgmmaForm::ss_k_major, 64> : launch_probe<WgmmaInput::fp16, WgmmaForm::ss_k_major, 128>)(da, db, dc, dd, count, k);
      else (n == 64 ? launch_probe<WgmmaInput::fp16, WgmmaForm::rs_b_mn_major, 64> : launch_probe<WgmmaInput::fp16, WgmmaForm::rs_b_mn_major, 128>)(da, db, dc, dd, count, k);
      break;
    case WgmmaInput::bf16:
      if (ss) (n == 64 ? launch_probe<WgmmaInput::bf16, WgmmaForm::ss_k_major, 64> : launch_probe<WgmmaInput::bf16, WgmmaForm::ss_k_major, 128>)(da, db, dc, dd, count, k);
      else (n == 64 ? launch_probe<WgmmaInput::bf16, WgmmaForm::rs_b_mn_major, 64> : launch_probe<WgmmaInput::bf16, WgmmaForm::rs_b_mn_major, 128>)(da, db, dc, dd, count, k);
      break;
    case WgmmaInput::e4m3:
      if (ss) launch_probe<WgmmaInput::e4m3, WgmmaForm::ss_k_major, 64>(da, db, dc, dd, count, k);
      else launch_probe<WgmmaInput::e4m3, WgmmaForm::rs_k_major, 128>(da, db, dc, dd, count, k);
      break;
    case WgmmaInput::e5m2: launch_probe<WgmmaInput::e5m2, WgmmaForm::ss_k_major, 64>(da, db, dc, dd, count, k); break;
  }
  cudaError_t launch = cudaGetLastError();
  cudaError_t run = launch == cudaSuccess ? cudaDeviceSynchronize() : launch;
  std::vector<float> d(nc);
  if (run == cudaSuccess) run = cudaMemcpy(d.data(), dd, nc * 4, cudaMemcpyDeviceToHost);
  cudaFree(da); cudaFree(db); cudaFree(dc); cudaFree(dd);
  probe_check(run, "execution");
  return d;
}

std::vector<uint16_t> run_tma_tile_probe(const std::vector<uint16_t>& tensor, int batch, int seqlen, int heads, int head_dim,
                                         int box_rows, int entry, int head, int row0) {
  if (tensor.size() != static_cast<size_t>(batch) * seqlen * heads * head_dim) throw Error("TMA probe: tensor size mismatch");
  if (head_dim % 64 != 0 || head_dim > 256 || box_rows < 1 || box_rows > 256) throw Error("TMA probe: head_dim/box_rows out of range");
  uint16_t *dt = nullptr, *dout = nullptr;
  probe_check(cudaMalloc(&dt, tensor.size() * 2), "cudaMalloc");
  probe_check(cudaMalloc(&dout, static_cast<size_t>(box_rows) * head_dim * 2), "cudaMalloc");
  probe_check(cudaMemcpy(dt, tensor.data(), tensor.size() * 2, cudaMemcpyHostToDevice), "copy tensor");
  probe_check(cudaMemset(dout, 0xFF, static_cast<size_t>(box_rows) * head_dim * 2), "poison");
  const CUtensorMap map = hopper::make_tensor_map({dt, batch, seqlen, heads, head_dim, 2, box_rows, 64});
  const int blocks = head_dim / 64, smem = blocks * box_rows * 128 + 1024 + 64;
  probe_check(cudaFuncSetAttribute(tma_tile_probe_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, smem), "smem opt-in");
  tma_tile_probe_kernel<<<1, 128, smem>>>(map, dout, blocks, box_rows, entry, head, row0);
  cudaError_t e = cudaGetLastError();
  if (e == cudaSuccess) e = cudaDeviceSynchronize();
  std::vector<uint16_t> out(static_cast<size_t>(box_rows) * head_dim);
  if (e == cudaSuccess) e = cudaMemcpy(out.data(), dout, out.size() * 2, cudaMemcpyDeviceToHost);
  cudaFree(dt); cudaFree(dout);
  probe_check(e, "TMA tile probe");
  return out;
}

}  // namespace attn
