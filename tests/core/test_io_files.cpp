// safetensors and npz: round trips, and truncated or malformed files rejected with a clear
// FileFormatError (never a crash or a silently wrong tensor).
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "core/errors.h"
#include "core/io_files.h"
#include "core/io_npz.h"
#include "core/memory_budget.h"
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
uint32_t crc(const std::string& data) {
  return static_cast<uint32_t>(crc32(0L, reinterpret_cast<const Bytef*>(data.data()), static_cast<uInt>(data.size())));
}
/// A zip archive of members (name, payload as stored, uncompressed bytes, method), built by hand;
/// `directory` lists the central-directory entries as indices into `members` (default: each once).
struct Member {
  std::string name, stored, plain;
  int method = 0;
};
std::string zip_of(const std::vector<Member>& members, std::vector<size_t> directory = {}) {
  if (directory.empty())
    for (size_t i = 0; i < members.size(); ++i) directory.push_back(i);
  std::string out;
  std::vector<size_t> offsets;
  for (const Member& m : members) {
    offsets.push_back(out.size());
    out += le(0x04034b50, 4) + le(20, 2) + le(0, 2) + le(m.method, 2) + le(0, 4) + le(crc(m.plain), 4) +
           le(m.stored.size(), 4) + le(m.plain.size(), 4) + le(m.name.size(), 2) + le(0, 2) + m.name + m.stored;
  }
  std::string central;
  for (size_t i : directory) {
    const Member& m = members[i];
    central += le(0x02014b50, 4) + le(20, 2) + le(20, 2) + le(0, 2) + le(m.method, 2) + le(0, 4) + le(crc(m.plain), 4) +
               le(m.stored.size(), 4) + le(m.plain.size(), 4) + le(m.name.size(), 2) + le(0, 2) + le(0, 2) + le(0, 2) +
               le(0, 2) + le(0, 4) + le(offsets[i], 4) + m.name;
  }
  std::string end = le(0x06054b50, 4) + le(0, 2) + le(0, 2) + le(directory.size(), 2) + le(directory.size(), 2) +
                    le(central.size(), 4) + le(out.size(), 4) + le(0, 2);
  return out + central + end;
}
std::string zip_one(const std::string& name, const std::string& data, int method = 0) {
  return zip_of({{name, data, data, method}});
}
/// Raw deflate (what zip stores for method 8), as numpy.savez_compressed writes it.
std::string deflate_raw(const std::string& data) {
  z_stream z{};
  REQUIRE(deflateInit2(&z, 9, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK);
  std::string out(deflateBound(&z, data.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  z.avail_in = static_cast<uInt>(data.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  REQUIRE(deflate(&z, Z_FINISH) == Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
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

TEST_CASE("npz: stored members are read, every truncation and unknown compression rejected") {
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
  CHECK_THROWS_WITH(attn::parse_npz(zip_one("q.npy", member, 12), "c.npz"), Catch::Contains("method 12"));
  CHECK_THROWS_WITH(attn::parse_npz(zip_one("q.npy", npy("<f2", "(3,)", le(0, 4))), "s.npz"),
                    Catch::Contains("needs 6 data bytes"));
  CHECK_THROWS_WITH(attn::parse_npz(zip_one("q.npy", npy("|V2", "(1,)", le(0, 2))), "v.npz"),
                    Catch::Contains("bfloat16"));
  CHECK_THROWS_WITH(attn::parse_npz(zip_one("q.npy", npy("<c8", "(1,)", le(0, 8))), "c8.npz"),
                    Catch::Contains("unsupported dtype"));
}

TEST_CASE("npz: deflated members (numpy.savez_compressed) are inflated with zlib") {
  std::string values;
  for (int i = 0; i < 300; ++i) values += le(0x3C00, 2);  // 300 x float16 1.0: compresses well
  const std::string member = npy("<f2", "(300,)", values);
  const std::string deflated = deflate_raw(member);
  REQUIRE(deflated.size() < member.size() / 4);
  const attn::TensorFile f = attn::parse_npz(zip_of({{"q.npy", deflated, member, 8}}), "c.npz");
  REQUIRE(f.tensors.at("q").values.numel() == 300);
  CHECK(f.tensors.at("q").values.flat(299) == 1.0);
  // A deflate stream that inflates to more (or less) than its declared size, or corrupt data,
  // is refused: the declared size bounds the memory.
  Member liar{"q.npy", deflated, member.substr(0, member.size() - 2), 8};
  CHECK_THROWS_WITH(attn::parse_npz(zip_of({liar}), "lie.npz"), Catch::Contains("declared"));
  std::string broken = deflated;
  broken[broken.size() / 2] ^= 0x55;
  CHECK_THROWS_AS(attn::parse_npz(zip_of({{"q.npy", broken, member, 8}}), "broken.npz"), attn::FileFormatError);
}

TEST_CASE("npz: a directory pointing many entries at one member, duplicates and CRC errors are refused") {
  const std::string member = npy("<f2", "(1, 2)", le(0x3C00, 2) + le(0xC000, 2));
  // The hostile file: 2,000 directory entries at one member would decode it 2,000 times.
  std::vector<Member> one{{"q.npy", member, member, 0}};
  std::vector<size_t> many(2000, 0);
  std::vector<Member> named;
  for (int i = 0; i < 2000; ++i) named.push_back({"t" + std::to_string(i) + ".npy", member, member, 0});
  const std::string bomb = zip_of(one, many);
  CHECK_THROWS_WITH(attn::parse_npz(bomb, "bomb.npz"), Catch::Contains("twice"));  // same name, same data
  // distinct names all pointing at the data of the first member
  std::string shared = zip_of(named);
  {
    // rewrite every central entry's local-header offset to 0
    size_t at = shared.find(std::string("\x50\x4b\x01\x02", 4));
    while (at != std::string::npos) {
      shared.replace(at + 42, 4, le(0, 4));
      at = shared.find(std::string("\x50\x4b\x01\x02", 4), at + 4);
    }
  }
  CHECK_THROWS_WITH(attn::parse_npz(shared, "shared.npz"), Catch::Contains("share their data"));
  Member bad_crc{"q.npy", member, member, 0};
  std::string z = zip_of({bad_crc});
  z[z.find(std::string("\x50\x4b\x01\x02", 4)) + 16] ^= 1;  // the directory's CRC
  CHECK_THROWS_WITH(attn::parse_npz(z, "crc.npz"), Catch::Contains("CRC"));
}

TEST_CASE("tensor files: sizes beyond the memory limit are refused before decoding") {
  // 1,000,000 float16 elements declared in a file that holds them: the doubles need 8 MB.
  const std::string values(2'000'000, '\0');
  const std::string member = npy("<f2", "(1000000,)", values);
  const uint64_t limit = attn::memory_limit_bytes();
  attn::set_memory_limit_bytes(4'000'000);
  CHECK_THROWS_AS(attn::parse_npz(zip_one("q.npy", member), "big.npz"), attn::EnvironmentError);
  attn::TensorFile f;
  f.tensors["q"] = {attn::StoredType::f16, attn::Tensor<double>({1000000})};
  const std::string st = attn::serialize_safetensors(f);
  CHECK_THROWS_WITH(attn::parse_safetensors(st, "big.safetensors"), Catch::Contains("--max-memory"));
  attn::set_memory_limit_bytes(limit);
  CHECK(attn::parse_safetensors(st, "big.safetensors").tensors.at("q").values.numel() == 1000000);
}

TEST_CASE("safetensors: many tensors over the same bytes are refused before any is decoded") {
  std::string header = "{";
  for (int i = 0; i < 2000; ++i)
    header += (i ? "," : "") + std::string("\"t") + std::to_string(i) + "\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}";
  header += "}";
  const std::string file = le(header.size(), 8) + header + "xxxx";
  CHECK_THROWS_WITH(attn::parse_safetensors(file, "overlap.safetensors"), Catch::Contains("overlap"));
}

TEST_CASE("reading refuses special files instead of blocking, and writes are atomic") {
  const auto dir = std::filesystem::temp_directory_path() / ("attnscope_io_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  const std::string fifo = (dir / "pipe.npz").string();
  std::filesystem::remove(fifo);
  REQUIRE(mkfifo(fifo.c_str(), 0600) == 0);  // no writer: a plain open would block forever
  CHECK_THROWS_WITH(attn::read_tensor_file(fifo), Catch::Contains("named pipe"));
  CHECK_THROWS_WITH(attn::read_regular_file("/dev/zero", 1 << 20, "input"), Catch::Contains("character device"));
  CHECK_THROWS_WITH(attn::read_regular_file(dir.string(), 1 << 20, "input"), Catch::Contains("folder"));
  const std::string out = (dir / "out.safetensors").string();
  attn::write_safetensors(out, sample());
  CHECK(attn::read_safetensors(out).tensors.size() == 4);
  for (const auto& entry : std::filesystem::directory_iterator(dir))  // no temporary left behind
    CHECK(entry.path().filename().string().find(".tmp") == std::string::npos);
  CHECK_THROWS_AS(attn::write_file_atomic((dir / "missing" / "x").string(), "data"), attn::EnvironmentError);
  // check_output_path: never an input, never a special file, a folder where a folder is expected
  CHECK_THROWS_WITH(attn::check_output_path(out, attn::OutputKind::file, {out}, "--junit"), Catch::Contains("is an input"));
  CHECK_THROWS_WITH(attn::check_output_path(fifo, attn::OutputKind::file, {}, "--junit"), Catch::Contains("named pipe"));
  CHECK_THROWS_WITH(attn::check_output_path(out, attn::OutputKind::directory, {}, "--out"), Catch::Contains("not a folder"));
  CHECK_THROWS_WITH(attn::check_output_path(out + "/report", attn::OutputKind::directory, {}, "--out"),
                    Catch::Contains("not a folder"));
  CHECK_NOTHROW(attn::check_output_path((dir / "new" / "deeper").string(), attn::OutputKind::directory, {out}, "--out"));
  std::filesystem::remove(fifo);
}
