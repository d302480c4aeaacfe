// io_npy.h: NumPy .npy files (format versions 1.0-3.0), the exchange format of external kernel
// workers and of `attnscope check`. What it accepts, and why:
//   <f2 <f4 <f8   float16 / float32 / float64
//   <i4 <i8       int32 / int64 (seq_lens)
//   <u2, <V2, |V2 bfloat16 bit patterns — numpy has no bfloat16: ml_dtypes' bfloat16 is saved by
//                 np.save as the 2-byte void '<V2', and torch's bf16 is usually passed as its
//                 uint16 view. Both are ambiguous on their own, so they are read as bfloat16 only
//                 when the reader declares it (NpyReadOptions::two_byte_as_bf16), refused otherwise.
// C order and Fortran order are both read (a Fortran-order file is transposed on reading); big-
// endian, structured and object dtypes are refused. The header is parsed as the strict Python
// dict literal numpy writes ({'descr': .., 'fortran_order': .., 'shape': (..)}), bounded in size;
// the data size must match the shape exactly; the element count is bounded (memory: 8 bytes per
// element). Every violation is a FileFormatError naming the file and the problem.
// Writing: bfloat16 tensors are written as '<u2' bit patterns (readers: `a.view(np.uint16)`,
// torch: `torch.from_numpy(a.view(np.int16)).view(torch.bfloat16)`); the file is written
// temporary name and renamed, so a reader never sees a partial file.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/io_safetensors.h"

namespace attn {

/// Largest element count a reader accepts by default (8 GiB once decoded to doubles).
inline constexpr int64_t kNpyMaxElements = int64_t{1} << 30;
/// Largest header accepted (numpy itself refuses headers over 10,000 bytes by default).
inline constexpr uint64_t kNpyMaxHeaderBytes = 64 * 1024;

struct NpyReadOptions {
  /// Read '<u2' / '<V2' / '|V2' arrays as bfloat16 bit patterns (the caller knows the dtype).
  bool two_byte_as_bf16 = false;
  /// When set, the header's shape must be exactly this; checked before any data is read.
  std::optional<std::vector<int64_t>> expected_shape;
  int64_t max_elements = kNpyMaxElements;
};

struct NpyHeader {
  std::string descr;          ///< as written, e.g. "<f2"
  StoredType type = StoredType::f64;
  bool fortran_order = false;
  std::vector<int64_t> shape;
  uint64_t data_offset = 0;   ///< bytes before the data (magic, version, length, header)
};

/// Parses the header at the start of `bytes` (which must hold at least the whole header).
NpyHeader parse_npy_header(std::string_view bytes, const std::string& origin, const NpyReadOptions& options = {});
/// One .npy payload (header + data) in memory; `origin` names it in errors.
NamedTensor parse_npy(std::string_view bytes, const std::string& origin, const NpyReadOptions& options = {});
/// Reads a .npy file: header first, then only the data the header announces (a regular file only).
NamedTensor read_npy(const std::string& path, const NpyReadOptions& options = {});

/// The .npy bytes of a tensor in its stored type (values rounded to it; exact if already so).
std::string serialize_npy(const NamedTensor& tensor);
/// Writes a .npy file atomically (temporary name + rename).
void write_npy(const std::string& path, const NamedTensor& tensor);

}  // namespace attn
