// errors.h: the exception types attnscope throws. Each message names the problem (the flag,
// the field, the batch entry, the sizes), so a user can act on it without reading the code.
#pragma once

#include <stdexcept>
#include <string>

namespace attn {

/// Base of every attnscope error.
struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// An impossible or unsupported problem description (shapes, GQA ratio, mask, scale).
struct ProblemError : Error {
  using Error::Error;
};

/// Appending to a KV cache past its capacity; nothing has been written when it is thrown.
struct CacheOverflowError : Error {
  using Error::Error;
};

/// A truncated, malformed or inconsistent input file.
struct FileFormatError : Error {
  using Error::Error;
};

/// NaN or Inf where finite values are required (inputs to a kernel run).
struct NonFiniteError : Error {
  using Error::Error;
};

/// A kernel declined a problem when asked to run it (an external worker answering "invalid":
/// e.g. a backend without a key-length mask). Sweeps store the point as INVALID with this reason,
/// never as a pass and never as an error.
struct KernelDeclinedError : Error {
  using Error::Error;
};

}  // namespace attn
