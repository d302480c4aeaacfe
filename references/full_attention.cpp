// full_attention.cpp: the non-template part of the full-sequence reference (shape checks).
#include "references/full_attention.h"

#include <string>

#include "core/errors.h"

namespace attn {

void require_input_shapes(const Problem& problem, const AttentionInputs& inputs) {
  const auto check = [](const Tensor<double>& t, const std::vector<int64_t>& expected, const char* name) {
    if (t.shape() != expected)
      throw ProblemError(std::string("reference: tensor ") + name + " has shape " + shape_string(t.shape()) +
                         ", expected " + shape_string(expected));
  };
  check(inputs.q, problem.q_shape(), "q");
  check(inputs.k, problem.kv_shape(), "k");
  check(inputs.v, problem.kv_shape(), "v");
}

}  // namespace attn
