// safetensors and npz: round trips, and truncated or malformed files rejected with a clear
// FileFormatError (never a crash or a silently wrong tensor).
#include <catch2/catch.hpp>

#include <string>

#include "core/errors.h"
#include "core/io_npz.h"
#include "core/io_safetensors.h"

namespace {

attn::TensorFile sample() {
  attn::TensorFile f;
  attn::NamedTensor q{attn::StoredType::f16, attn::Tensor<double>({1, 3, 2, 4})};
  for (int64_t i = 0; i < q.values.numel(); ++i) q.values.flat(i) = attn::round_to(attn::DType::fp16, 0.1 * i - 1.0);
  attn::NamedTensor k{attn::StoredType::bf16, attn::Tensor<double>({1, 5, 1, 4})};
  for (int64_t i = 0; i < k.values.numel(); ++i) k.values.flat(i) = attn::round_to(attn::DType::bf16, 0.37 * i);
  attn::NamedTensor lens{attn::StoredType::i32, attn::Tensor<double>({2})};
  lens.values.flat(0) = 17;
  lens.values.flat(1) = -3;
  attn::NamedTensor o{attn::StoredType::f32, attn::Tensor<double>({2, 2})};
  o.values.flat(3) = 1.5;
  f.tensors = {{"q", q}, {"k", k}, {"seq_lens", lens}, {"o", o}};
  f.metadata = {{"backend", "test"}};
  return f;
}

// A stored (uncompressed) zip archive with one member, built by hand.
std::string le(uint64_t v, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
  return s;
}
std::string zip_one(const std::string& name, const std::string& data, int method = 0) {
  std::string local = le(0x04034b50, 4) + le(20, 2) + le(0, 2) + le(method, 2) + le(0, 4) + le(0, 4) +
                      le(data.size(), 4) + le(data.size(), 4) + le(name.size(), 2) + le(0, 2) + name + data;
  std::string central = le(0x02014b50, 4) + le(20, 2) + le(20, 2) + le(0, 2) + le(method, 2) + le(0, 4) + le(0, 4) +
                        le(data.size(), 4) + le(data.size(), 4) + le(name.size(), 2) + le(0, 2) + le(0, 2) + le(0, 2) +
                        le(0, 2) + le(0, 4) + le(0, 4) + name;
  std::string end = le(0x06054b50, 4) + le(0, 2) + le(0, 2) + le(1, 2) + le(1, 2) + le(central.size(), 4) +
                    le(local.size(), 4) + le(0, 2);
  return local + central + end;
}
std::string npy(const std::string& descr, const std::string& shape, const std::string& data) {
  std::string header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  while ((10 + header.size() + 1) % 64) header.push_back(' ');
  header.push_back('\n');
  return std::string("\x93NUMPY\x01\x00", 8) + le(header.size(), 2) + header + data;
}

}  // namespace

TEST_CASE("safetensors round trip keeps every value and dtype") {
  const attn::TensorFile f = sample();
  const attn::TensorFile g = attn::parse_safetensors(attn::serialize_safetensors(f), "memory");
  REQUIRE(g.tensors.size() == 4);
  for (const auto& [name, t] : f.tensors) {
    const attn::NamedTensor& u = g.tensors.at(name);
    CHECK(u.type == t.type);
    CHECK(u.values.shape() == t.values.shape());
    CHECK(u.values.storage() == t.values.storage());
  }
  CHECK(g.metadata.at("backend") == "test");
}

TEST_CASE("every truncation of a safetensors file is rejected") {
  const std::string bytes = attn::serialize_safetensors(sample());
  for (size_t cut = 0; cut < bytes.size(); ++cut)
    REQUIRE_THROWS_AS(attn::parse_safetensors(bytes.substr(0, cut), "cut"), attn::FileFormatError);
}

TEST_CASE("malformed safetensors headers name the problem") {
  auto file = [](const std::string& header, const std::string& data) { return le(header.size(), 8) + header + data; };
  CHECK_THROWS_WITH(attn::parse_safetensors(le(1000, 8) + "{}", "f"), Catch::Contains("truncated"));
  CHECK_THROWS_WITH(attn::parse_safetensors(file("[1,2]", ""), "f"), Catch::Contains("not a JSON object"));
  CHECK_THROWS_WITH(attn::parse_safetensors(file("{\"q\":{\"dtype\":\"F8\",\"shape\":[1],\"data_offsets\":[0,1]}}", "x"), "f"),
                    Catch::Contains("unsupported dtype"));
  CHECK_THROWS_WITH(attn::parse_safetensors(file("{\"q\":{\"dtype\":\"F16\",\"shape\":[3],\"data_offsets\":[0,4]}}", "xxxx"), "f"),
                    Catch::Contains("needs 6 bytes"));
  CHECK_THROWS_WITH(attn::parse_safetensors(file("{\"q\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}", "xx"), "f"),
                    Catch::Contains("outside the data section"));
  CHECK_THROWS_WITH(attn::parse_safetensors(file("{\"q\":{\"dtype\":\"F16\",\"shape\":[-2],\"data_offsets\":[0,4]}}", "xxxx"), "f"),
                    Catch::Contains("not a size"));
  CHECK_THROWS_WITH(
      attn::parse_safetensors(file("{\"a\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]},"
                                   "\"b\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[2,6]}}", "xxxxxx"), "f"),
      Catch::Contains("overlap"));
  CHECK_THROWS_WITH(attn::read_tensor_file("results.csv"), Catch::Contains("unknown extension"));
}

TEST_CASE("npz: stored members are read, every truncation and compression rejected") {
  // float16 values 1.0 (0x3C00) and -2.0 (0xC000), shape (1, 2)
  const std::string member = npy("<f2", "(1, 2)", le(0x3C00, 2) + le(0xC000, 2));
  const std::string zip = zip_one("q.npy", member);
  const attn::TensorFile f = attn::parse_npz(zip, "mem.npz");
  REQUIRE(f.tensors.count("q"));
  CHECK(f.tensors.at("q").type == attn::StoredType::f16);
  CHECK(f.tensors.at("q").values.shape() == std::vector<int64_t>{1, 2});
  CHECK(f.tensors.at("q").values.flat(0) == 1.0);
  CHECK(f.tensors.at("q").values.flat(1) == -2.0);
  for (size_t cut = 0; cut < zip.size(); ++cut)
    REQUIRE_THROWS_AS(attn::parse_npz(zip.substr(0, cut), "cut.npz"), attn::FileFormatError);
  CHECK_THROWS_WITH(attn::parse_npz(zip_one("q.npy", member, 8), "c.npz"), Catch::Contains("numpy.savez"));
  CHECK_THROWS_WITH(attn::parse_npz(zip_one("q.npy", npy("<f2", "(3,)", le(0, 4))), "s.npz"),
                    Catch::Contains("needs 6 data bytes"));
  CHECK_THROWS_WITH(attn::parse_npz(zip_one("q.npy", npy("|V2", "(1,)", le(0, 2))), "v.npz"),
                    Catch::Contains("bfloat16"));
  CHECK_THROWS_WITH(attn::parse_npz(zip_one("q.npy", npy("<c8", "(1,)", le(0, 8))), "c8.npz"),
                    Catch::Contains("unsupported dtype"));
}
