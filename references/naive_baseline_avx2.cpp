// naive_baseline_avx2.cpp: the fast same-precision baseline's row blocks in AVX2/FMA/F16C
// (naive_baseline_avx2.h). Compiled for the generic x86-64 target; only the functions marked
// ATTN_AVX2 use the wider instructions, and the caller runs them only after
// cpu_has_avx2_fma_f16c() said yes, so the binary still runs (scalar path) on older CPUs.
//
// Why it is bit-identical to naive_same_precision_attention_plain: each vector lane performs the
// plain loop's scalar sequence for one (row, key) or (row, dimension) pair —
//   scores   lane j: dot = fma(q'_d, k_jd, dot) for d = 0..D-1 in order (vfmadd231ps is the
//            IEEE fused multiply-add, one rounding, like std::fma), then one rounding to the dtype;
//   P V      lane d: acc_d = fma(P_j, v_jd, acc_d) for the row's visible j in ascending order;
//   roundings  fp16: vcvtps2ph with round-to-nearest-even (one IEEE rounding, subnormals and
//            overflow to inf included); bf16: the integer round-to-nearest-even on the float's
//            bits (exact for every finite float; NaN passed through) — both equal
//            round_to_format(double(x)) for every float (tests/references check it).
// The order-dependent scalar steps (row max, expf, the row sum) stay scalar and in order.
// Keys: a row's visible keys are the range visible_key_range gives (every mask kind of
// core/mask.h is one contiguous range), checked against Problem::visible at its ends.
#include "references/naive_baseline_avx2.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "core/errors.h"
#include "core/float_format.h"

#define ATTN_AVX2 __attribute__((target("avx2,fma,f16c")))

namespace attn::naive_detail {
namespace {

constexpr int64_t kLanes = 8;       // floats per AVX2 vector
constexpr int64_t kTileRows = 4;    // query rows that share each K and V load
constexpr int64_t kTileKeys = 16;   // keys per score tile: two vectors
constexpr int64_t kDimChunk = 16;   // output dimensions per P V pass: two vectors

int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

// A NaN lane becomes what float(round_to_format(double(x))) makes of it: the same payload with
// the quiet bit set (the float -> double conversion quiets it; round_to_format returns it as is).
ATTN_AVX2 inline __m256 keep_nan_quieted(__m256 rounded, __m256 x) {
  const __m256 quieted = _mm256_or_ps(x, _mm256_castsi256_ps(_mm256_set1_epi32(0x00400000)));
  return _mm256_blendv_ps(rounded, quieted, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}

// vcvtps2ph with round-to-nearest-even (it would truncate a NaN's payload: NaN lanes are redone).
ATTN_AVX2 inline __m256 round_fp16(__m256 x) {
  return keep_nan_quieted(_mm256_cvtph_ps(_mm256_cvtps_ph(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)), x);
}

// Round to nearest even at bit 16 of the float's encoding: add 0x7FFF plus the kept lsb, clear
// the low half. A carry out of the mantissa correctly bumps the exponent (up to inf). NaN would
// be corrupted by the add: NaN lanes are redone.
ATTN_AVX2 inline __m256 round_bf16(__m256 x) {
  const __m256i bits = _mm256_castps_si256(x);
  const __m256i kept_lsb = _mm256_and_si256(_mm256_srli_epi32(bits, 16), _mm256_set1_epi32(1));
  const __m256i biased = _mm256_add_epi32(bits, _mm256_add_epi32(_mm256_set1_epi32(0x7FFF), kept_lsb));
  const __m256 rounded = _mm256_castsi256_ps(_mm256_and_si256(biased, _mm256_set1_epi32(static_cast<int>(0xFFFF0000u))));
  return keep_nan_quieted(rounded, x);
}

ATTN_AVX2 inline __m256 round_to_dtype(__m256 x, bool bf16) { return bf16 ? round_bf16(x) : round_fp16(x); }

/// Scores of up to kTileRows rows (q' rows `q_scaled`, each head_dim long; missing rows are
/// zeros) against keys [j_begin, j_end), written rounded to the dtype into scores[r][j]. Keys
/// are visited in tiles of 16 starting at j_begin rounded down to 8; lanes outside a row's own
/// range are computed and ignored.
ATTN_AVX2 void score_tile(const float* const q_scaled[kTileRows], const KvFloat& kv, int64_t head_dim, int64_t j_begin,
                          int64_t j_end, bool bf16, float* const scores[kTileRows]) {
  for (int64_t j0 = j_begin / kLanes * kLanes; j0 < j_end; j0 += kTileKeys) {
    __m256 r_acc[kTileRows][2];  // (rows, 16 keys)
    for (auto& row : r_acc) row[0] = row[1] = _mm256_setzero_ps();
    const float* g_k = kv.k_transposed.data() + j0;
    for (int64_t d = 0; d < head_dim; ++d, g_k += kv.keys_stride) {
      const __m256 r_k0 = _mm256_loadu_ps(g_k), r_k1 = _mm256_loadu_ps(g_k + kLanes);
      for (int64_t r = 0; r < kTileRows; ++r) {
        const __m256 r_q = _mm256_broadcast_ss(q_scaled[r] + d);
        r_acc[r][0] = _mm256_fmadd_ps(r_q, r_k0, r_acc[r][0]);  // = std::fma(q'_d, k_jd, dot), per lane
        r_acc[r][1] = _mm256_fmadd_ps(r_q, r_k1, r_acc[r][1]);
      }
    }
    for (int64_t r = 0; r < kTileRows; ++r) {
      _mm256_storeu_ps(scores[r] + j0, round_to_dtype(r_acc[r][0], bf16));
      _mm256_storeu_ps(scores[r] + j0 + kLanes, round_to_dtype(r_acc[r][1], bf16));
    }
  }
}

/// acc[r][d] = fma(P[r][j], v[j][d], acc[r][d]) for j in [j_begin, j_end) ascending, for the N
/// rows given (all visible over the whole segment), every dimension chunk of 16.
template <int N>
ATTN_AVX2 void pv_segment(const float* const p[], float* const acc[], const KvFloat& kv, int64_t j_begin, int64_t j_end) {
  for (int64_t dc = 0; dc < kv.dim_stride; dc += kDimChunk) {
    __m256 r_acc[N][2];  // (rows, 16 dimensions)
    for (int r = 0; r < N; ++r) {
      r_acc[r][0] = _mm256_loadu_ps(acc[r] + dc);
      r_acc[r][1] = _mm256_loadu_ps(acc[r] + dc + kLanes);
    }
    const float* g_v = kv.v.data() + j_begin * kv.dim_stride + dc;
    for (int64_t j = j_begin; j < j_end; ++j, g_v += kv.dim_stride) {
      const __m256 r_v0 = _mm256_loadu_ps(g_v), r_v1 = _mm256_loadu_ps(g_v + kLanes);
      for (int r = 0; r < N; ++r) {
        const __m256 r_p = _mm256_broadcast_ss(p[r] + j);
        r_acc[r][0] = _mm256_fmadd_ps(r_p, r_v0, r_acc[r][0]);  // = std::fma(P_j, v_jd, acc_d), per lane
        r_acc[r][1] = _mm256_fmadd_ps(r_p, r_v1, r_acc[r][1]);
      }
    }
    for (int r = 0; r < N; ++r) {
      _mm256_storeu_ps(acc[r] + dc, r_acc[r][0]);
      _mm256_storeu_ps(acc[r] + dc + kLanes, r_acc[r][1]);
    }
  }
}

ATTN_AVX2 void pv_segment_rows(int n, const float* const p[], float* const acc[], const KvFloat& kv, int64_t j_begin,
                               int64_t j_end) {
  switch (n) {
    case 1: pv_segment<1>(p, acc, kv, j_begin, j_end); break;
    case 2: pv_segment<2>(p, acc, kv, j_begin, j_end); break;
    case 3: pv_segment<3>(p, acc, kv, j_begin, j_end); break;
    case 4: pv_segment<4>(p, acc, kv, j_begin, j_end); break;
    default: break;
  }
}

/// P_j = dtype(e_j / l) over [j_begin, j_end), computed on whole vectors around the range
/// (the buffers are padded; lanes outside the range are never read).
ATTN_AVX2 void normalize_probabilities(const float* e, float row_sum, int64_t j_begin, int64_t j_end, bool bf16, float* p) {
  const __m256 r_sum = _mm256_set1_ps(row_sum);
  for (int64_t j = j_begin / kLanes * kLanes; j < j_end; j += kLanes)
    _mm256_storeu_ps(p + j, round_to_dtype(_mm256_div_ps(_mm256_loadu_ps(e + j), r_sum), bf16));
}

ATTN_AVX2 void round_vector_span(const float* in, float* out, int64_t n, bool bf16) {
  for (int64_t i = 0; i < n; i += kLanes) _mm256_storeu_ps(out + i, round_to_dtype(_mm256_loadu_ps(in + i), bf16));
}

}  // namespace

bool cpu_has_avx2_fma_f16c() {
  static const bool has = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
  }();
  return has;
}

void round_floats_avx2(const float* in, float* out, int64_t n, DType dtype) {
  if (n % kLanes != 0) throw Error("round_floats_avx2: n must be a multiple of 8");
  round_vector_span(in, out, n, dtype == DType::bf16);
}

KvFloat convert_kv(const Problem& problem, const AttentionInputs& inputs, int64_t b, int64_t h_kv) {
  KvFloat kv;
  const int64_t head_dim = problem.head_dim;
  kv.keys = problem.keys_in_batch(b);
  kv.keys_stride = round_up(kv.keys, kTileKeys) + kTileKeys;
  kv.dim_stride = round_up(head_dim, kDimChunk);
  kv.k_transposed.assign(static_cast<size_t>(head_dim * kv.keys_stride), 0.0f);
  kv.v.assign(static_cast<size_t>(std::max<int64_t>(kv.keys, 1) * kv.dim_stride), 0.0f);
  for (int64_t j = 0; j < kv.keys; ++j)
    for (int64_t d = 0; d < head_dim; ++d) {
      kv.k_transposed[static_cast<size_t>(d * kv.keys_stride + j)] = static_cast<float>(inputs.k(b, j, h_kv, d));
      kv.v[static_cast<size_t>(j * kv.dim_stride + d)] = static_cast<float>(inputs.v(b, j, h_kv, d));
    }
  return kv;
}

void baseline_rows_avx2(const Problem& problem, const AttentionInputs& inputs, const KvFloat& kv, int64_t b, int64_t h,
                        int64_t row_first, int64_t rows, AttentionOutputs& out) {
  const FloatFormat& format = format_of(problem.dtype);
  const bool bf16 = problem.dtype == DType::bf16;
  const int64_t head_dim = problem.head_dim;
  const float scale = static_cast<float>(problem.scale());
  const size_t key_buffer = static_cast<size_t>(kv.keys_stride + kTileKeys);
  // Scratch of one tile: q' rows, scores, exp values, P and the P V accumulators.
  std::vector<float> q_scaled(static_cast<size_t>(kTileRows * head_dim)), scores(kTileRows * key_buffer),
      exps(kTileRows * key_buffer), probs(kTileRows * key_buffer), acc(static_cast<size_t>(kTileRows * kv.dim_stride)),
      rounded(static_cast<size_t>(kv.dim_stride));
  for (int64_t tile_first = row_first; tile_first < row_first + rows; tile_first += kTileRows) {
    const int64_t tile_rows = std::min(kTileRows, row_first + rows - tile_first);
    KeyRange range[kTileRows];
    const float* q_rows[kTileRows];
    float* score_rows[kTileRows];
    int64_t union_first = kv.keys, union_last = 0;
    std::fill(q_scaled.begin(), q_scaled.end(), 0.0f);
    for (int64_t r = 0; r < kTileRows; ++r) {
      range[r] = {0, 0};
      q_rows[r] = q_scaled.data() + r * head_dim;
      score_rows[r] = scores.data() + static_cast<size_t>(r) * key_buffer;
      if (r >= tile_rows) continue;
      const int64_t i = tile_first + r;
      const KeyRange visible = visible_key_range(problem.mask, i, problem.seqlen_q, kv.keys);
      if (visible.first >= visible.last) continue;  // fully masked row
      if (!problem.visible(b, i, visible.first) || !problem.visible(b, i, visible.last - 1) ||
          (visible.first > 0 && problem.visible(b, i, visible.first - 1)) ||
          (visible.last < kv.keys && problem.visible(b, i, visible.last)))
        throw Error("naive baseline: mask " + mask_name(problem.mask) + " is not one key range per row");
      range[r] = visible;
      union_first = std::min(union_first, visible.first);
      union_last = std::max(union_last, visible.last);
      // q' = dtype(fp32 q * fp32 scale), as the plain loops
      for (int64_t d = 0; d < head_dim; ++d)
        q_scaled[static_cast<size_t>(r * head_dim + d)] =
            static_cast<float>(round_to_format(static_cast<double>(static_cast<float>(inputs.q(b, i, h, d)) * scale), format));
    }
    if (union_first < union_last) score_tile(q_rows, kv, head_dim, union_first, union_last, bf16, score_rows);

    // Per row: max (fmax in ascending order, as the plain loop), expf and the row sum in order, P.
    float row_max[kTileRows] = {}, row_sum[kTileRows] = {};
    for (int64_t r = 0; r < tile_rows; ++r) {
      if (range[r].first >= range[r].last) continue;
      const float* s = score_rows[r];
      float* e = exps.data() + static_cast<size_t>(r) * key_buffer;
      float m = s[range[r].first];
      for (int64_t j = range[r].first + 1; j < range[r].last; ++j) m = std::fmax(m, s[j]);
      float sum = 0.0f;
      for (int64_t j = range[r].first; j < range[r].last; ++j) {
        e[j] = std::exp(s[j] - m);
        sum += e[j];
      }
      row_max[r] = m;
      row_sum[r] = sum;
      normalize_probabilities(e, sum, range[r].first, range[r].last, bf16, probs.data() + static_cast<size_t>(r) * key_buffer);
    }

    // P V over segments of keys in which the same rows are visible, in ascending key order.
    std::fill(acc.begin(), acc.end(), 0.0f);
    std::vector<int64_t> cuts;
    for (int64_t r = 0; r < tile_rows; ++r)
      if (range[r].first < range[r].last) {
        cuts.push_back(range[r].first);
        cuts.push_back(range[r].last);
      }
    std::sort(cuts.begin(), cuts.end());
    cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
    for (size_t c = 0; c + 1 < cuts.size(); ++c) {
      const float* p_rows[kTileRows];
      float* acc_rows[kTileRows];
      int n = 0;
      for (int64_t r = 0; r < tile_rows; ++r)
        if (range[r].first <= cuts[c] && cuts[c + 1] <= range[r].last) {
          p_rows[n] = probs.data() + static_cast<size_t>(r) * key_buffer;
          acc_rows[n] = acc.data() + r * kv.dim_stride;
          ++n;
        }
      pv_segment_rows(n, p_rows, acc_rows, kv, cuts[c], cuts[c + 1]);
    }

    for (int64_t r = 0; r < tile_rows; ++r) {
      const int64_t i = tile_first + r;
      if (range[r].first >= range[r].last) {  // fully masked row: defined as zeros, lse -inf
        for (int64_t d = 0; d < head_dim; ++d) out.o(b, i, h, d) = 0.0;
        out.lse(b, h, i) = -std::numeric_limits<double>::infinity();
        continue;
      }
      round_vector_span(acc.data() + r * kv.dim_stride, rounded.data(), kv.dim_stride, bf16);
      for (int64_t d = 0; d < head_dim; ++d) out.o(b, i, h, d) = static_cast<double>(rounded[static_cast<size_t>(d)]);
      out.lse(b, h, i) = static_cast<double>(row_max[r]) + std::log(static_cast<double>(row_sum[r]));
    }
  }
}

}  // namespace attn::naive_detail
