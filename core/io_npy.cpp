#include "core/io_npy.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>

#include "core/errors.h"
#include "core/io_files.h"

namespace attn {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicBytes = 6;
constexpr size_t kMaxRank = 32;
constexpr uint64_t kHeaderAlignment = 64;  // numpy pads the header so that the data starts aligned

FileFormatError npy_error(const std::string& origin, const std::string& what) {
  return FileFormatError("npy '" + printable_path(origin) + "': " + what);
}

/// The strict subset of a Python literal that numpy writes as a .npy header:
/// {'descr': '<f2', 'fortran_order': False, 'shape': (2, 3), }  followed by spaces and '\n'.
class HeaderParser {
 public:
  HeaderParser(const std::string& text, const std::string& origin) : s_(text), origin_(origin) {}

  void parse(NpyHeader& h) {
    bool have_descr = false, have_order = false, have_shape = false;
    skip_space();
    expect('{');
    skip_space();
    while (peek() != '}') {
      const std::string key = string_literal();
      skip_space();
      expect(':');
      skip_space();
      if (key == "descr") {
        if (peek() != '\'' && peek() != '"')
          throw fail("'descr' is not a simple dtype string (structured dtypes are not supported)");
        h.descr = string_literal();
        have_descr = true;
      } else if (key == "fortran_order") {
        h.fortran_order = boolean();
        have_order = true;
      } else if (key == "shape") {
        h.shape = tuple_of_sizes();
        have_shape = true;
      } else {
        throw fail("unexpected header key '" + key + "' (a .npy header has descr, fortran_order, shape)");
      }
      skip_space();
      if (peek() == ',') {
        ++at_;
        skip_space();
      } else if (peek() != '}') {
        throw fail("expected ',' or '}' at header offset " + std::to_string(at_));
      }
    }
    ++at_;
    for (; at_ < s_.size(); ++at_)
      if (s_[at_] != ' ' && s_[at_] != '\n' && s_[at_] != '\0') throw fail("trailing characters after the header dict");
    if (!have_descr) throw fail("header has no 'descr'");
    if (!have_order) throw fail("header has no 'fortran_order'");
    if (!have_shape) throw fail("header has no 'shape'");
  }

 private:
  char peek() const {
    if (at_ >= s_.size()) throw fail("header ends early");
    return s_[at_];
  }
  void expect(char c) {
    if (peek() != c) throw fail(std::string("expected '") + c + "' at header offset " + std::to_string(at_));
    ++at_;
  }
  void skip_space() {
    while (at_ < s_.size() && s_[at_] == ' ') ++at_;
  }
  std::string string_literal() {
    const char quote = peek();
    if (quote != '\'' && quote != '"') throw fail("expected a quoted string at header offset " + std::to_string(at_));
    const size_t end = s_.find(quote, at_ + 1);
    if (end == std::string::npos) throw fail("unterminated string in the header");
    std::string v = s_.substr(at_ + 1, end - at_ - 1);
    if (v.find('\\') != std::string::npos) throw fail("escapes in header strings are not supported");
    at_ = end + 1;
    return v;
  }
  bool boolean() {
    if (s_.compare(at_, 4, "True") == 0) {
      at_ += 4;
      return true;
    }
    if (s_.compare(at_, 5, "False") == 0) {
      at_ += 5;
      return false;
    }
    throw fail("'fortran_order' must be True or False");
  }
  std::vector<int64_t> tuple_of_sizes() {
    expect('(');
    std::vector<int64_t> shape;
    skip_space();
    while (peek() != ')') {
      if (peek() < '0' || peek() > '9') throw fail("shape entry at header offset " + std::to_string(at_) + " is not a size");
      int64_t v = 0;
      while (at_ < s_.size() && s_[at_] >= '0' && s_[at_] <= '9') {
        const int digit = s_[at_++] - '0';
        if (v > (std::numeric_limits<int64_t>::max() - digit) / 10) throw fail("shape entry overflows 64 bits");
        v = v * 10 + digit;
      }
      if (at_ < s_.size() && s_[at_] == 'L') ++at_;  // Python 2 long suffix, as old numpy wrote it
      shape.push_back(v);
      if (shape.size() > kMaxRank) throw fail("more than " + std::to_string(kMaxRank) + " dimensions");
      skip_space();
      if (peek() == ',') {
        ++at_;
        skip_space();
      } else if (peek() != ')') {
        throw fail("expected ',' or ')' in 'shape'");
      }
    }
    ++at_;
    return shape;
  }
  FileFormatError fail(const std::string& what) const { return npy_error(origin_, what); }

  const std::string& s_;
  const std::string& origin_;
  size_t at_ = 0;
};

StoredType type_of_descr(const std::string& descr, const NpyReadOptions& options, const std::string& origin) {
  if (descr == "<f2") return StoredType::f16;
  if (descr == "<f4") return StoredType::f32;
  if (descr == "<f8") return StoredType::f64;
  if (descr == "<i4") return StoredType::i32;
  if (descr == "<i8") return StoredType::i64;
  if (descr == "<u2" || descr == "<V2" || descr == "|V2") {
    if (options.two_byte_as_bf16) return StoredType::bf16;
    throw npy_error(origin, "2-byte dtype '" + descr +
                                "' (bfloat16 from ml_dtypes, or a uint16 view?) is ambiguous here: declare bf16, or write "
                                "bfloat16 tensors as safetensors or as float32");
  }
  if (!descr.empty() && descr[0] == '>')
    throw npy_error(origin, "big-endian dtype '" + descr + "' is not supported (save a little-endian array)");
  throw npy_error(origin, "unsupported dtype '" + descr + "' (<f2, <f4, <f8, <i4, <i8; bfloat16 as <u2 or <V2 when declared)");
}

/// Fortran-order data (first index fastest) rearranged into C order, for any rank.
Tensor<double> fortran_to_c(const std::vector<double>& fortran, const std::vector<int64_t>& shape) {
  Tensor<double> out(shape);
  const size_t rank = shape.size();
  std::vector<int64_t> index(rank, 0), fortran_stride(rank, 1);
  for (size_t d = 1; d < rank; ++d) fortran_stride[d] = fortran_stride[d - 1] * shape[d - 1];
  for (int64_t flat = 0; flat < out.numel(); ++flat) {
    int64_t offset = 0;
    for (size_t d = 0; d < rank; ++d) offset += index[d] * fortran_stride[d];
    out.flat(flat) = fortran[static_cast<size_t>(offset)];
    for (size_t d = rank; d-- > 0;) {  // advance the C-order counter (last index fastest)
      if (++index[d] < shape[d]) break;
      index[d] = 0;
    }
  }
  return out;
}

/// Decodes `count` elements from `data` into a tensor of `header.shape` (C order).
Tensor<double> decode_data(const unsigned char* data, const NpyHeader& header, int64_t count) {
  const int width = stored_element_bytes(header.type);
  if (!header.fortran_order) {
    Tensor<double> t(header.shape);
    for (int64_t i = 0; i < count; ++i) t.flat(i) = decode_stored_element(data + i * width, header.type);
    return t;
  }
  std::vector<double> values(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) values[static_cast<size_t>(i)] = decode_stored_element(data + i * width, header.type);
  return fortran_to_c(values, header.shape);
}

/// Element count after the checks that bound memory and match the expected shape.
int64_t checked_count(const NpyHeader& h, const NpyReadOptions& options, const std::string& origin) {
  if (options.expected_shape && *options.expected_shape != h.shape)
    throw npy_error(origin, "shape " + shape_string(h.shape) + ", expected " + shape_string(*options.expected_shape));
  int64_t count;
  try {
    count = checked_numel(h.shape);
  } catch (const Error& e) {
    throw npy_error(origin, e.what());
  }
  if (count > options.max_elements)
    throw npy_error(origin, "shape " + shape_string(h.shape) + " has " + std::to_string(count) +
                                " elements, more than the limit of " + std::to_string(options.max_elements));
  return count;
}

std::string data_size_message(const NpyHeader& h, uint64_t needed, uint64_t have) {
  return "shape " + shape_string(h.shape) + " needs " + std::to_string(needed) + " data bytes, the member has " +
         std::to_string(have);
}

const char* descr_of(StoredType t) {
  switch (t) {
    case StoredType::f16: return "<f2";
    case StoredType::bf16: return "<u2";  // bit patterns: numpy has no bfloat16
    case StoredType::f32: return "<f4";
    case StoredType::f64: return "<f8";
    case StoredType::i32: return "<i4";
    case StoredType::i64: return "<i8";
  }
  return "?";
}

}  // namespace

NpyHeader parse_npy_header(std::string_view bytes, const std::string& origin, const NpyReadOptions& options) {
  if (bytes.size() < 10 || bytes.compare(0, kMagicBytes, kMagic) != 0)
    throw npy_error(origin, "missing the \\x93NUMPY magic (not a .npy file)");
  const int major = static_cast<unsigned char>(bytes[6]);
  if (major < 1 || major > 3) throw npy_error(origin, "unsupported .npy version " + std::to_string(major));
  const size_t len_bytes = major == 1 ? 2 : 4;
  if (bytes.size() < 8 + len_bytes) throw npy_error(origin, "truncated header");
  uint64_t header_len = 0;
  for (size_t i = len_bytes; i-- > 0;) header_len = (header_len << 8) | static_cast<unsigned char>(bytes[8 + i]);
  if (header_len > kNpyMaxHeaderBytes)
    throw npy_error(origin, "header of " + std::to_string(header_len) + " bytes exceeds the limit of " +
                                std::to_string(kNpyMaxHeaderBytes));
  NpyHeader h;
  h.data_offset = 8 + len_bytes + header_len;
  if (h.data_offset > bytes.size()) throw npy_error(origin, "truncated: header length " + std::to_string(header_len));
  const std::string text(bytes.substr(8 + len_bytes, header_len));
  HeaderParser(text, origin).parse(h);
  h.type = type_of_descr(h.descr, options, origin);
  return h;
}

NamedTensor parse_npy(std::string_view bytes, const std::string& origin, const NpyReadOptions& options) {
  const NpyHeader h = parse_npy_header(bytes, origin, options);
  const int64_t count = checked_count(h, options, origin);
  const uint64_t width = static_cast<uint64_t>(stored_element_bytes(h.type));
  const uint64_t have = bytes.size() - h.data_offset;
  if (static_cast<uint64_t>(count) > have / width || have != static_cast<uint64_t>(count) * width)
    throw npy_error(origin, data_size_message(h, static_cast<uint64_t>(count) * width, have));
  const auto* data = reinterpret_cast<const unsigned char*>(bytes.data()) + h.data_offset;
  return NamedTensor{h.type, decode_data(data, h, count)};
}

NamedTensor read_npy(const std::string& path, const NpyReadOptions& options) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw FileFormatError("cannot open '" + path + "': " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) throw FileFormatError("'" + path + "' is not a regular file");
  std::ifstream f(path, std::ios::binary);
  if (!f) throw FileFormatError("cannot open '" + path + "'");
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);
  // Header first (at most magic + version + 4-byte length + the largest accepted header).
  std::string head(static_cast<size_t>(std::min<uint64_t>(file_size, 12 + kNpyMaxHeaderBytes)), '\0');
  f.read(head.data(), static_cast<std::streamsize>(head.size()));
  if (static_cast<uint64_t>(f.gcount()) != head.size()) throw npy_error(path, "read failed");
  const NpyHeader h = parse_npy_header(head, path, options);
  const int64_t count = checked_count(h, options, path);
  const uint64_t width = static_cast<uint64_t>(stored_element_bytes(h.type));
  const uint64_t have = file_size - h.data_offset;
  if (static_cast<uint64_t>(count) > have / width || have != static_cast<uint64_t>(count) * width)
    throw npy_error(path, data_size_message(h, static_cast<uint64_t>(count) * width, have));
  std::string data(static_cast<size_t>(have), '\0');
  f.seekg(static_cast<std::streamoff>(h.data_offset));
  f.read(data.data(), static_cast<std::streamsize>(have));
  if (static_cast<uint64_t>(f.gcount()) != have) throw npy_error(path, "truncated while reading (file changed?)");
  return NamedTensor{h.type, decode_data(reinterpret_cast<const unsigned char*>(data.data()), h, count)};
}

std::string serialize_npy(const NamedTensor& t) {
  std::string shape = "(";
  for (size_t i = 0; i < t.values.shape().size(); ++i)
    shape += (i ? ", " : "") + std::to_string(t.values.shape()[i]);
  if (t.values.shape().size() == 1) shape += ",";
  shape += ")";
  std::string header = std::string("{'descr': '") + descr_of(t.type) + "', 'fortran_order': False, 'shape': " + shape + ", }";
  const uint64_t unpadded = 10 + header.size() + 1;
  header.append(static_cast<size_t>((kHeaderAlignment - unpadded % kHeaderAlignment) % kHeaderAlignment), ' ');
  header.push_back('\n');
  std::string out(kMagic, kMagicBytes);
  out.push_back('\x01');  // version 1.0: 2-byte header length (our headers are far below 64 KiB)
  out.push_back('\x00');
  out.push_back(static_cast<char>(header.size() & 0xFF));
  out.push_back(static_cast<char>((header.size() >> 8) & 0xFF));
  out += header;
  out.reserve(out.size() + static_cast<size_t>(t.values.numel()) * static_cast<size_t>(stored_element_bytes(t.type)));
  for (int64_t i = 0; i < t.values.numel(); ++i) encode_stored_element(out, t.values.flat(i), t.type);
  return out;
}

void write_npy(const std::string& path, const NamedTensor& tensor) { write_file_atomic(path, serialize_npy(tensor)); }

}  // namespace attn
