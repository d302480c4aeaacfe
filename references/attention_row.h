// attention_row.h: the reference formula for ONE query row, templated on the scalar type T —
// the single place where the references' arithmetic and its order are defined, so that the
// full-sequence reference (full_attention.h) and the incremental cache reference
// (incremental_attention.h) are the same computation and agree bit for bit.
//
// The formula (two-pass, max-subtracted softmax), every sum in ASCENDING index order:
//   pass 1  s_j = (sum_{d=0..D-1} q_d k_jd) * scale   for each visible key j, ascending j
//           m   = max_j s_j
//   pass 2  p_j = exp(s_j - m);  l = sum_j p_j;  acc_d = sum_j p_j v_jd   (ascending j)
//           o_d = acc_d / l,  lse = m + log(l)         (natural log)
// A row with no visible key has o = 0 and lse = -inf (DESIGN.md: defined output, no NaN).
// Not a fast kernel and not an online (one-pass) softmax: clarity first.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace attn {

/// Attends one query row `q` (head_dim values) over keys j = 0..num_keys-1 in ascending order.
/// key_row(j) / value_row(j) return pointers to head_dim contiguous values; is_visible(j) is the
/// mask. Writes head_dim outputs to `out` and the natural log-sum-exp to `lse`. `scores` is
/// scratch (resized here) so callers can reuse it across rows.
template <class T, class KeyRow, class ValueRow, class IsVisible>
void attend_row(const T* q, int64_t head_dim, int64_t num_keys, const T& scale, KeyRow key_row,
                ValueRow value_row, IsVisible is_visible, std::vector<T>& scores, T* out, T& lse) {
  using std::exp;  // ADL picks attn::exp for Half/BFloat16 and boost's for mpfr_float
  using std::log;
  scores.assign(static_cast<size_t>(num_keys), T(0.0));
  // Pass 1: scaled scores of visible keys and their maximum. The scale multiplies the finished
  // dot product (not q), as the FP64 truth on the GPU does; for T = double both give the truth
  // to within a double rounding.
  bool any_visible = false;
  T row_max(0.0);
  for (int64_t j = 0; j < num_keys; ++j) {
    if (!is_visible(j)) continue;
    const T* k = key_row(j);
    T dot(0.0);
    for (int64_t d = 0; d < head_dim; ++d) dot = T(dot + T(q[d] * k[d]));
    const T s = T(dot * scale);
    scores[static_cast<size_t>(j)] = s;
    if (!any_visible || s > row_max) row_max = s;
    any_visible = true;
  }
  if (!any_visible) {  // fully masked row: zeros and -inf, never 0/0
    for (int64_t d = 0; d < head_dim; ++d) out[d] = T(0.0);
    lse = T(-std::numeric_limits<double>::infinity());
    return;
  }
  // Pass 2: p_j = exp(s_j - m) <= 1 (no overflow; the max key gives exactly 1, so l >= 1),
  // row sum and P V, both ascending in j.
  T row_sum(0.0);
  for (int64_t d = 0; d < head_dim; ++d) out[d] = T(0.0);
  for (int64_t j = 0; j < num_keys; ++j) {
    if (!is_visible(j)) continue;
    const T p = T(exp(T(scores[static_cast<size_t>(j)] - row_max)));
    row_sum = T(row_sum + p);
    const T* v = value_row(j);
    for (int64_t d = 0; d < head_dim; ++d) out[d] = T(out[d] + T(p * v[d]));
  }
  // Normalize once at the end (division, not multiplication by 1/l: one rounding per element).
  for (int64_t d = 0; d < head_dim; ++d) out[d] = T(out[d] / row_sum);
  lse = T(row_max + T(log(row_sum)));
}

}  // namespace attn
