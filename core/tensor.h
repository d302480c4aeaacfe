// tensor.h: a small owning, contiguous, row-major host tensor (shape + strides). Not a view
// library: attnscope's tensors are inputs, outputs and truth, and clarity beats generality.
// Layouts are fixed by DESIGN.md: Q/O are [B, S_q, H_q, D], K/V are [B, S_k, H_kv, D],
// LSE is [B, H_q, S_q].
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include "core/errors.h"

namespace attn {

/// Product of sizes with a check for negative sizes and 64-bit overflow (names the shape).
int64_t checked_numel(const std::vector<int64_t>& shape);
std::string shape_string(const std::vector<int64_t>& shape);

template <class T>
class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::vector<int64_t> shape, T fill = T{})
      : shape_(std::move(shape)), data_(static_cast<size_t>(checked_numel(shape_)), fill) {
    strides_.assign(shape_.size(), 1);
    for (int i = static_cast<int>(shape_.size()) - 2; i >= 0; --i)
      strides_[i] = strides_[i + 1] * shape_[i + 1];
  }

  const std::vector<int64_t>& shape() const { return shape_; }
  const std::vector<int64_t>& strides() const { return strides_; }
  int rank() const { return static_cast<int>(shape_.size()); }
  int64_t dim(int i) const { return shape_.at(static_cast<size_t>(i)); }
  int64_t numel() const { return static_cast<int64_t>(data_.size()); }
  bool empty() const { return data_.empty(); }

  T* data() { return data_.data(); }
  const T* data() const { return data_.data(); }
  std::vector<T>& storage() { return data_; }
  const std::vector<T>& storage() const { return data_; }

  T& flat(int64_t i) { return data_[static_cast<size_t>(i)]; }
  const T& flat(int64_t i) const { return data_[static_cast<size_t>(i)]; }

  template <class... I>
  T& operator()(I... idx) { return data_[static_cast<size_t>(offset(idx...))]; }
  template <class... I>
  const T& operator()(I... idx) const { return data_[static_cast<size_t>(offset(idx...))]; }

  template <class... I>
  int64_t offset(I... idx) const {
    const int64_t index[] = {static_cast<int64_t>(idx)...};
    int64_t off = 0;
    for (size_t i = 0; i < sizeof...(I); ++i) off += index[i] * strides_[i];
    return off;
  }

 private:
  std::vector<int64_t> shape_;
  std::vector<int64_t> strides_;
  std::vector<T> data_;
};

/// Element-wise conversion (e.g. Tensor<double> -> Tensor<Half>): one rounding per element.
template <class To, class From>
Tensor<To> tensor_cast(const Tensor<From>& from) {
  Tensor<To> to(from.shape());
  for (int64_t i = 0; i < from.numel(); ++i) to.flat(i) = To(static_cast<double>(from.flat(i)));
  return to;
}

}  // namespace attn
