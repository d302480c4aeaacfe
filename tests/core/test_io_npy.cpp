// .npy: round trips of every dtype a kernel exchanges (bfloat16 as declared uint16/void bit
// patterns), Fortran order, the exact header numpy writes, and hostile or truncated files
// rejected with a named FileFormatError before any large allocation.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/errors.h"
#include "core/io_npy.h"
#include "core/layout.h"

namespace {

std::string le(uint64_t v, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
  return s;
}

// A .npy file as numpy writes it, with a hand-written header dict.
std::string npy_raw(const std::string& dict, const std::string& data) {
  std::string header = dict;
  while ((10 + header.size() + 1) % 64) header.push_back(' ');
  header.push_back('\n');
  return std::string("\x93NUMPY\x01\x00", 8) + le(header.size(), 2) + header + data;
}
std::string npy(const std::string& descr, const std::string& shape, const std::string& data, bool fortran = false) {
  return npy_raw("{'descr': '" + descr + "', 'fortran_order': " + (fortran ? "True" : "False") + ", 'shape': " + shape +
                     ", }",
                 data);
}

attn::NamedTensor ramp(attn::StoredType type, std::vector<int64_t> shape, double step) {
  attn::NamedTensor t{type, attn::Tensor<double>(std::move(shape))};
  for (int64_t i = 0; i < t.values.numel(); ++i) {
    double x = step * static_cast<double>(i) - 1.0;
    if (type == attn::StoredType::f16) x = attn::round_to(attn::DType::fp16, x);
    if (type == attn::StoredType::bf16) x = attn::round_to(attn::DType::bf16, x);
    if (type == attn::StoredType::f32) x = attn::round_to(attn::DType::fp32, x);
    if (type == attn::StoredType::i64 || type == attn::StoredType::i32) x = static_cast<double>(i * 7 - 3);
    t.values.flat(i) = x;
  }
  return t;
}

}  // namespace

TEST_CASE("npy round trip keeps every value, dtype and shape") {
  const attn::NpyReadOptions bf16{true};
  for (auto type : {attn::StoredType::f16, attn::StoredType::bf16, attn::StoredType::f32, attn::StoredType::f64,
                    attn::StoredType::i32, attn::StoredType::i64}) {
    for (const std::vector<int64_t>& shape : {std::vector<int64_t>{}, {5}, {2, 3, 4, 5}, {1, 0, 3}}) {
      const attn::NamedTensor t = ramp(type, shape, 0.0371);
      const attn::NamedTensor back = attn::parse_npy(attn::serialize_npy(t), "mem", bf16);
      REQUIRE(back.type == t.type);
      REQUIRE(back.values.shape() == t.values.shape());
      for (int64_t i = 0; i < t.values.numel(); ++i) REQUIRE(back.values.flat(i) == t.values.flat(i));
    }
  }
}

TEST_CASE("npy header is byte for byte what numpy writes, data 64-byte aligned") {
  const std::string bytes = attn::serialize_npy(ramp(attn::StoredType::f16, {2, 3}, 0.5));
  const std::string expected_dict = "{'descr': '<f2', 'fortran_order': False, 'shape': (2, 3), }";
  REQUIRE(bytes.compare(0, 8, std::string("\x93NUMPY\x01\x00", 8)) == 0);
  const size_t header_len = static_cast<unsigned char>(bytes[8]) | (static_cast<unsigned char>(bytes[9]) << 8);
  CHECK((10 + header_len) % 64 == 0);
  CHECK(bytes.compare(10, expected_dict.size(), expected_dict) == 0);
  CHECK(bytes[10 + header_len - 1] == '\n');
  CHECK(bytes.size() == 10 + header_len + 2 * 6);
  // rank 1 keeps the trailing comma of a one-element Python tuple; bfloat16 is written as <u2
  const std::string one = attn::serialize_npy(ramp(attn::StoredType::bf16, {3}, 0.5));
  CHECK(one.find("'descr': '<u2', 'fortran_order': False, 'shape': (3,), }") != std::string::npos);
}

TEST_CASE("npy reads bfloat16 bit patterns only when declared") {
  // 0x3F80 = 1.0 and 0xC040 = -3.0 in bfloat16
  for (const char* descr : {"<u2", "<V2", "|V2"}) {
    const std::string bytes = npy(descr, "(2,)", le(0x3F80, 2) + le(0xC040, 2));
    CHECK_THROWS_WITH(attn::parse_npy(bytes, "b.npy"), Catch::Contains("ambiguous") && Catch::Contains("bfloat16"));
    const attn::NamedTensor t = attn::parse_npy(bytes, "b.npy", attn::NpyReadOptions{true});
    CHECK(t.type == attn::StoredType::bf16);
    CHECK(t.values.flat(0) == 1.0);
    CHECK(t.values.flat(1) == -3.0);
  }
}

TEST_CASE("npy Fortran-order arrays are transposed into C order") {
  // A 2x3 array [[0,1,2],[3,4,5]] stored column-major: 0 3 1 4 2 5 (float64)
  std::string data;
  for (double x : {0.0, 3.0, 1.0, 4.0, 2.0, 5.0}) {
    uint64_t bits;
    std::memcpy(&bits, &x, 8);
    data += le(bits, 8);
  }
  const attn::NamedTensor t = attn::parse_npy(npy("<f8", "(2, 3)", data, true), "f.npy");
  REQUIRE(t.values.shape() == std::vector<int64_t>{2, 3});
  for (int64_t i = 0; i < 6; ++i) CHECK(t.values.flat(i) == static_cast<double>(i));
}

TEST_CASE("npy: every truncation and every hostile header is a named error") {
  const std::string good = attn::serialize_npy(ramp(attn::StoredType::f32, {2, 2}, 0.25));
  for (size_t cut = 0; cut < good.size(); ++cut)
    REQUIRE_THROWS_AS(attn::parse_npy(good.substr(0, cut), "cut.npy"), attn::FileFormatError);
  CHECK_THROWS_WITH(attn::parse_npy(good + "x", "long.npy"), Catch::Contains("needs 16 data bytes"));
  CHECK_THROWS_WITH(attn::parse_npy("PK\x03\x04 not npy", "zip.npy"), Catch::Contains("magic"));
  CHECK_THROWS_WITH(attn::parse_npy(npy(">f4", "(1,)", le(0, 4)), "be.npy"), Catch::Contains("big-endian"));
  CHECK_THROWS_WITH(attn::parse_npy(npy("<c8", "(1,)", le(0, 8)), "c.npy"), Catch::Contains("unsupported dtype"));
  CHECK_THROWS_WITH(attn::parse_npy(npy_raw("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", le(0, 4)), "s.npy"),
                    Catch::Contains("structured"));
  CHECK_THROWS_WITH(attn::parse_npy(npy_raw("{'descr': '<f4', 'shape': (1,), }", le(0, 4)), "m.npy"),
                    Catch::Contains("fortran_order"));
  CHECK_THROWS_WITH(attn::parse_npy(npy_raw("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}", le(0, 4)), "x.npy"),
                    Catch::Contains("unexpected header key 'x'"));
  CHECK_THROWS_WITH(attn::parse_npy(npy("<f4", "(-1,)", ""), "n.npy"), Catch::Contains("not a size"));
  CHECK_THROWS_WITH(attn::parse_npy(npy("<f4", "(99999999999999999999,)", ""), "o.npy"), Catch::Contains("overflows"));
  CHECK_THROWS_WITH(attn::parse_npy(npy("<f4", "(4294967296, 4294967296)", ""), "p.npy"), Catch::Contains("overflow"));
  std::string deep = "(";
  for (int i = 0; i < 40; ++i) deep += "1, ";
  deep += ")";
  CHECK_THROWS_WITH(attn::parse_npy(npy("<f4", deep, le(0, 4)), "d.npy"), Catch::Contains("dimensions"));
  // A header length beyond the limit is refused before it is read.
  const std::string huge = std::string("\x93NUMPY\x02\x00", 8) + le(1u << 30, 4) + "{";
  CHECK_THROWS_WITH(attn::parse_npy(huge, "h.npy"), Catch::Contains("exceeds the limit"));
  // A shape that disagrees with the expected one, or is too large, is refused before the data.
  attn::NpyReadOptions expect;
  expect.expected_shape = std::vector<int64_t>{2, 2};
  CHECK_THROWS_WITH(attn::parse_npy(npy("<f4", "(1000000, 1000000)", ""), "e.npy", expect),
                    Catch::Contains("expected [2, 2]"));
  attn::NpyReadOptions small;
  small.max_elements = 3;
  CHECK_THROWS_WITH(attn::parse_npy(good, "big.npy", small), Catch::Contains("more than the limit of 3"));
}

TEST_CASE("npy files: written atomically, read back, special files refused") {
  const auto dir = std::filesystem::temp_directory_path() / ("attnscope_npy_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const attn::NamedTensor t = ramp(attn::StoredType::f16, {1, 4, 2, 8}, 0.01);
  const std::string path = (dir / "q.npy").string();
  attn::write_npy(path, t);
  CHECK_FALSE(std::filesystem::exists(path + ".partial"));
  const attn::NamedTensor back = attn::read_npy(path);
  CHECK(back.values.storage() == t.values.storage());
  attn::NpyReadOptions wrong;
  wrong.expected_shape = std::vector<int64_t>{1, 2, 4, 8};
  CHECK_THROWS_WITH(attn::read_npy(path, wrong), Catch::Contains("expected [1, 2, 4, 8]"));
  CHECK_THROWS_AS(attn::read_npy((dir / "missing.npy").string()), attn::FileFormatError);
  CHECK_THROWS_WITH(attn::read_npy(dir.string()), Catch::Contains("not a regular file"));
  std::filesystem::remove_all(dir);
}

TEST_CASE("layout conversion bshd <-> bhsd is explicit and its own inverse") {
  attn::Tensor<double> x({2, 3, 4, 5});
  for (int64_t i = 0; i < x.numel(); ++i) x.flat(i) = static_cast<double>(i);
  const attn::Tensor<double> h = attn::to_layout(x, attn::TensorLayout::bhsd);
  REQUIRE(h.shape() == std::vector<int64_t>{2, 4, 3, 5});
  CHECK(h(1, 3, 2, 4) == x(1, 2, 3, 4));
  CHECK(attn::from_layout(h, attn::TensorLayout::bhsd).storage() == x.storage());
  CHECK(attn::from_layout(x, attn::TensorLayout::bshd).storage() == x.storage());
  CHECK(attn::shape_in_layout({1, 7, 8, 64}, attn::TensorLayout::bhsd) == std::vector<int64_t>{1, 8, 7, 64});
  CHECK_THROWS_WITH(attn::parse_layout("bsdh"), Catch::Contains("bshd") && Catch::Contains("bhsd"));
  CHECK_THROWS_AS(attn::from_layout(attn::Tensor<double>({2, 3}), attn::TensorLayout::bhsd), attn::ProblemError);
}
