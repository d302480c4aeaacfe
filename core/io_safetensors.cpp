#include "core/io_safetensors.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <sstream>
#include <vector>

#include "core/errors.h"
#include "core/io_files.h"
#include "core/io_npz.h"
#include "core/memory_budget.h"

namespace attn {
namespace {

constexpr uint64_t kMaxHeaderBytes = 100u << 20;  // the format's own limit is 100 MB

int element_bytes_impl(StoredType t) {
  switch (t) {
    case StoredType::f16:
    case StoredType::bf16: return 2;
    case StoredType::f32:
    case StoredType::i32: return 4;
    case StoredType::f64:
    case StoredType::i64: return 8;
  }
  return 0;
}

bool parse_stored_type(const std::string& s, StoredType* t) {
  static const std::pair<const char*, StoredType> kNames[] = {{"F16", StoredType::f16}, {"BF16", StoredType::bf16},
                                                              {"F32", StoredType::f32}, {"F64", StoredType::f64},
                                                              {"I32", StoredType::i32}, {"I64", StoredType::i64}};
  for (const auto& [name, type] : kNames)
    if (s == name) {
      *t = type;
      return true;
    }
  return false;
}

uint64_t load_le(const unsigned char* p, int bytes) {
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

void store_le(std::string& out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

double decode_element_impl(const unsigned char* p, StoredType t) {
  switch (t) {
    case StoredType::f16: return decode_bits(load_le(p, 2), kFp16);
    case StoredType::bf16: return decode_bits(load_le(p, 2), kBf16);
    case StoredType::f32: {
      const uint32_t bits = static_cast<uint32_t>(load_le(p, 4));
      float f;
      std::memcpy(&f, &bits, 4);
      return f;
    }
    case StoredType::f64: {
      const uint64_t bits = load_le(p, 8);
      double d;
      std::memcpy(&d, &bits, 8);
      return d;
    }
    case StoredType::i32: return static_cast<double>(static_cast<int32_t>(load_le(p, 4)));
    case StoredType::i64: return static_cast<double>(static_cast<int64_t>(load_le(p, 8)));
  }
  return 0;
}

void encode_element(std::string& out, double x, StoredType t) {
  switch (t) {
    case StoredType::f16: store_le(out, encode_bits(round_to_format(x, kFp16), kFp16), 2); break;
    case StoredType::bf16: store_le(out, encode_bits(round_to_format(x, kBf16), kBf16), 2); break;
    case StoredType::f32: {
      const float f = static_cast<float>(x);
      uint32_t bits;
      std::memcpy(&bits, &f, 4);
      store_le(out, bits, 4);
      break;
    }
    case StoredType::f64: {
      uint64_t bits;
      std::memcpy(&bits, &x, 8);
      store_le(out, bits, 8);
      break;
    }
    case StoredType::i32: store_le(out, static_cast<uint32_t>(static_cast<int32_t>(x)), 4); break;
    case StoredType::i64: store_le(out, static_cast<uint64_t>(static_cast<int64_t>(x)), 8); break;
  }
}

}  // namespace

int stored_element_bytes(StoredType t) { return element_bytes_impl(t); }
double decode_stored_element(const unsigned char* p, StoredType t) { return decode_element_impl(p, t); }
void encode_stored_element(std::string& out, double x, StoredType t) { encode_element(out, x, t); }

const char* stored_type_name(StoredType t) {
  switch (t) {
    case StoredType::f16: return "F16";
    case StoredType::bf16: return "BF16";
    case StoredType::f32: return "F32";
    case StoredType::f64: return "F64";
    case StoredType::i32: return "I32";
    case StoredType::i64: return "I64";
  }
  return "?";
}

DType stored_float_dtype(StoredType t) {
  switch (t) {
    case StoredType::f16: return DType::fp16;
    case StoredType::bf16: return DType::bf16;
    case StoredType::f32: return DType::fp32;
    case StoredType::f64: return DType::fp64;
    default: throw Error(std::string("stored type ") + stored_type_name(t) + " is not a floating-point type");
  }
}

StoredType stored_type_for(DType dtype) {
  switch (dtype) {
    case DType::fp16: return StoredType::f16;
    case DType::bf16: return StoredType::bf16;
    case DType::fp32: return StoredType::f32;
    case DType::fp64: return StoredType::f64;
  }
  return StoredType::f64;
}

TensorFile parse_safetensors(std::string_view bytes, const std::string& origin) {
  auto fail = [&](const std::string& what) {
    return FileFormatError("safetensors file '" + printable_path(origin) + "': " + what);
  };
  if (bytes.size() < 8) throw fail("truncated: " + std::to_string(bytes.size()) + " bytes, the header length alone needs 8");
  const uint64_t header_len = load_le(reinterpret_cast<const unsigned char*>(bytes.data()), 8);
  if (header_len > kMaxHeaderBytes) throw fail("header length " + std::to_string(header_len) + " exceeds 100 MB");
  if (header_len > bytes.size() - 8)
    throw fail("truncated: header length " + std::to_string(header_len) + " but only " + std::to_string(bytes.size() - 8) +
               " bytes follow");
  const nlohmann::json header = nlohmann::json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<std::ptrdiff_t>(header_len),
                                                      nullptr, /*allow_exceptions=*/false);
  if (header.is_discarded() || !header.is_object()) throw fail("header is not a JSON object");
  const uint64_t data_start = 8 + header_len;
  const uint64_t data_size = bytes.size() - data_start;
  TensorFile file;
  struct Entry {
    std::string name;
    StoredType type;
    std::vector<int64_t> shape;
    int64_t count;
    uint64_t begin, end;
  };
  // Every entry is checked, and the data ranges checked for overlap, before one tensor is
  // decoded: a header pointing many tensors at the same bytes costs nothing.
  std::vector<Entry> entries;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      if (!entry.is_object()) throw fail("__metadata__ is not an object");
      for (const auto& [k, v] : entry.items()) {
        if (!v.is_string()) throw fail("__metadata__ value of '" + printable_path(k) + "' is not a string");
        file.metadata[k] = v.get<std::string>();
      }
      continue;
    }
    const std::string tensor_name = name;  // (a structured binding cannot be captured before C++20 in clang 14)
    auto tensor_fail = [&](const std::string& what) { return fail("tensor '" + printable_path(tensor_name) + "': " + what); };
    if (!entry.is_object() || !entry.contains("dtype") || !entry.contains("shape") || !entry.contains("data_offsets"))
      throw tensor_fail("entry needs dtype, shape and data_offsets");
    StoredType type;
    if (!entry["dtype"].is_string() || !parse_stored_type(entry["dtype"].get<std::string>(), &type))
      throw tensor_fail("unsupported dtype " + entry["dtype"].dump(-1, ' ', true) + " (F16, BF16, F32, F64, I32, I64)");
    if (!entry["shape"].is_array()) throw tensor_fail("shape is not an array");
    std::vector<int64_t> shape;
    for (const auto& d : entry["shape"]) {
      if (!d.is_number_integer() || (d.is_number_unsigned() ? d.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX) : d.get<int64_t>() < 0))
        throw tensor_fail("shape entry " + d.dump(-1, ' ', true) + " is not a size");
      shape.push_back(d.get<int64_t>());
    }
    int64_t count;
    try {
      count = checked_numel(shape);
    } catch (const Error& e) {
      throw tensor_fail(e.what());
    }
    const auto& off = entry["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      throw tensor_fail("data_offsets must be two non-negative integers");
    const uint64_t begin = off[0].get<uint64_t>(), end = off[1].get<uint64_t>();
    if (begin > end || end > data_size)
      throw tensor_fail("data_offsets [" + std::to_string(begin) + ", " + std::to_string(end) +
                        ") outside the data section of " + std::to_string(data_size) + " bytes (truncated file?)");
    const int eb = stored_element_bytes(type);
    if (static_cast<uint64_t>(count) > std::numeric_limits<uint64_t>::max() / static_cast<uint64_t>(eb) ||
        end - begin != static_cast<uint64_t>(count) * static_cast<uint64_t>(eb))
      throw tensor_fail("shape " + shape_string(shape) + " of " + stored_type_name(type) + " needs " +
                        std::to_string(saturating_mul(static_cast<uint64_t>(count), static_cast<uint64_t>(eb))) +
                        " bytes, data_offsets give " + std::to_string(end - begin));
    entries.push_back({tensor_name, type, shape, count, begin, end});
  }
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  for (const Entry& e : entries)
    if (e.end > e.begin) ranges.emplace_back(e.begin, e.end);
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i)
    if (ranges[i].first < ranges[i - 1].second) throw fail("two tensors' data_offsets overlap");
  uint64_t doubles = 0;
  for (const Entry& e : entries) doubles = saturating_add(doubles, static_cast<uint64_t>(e.count));
  require_memory(saturating_mul(doubles, sizeof(double)), "safetensors file '" + printable_path(origin) + "'");
  for (const Entry& e : entries) {
    NamedTensor t{e.type, Tensor<double>(e.shape)};
    const int eb = stored_element_bytes(e.type);
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.data()) + data_start + e.begin;
    for (int64_t i = 0; i < e.count; ++i) t.values.flat(i) = decode_stored_element(p + i * eb, e.type);
    file.tensors.emplace(e.name, std::move(t));
  }
  return file;
}

TensorFile read_safetensors(const std::string& path) {
  return parse_safetensors(read_regular_file(path, memory_limit_bytes(), "safetensors file"), path);
}

std::string serialize_safetensors(const TensorFile& file) {
  nlohmann::json header = nlohmann::json::object();
  std::string data;
  for (const auto& [name, t] : file.tensors) {
    const uint64_t begin = data.size();
    for (int64_t i = 0; i < t.values.numel(); ++i) encode_element(data, t.values.flat(i), t.type);
    header[name] = {{"dtype", stored_type_name(t.type)}, {"shape", t.values.shape()}, {"data_offsets", {begin, data.size()}}};
  }
  if (!file.metadata.empty()) header["__metadata__"] = file.metadata;
  std::string h = header.dump();
  while ((8 + h.size()) % 8) h.push_back(' ');  // align the data section to 8 bytes, as the format recommends
  std::string out;
  store_le(out, h.size(), 8);
  return out + h + data;
}

void write_safetensors(const std::string& path, const TensorFile& file) {
  // Temporary file + rename: an interrupted write never leaves a truncated file.
  write_file_atomic(path, serialize_safetensors(file));
}

TensorFile read_tensor_file(const std::string& path) {
  auto ends_with = [&](const std::string& suffix) {
    return path.size() >= suffix.size() && path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  if (ends_with(".npz")) return read_npz(path);
  if (ends_with(".safetensors")) return read_safetensors(path);
  throw FileFormatError("'" + printable_path(path) + "': unknown extension (expected .safetensors or .npz)");
}

}  // namespace attn
