#include "core/layout.h"

#include "core/errors.h"

namespace attn {
namespace {

// Swapping axes 1 and 2 maps bshd -> bhsd and bhsd -> bshd: the conversion is its own inverse.
Tensor<double> swap_axes_1_2(const Tensor<double>& in) {
  if (in.rank() != 4)
    throw ProblemError("a layout conversion needs a rank-4 tensor, got shape " + shape_string(in.shape()));
  const int64_t n0 = in.dim(0), n1 = in.dim(1), n2 = in.dim(2), n3 = in.dim(3);
  Tensor<double> out({n0, n2, n1, n3});
  for (int64_t a = 0; a < n0; ++a)
    for (int64_t b = 0; b < n1; ++b)
      for (int64_t c = 0; c < n2; ++c)
        for (int64_t d = 0; d < n3; ++d) out(a, c, b, d) = in(a, b, c, d);
  return out;
}

}  // namespace

std::string layout_name(TensorLayout layout) { return layout == TensorLayout::bshd ? "bshd" : "bhsd"; }

TensorLayout parse_layout(const std::string& text) {
  if (text == "bshd") return TensorLayout::bshd;
  if (text == "bhsd") return TensorLayout::bhsd;
  throw ProblemError("unknown layout '" + text + "' (bshd = [B, S, H, D] as FlashAttention, bhsd = [B, H, S, D] as PyTorch)");
}

TensorLayout other_layout(TensorLayout layout) {
  return layout == TensorLayout::bshd ? TensorLayout::bhsd : TensorLayout::bshd;
}

std::vector<int64_t> shape_in_layout(const std::vector<int64_t>& bshd_shape, TensorLayout layout) {
  if (layout == TensorLayout::bshd || bshd_shape.size() != 4) return bshd_shape;
  return {bshd_shape[0], bshd_shape[2], bshd_shape[1], bshd_shape[3]};
}

Tensor<double> to_layout(const Tensor<double>& bshd, TensorLayout layout) {
  return layout == TensorLayout::bshd ? bshd : swap_axes_1_2(bshd);
}

Tensor<double> from_layout(const Tensor<double>& stored, TensorLayout layout) {
  if (stored.rank() != 4)
    throw ProblemError("expected a rank-4 tensor in layout " + layout_name(layout) + ", got shape " +
                       shape_string(stored.shape()));
  return layout == TensorLayout::bshd ? stored : swap_axes_1_2(stored);
}

}  // namespace attn
