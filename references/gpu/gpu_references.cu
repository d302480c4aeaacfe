// gpu_references.cu: the FP64 truth and the naive same-precision baseline on the GPU, tiled.
// One CTA of 256 threads (a 16 x 16 grid) owns BLOCK_M = 64 query rows of one (batch, head) and
// one chunk of up to COLS output dimensions; it walks the keys its rows can see in tiles of
// BLOCK_N = 64, recomputing the score tile in each pass instead of keeping [S_q, S_k] anywhere:
//   truth (FP64)   pass 1  S = (Q K^T) * scale -> row max m
//                  pass 2  P = exp(S - m), l += P, O += P V; then O / l, lse = m + log(l)
//   baseline       pass 1  S = dtype(fp32 fma chain of q' k over d ascending) -> row max m
//   (FP32, the     pass 2  e = expf(S - m); l = sum of e in ASCENDING key order, one thread per
//   roundings of          row adding the tile's 64 values in order (the CPU's sequential sum)
//   naive_baseline.h) pass 3  P = dtype(e / l); O += P V as one fma chain per (row, d) over keys
//                          ascending; o = dtype(O), lse = m + log(l)
// Thread (ty, tx) holds score entries (ty + 16 r, tx + 16 c), r, c < 4, and output entries
// (ty + 16 r, tx + 16 c), c < COLS / 16. The visible keys of a row are the one range
// visible_key_range gives (core/mask.h: every mask kind is a single range); masked keys are
// skipped, never multiplied by zero. The baseline matches the CPU baseline's rounding sequence
// except for expf (float(exp(double)) here; the host libm's agrees on all but 8.7e-5 of the
// inputs) and the sign of a zero row max.
// Validated against the CPU truth and baseline in tests/gpu/test_gpu_references.cpp.
// Version history: v1 (one CTA per query row, keys one per thread) took minutes at S = 8192.
#include "references/gpu/gpu_references.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <string>
#include <vector>

#include "core/errors.h"
#include "core/gqa.h"
#include "core/mask.h"

namespace attn {
namespace {

constexpr int kThreads = 256;
constexpr int kGrid = 16;                          // threads per side of the 16 x 16 thread grid
constexpr int kBlockM = 64;                        // query rows per CTA
constexpr int kBlockN = 64;                        // keys per score tile
constexpr int kChunkD = 32;                        // head dimensions per Q/K load in the score tile
constexpr int kValueKeys = 16;                     // keys per V load in the P V product
constexpr int kRowsPerThread = kBlockM / kGrid;    // 4
constexpr int kKeysPerThread = kBlockN / kGrid;    // 4
constexpr int kPad = 1;                            // shared-memory row padding against bank conflicts
static_assert(kGrid * kGrid == kThreads, "the thread grid is 16 x 16");
static_assert(kBlockM % kGrid == 0 && kBlockN % kGrid == 0 && kBlockN % kValueKeys == 0, "tile shapes");

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw Error(std::string("gpu reference: ") + what + ": " + cudaGetErrorString(e));
}

struct RefParams {
  const double *q, *k, *v;     // (B, S_q, H_q, D), (B, S_k, H_kv, D), (B, S_k, H_kv, D)
  double* o;                   // (B, S_q, H_q, D)
  double* lse;                 // (B, H_q, S_q)
  const long long* seqlens_k;  // (B) or null
  int batch, seqlen_q, seqlen_k, heads_q, heads_kv, head_dim, col_chunks;
  GqaMapping gqa;
  double scale;
  Mask mask;
  bool bf16;  // baseline only: round to bf16 (else fp16)
};

/// What one CTA works on: rows [row_first, row_first + 64) of (b, h), output columns
/// [col_first, col_first + COLS), keys [key_first, key_last) (the union of its rows' ranges).
struct CtaWork {
  int b, h, h_kv, row_first, col_first, keys, key_first, key_last;
};

/// Keys one row sees: [first, last), empty (first >= last) for a fully masked or absent row.
struct RowKeys {
  int first, last;
  __device__ bool sees(int j) const { return j >= first && j < last; }
};

__device__ long long q_index(const RefParams& p, int b, int i, int h, int d) {
  return ((static_cast<long long>(b) * p.seqlen_q + i) * p.heads_q + h) * p.head_dim + d;
}
__device__ long long kv_index(const RefParams& p, int b, int j, int h_kv, int d) {
  return ((static_cast<long long>(b) * p.seqlen_k + j) * p.heads_kv + h_kv) * p.head_dim + d;
}

__device__ RowKeys row_keys(const RefParams& p, const CtaWork& w, int i) {
  if (i >= p.seqlen_q) return {0, 0};
  const KeyRange r = visible_key_range(p.mask, i, p.seqlen_q, w.keys);
  return {static_cast<int>(r.first), static_cast<int>(r.last)};
}

template <int COLS>
__device__ CtaWork cta_work(const RefParams& p) {
  CtaWork w;
  w.row_first = blockIdx.x * kBlockM;
  w.h = blockIdx.y;
  w.b = blockIdx.z / p.col_chunks;
  w.col_first = (blockIdx.z % p.col_chunks) * COLS;
  w.keys = p.seqlens_k ? static_cast<int>(p.seqlens_k[w.b]) : p.seqlen_k;
  w.h_kv = static_cast<int>(kv_head_for(w.h, p.heads_q, p.heads_kv, p.gqa));
  w.key_first = w.keys;
  w.key_last = 0;
  for (int i = w.row_first; i < w.row_first + kBlockM; ++i) {
    const RowKeys r = row_keys(p, w, i);
    if (r.first < r.last) {
      w.key_first = min(w.key_first, r.first);
      w.key_last = max(w.key_last, r.last);
    }
  }
  return w;
}

// One IEEE operation each, whatever nvcc's contraction setting: the fma chains and maxima below.
__device__ double fused_multiply_add(double a, double b, double c) { return __fma_rn(a, b, c); }
__device__ float fused_multiply_add(float a, float b, float c) { return __fmaf_rn(a, b, c); }
__device__ double maximum(double a, double b) { return fmax(a, b); }
__device__ float maximum(float a, float b) { return fmaxf(a, b); }

// expf for the baseline: exp in FP64 rounded once to float — the correctly rounded expf except
// where the FP64 result falls within an FP64 ulp of a float midpoint (~2^-28 of inputs). The
// host libm's expf (glibc 2.36) returns float(exp(double(x))) on all but 97,052 of the 1.12e9
// floats in [-104, 0] (8.7e-5; tests/references "[.expf]"); CUDA's expf is within 2 ulp and
// would disagree far more often. So the GPU baseline's P differs from the CPU's only there.
__device__ float exp_correctly_rounded(float x) { return __double2float_rn(exp(static_cast<double>(x))); }

__device__ float round_to_dtype(float x, bool bf16) {
  return bf16 ? __bfloat162float(__float2bfloat16_rn(x)) : __half2float(__float2half_rn(x));
}

/// Dot products of the CTA's 64 query rows with keys [key0, key0 + 64): acc[r][c] = sum over d
/// ascending of q(row ty + 16 r)_d * k(key0 + tx + 16 c)_d as one fma chain from 0, in T.
/// `query(value)` converts a Q element (identity for the truth; q' = dtype(fp32 q * scale) for
/// the baseline). s_q (kChunkD, kBlockM + pad) and s_k (kChunkD, kBlockN + pad) are scratch.
template <class T, class Query>
__device__ __forceinline__ void score_tile(const RefParams& p, const CtaWork& w, int key0, Query query, T* s_q, T* s_k,
                          T (&r_acc)[kRowsPerThread][kKeysPerThread]) {
  const int tx = threadIdx.x % kGrid, ty = threadIdx.x / kGrid;
  for (auto& row : r_acc)
    for (T& a : row) a = T(0);
  for (int d0 = 0; d0 < p.head_dim; d0 += kChunkD) {
    for (int e = threadIdx.x; e < kBlockM * kChunkD; e += kThreads) {
      const int row = e / kChunkD, dd = e % kChunkD, i = w.row_first + row, d = d0 + dd;
      s_q[dd * (kBlockM + kPad) + row] = i < p.seqlen_q && d < p.head_dim ? query(p.q[q_index(p, w.b, i, w.h, d)]) : T(0);
    }
    for (int e = threadIdx.x; e < kBlockN * kChunkD; e += kThreads) {
      const int key = e / kChunkD, dd = e % kChunkD, j = key0 + key, d = d0 + dd;
      s_k[dd * (kBlockN + kPad) + key] = j < w.key_last && d < p.head_dim ? T(p.k[kv_index(p, w.b, j, w.h_kv, d)]) : T(0);
    }
    __syncthreads();
    const int dims = min(kChunkD, p.head_dim - d0);  // only real dimensions enter the fma chain
    for (int dd = 0; dd < dims; ++dd) {
      T r_q[kRowsPerThread], r_k[kKeysPerThread];
      for (int r = 0; r < kRowsPerThread; ++r) r_q[r] = s_q[dd * (kBlockM + kPad) + ty + kGrid * r];
      for (int c = 0; c < kKeysPerThread; ++c) r_k[c] = s_k[dd * (kBlockN + kPad) + tx + kGrid * c];
      for (int r = 0; r < kRowsPerThread; ++r)
        for (int c = 0; c < kKeysPerThread; ++c) r_acc[r][c] = fused_multiply_add(r_q[r], r_k[c], r_acc[r][c]);
    }
    __syncthreads();
  }
}

/// O(rows, cols) += P(rows, keys) V(keys, cols) over keys [key0, key0 + 64), one fma chain per
/// output in ascending key order, skipping keys a row does not see. s_p is (kBlockN, kBlockM + pad)
/// holding P; s_v (kValueKeys, COLS) is scratch.
template <int COLS, class T>
__device__ __forceinline__ void accumulate_pv(const RefParams& p, const CtaWork& w, int key0, const RowKeys (&rows)[kRowsPerThread],
                              const T* s_p, T* s_v, T (&r_o)[kRowsPerThread][COLS / kGrid]) {
  const int tx = threadIdx.x % kGrid, ty = threadIdx.x / kGrid;
  for (int k0 = 0; k0 < kBlockN; k0 += kValueKeys) {
    for (int e = threadIdx.x; e < kValueKeys * COLS; e += kThreads) {
      const int key = e / COLS, col = e % COLS, j = key0 + k0 + key, d = w.col_first + col;
      s_v[key * COLS + col] = j < w.key_last && d < p.head_dim ? T(p.v[kv_index(p, w.b, j, w.h_kv, d)]) : T(0);
    }
    __syncthreads();
    for (int key = 0; key < kValueKeys; ++key) {
      const int j = key0 + k0 + key;
      for (int r = 0; r < kRowsPerThread; ++r) {
        if (!rows[r].sees(j)) continue;
        const T r_p = s_p[(k0 + key) * (kBlockM + kPad) + ty + kGrid * r];
        for (int c = 0; c < COLS / kGrid; ++c) r_o[r][c] = fused_multiply_add(r_p, s_v[key * COLS + tx + kGrid * c], r_o[r][c]);
      }
    }
    __syncthreads();
  }
}

/// max over the 16 threads of a row (lanes sharing ty: xor over the low 4 lane bits).
template <class T>
__device__ T row_max_across_threads(T x) {
  for (int offset = kGrid / 2; offset > 0; offset /= 2) x = maximum(x, __shfl_xor_sync(0xffffffffu, x, offset));
  return x;
}
template <class T>
__device__ T row_sum_across_threads(T x) {
  for (int offset = kGrid / 2; offset > 0; offset /= 2) x += __shfl_xor_sync(0xffffffffu, x, offset);
  return x;
}

/// The dynamic shared memory of one CTA, in T. The P tile aliases the Q/K chunks: every pass
/// writes P only after score_tile's last barrier, and the next score_tile loads Q/K only after
/// accumulate_pv's (or the row sums') last barrier.
template <class T>
struct SharedTiles {
  T* s_q;  // (kChunkD, kBlockM + pad)
  T* s_k;  // (kChunkD, kBlockN + pad)
  T* s_p;  // (kBlockN, kBlockM + pad), aliasing s_q / s_k
  T* s_v;  // (kValueKeys, COLS)
  static constexpr size_t score_elems = static_cast<size_t>(kChunkD) * (kBlockM + kPad + kBlockN + kPad);
  static constexpr size_t p_elems = static_cast<size_t>(kBlockN) * (kBlockM + kPad);
  static constexpr size_t v_offset = score_elems > p_elems ? score_elems : p_elems;
  __device__ explicit SharedTiles(T* base)
      : s_q(base), s_k(base + kChunkD * (kBlockM + kPad)), s_p(base), s_v(base + v_offset) {}
};
template <class T, int COLS>
constexpr size_t shared_bytes() {
  return (SharedTiles<T>::v_offset + static_cast<size_t>(kValueKeys) * COLS) * sizeof(T);
}

// ---- FP64 truth ---------------------------------------------------------------------------------
template <int COLS>
__global__ void __launch_bounds__(kThreads, 1) truth_fp64_kernel(RefParams p) {
  extern __shared__ double smem_truth[];
  SharedTiles<double> s(smem_truth);
  const CtaWork w = cta_work<COLS>(p);
  const int tx = threadIdx.x % kGrid, ty = threadIdx.x / kGrid;
  RowKeys rows[kRowsPerThread];
  for (int r = 0; r < kRowsPerThread; ++r) rows[r] = row_keys(p, w, w.row_first + ty + kGrid * r);
  const auto query = [](double x) { return x; };
  double r_s[kRowsPerThread][kKeysPerThread];  // (rows, keys) of the score tile

  // Pass 1: the row max of the scaled scores (the dot product first, then the scale, as the CPU).
  double m[kRowsPerThread];
  for (double& x : m) x = -INFINITY;
  for (int key0 = w.key_first; key0 < w.key_last; key0 += kBlockN) {
    score_tile<double>(p, w, key0, query, s.s_q, s.s_k, r_s);
    for (int r = 0; r < kRowsPerThread; ++r)
      for (int c = 0; c < kKeysPerThread; ++c)
        if (rows[r].sees(key0 + tx + kGrid * c)) m[r] = fmax(m[r], __dmul_rn(r_s[r][c], p.scale));
  }
  for (double& x : m) x = row_max_across_threads(x);

  // Pass 2: P = exp(S - m) (masked keys 0), the row sum, and P V.
  double l[kRowsPerThread] = {};
  double r_o[kRowsPerThread][COLS / kGrid] = {};  // (rows, COLS) of the output chunk
  for (int key0 = w.key_first; key0 < w.key_last; key0 += kBlockN) {
    score_tile<double>(p, w, key0, query, s.s_q, s.s_k, r_s);
    for (int r = 0; r < kRowsPerThread; ++r)
      for (int c = 0; c < kKeysPerThread; ++c) {
        const double pr = rows[r].sees(key0 + tx + kGrid * c) ? exp(__dmul_rn(r_s[r][c], p.scale) - m[r]) : 0.0;
        l[r] += pr;  // this thread's partial row sum (FP64: any order)
        s.s_p[(tx + kGrid * c) * (kBlockM + kPad) + ty + kGrid * r] = pr;
      }
    __syncthreads();
    accumulate_pv<COLS>(p, w, key0, rows, s.s_p, s.s_v, r_o);
  }
  for (int r = 0; r < kRowsPerThread; ++r) {
    l[r] = row_sum_across_threads(l[r]);
    const int i = w.row_first + ty + kGrid * r;
    if (i >= p.seqlen_q) continue;
    for (int c = 0; c < COLS / kGrid; ++c) {
      const int d = w.col_first + tx + kGrid * c;
      if (d < p.head_dim) p.o[q_index(p, w.b, i, w.h, d)] = l[r] > 0 ? r_o[r][c] / l[r] : 0.0;  // fully masked: 0
    }
    if (tx == 0 && w.col_first == 0)
      p.lse[(static_cast<long long>(w.b) * p.heads_q + w.h) * p.seqlen_q + i] = l[r] > 0 ? m[r] + log(l[r]) : -INFINITY;
  }
}

// ---- naive same-precision baseline ---------------------------------------------------------------
template <int COLS>
__global__ void __launch_bounds__(kThreads, 1) naive_baseline_kernel(RefParams p) {
  extern __shared__ double smem_baseline_raw[];
  SharedTiles<float> s(reinterpret_cast<float*>(smem_baseline_raw));
  __shared__ float s_row_sum[kBlockM];
  const CtaWork w = cta_work<COLS>(p);
  const int tx = threadIdx.x % kGrid, ty = threadIdx.x / kGrid;
  RowKeys rows[kRowsPerThread];
  for (int r = 0; r < kRowsPerThread; ++r) rows[r] = row_keys(p, w, w.row_first + ty + kGrid * r);
  const float scale = static_cast<float>(p.scale);
  const bool bf16 = p.bf16;
  // q' = dtype(fp32 q * fp32 scale)
  const auto query = [scale, bf16](double x) { return round_to_dtype(__fmul_rn(static_cast<float>(x), scale), bf16); };
  float r_s[kRowsPerThread][kKeysPerThread];

  // Pass 1: row max of the dtype-rounded scores.
  float m[kRowsPerThread];
  for (float& x : m) x = -INFINITY;
  for (int key0 = w.key_first; key0 < w.key_last; key0 += kBlockN) {
    score_tile<float>(p, w, key0, query, s.s_q, s.s_k, r_s);
    for (int r = 0; r < kRowsPerThread; ++r)
      for (int c = 0; c < kKeysPerThread; ++c)
        if (rows[r].sees(key0 + tx + kGrid * c)) m[r] = fmaxf(m[r], round_to_dtype(r_s[r][c], bf16));
  }
  for (float& x : m) x = row_max_across_threads(x);

  // Pass 2: e = expf(s - m) into the P tile, summed by one thread per row in ascending key order.
  const int own_row = threadIdx.x;  // threads 0..63 each own one row's sum
  const RowKeys own_keys = own_row < kBlockM ? row_keys(p, w, w.row_first + own_row) : RowKeys{0, 0};
  float own_sum = 0.0f;
  for (int key0 = w.key_first; key0 < w.key_last; key0 += kBlockN) {
    score_tile<float>(p, w, key0, query, s.s_q, s.s_k, r_s);
    for (int r = 0; r < kRowsPerThread; ++r)
      for (int c = 0; c < kKeysPerThread; ++c)
        s.s_p[(tx + kGrid * c) * (kBlockM + kPad) + ty + kGrid * r] =
            rows[r].sees(key0 + tx + kGrid * c) ? exp_correctly_rounded(__fsub_rn(round_to_dtype(r_s[r][c], bf16), m[r])) : 0.0f;
    __syncthreads();
    if (own_row < kBlockM)
      for (int key = 0; key < kBlockN; ++key)
        if (own_keys.sees(key0 + key)) own_sum = __fadd_rn(own_sum, s.s_p[key * (kBlockM + kPad) + own_row]);
    __syncthreads();
  }
  if (own_row < kBlockM) s_row_sum[own_row] = own_sum;
  __syncthreads();
  float l[kRowsPerThread];
  for (int r = 0; r < kRowsPerThread; ++r) l[r] = s_row_sum[ty + kGrid * r];

  // Pass 3: P = dtype(e / l), O = fp32 fma chain of P V over keys ascending.
  float r_o[kRowsPerThread][COLS / kGrid] = {};
  for (int key0 = w.key_first; key0 < w.key_last; key0 += kBlockN) {
    score_tile<float>(p, w, key0, query, s.s_q, s.s_k, r_s);
    for (int r = 0; r < kRowsPerThread; ++r)
      for (int c = 0; c < kKeysPerThread; ++c) {
        float pr = 0.0f;
        if (rows[r].sees(key0 + tx + kGrid * c))
          pr = round_to_dtype(__fdiv_rn(exp_correctly_rounded(__fsub_rn(round_to_dtype(r_s[r][c], bf16), m[r])), l[r]), bf16);
        s.s_p[(tx + kGrid * c) * (kBlockM + kPad) + ty + kGrid * r] = pr;
      }
    __syncthreads();
    accumulate_pv<COLS>(p, w, key0, rows, s.s_p, s.s_v, r_o);
  }
  for (int r = 0; r < kRowsPerThread; ++r) {
    const int i = w.row_first + ty + kGrid * r;
    if (i >= p.seqlen_q) continue;
    const bool any = rows[r].first < rows[r].last;
    for (int c = 0; c < COLS / kGrid; ++c) {
      const int d = w.col_first + tx + kGrid * c;
      if (d < p.head_dim) p.o[q_index(p, w.b, i, w.h, d)] = any ? static_cast<double>(round_to_dtype(r_o[r][c], bf16)) : 0.0;
    }
    if (tx == 0 && w.col_first == 0)
      p.lse[(static_cast<long long>(w.b) * p.heads_q + w.h) * p.seqlen_q + i] =
          any ? static_cast<double>(m[r]) + log(static_cast<double>(l[r])) : -INFINITY;
  }
}

/// A device allocation freed on every path out (exceptions included).
class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t bytes) {
    if (bytes) check(cudaMalloc(&ptr_, bytes), "cudaMalloc");
  }
  ~DeviceBuffer() {
    if (ptr_) cudaFree(ptr_);
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  template <class T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }

 private:
  void* ptr_ = nullptr;
};

enum class Which { truth, baseline };

template <int COLS>
void launch(Which which, const RefParams& p, dim3 grid) {
  if (which == Which::truth) {
    constexpr size_t bytes = shared_bytes<double, COLS>();
    check(cudaFuncSetAttribute(truth_fp64_kernel<COLS>, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes)),
          "shared memory attribute");
    truth_fp64_kernel<COLS><<<grid, kThreads, bytes>>>(p);
  } else {
    constexpr size_t bytes = shared_bytes<float, COLS>();
    check(cudaFuncSetAttribute(naive_baseline_kernel<COLS>, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(bytes)),
          "shared memory attribute");
    naive_baseline_kernel<COLS><<<grid, kThreads, bytes>>>(p);
  }
}

AttentionOutputs run_reference(const Problem& problem, const AttentionInputs& in, Which which) {
  problem.validate();
  if (which == Which::baseline && problem.dtype != DType::fp16 && problem.dtype != DType::bf16)
    throw ProblemError("gpu naive baseline: dtype " + std::string(dtype_name(problem.dtype)) + " is not fp16 or bf16");
  if (in.q.shape() != problem.q_shape() || in.k.shape() != problem.kv_shape() || in.v.shape() != problem.kv_shape())
    throw ProblemError("gpu reference: q, k, v do not have the problem's shapes");
  const int cols = problem.head_dim <= 64 ? 64 : 128;  // output dimensions per CTA
  const int64_t col_chunks = (problem.head_dim + cols - 1) / cols;
  const int64_t row_blocks = (problem.seqlen_q + kBlockM - 1) / kBlockM;
  if (problem.seqlen_q > 2147483647LL - kBlockM || problem.seqlen_k > 2147483647LL || problem.num_heads_q > 65535 ||
      problem.batch * col_chunks > 65535)
    throw ProblemError("gpu reference: problem too large for one launch (S up to 2^31, H_q and B x D/128 up to 65535)");
  std::string why;
  if (!gpu_references_available(&why)) throw Error("gpu reference: " + why);
  const uint64_t needed = gpu_reference_device_bytes(problem);
  size_t free_bytes = 0, total_bytes = 0;
  check(cudaMemGetInfo(&free_bytes, &total_bytes), "cudaMemGetInfo");
  if (needed > free_bytes)
    throw Error("gpu reference: needs " + std::to_string(needed >> 20) + " MiB of device memory, " +
                std::to_string(free_bytes >> 20) + " MiB free");
  const size_t nq = in.q.storage().size(), nk = in.k.storage().size();
  const size_t nlse = static_cast<size_t>(problem.batch * problem.num_heads_q * problem.seqlen_q);
  DeviceBuffer dq(nq * 8), dk(nk * 8), dv(nk * 8), dout(nq * 8), dlse(nlse * 8), dlens(problem.seqlens_k.size() * 8);
  check(cudaMemcpy(dq.as<double>(), in.q.data(), nq * 8, cudaMemcpyHostToDevice), "copy q");
  check(cudaMemcpy(dk.as<double>(), in.k.data(), nk * 8, cudaMemcpyHostToDevice), "copy k");
  check(cudaMemcpy(dv.as<double>(), in.v.data(), nk * 8, cudaMemcpyHostToDevice), "copy v");
  if (!problem.seqlens_k.empty()) {
    const std::vector<long long> lens(problem.seqlens_k.begin(), problem.seqlens_k.end());
    check(cudaMemcpy(dlens.as<long long>(), lens.data(), lens.size() * 8, cudaMemcpyHostToDevice), "copy seqlens");
  }
  RefParams p{dq.as<double>(), dk.as<double>(), dv.as<double>(), dout.as<double>(), dlse.as<double>(),
              problem.seqlens_k.empty() ? nullptr : dlens.as<long long>(),
              static_cast<int>(problem.batch), static_cast<int>(problem.seqlen_q), static_cast<int>(problem.seqlen_k),
              static_cast<int>(problem.num_heads_q), static_cast<int>(problem.num_heads_kv),
              static_cast<int>(problem.head_dim), static_cast<int>(col_chunks), problem.gqa, problem.scale(),
              problem.mask, problem.dtype == DType::bf16};
  const dim3 grid(static_cast<unsigned>(row_blocks), static_cast<unsigned>(problem.num_heads_q),
                  static_cast<unsigned>(problem.batch * col_chunks));
  if (cols == 64) launch<64>(which, p, grid);
  else launch<128>(which, p, grid);
  check(cudaGetLastError(), "launch");
  check(cudaDeviceSynchronize(), "kernel");
  AttentionOutputs out;
  out.o = Tensor<double>(problem.q_shape());
  out.lse = Tensor<double>(problem.lse_shape());
  out.out_dtype = which == Which::baseline ? problem.dtype : DType::fp64;
  check(cudaMemcpy(out.o.data(), dout.as<double>(), nq * 8, cudaMemcpyDeviceToHost), "copy o");
  check(cudaMemcpy(out.lse.data(), dlse.as<double>(), nlse * 8, cudaMemcpyDeviceToHost), "copy lse");
  return out;
}

}  // namespace

bool gpu_references_available(std::string* why) {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess || count == 0) {
    if (why) *why = e != cudaSuccess ? std::string("no usable GPU (") + cudaGetErrorString(e) + ")" : "no GPU found";
    cudaGetLastError();  // clear the sticky error of a failed query
    return false;
  }
  return true;
}

uint64_t gpu_reference_device_bytes(const Problem& problem) {
  const uint64_t q = static_cast<uint64_t>(problem.batch * problem.seqlen_q * problem.num_heads_q * problem.head_dim);
  const uint64_t kv = static_cast<uint64_t>(problem.batch * problem.seqlen_k * problem.num_heads_kv * problem.head_dim);
  const uint64_t lse = static_cast<uint64_t>(problem.batch * problem.num_heads_q * problem.seqlen_q);
  return 8 * (2 * q + 2 * kv + lse + static_cast<uint64_t>(problem.batch));  // q, o, k, v, lse, seqlens (doubles)
}

AttentionOutputs gpu_truth_fp64(const Problem& problem, const AttentionInputs& inputs) {
  return run_reference(problem, inputs, Which::truth);
}
AttentionOutputs gpu_naive_baseline(const Problem& problem, const AttentionInputs& inputs) {
  return run_reference(problem, inputs, Which::baseline);
}

}  // namespace attn
