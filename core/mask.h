// mask.h: the one definition of which keys a query sees (DESIGN.md, "Semantics"). Used by the
// references, the CPU emulator, the CUDA kernels (host-device) and the mutants, so that a mask
// is never written twice. Indices are 0-based within one batch entry.
#pragma once

#include <cstdint>

#include "core/hd.h"

namespace attn {

enum class MaskKind : int {
  causal_bottom_right = 0,  ///< default: query i sees key j iff j <= i + (S_k - S_q)
  causal_top_left = 1,      ///< query i sees key j iff j <= i (PyTorch is_causal when S_q != S_k)
  sliding_window = 2,       ///< bottom-right aligned band [i + off - left, i + off + right]
  none = 3,                 ///< every key
};

/// A mask kind with its window. A negative window side means unbounded on that side
/// (FlashAttention's window_size = (-1, -1) convention).
struct Mask {
  MaskKind kind = MaskKind::causal_bottom_right;
  int64_t window_left = -1;
  int64_t window_right = -1;
};

/// True iff query `i` (of seqlen_q) may attend key `j` (of seqlen_k). The caller guarantees
/// 0 <= i < seqlen_q; keys j >= seqlen_k (padding, tile edges) are never visible.
ATTN_HD bool key_visible(const Mask& mask, int64_t i, int64_t j, int64_t seqlen_q, int64_t seqlen_k) {
  if (j < 0 || j >= seqlen_k) return false;
  const int64_t diagonal = i + (seqlen_k - seqlen_q);  // bottom-right alignment offset
  switch (mask.kind) {
    case MaskKind::causal_bottom_right: return j <= diagonal;
    case MaskKind::causal_top_left: return j <= i;
    case MaskKind::sliding_window:
      // j >= diagonal - left and j <= diagonal + right, written as differences of indices so
      // that a huge window (left or right near 2^63) cannot overflow.
      return (mask.window_left < 0 || diagonal - j <= mask.window_left) &&
             (mask.window_right < 0 || j - diagonal <= mask.window_right);
    case MaskKind::none: return true;
  }
  return false;
}

/// Half-open range [first, last) of keys that can be visible to query i (a superset test
/// for tile skipping: every visible key lies inside it). Empty when first >= last.
struct KeyRange {
  int64_t first;
  int64_t last;
};
ATTN_HD KeyRange visible_key_range(const Mask& mask, int64_t i, int64_t seqlen_q, int64_t seqlen_k) {
  const int64_t diagonal = i + (seqlen_k - seqlen_q);
  int64_t first = 0, last = seqlen_k;
  switch (mask.kind) {
    case MaskKind::causal_bottom_right: last = diagonal + 1; break;
    case MaskKind::causal_top_left: last = i + 1; break;
    case MaskKind::sliding_window:  // saturating: a window wider than the keys clamps to them
      if (mask.window_left >= 0) first = mask.window_left >= diagonal ? 0 : diagonal - mask.window_left;
      if (mask.window_right >= 0) last = mask.window_right >= seqlen_k - diagonal ? seqlen_k : diagonal + mask.window_right + 1;
      break;
    case MaskKind::none: break;
  }
  if (first < 0) first = 0;
  if (last > seqlen_k) last = seqlen_k;
  return {first, last};
}

}  // namespace attn
