// io_files.h: the one way attnscope reads and writes files. Reads refuse what is not a regular
// file (a named pipe would block forever, a device would never end) and anything larger than the
// caller allows; writes go to a temporary file in the same folder, then rename onto the target,
// so an interrupted or failed write never leaves a truncated output. Output paths are checked
// before any work: never the same file as an input, never a special file, the folder writable.
// What it is not: a format parser (io_safetensors, io_npz) or a database (results_db).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace attn {

/// Throws FileFormatError when `path` exists but is not a regular file (pipe, device, socket,
/// folder), and when it does not exist (`what` names the role, e.g. "tolerance file").
void require_regular_file(const std::string& path, const std::string& what);

/// Whole content of a regular file of at most `max_bytes` bytes. The file is opened without
/// blocking (a FIFO cannot hang the call) and checked with fstat before one byte is read.
/// Errors: FileFormatError (missing, special file, larger than max_bytes), EnvironmentError
/// (permission, I/O error).
std::string read_regular_file(const std::string& path, uint64_t max_bytes, const std::string& what);

/// Writes `bytes` to `path` atomically: a temporary file beside it, fsync, rename. Throws
/// EnvironmentError naming the path and the system's reason; the target is untouched on failure.
void write_file_atomic(const std::string& path, std::string_view bytes);

/// True when both paths name the same existing file (same device and inode), or, when one does
/// not exist yet, the same normalized absolute path.
bool same_file(const std::string& a, const std::string& b);

enum class OutputKind { file, directory };

/// Checks an output path before any work: not one of `inputs` (Error, exit 2), not a special
/// file, a file where a folder is expected or the reverse (FileFormatError), and writable
/// (EnvironmentError, exit 3): an output folder is created now, and a probe file is created and
/// removed beside an output file, so that a read-only mount or a full disk is found before the
/// compute, not after it. `flag` names the option.
void check_output_path(const std::string& path, OutputKind kind, const std::vector<std::string>& inputs,
                       const std::string& flag);

/// `path` with bytes that are not valid UTF-8 written as \xNN, for messages and JSON.
std::string printable_path(std::string_view path);

}  // namespace attn
