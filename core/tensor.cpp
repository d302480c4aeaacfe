#include "core/tensor.h"

#include <limits>

namespace attn {

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

int64_t checked_numel(const std::vector<int64_t>& shape) {
  // The product of the non-zero sizes must fit too: the strides are computed from it, even when
  // a zero size makes the element count 0 (fuzz/fuzz_npz: shape (0, 8.7e17, 43) overflowed).
  int64_t nonzero = 1;
  bool empty = false;
  for (int64_t d : shape) {
    if (d < 0) throw ProblemError("negative size in tensor shape " + shape_string(shape));
    if (d == 0) {
      empty = true;
      continue;
    }
    if (nonzero > std::numeric_limits<int64_t>::max() / d)
      throw ProblemError("element count of shape " + shape_string(shape) + " overflows 64 bits");
    nonzero *= d;
  }
  return empty ? 0 : nonzero;
}

}  // namespace attn
