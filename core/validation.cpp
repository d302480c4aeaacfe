#include "core/validation.h"

#include <cmath>

#include "core/errors.h"

namespace attn {
namespace {

std::string index_string(const Tensor<double>& t, int64_t flat) {
  std::string s = "[";
  for (int d = 0; d < t.rank(); ++d) {
    s += (d ? ", " : "") + std::to_string(flat / t.strides()[static_cast<size_t>(d)]);
    flat %= t.strides()[static_cast<size_t>(d)];
  }
  return s + "]";
}

}  // namespace

void require_finite(const Tensor<double>& t, const std::string& name) {
  int64_t bad = 0, first = -1;
  for (int64_t i = 0; i < t.numel(); ++i)
    if (!std::isfinite(t.flat(i))) {
      if (first < 0) first = i;
      ++bad;
    }
  if (bad)
    throw NonFiniteError(name + " has " + std::to_string(bad) + " non-finite element(s); the first is " +
                         std::to_string(t.flat(first)) + " at " + index_string(t, first));
}

void validate_inputs(const Problem& problem, const AttentionInputs& inputs) {
  problem.validate();
  const std::pair<const Tensor<double>*, std::vector<int64_t>> expected[] = {
      {&inputs.q, problem.q_shape()}, {&inputs.k, problem.kv_shape()}, {&inputs.v, problem.kv_shape()}};
  const char* names[] = {"q", "k", "v"};
  for (int i = 0; i < 3; ++i) {
    const Tensor<double>& t = *expected[i].first;
    if (t.shape() != expected[i].second)
      throw ProblemError(std::string(names[i]) + " has shape " + shape_string(t.shape()) + ", the problem needs " +
                         shape_string(expected[i].second) + " ([B, S, H, D])");
    require_finite(t, names[i]);
    for (int64_t j = 0; j < t.numel(); ++j)
      if (round_to(problem.dtype, t.flat(j)) != t.flat(j))
        throw ProblemError(std::string(names[i]) + " element " + std::to_string(t.flat(j)) + " at " +
                           index_string(t, j) + " is not representable in " + std::string(dtype_name(problem.dtype)) +
                           " (inputs must be quantized to the problem's dtype)");
  }
}

}  // namespace attn
