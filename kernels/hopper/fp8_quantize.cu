// fp8_quantize.cu: the FP8 quantization pre-pass (see fp8_quantize.h). One CTA of 256 threads
// per (row block, head, batch entry) of a tensor; the CTAs of Q, K and V share one launch. A CTA
// holds its whole block (at most 128 rows) in registers: each thread loads 16-byte chunks (8
// values) of the rows, one row spread over D / 8 consecutive lanes, so the Hadamard rotation
// (pipeline::hadamard_rotate's butterflies, the same additions in the same passes) runs as three
// in-register passes and log2(D / 8) shuffle passes.
//   block_amax_kernel   (only for tensors whose scale group spans blocks: V's per-head scale,
//                       per-tensor scaling) the largest |x| of the block's valid rows;
//   quantize_kernel     the block's scale (from its own amax when the group is the block, else
//                       from the group's block amaxes), then x -> RNE_e4m3(RN(x * RN(1 / scale)))
//                       with satfinite, zeros past the valid rows; V is written transposed
//                       (V^T [B, D, H, S_pad], keys of each 32 in pipeline::fp8_pv_key_of_k order)
//                       through a shared-memory staging tile, in 16-byte stores.
#include "kernels/hopper/fp8_quantize.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <string>
#include <type_traits>

#include "core/errors.h"
#include "core/pipeline/fp8.h"
#include "kernels/device_buffer.h"

namespace attn::hopper {
namespace {

constexpr int kThreads = 256;
constexpr int kMaxBlockRows = 128;  ///< rows a CTA holds in registers
constexpr int kVtKeyBlock = 128;    ///< keys of one V^T block (the kernel's BLOCK_N and TMA box)

/// One tensor of the pass: source, destination, its scale groups.
struct TensorJob {
  const uint16_t* src = nullptr;  ///< 16-bit [B, S, H, D]
  uint8_t* dst = nullptr;         ///< E4M3 [B, S, H, D], or V^T [B, D, H, vt_keys] when `transpose`
  float* block_amax = nullptr;    ///< [B, H, blocks] (tensors whose scale spans blocks)
  float* scale = nullptr;         ///< [B, H, blocks] (scale_per_head: [B, H])
  int batch = 1, seqlen = 1, heads = 1, block_rows = 128, blocks = 1;
  const int* valid_rows = nullptr;  ///< per batch entry; null: all `seqlen` rows
  bool rotate = false;
  uint64_t seed = 0;
  bool bf16 = true;
  Fp8Scaling group = Fp8Scaling::per_block;  ///< per_block, per_tensor; per-head when scale_per_head
  bool scale_per_head = false;               ///< V: one scale per (b, h) over all its blocks
  bool transpose = false;                    ///< V: written as V^T
  int vt_keys = 0;                           ///< V^T row length (blocks x block_rows)
  /// Whether the block's scale is its own amax's (one pass), or its group's (amaxes first).
  __host__ __device__ bool own_scale() const { return group == Fp8Scaling::per_block && !scale_per_head; }
  int64_t ctas() const { return static_cast<int64_t>(blocks) * heads * batch; }
};

/// The tensors of one launch and the first CTA of each (CTAs of job j: [first[j], first[j + 1])).
struct JobSet {
  TensorJob job[3];
  int count = 0;
  int64_t first[4] = {0, 0, 0, 0};
  void add(const TensorJob& t) {
    job[count] = t;
    first[count + 1] = first[count] + t.ctas();
    ++count;
  }
  int64_t ctas() const { return first[count]; }
};

/// The block of this CTA: its job and (block, head, batch entry).
struct BlockId {
  const TensorJob* t;
  int blk, h, b;
};
__device__ __forceinline__ BlockId locate(const JobSet& jobs) {
  const int64_t x = blockIdx.x;
  int j = 0;
  while (j + 1 < jobs.count && x >= jobs.first[j + 1]) ++j;
  const TensorJob& t = jobs.job[j];
  const int64_t local = x - jobs.first[j];
  return {&t, static_cast<int>(local % t.blocks), static_cast<int>(local / t.blocks % t.heads),
          static_cast<int>(local / (static_cast<int64_t>(t.blocks) * t.heads))};
}

/// Rows of entry b that hold data: [0, valid_end).
__device__ __forceinline__ int valid_end(const TensorJob& t, int b) {
  return t.valid_rows ? min(t.valid_rows[b], t.seqlen) : t.seqlen;
}

__device__ __forceinline__ float to_float(uint32_t bits16, bool bf16) {
  const uint16_t b = static_cast<uint16_t>(bits16);
  return bf16 ? __bfloat162float(__ushort_as_bfloat16(b)) : __half2float(__ushort_as_half(b));
}

/// One block in registers: thread `tid` holds chunk c = tid % kChunks (values 8c .. 8c + 7) of
/// block rows kRowsPerStep * i + tid / kChunks, i < kSteps, 0 past the valid rows. Rotated: as
/// FP32 (the rotation's sums are not 16-bit numbers); otherwise the loaded 16-bit words (half the
/// registers: more CTAs per SM to keep loads in flight), widened where they are used.
template <int D, bool Rotated>
struct BlockRegisters {
  static constexpr int kChunks = D / 8;
  static constexpr int kRowsPerStep = kThreads / kChunks;
  static constexpr int kSteps = kMaxBlockRows / kRowsPerStep;
  static_assert(32 % kChunks == 0, "a row's chunks lie in one warp (the rotation shuffles)");
  std::conditional_t<Rotated, float[kSteps][8], uint32_t[kSteps][4]> v;
  __device__ __forceinline__ static int chunk() { return static_cast<int>(threadIdx.x) % kChunks; }
  __device__ __forceinline__ static int row(int i) { return kRowsPerStep * i + static_cast<int>(threadIdx.x) / kChunks; }
  /// The 8 values of step i as FP32 (exact: a 16-bit value widens exactly).
  __device__ __forceinline__ void values(int i, bool bf16, float (&x)[8]) const {
#pragma unroll
    for (int j = 0; j < 8; ++j) {
      if constexpr (Rotated) x[j] = v[i][j];
      else x[j] = to_float(j % 2 ? v[i][j / 2] >> 16 : v[i][j / 2] & 0xffffu, bf16);
    }
  }
};

/// Loads block (blk, h, b) of t (16-byte loads, coalesced along each row) and rotates its rows
/// when t.rotate (Rotated only): the sign flip, then butterfly passes h = 1, 2, 4 inside a chunk
/// and h = 8 .. D/2 between the lanes of a row (lane c xor h/8): (a, b) <- (RN(a + b), RN(a - b)),
/// a the lower index.
template <int D, bool Rotated>
__device__ __forceinline__ void load_block(const TensorJob& t, int blk, int h, int b, BlockRegisters<D, Rotated>& r) {
  using R = BlockRegisters<D, Rotated>;
  const int c = R::chunk(), first = blk * t.block_rows, end = min(first + t.block_rows, valid_end(t, b));
  uint4 raw[R::kSteps];
#pragma unroll
  for (int i = 0; i < R::kSteps; ++i) {  // every load issued before any is used
    const int row = first + R::row(i);
    raw[i] = make_uint4(0, 0, 0, 0);
    if (R::row(i) < t.block_rows && row < end)
      raw[i] = *reinterpret_cast<const uint4*>(t.src + ((static_cast<int64_t>(b) * t.seqlen + row) * t.heads + h) * D + 8 * c);
  }
  if constexpr (!Rotated) {
#pragma unroll
    for (int i = 0; i < R::kSteps; ++i) {
      r.v[i][0] = raw[i].x; r.v[i][1] = raw[i].y; r.v[i][2] = raw[i].z; r.v[i][3] = raw[i].w;
    }
    return;
  } else {
#pragma unroll
    for (int i = 0; i < R::kSteps; ++i) {
      const uint32_t w[4] = {raw[i].x, raw[i].y, raw[i].z, raw[i].w};
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        r.v[i][2 * e] = to_float(w[e] & 0xffffu, t.bf16);
        r.v[i][2 * e + 1] = to_float(w[e] >> 16, t.bf16);
      }
    }
    if (!t.rotate) return;
    float sign[8];
#pragma unroll
    for (int j = 0; j < 8; ++j) sign[j] = pipeline::hadamard_sign(t.seed, 8 * c + j);
#pragma unroll
    for (int i = 0; i < R::kSteps; ++i) {
      float* x = r.v[i];
#pragma unroll
      for (int j = 0; j < 8; ++j) x[j] *= sign[j];
#pragma unroll
      for (int hh = 1; hh < 8; hh *= 2)
#pragma unroll
        for (int j0 = 0; j0 < 8; j0 += 2 * hh)
#pragma unroll
          for (int j = j0; j < j0 + hh; ++j) {
            const float a = x[j], bb = x[j + hh];
            x[j] = a + bb;
            x[j + hh] = a - bb;
          }
#pragma unroll
      for (int lanes = 1; lanes < R::kChunks; lanes *= 2) {
        const bool upper = (c & lanes) != 0;  // holds b of each pair (index d + h)
#pragma unroll
        for (int j = 0; j < 8; ++j) {
          const float other = __shfl_xor_sync(0xffffffffu, x[j], lanes);
          x[j] = upper ? other - x[j] : x[j] + other;
        }
      }
    }
  }
}

/// The CTA's largest value of v (every thread calls it).
__device__ float block_max(float v) {
  __shared__ float scratch[kThreads / 32];
  for (int o = 16; o > 0; o /= 2) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  if (threadIdx.x % 32 == 0) scratch[threadIdx.x / 32] = v;
  __syncthreads();
  v = scratch[0];
  for (int w = 1; w < kThreads / 32; ++w) v = fmaxf(v, scratch[w]);
  __syncthreads();
  return v;
}

template <int D, bool Rotated>
__device__ __forceinline__ float block_amax(const BlockRegisters<D, Rotated>& r, bool bf16) {
  float amax = 0.f;
#pragma unroll
  for (int i = 0; i < BlockRegisters<D, Rotated>::kSteps; ++i) {
    float x[8];
    r.values(i, bf16, x);
#pragma unroll
    for (int j = 0; j < 8; ++j) amax = fmaxf(amax, fabsf(x[j]));  // rows past the valid ones hold 0
  }
  return block_max(amax);
}

template <int D, bool Rotated>
__global__ void __launch_bounds__(kThreads) block_amax_kernel(const __grid_constant__ JobSet jobs) {
  const BlockId id = locate(jobs);
  const TensorJob& t = *id.t;
  BlockRegisters<D, Rotated> r;
  load_block<D, Rotated>(t, id.blk, id.h, id.b, r);
  const float amax = block_amax<D, Rotated>(r, t.bf16);
  if (threadIdx.x == 0) t.block_amax[(static_cast<int64_t>(id.b) * t.heads + id.h) * t.blocks + id.blk] = amax;
}

/// Eight values times `inverse`, each RN, then E4M3 (RNE, satfinite), in memory order.
__device__ __forceinline__ uint2 quantize8(const float (&x)[8], float inverse) {
  uint32_t w[4];
#pragma unroll
  for (int e = 0; e < 4; ++e) {
    const float2 v = make_float2(x[2 * e] * inverse, x[2 * e + 1] * inverse);  // RN(x * RN(1 / scale))
    w[e] = __nv_cvt_float2_to_fp8x2(v, __NV_SATFINITE, __NV_E4M3);  // .x in the low byte
  }
  return make_uint2(w[0] | (w[1] << 16), w[2] | (w[3] << 16));
}

template <int D, bool Rotated>
__global__ void __launch_bounds__(kThreads) quantize_kernel(const __grid_constant__ JobSet jobs) {
  using R = BlockRegisters<D, Rotated>;
  __shared__ __align__(16) uint8_t staged[kVtKeyBlock][D + 4];  // V: (keys, D) E4M3, padded rows
  const BlockId id = locate(jobs);
  const TensorJob& t = *id.t;
  const int blk = id.blk, h = id.h, b = id.b;
  const int64_t pair = static_cast<int64_t>(b) * t.heads + h;
  R r;
  load_block<D, Rotated>(t, blk, h, b, r);
  float amax = 0.f;
  if (t.own_scale()) {
    amax = block_amax<D, Rotated>(r, t.bf16);
  } else {  // the amaxes of this block's scale group (block_amax_kernel)
    int64_t g_begin = pair * t.blocks, g_end = g_begin + t.blocks;  // per head
    if (t.group == Fp8Scaling::per_tensor) {
      g_begin = 0;
      g_end = static_cast<int64_t>(t.batch) * t.heads * t.blocks;
    }
    for (int64_t i = g_begin + threadIdx.x; i < g_end; i += kThreads) amax = fmaxf(amax, t.block_amax[i]);
    amax = block_max(amax);
  }
  const float scale = pipeline::fp8_scale(amax);
  const float inverse = pipeline::fp8_inverse_scale(scale);
  if (threadIdx.x == 0) {
    if (!t.scale_per_head) t.scale[pair * t.blocks + blk] = scale;
    else if (blk == 0) t.scale[pair] = scale;
  }
  const int c = R::chunk(), first = blk * t.block_rows;
  if (!t.transpose) {
    const int last = min(first + t.block_rows, t.seqlen);
#pragma unroll
    for (int i = 0; i < R::kSteps; ++i) {
      const int row = first + R::row(i);
      if (R::row(i) >= t.block_rows || row >= last) continue;
      float x[8];
      r.values(i, t.bf16, x);
      *reinterpret_cast<uint2*>(t.dst + ((static_cast<int64_t>(b) * t.seqlen + row) * t.heads + h) * D + 8 * c) =
          quantize8(x, inverse);
    }
    return;
  }
  // V^T: the block's keys (every one of the kVtKeyBlock, zeros past the valid rows) staged as
  // (key, D) bytes, then read down the columns into 16-byte runs of 16 logical keys of one d row.
#pragma unroll
  for (int i = 0; i < R::kSteps; ++i) {
    float x[8];
    r.values(i, t.bf16, x);
    const uint2 q = quantize8(x, inverse);
    uint32_t* dst = reinterpret_cast<uint32_t*>(&staged[R::row(i)][8 * c]);
    dst[0] = q.x;
    dst[1] = q.y;
  }
  __syncthreads();
  constexpr int kRuns = D * (kVtKeyBlock / 16);  // (d row, 16-key run) pairs
  for (int run = threadIdx.x; run < kRuns; run += kThreads) {
    const int d = run / (kVtKeyBlock / 16), k0 = 16 * (run % (kVtKeyBlock / 16));
    uint32_t w[4] = {0, 0, 0, 0};
#pragma unroll
    for (int j = 0; j < 16; ++j) {
      const int k = k0 + j;  // logical k of the PV step; its key:
      const int key = (k & ~31) + pipeline::fp8_pv_key_of_k(k & 31);
      w[j / 4] |= static_cast<uint32_t>(staged[key][d]) << (8 * (j % 4));
    }
    *reinterpret_cast<uint4*>(t.dst + ((static_cast<int64_t>(b) * D + d) * t.heads + h) * t.vt_keys + blk * kVtKeyBlock + k0) =
        make_uint4(w[0], w[1], w[2], w[3]);
  }
}

/// A device buffer that only grows (the workspace of the pre-pass).
struct GrowingBuffer {
  DeviceBuffer buffer;
  size_t bytes = 0;
  template <class T>
  T* get(size_t count) {
    const size_t need = std::max<size_t>(count * sizeof(T), 16);
    if (need > bytes) {
      buffer = DeviceBuffer(need);
      bytes = need;
    }
    return buffer.as<T>();
  }
};

template <int D, bool Rotated>
void run_jobs(const JobSet& amax_jobs, const JobSet& quantize_jobs, cudaStream_t stream) {
  if (amax_jobs.count > 0)
    block_amax_kernel<D, Rotated><<<static_cast<unsigned>(amax_jobs.ctas()), kThreads, 0, stream>>>(amax_jobs);
  quantize_kernel<D, Rotated><<<static_cast<unsigned>(quantize_jobs.ctas()), kThreads, 0, stream>>>(quantize_jobs);
}

/// What the workspace holds: the operands of the last call and what they were made from.
struct LastQuantization {
  bool valid = false;
  const void *q = nullptr, *k = nullptr, *v = nullptr;
  const int* seqlens_k = nullptr;
  int batch = 0, seqlen_q = 0, seqlen_k = 0, heads_q = 0, heads_kv = 0, head_dim = 0;
  DType elem = DType::fp16;
  Fp8QuantizeSetup setup;
  Fp8Operands ops;
  bool same(const PrefillParams& p, DType e, int d, const Fp8QuantizeSetup& s) const {
    return valid && q == p.q && k == p.k && v == p.v && seqlens_k == p.seqlens_k && batch == p.batch &&
           seqlen_q == p.seqlen_q && seqlen_k == p.seqlen_k && heads_q == p.num_heads_q && heads_kv == p.num_heads_kv &&
           head_dim == d && elem == e && setup.scaling == s.scaling && setup.rotate == s.rotate &&
           setup.rotation_seed == s.rotation_seed && setup.block_m == s.block_m && setup.block_n == s.block_n;
  }
};

}  // namespace

Fp8Operands quantize_fp8_inputs(const PrefillParams& p, DType elem, int head_dim, const Fp8QuantizeSetup& setup,
                                void* stream_ptr, bool reuse_previous) {
  static LastQuantization last;
  if (reuse_previous && last.same(p, elem, head_dim, setup)) return last.ops;
  if (p.layout.block_table != nullptr) throw Error("fp8 quantization: a paged KV cache is not supported");
  if (head_dim != 64 && head_dim != 128) throw Error("fp8 quantization: head_dim " + std::to_string(head_dim) + " (64 or 128)");
  if (setup.scaling == Fp8Scaling::none) throw Error("fp8 quantization: no scaling chosen");
  if (setup.block_m < 32 || setup.block_m > kMaxBlockRows || setup.block_m % 32 != 0)
    throw Error("fp8 quantization: block_m " + std::to_string(setup.block_m) + " (a multiple of 32 up to 128)");
  if (setup.block_n != kVtKeyBlock)
    throw Error("fp8 quantization: block_n " + std::to_string(setup.block_n) + " (V^T is written in 128-key blocks)");
  static GrowingBuffer q8, k8, vt8, q_amax, k_amax, v_amax, q_scale, k_scale, v_scale;
  last.valid = false;  // the buffers may move below
  const cudaStream_t stream = static_cast<cudaStream_t>(stream_ptr);
  const int64_t D = head_dim;
  Fp8Operands ops;
  ops.q_blocks = (p.seqlen_q + setup.block_m - 1) / setup.block_m;
  ops.k_blocks = (p.seqlen_k + setup.block_n - 1) / setup.block_n;
  ops.vt_keys = ops.k_blocks * setup.block_n;
  const int64_t q_pairs = static_cast<int64_t>(p.batch) * p.num_heads_q, kv_pairs = static_cast<int64_t>(p.batch) * p.num_heads_kv;

  TensorJob q;
  q.src = static_cast<const uint16_t*>(p.q);
  q.dst = q8.get<uint8_t>(static_cast<size_t>(q_pairs * p.seqlen_q * D));
  q.batch = p.batch; q.seqlen = p.seqlen_q; q.heads = p.num_heads_q;
  q.block_rows = setup.block_m; q.blocks = ops.q_blocks;
  q.block_amax = q_amax.get<float>(static_cast<size_t>(q_pairs * ops.q_blocks));
  q.scale = q_scale.get<float>(static_cast<size_t>(q_pairs * ops.q_blocks));
  q.rotate = setup.rotate; q.seed = setup.rotation_seed; q.bf16 = elem == DType::bf16; q.group = setup.scaling;

  TensorJob k = q;
  k.src = static_cast<const uint16_t*>(p.k);
  k.dst = k8.get<uint8_t>(static_cast<size_t>(kv_pairs * p.seqlen_k * D));
  k.seqlen = p.seqlen_k; k.heads = p.num_heads_kv; k.valid_rows = p.seqlens_k;
  k.block_rows = setup.block_n; k.blocks = ops.k_blocks;
  k.block_amax = k_amax.get<float>(static_cast<size_t>(kv_pairs * ops.k_blocks));
  k.scale = k_scale.get<float>(static_cast<size_t>(kv_pairs * ops.k_blocks));

  TensorJob v = k;
  v.src = static_cast<const uint16_t*>(p.v);
  v.dst = vt8.get<uint8_t>(static_cast<size_t>(kv_pairs * ops.vt_keys * D));
  v.block_amax = v_amax.get<float>(static_cast<size_t>(kv_pairs * ops.k_blocks));
  v.scale = v_scale.get<float>(static_cast<size_t>(kv_pairs));
  v.rotate = false;  // incoherent processing rotates Q and K only (Q K^T is invariant; P V is not)
  v.scale_per_head = true;  // V: per (batch, KV head) (per_block) or per tensor, one entry per head either way
  v.transpose = true;
  v.vt_keys = ops.vt_keys;

  JobSet amax_jobs, quantize_jobs;
  // V first: its blocks are read again right after the amax pass read them (some still in L2).
  for (const TensorJob* t : {&v, &q, &k}) {
    if (!t->own_scale()) amax_jobs.add(*t);
    quantize_jobs.add(*t);
  }
  if (quantize_jobs.ctas() > 0x7fffffff) throw Error("fp8 quantization: more than 2^31 - 1 blocks");
  // The FP32 register block only where a row is rotated (its V, never rotated, rides along).
  if (D == 64) setup.rotate ? run_jobs<64, true>(amax_jobs, quantize_jobs, stream) : run_jobs<64, false>(amax_jobs, quantize_jobs, stream);
  else setup.rotate ? run_jobs<128, true>(amax_jobs, quantize_jobs, stream) : run_jobs<128, false>(amax_jobs, quantize_jobs, stream);
  cuda_check(cudaGetLastError(), "fp8 quantization launch");
  ops.q = q.dst; ops.k = k.dst; ops.vt = v.dst;
  ops.q_scale = q.scale; ops.k_scale = k.scale; ops.v_scale = v.scale;
  last = LastQuantization{true, p.q, p.k, p.v, p.seqlens_k, p.batch, p.seqlen_q, p.seqlen_k, p.num_heads_q,
                          p.num_heads_kv, head_dim, elem, setup, ops};
  return ops;
}

}  // namespace attn::hopper
