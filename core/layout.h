// layout.h: the two memory layouts attention tensors arrive in from outside, and the explicit
// conversion between them (DESIGN.md: "Conversion to and from [B, H, S, D] is explicit, in IO
// only"). Inside attnscope every tensor is [B, S, H, D] (FlashAttention's layout); PyTorch's
// SDPA and most Triton kernels use [B, H, S, D]. Not a view library: a conversion copies.
#pragma once

#include <string>
#include <vector>

#include "core/tensor.h"

namespace attn {

enum class TensorLayout {
  bshd,  ///< [B, S, H, D]: FlashAttention, attnscope's own
  bhsd,  ///< [B, H, S, D]: PyTorch SDPA, FlexAttention
};

std::string layout_name(TensorLayout layout);
/// Parses "bshd" / "bhsd"; throws ProblemError listing the allowed values.
TensorLayout parse_layout(const std::string& text);
TensorLayout other_layout(TensorLayout layout);

/// The shape a [B, S, H, D] tensor has in `layout`.
std::vector<int64_t> shape_in_layout(const std::vector<int64_t>& bshd_shape, TensorLayout layout);
/// A rank-4 [B, S, H, D] tensor rearranged into `layout` (a copy; bshd returns it unchanged).
Tensor<double> to_layout(const Tensor<double>& bshd, TensorLayout layout);
/// A rank-4 tensor stored in `layout` rearranged into [B, S, H, D]. Throws ProblemError if the
/// tensor is not rank 4.
Tensor<double> from_layout(const Tensor<double>& stored, TensorLayout layout);

}  // namespace attn
