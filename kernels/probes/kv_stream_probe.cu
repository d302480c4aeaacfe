// kv_stream_probe.cu: how fast the H200 can read a decode KV cache in the access patterns the
// decode kernels use, with no attention math — the ceiling each pattern leaves a kernel. Issue 14:
// every decode kernel stops near 2.9 TB/s where cuDNN reads 4.3-4.6 (on a [B, H_kv, L, D] cache);
// this separates "the memory pattern cannot go faster" from "the kernel's math/pipeline is slow".
// Patterns (K and V of B 8 x L 64k x H_kv 8 x D 128 FP16, 2 x 1 GiB; one CTA = (split, head
// group, batch entry) as in decode_launch.h; every byte read exactly once):
//   linear      the whole buffer, grid-stride 16-byte loads (the device's ceiling)
//   nhd.hN      the attnscope layout [B, L, H_kv, D]: per key a run of N x 256 bytes at a 2 KiB
//               stride, 16-byte loads, U loads in flight per thread
//   hnd         [B, H_kv, L, D] (SDPA's layout): per CTA one contiguous run
//   bulk.nhd.hN the v8 pipeline with no math: one producer lane issues a cp.async.bulk per key row
//               into S stages of 64 keys, eight consumer warps wait on the stage and release it
//   bulk.hnd    the same, one bulk copy of 64 contiguous rows per tile
//   copy        nhd.h1's addresses by 16-byte cp.async into shared memory (the decode kernels'
//               copy; plain and with a src-size operand) against the same plain loads (first);
//               and the plain copy into rows of 272 bytes (the decode kernels' padded pitch
//               before v14) instead of 256: the destination's lines, not the source's
// Timing: CUDA events, median of 15 calls each after a 256 MiB memset (cold L2); unique bytes / time.
// Built with CUDA as build/<preset>/kernels/probe_kv_stream; run with no arguments.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "kernels/hopper/barrier.cuh"

namespace {

constexpr int kBatch = 8, kKeys = 65536, kHeadsKv = 8, kHeadDim = 128;
constexpr int64_t kRowBytes = kHeadDim * 2;                          // one head's key row, FP16
constexpr int64_t kCacheBytes = int64_t{kBatch} * kKeys * kHeadsKv * kRowBytes;  // K (or V)

#define CHECK(x)                                                                              \
  do {                                                                                        \
    cudaError_t e = (x);                                                                      \
    if (e != cudaSuccess) {                                                                   \
      std::fprintf(stderr, "%s:%d %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e)); \
      std::exit(3);                                                                           \
    }                                                                                         \
  } while (0)

__device__ __forceinline__ void fold(uint4& acc, const uint4 v) {
  acc.x ^= v.x;
  acc.y ^= v.y;
  acc.z ^= v.z;
  acc.w ^= v.w;
}

/// Keeps the loads alive: a store nobody reads unless the XOR of everything is a magic value.
__device__ __forceinline__ void sink(const uint4 acc, uint32_t* out) {
  if ((acc.x ^ acc.y ^ acc.z ^ acc.w) == 0x9e3779b9u) out[0] = acc.x;
}

__global__ void read_linear(const uint4* k, const uint4* v, int64_t n16, uint32_t* out) {
  uint4 acc{};
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n16; i += int64_t{gridDim.x} * blockDim.x) {
    fold(acc, __ldg(k + i));
    fold(acc, __ldg(v + i));
  }
  sink(acc, out);
}

/// One CTA reads keys [split range) of `heads` heads of entry b: rows of heads x 256 bytes, `stride`
/// bytes apart, from `base` (NHD: stride 2 KiB; HND: stride 256, heads 1). U 16-byte loads in flight.
template <int U>
__global__ void read_rows(const uint8_t* k, const uint8_t* v, int heads, int64_t stride, bool hnd, int splits,
                          uint32_t* out) {
  const int split = blockIdx.x, group = blockIdx.y, b = blockIdx.z;
  const int per = (kKeys + splits - 1) / splits, k0 = split * per, k1 = min(kKeys, k0 + per);
  const int64_t base = hnd ? (int64_t{b} * kHeadsKv + group) * kKeys * kRowBytes
                           : int64_t{b} * kKeys * kHeadsKv * kRowBytes + group * heads * kRowBytes;
  const int chunks = heads * kRowBytes / 16;  // 16-byte chunks per row
  const int64_t items = int64_t{k1 - k0} * chunks;
  uint4 acc{};
  for (int64_t i0 = threadIdx.x; i0 < items; i0 += int64_t{blockDim.x} * U) {
    uint4 r[2 * U];
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int64_t i = i0 + int64_t{u} * blockDim.x;
      if (i < items) {
        const int64_t off = base + (k0 + i / chunks) * stride + (i % chunks) * 16;
        r[2 * u] = __ldg(reinterpret_cast<const uint4*>(k + off));
        r[2 * u + 1] = __ldg(reinterpret_cast<const uint4*>(v + off));
      } else {
        r[2 * u] = r[2 * u + 1] = uint4{};
      }
    }
#pragma unroll
    for (int u = 0; u < 2 * U; ++u) fold(acc, r[u]);
  }
  sink(acc, out);
}

/// read_rows<U>'s addresses and lane mapping, copied by 16-byte cp.async.cg into shared memory (one
/// 16-byte slot per load and thread) instead of loaded into registers: the decode kernels' copy
/// (decode_mma.cuh). Zfill: the form with a register src-size operand on every copy
/// (fa2::cp_async_16), else the plain form. Pitch: the bytes between two key rows' slots (16
/// threads a row): 256, the rows back to back; 272, a row padded by 16 bytes, so that its 128-byte
/// source lines land across shared memory's 128-byte lines. The slots are read back once so the
/// copies stay alive.
template <int U, bool Zfill, int Pitch = 256>
__device__ void copy_rows(const uint8_t* k, const uint8_t* v, int64_t stride, int splits, uint32_t* out) {
  __shared__ __align__(128) uint8_t slots[2 * U][16 * Pitch];  // (K|V x U, 16 rows of 16 threads)
  const int slot = (threadIdx.x / 16) * Pitch + (threadIdx.x % 16) * 16;
  const int split = blockIdx.x, group = blockIdx.y, b = blockIdx.z;
  const int per = (kKeys + splits - 1) / splits, k0 = split * per, k1 = min(kKeys, k0 + per);
  const int64_t base = int64_t{b} * kKeys * kHeadsKv * kRowBytes + group * kRowBytes;
  const int chunks = kRowBytes / 16;
  const int64_t items = int64_t{k1 - k0} * chunks;
  uint4 acc{};
  for (int64_t i0 = threadIdx.x; i0 < items; i0 += int64_t{blockDim.x} * U) {
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int64_t i = i0 + int64_t{u} * blockDim.x;
      const bool valid = i < items;
      const int64_t off = valid ? base + (k0 + i / chunks) * stride + (i % chunks) * 16 : 0;
      const uint32_t sk = static_cast<uint32_t>(__cvta_generic_to_shared(&slots[2 * u][slot]));
      const uint32_t sv = static_cast<uint32_t>(__cvta_generic_to_shared(&slots[2 * u + 1][slot]));
      if constexpr (Zfill) {
        asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(sk), "l"(k + off), "r"(valid ? 16 : 0));
        asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(sv), "l"(v + off), "r"(valid ? 16 : 0));
      } else if (valid) {
        asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(sk), "l"(k + off));
        asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(sv), "l"(v + off));
      }
    }
    asm volatile("cp.async.commit_group;\n" ::);
    asm volatile("cp.async.wait_group 0;\n" ::: "memory");
#pragma unroll
    for (int u = 0; u < 2 * U; ++u) fold(acc, *reinterpret_cast<const uint4*>(&slots[u][slot]));
  }
  sink(acc, out);
}
__global__ void copy_rows_plain(const uint8_t* k, const uint8_t* v, int64_t stride, int splits, uint32_t* out) {
  copy_rows<4, false>(k, v, stride, splits, out);
}
__global__ void copy_rows_zfill(const uint8_t* k, const uint8_t* v, int64_t stride, int splits, uint32_t* out) {
  copy_rows<4, true>(k, v, stride, splits, out);
}
__global__ void copy_rows_padded(const uint8_t* k, const uint8_t* v, int64_t stride, int splits, uint32_t* out) {
  copy_rows<4, false, 272>(k, v, stride, splits, out);
}

__device__ __forceinline__ void bulk_g2s(void* dst, const void* src, uint32_t bytes, uint64_t* bar) {
  asm volatile("cp.async.bulk.shared::cluster.global.mbarrier::complete_tx::bytes [%0], [%1], %2, [%3];\n" ::"r"(
                   attn::hopper::smem_u32(dst)),
               "l"(src), "r"(bytes), "r"(attn::hopper::smem_u32(bar))
               : "memory");
}

__device__ __forceinline__ void wait_parity(uint64_t* bar, uint32_t parity) {
  while (!attn::hopper::mbarrier_try_wait(bar, parity)) {
  }
}

constexpr int kTile = 64, kConsumerWarps = 8;

/// The bulk pipeline with no math: warp 8 produces (lane j copies rows j, j + 32 of the tile, or
/// lane 0 one contiguous copy in HND), warps 0..7 wait on the full stage, read one word of it and
/// release it.
__global__ void bulk_rows(const uint8_t* k, const uint8_t* v, int heads, bool hnd, int splits, int stages,
                          uint32_t* out) {
  extern __shared__ __align__(128) uint8_t smem[];
  uint64_t* full = reinterpret_cast<uint64_t*>(smem);
  uint64_t* empty = full + 8;
  const int row = heads * kRowBytes, tile_bytes = kTile * row;
  uint8_t* st = smem + 128;
  const int split = blockIdx.x, group = blockIdx.y, b = blockIdx.z;
  const int per = (kKeys + splits - 1) / splits, k0 = split * per, k1 = min(kKeys, k0 + per);
  const int64_t base = hnd ? (int64_t{b} * kHeadsKv + group) * kKeys * kRowBytes
                           : int64_t{b} * kKeys * kHeadsKv * kRowBytes + group * heads * kRowBytes;
  const int64_t stride = hnd ? kRowBytes : kHeadsKv * kRowBytes;
  const int n_tiles = (k1 - k0 + kTile - 1) / kTile;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (threadIdx.x == 0) {
    for (int s = 0; s < stages; ++s) {
      attn::hopper::mbarrier_init(&full[s], 1);
      attn::hopper::mbarrier_init(&empty[s], kConsumerWarps);
    }
    attn::hopper::fence_barrier_init();
  }
  __syncthreads();
  uint32_t acc = 0;
  if (warp == kConsumerWarps) {
    for (int t = 0; t < n_tiles; ++t) {
      const int s = t % stages, round = t / stages;
      wait_parity(&empty[s], (round & 1) ^ 1);
      const int key0 = k0 + t * kTile, valid = min(kTile, k1 - key0);
      if (lane == 0) attn::hopper::mbarrier_arrive_expect_tx(&full[s], 2u * valid * row);
      __syncwarp();
      uint8_t* sK = st + s * 2 * tile_bytes;
      if (hnd) {
        if (lane == 0) {
          bulk_g2s(sK, k + base + key0 * stride, valid * row, &full[s]);
          bulk_g2s(sK + tile_bytes, v + base + key0 * stride, valid * row, &full[s]);
        }
      } else {
        for (int j = lane; j < valid; j += 32) {
          bulk_g2s(sK + j * row, k + base + (key0 + j) * stride, row, &full[s]);
          bulk_g2s(sK + tile_bytes + j * row, v + base + (key0 + j) * stride, row, &full[s]);
        }
      }
    }
  } else {
    for (int t = 0; t < n_tiles; ++t) {
      const int s = t % stages, round = t / stages;
      wait_parity(&full[s], round & 1);
      acc ^= reinterpret_cast<const uint32_t*>(st + s * 2 * tile_bytes)[threadIdx.x];
      __syncwarp();
      if (lane == 0) attn::hopper::mbarrier_arrive(&empty[s]);
    }
  }
  if (acc == 0x9e3779b9u) out[0] = acc;
}

struct Buffers {
  uint8_t* k;
  uint8_t* v;
  uint8_t* scratch;
  uint32_t* out;
};

template <class Launch>
double median_tbps(const Buffers& buf, Launch launch) {
  cudaEvent_t a, z;
  CHECK(cudaEventCreate(&a));
  CHECK(cudaEventCreate(&z));
  launch();  // warm-up
  CHECK(cudaGetLastError());
  std::vector<float> ms;
  for (int i = 0; i < 15; ++i) {
    CHECK(cudaMemset(buf.scratch, i, 256 << 20));
    CHECK(cudaEventRecord(a));
    launch();
    CHECK(cudaEventRecord(z));
    CHECK(cudaEventSynchronize(z));
    float t = 0;
    CHECK(cudaEventElapsedTime(&t, a, z));
    ms.push_back(t);
  }
  CHECK(cudaGetLastError());
  std::sort(ms.begin(), ms.end());
  return 2.0 * kCacheBytes / (ms[ms.size() / 2] * 1e-3) / 1e12;
}

}  // namespace

int main() {
  setvbuf(stdout, nullptr, _IONBF, 0);
  Buffers buf{};
  CHECK(cudaMalloc(&buf.k, kCacheBytes));
  CHECK(cudaMalloc(&buf.v, kCacheBytes));
  CHECK(cudaMalloc(&buf.scratch, 256 << 20));
  CHECK(cudaMalloc(&buf.out, 16));
  CHECK(cudaMemset(buf.k, 0x3c, kCacheBytes));
  CHECK(cudaMemset(buf.v, 0x3d, kCacheBytes));
  int sms = 0;
  CHECK(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0));
  std::printf("probe_kv_stream: K and V of B %d x L %d x H_kv %d x D %d FP16 (%.2f GB), cold L2, median of 15\n", kBatch,
              kKeys, kHeadsKv, kHeadDim, 2.0 * kCacheBytes / 1e9);
  // The decode kernels' copy (cp.async, 16 bytes a lane) against plain loads on the same addresses
  // (NHD, one head per CTA, 256 threads, 4 loads of K and V in flight per thread).
  for (int splits : {2, 6}) {
    const dim3 grid(splits, kHeadsKv, kBatch);
    const int64_t stride = kHeadsKv * kRowBytes;
    const double ldg = median_tbps(buf, [&] { read_rows<4><<<grid, 256>>>(buf.k, buf.v, 1, stride, false, splits, buf.out); });
    const double plain = median_tbps(buf, [&] { copy_rows_plain<<<grid, 256>>>(buf.k, buf.v, stride, splits, buf.out); });
    const double zfill = median_tbps(buf, [&] { copy_rows_zfill<<<grid, 256>>>(buf.k, buf.v, stride, splits, buf.out); });
    const double padded = median_tbps(buf, [&] { copy_rows_padded<<<grid, 256>>>(buf.k, buf.v, stride, splits, buf.out); });
    std::printf("PROBE copy nhd.h1 splits=%d CTAs=%d threads=256 U4: ldg %.3f TB/s, cp.async %.3f TB/s, cp.async+src-size %.3f TB/s, "
                "cp.async into 272-byte rows %.3f TB/s\n",
                splits, grid.x * grid.y * grid.z, ldg, plain, zfill, padded);
  }
  for (int blocks_per_sm : {2, 4, 8}) {
    const double tbps = median_tbps(buf, [&] {
      read_linear<<<sms * blocks_per_sm, 512>>>(reinterpret_cast<const uint4*>(buf.k),
                                                 reinterpret_cast<const uint4*>(buf.v), kCacheBytes / 16, buf.out);
    });
    std::printf("PROBE linear blocks/SM=%d threads=512: %.3f TB/s\n", blocks_per_sm, tbps);
  }
  for (int heads : {1, 2, 4, 8}) {
    for (int splits : {2, 6, 16, 48}) {
      for (int threads : {128, 256}) {
        const dim3 grid(splits, kHeadsKv / heads, kBatch);
        const double t4 = median_tbps(buf, [&] {
          read_rows<4><<<grid, threads>>>(buf.k, buf.v, heads, kHeadsKv * kRowBytes, false, splits, buf.out);
        });
        const double t8 = median_tbps(buf, [&] {
          read_rows<8><<<grid, threads>>>(buf.k, buf.v, heads, kHeadsKv * kRowBytes, false, splits, buf.out);
        });
        std::printf("PROBE nhd.h%d splits=%d CTAs=%d threads=%d: U4 %.3f TB/s, U8 %.3f TB/s\n", heads, splits,
                    grid.x * grid.y * grid.z, threads, t4, t8);
      }
    }
  }
  for (int splits : {2, 6, 16, 48}) {
    const dim3 grid(splits, kHeadsKv, kBatch);
    const double t4 = median_tbps(buf, [&] {
      read_rows<4><<<grid, 128>>>(buf.k, buf.v, 1, kRowBytes, true, splits, buf.out);
    });
    const double t8 = median_tbps(buf, [&] {
      read_rows<8><<<grid, 256>>>(buf.k, buf.v, 1, kRowBytes, true, splits, buf.out);
    });
    std::printf("PROBE hnd splits=%d CTAs=%d: U4x128 %.3f TB/s, U8x256 %.3f TB/s\n", splits, grid.x * grid.y * grid.z,
                t4, t8);
  }
  int max_smem = 0;
  CHECK(cudaDeviceGetAttribute(&max_smem, cudaDevAttrMaxSharedMemoryPerBlockOptin, 0));
  CHECK(cudaFuncSetAttribute(bulk_rows, cudaFuncAttributeMaxDynamicSharedMemorySize, max_smem));
  for (int hnd = 0; hnd <= 1; ++hnd) {
    for (int heads : {1, 2, 4}) {
      if (hnd && heads != 1) continue;
      for (int stages : {2, 4, 6}) {
        const int smem = 128 + stages * 2 * kTile * heads * static_cast<int>(kRowBytes);
        if (smem > max_smem) continue;
        for (int splits : {2, 6, 16}) {
          const dim3 grid(splits, kHeadsKv / heads, kBatch);
          const double tbps = median_tbps(buf, [&] {
            bulk_rows<<<grid, 32 * (kConsumerWarps + 1), smem>>>(buf.k, buf.v, heads, hnd, splits, stages, buf.out);
          });
          std::printf("PROBE bulk.%s.h%d stages=%d splits=%d CTAs=%d smem=%d: %.3f TB/s\n", hnd ? "hnd" : "nhd", heads,
                      stages, splits, grid.x * grid.y * grid.z, smem, tbps);
        }
      }
    }
  }
  return 0;
}
