// io_safetensors.h: reading and writing safetensors files (8-byte little-endian header length,
// a JSON header {name: {dtype, shape, data_offsets}}, optional "__metadata__", then the data).
// Every offset, size and shape is bounds-checked; a violation is a FileFormatError naming the
// file, the tensor and the problem. Tensors come back as doubles with their stored dtype.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "core/float_format.h"
#include "core/tensor.h"

namespace attn {

/// Stored element types. F16/BF16/F32/F64 are floating point, I32/I64 integers.
enum class StoredType { f16, bf16, f32, f64, i32, i64 };
const char* stored_type_name(StoredType t);
/// The float dtype of a stored float type; throws for integer types.
DType stored_float_dtype(StoredType t);
/// The stored type of a float dtype (the inverse of stored_float_dtype).
StoredType stored_type_for(DType dtype);

struct NamedTensor {
  StoredType type = StoredType::f64;
  Tensor<double> values;  ///< exact: every stored value is representable as a double (I64 within 2^53)
};

struct TensorFile {
  std::map<std::string, NamedTensor> tensors;
  std::map<std::string, std::string> metadata;  ///< "__metadata__" (string values only)
};

/// Bytes per element of a stored type, and the value of one little-endian element.
int stored_element_bytes(StoredType t);
double decode_stored_element(const unsigned char* p, StoredType t);
/// Appends one little-endian element of `t` holding x (rounded to t; exact if representable).
void encode_stored_element(std::string& out, double x, StoredType t);

/// Reads a whole safetensors file. Throws FileFormatError (not a regular file, truncated file, bad
/// header length, invalid JSON, unknown dtype, offsets outside the data, overlapping tensors,
/// shape/bytes mismatch) and EnvironmentError (tensors larger than the memory limit).
TensorFile read_safetensors(const std::string& path);
/// Parses safetensors bytes already in memory; `origin` names them in errors.
TensorFile parse_safetensors(std::string_view bytes, const std::string& origin);
/// Writes a safetensors file atomically; values are rounded to each tensor's stored type (exact if already so).
void write_safetensors(const std::string& path, const TensorFile& file);
std::string serialize_safetensors(const TensorFile& file);

/// Reads .safetensors or .npz by extension.
TensorFile read_tensor_file(const std::string& path);

}  // namespace attn
