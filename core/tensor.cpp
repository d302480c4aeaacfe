#include "core/tensor.h"

#include <limits>

namespace attn {

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

int64_t checked_numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) throw ProblemError("negative size in tensor shape " + shape_string(shape));
    if (d != 0 && n > std::numeric_limits<int64_t>::max() / d)
      throw ProblemError("element count of shape " + shape_string(shape) + " overflows 64 bits");
    n *= d;
  }
  return n;
}

}  // namespace attn
