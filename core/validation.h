// validation.h: checks of input tensors against a problem, with messages that name the tensor,
// the index and the expected vs actual shape. Used wherever inputs come from outside (files,
// user code) before any kernel or reference runs.
#pragma once

#include <string>

#include "core/kernel.h"

namespace attn {

/// Throws NonFiniteError naming the tensor, the first bad element's index and the count of bad ones.
void require_finite(const Tensor<double>& t, const std::string& name);

/// Shapes of q, k, v match the problem (ProblemError naming the tensor and both shapes), every
/// value is finite and representable in problem.dtype (NonFiniteError / ProblemError).
void validate_inputs(const Problem& problem, const AttentionInputs& inputs);

}  // namespace attn
