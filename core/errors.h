// errors.h: the exception types attnscope throws and the exit code each maps to. Each message
// names the problem (the flag, the field, the batch entry, the sizes), so a user can act on it
// without reading the code. One handler in cli/main.cpp turns every exception into
// `attnscope: error: <message>` and the documented exit status:
//   0 ok; 1 the check failed; 2 usage or input error; 3 environment (no GPU, unwritable output,
//   not enough memory, a missing tool).
#pragma once

#include <stdexcept>
#include <string>

namespace attn {

/// The documented exit statuses of every attnscope command.
enum class ExitCode : int {
  ok = 0,
  check_failed = 1,  ///< a FAIL (run), a bug found (diagnose), a failed gate
  usage = 2,         ///< bad flags, bad input files, impossible problems
  environment = 3,   ///< no GPU, unwritable output, not enough memory, a missing tool
};

/// Base of every attnscope error: a usage or input error (exit 2) unless a subclass says otherwise.
struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
  virtual ExitCode exit_code() const { return ExitCode::usage; }
};

/// An impossible or unsupported problem description (shapes, GQA ratio, mask, scale).
struct ProblemError : Error {
  using Error::Error;
};

/// Appending to a KV cache past its capacity; nothing has been written when it is thrown.
struct CacheOverflowError : Error {
  using Error::Error;
};

/// A truncated, malformed, hostile or inconsistent input file (also: a special file such as a
/// pipe or a device where a regular file is needed).
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

/// The machine cannot do what was asked: no GPU, an output that cannot be written, more memory
/// than allowed (--max-memory), a tool that is missing. Exit 3.
struct EnvironmentError : Error {
  using Error::Error;
  ExitCode exit_code() const override { return ExitCode::environment; }
};

/// The check itself failed (a gate, a FlashAttention rule before timing). Exit 1.
struct CheckFailed : Error {
  using Error::Error;
  ExitCode exit_code() const override { return ExitCode::check_failed; }
};

}  // namespace attn
