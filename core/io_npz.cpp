// io_npz.cpp: .npz = a zip archive of .npy members, stored (numpy.savez) or deflated
// (numpy.savez_compressed, inflated with zlib). Hostile archives are refused before they cost
// memory: members whose data overlap (a zip directory pointing many entries at one member),
// duplicate names, declared sizes beyond the memory limit, deflate streams that inflate past
// their declared size, CRC mismatches.
#include "core/io_npz.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <set>

#include "core/errors.h"
#include "core/io_files.h"
#include "core/memory_budget.h"

namespace attn {
namespace {

constexpr uint32_t kEndOfCentralDirectory = 0x06054b50, kCentralEntry = 0x02014b50, kLocalHeader = 0x04034b50;
constexpr uint32_t kZip64EndLocator = 0x07064b50, kZip64End = 0x06064b50;
constexpr uint32_t kSaturated32 = 0xFFFFFFFFu;
constexpr uint64_t kMethodStored = 0, kMethodDeflate = 8;

class Reader {
 public:
  Reader(std::string_view bytes, std::string origin) : b_(bytes), origin_(std::move(origin)) {}
  uint64_t le(uint64_t offset, int width) const {
    need(offset, static_cast<uint64_t>(width));
    uint64_t v = 0;
    for (int i = width - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(b_[offset + static_cast<uint64_t>(i)]);
    return v;
  }
  std::string_view view(uint64_t offset, uint64_t length) const {
    need(offset, length);
    return b_.substr(offset, length);
  }
  void need(uint64_t offset, uint64_t length) const {
    if (offset > b_.size() || length > b_.size() - offset)
      throw fail("truncated: needs bytes [" + std::to_string(offset) + ", " + std::to_string(offset) + " + " +
                 std::to_string(length) + ") of " + std::to_string(b_.size()));
  }
  FileFormatError fail(const std::string& what) const {
    return FileFormatError("npz file '" + printable_path(origin_) + "': " + what);
  }
  uint64_t size() const { return b_.size(); }

 private:
  std::string_view b_;
  std::string origin_;
};

/// Inflates a raw deflate stream that must produce exactly `size` bytes.
std::string inflate_member(std::string_view compressed, uint64_t size, const Reader& r, const std::string& name) {
  std::string out(size, '\0');
  z_stream z{};
  if (inflateInit2(&z, -MAX_WBITS) != Z_OK) throw r.fail("member '" + name + "': zlib cannot start");
  uint64_t in_done = 0, out_done = 0;
  int rc = Z_OK;
  // zlib counts in uInt: feed and drain in chunks so that members over 4 GB are no special case.
  constexpr uint64_t kChunk = 1u << 30;
  while (rc == Z_OK) {
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(compressed.data() + in_done));
    z.avail_in = static_cast<uInt>(std::min<uint64_t>(kChunk, compressed.size() - in_done));
    z.next_out = reinterpret_cast<Bytef*>(out.data() + out_done);
    z.avail_out = static_cast<uInt>(std::min<uint64_t>(kChunk, size - out_done));
    const uInt in_before = z.avail_in, out_before = z.avail_out;
    char probe = 0;
    if (out_before == 0) {  // all declared bytes produced: one more byte would mean a lie
      z.next_out = reinterpret_cast<Bytef*>(&probe);
      z.avail_out = 1;
    }
    rc = inflate(&z, Z_NO_FLUSH);
    in_done += in_before - z.avail_in;
    if (out_before == 0) {
      if (z.avail_out == 0) rc = Z_BUF_ERROR;  // produced a byte past the declared size
    } else {
      out_done += out_before - z.avail_out;
    }
    if (rc == Z_OK && in_before == z.avail_in && out_before == z.avail_out) rc = Z_BUF_ERROR;  // no progress
  }
  inflateEnd(&z);
  if (rc != Z_STREAM_END || out_done != size)
    throw r.fail("member '" + name + "': the deflate stream is corrupt or does not inflate to its declared " +
                 std::to_string(size) + " bytes");
  return out;
}

uint32_t crc_of(std::string_view bytes) {
  uLong crc = crc32(0L, Z_NULL, 0);
  constexpr size_t kChunk = 1u << 30;
  for (size_t at = 0; at < bytes.size(); at += kChunk) {
    const size_t n = std::min(kChunk, bytes.size() - at);
    crc = crc32(crc, reinterpret_cast<const Bytef*>(bytes.data() + at), static_cast<uInt>(n));
  }
  return static_cast<uint32_t>(crc);
}

}  // namespace

TensorFile parse_npz(std::string_view bytes, const std::string& origin) {
  const Reader r(bytes, origin);
  // End of central directory: scan back over a comment of at most 65535 bytes.
  if (bytes.size() < 22) throw r.fail("truncated: too short for a zip archive");
  uint64_t eocd = std::numeric_limits<uint64_t>::max();
  for (uint64_t back = 22; back <= std::min<uint64_t>(bytes.size(), 22 + 65535); ++back)
    if (r.le(bytes.size() - back, 4) == kEndOfCentralDirectory) {
      eocd = bytes.size() - back;
      break;
    }
  if (eocd == std::numeric_limits<uint64_t>::max()) throw r.fail("no zip end-of-central-directory record (truncated?)");
  uint64_t entries = r.le(eocd + 10, 2), cd_size = r.le(eocd + 12, 4), cd_offset = r.le(eocd + 16, 4);
  if ((entries == 0xFFFF || cd_size == kSaturated32 || cd_offset == kSaturated32) && eocd >= 20 &&
      r.le(eocd - 20, 4) == kZip64EndLocator) {
    const uint64_t z64 = r.le(eocd - 20 + 8, 8);
    if (r.le(z64, 4) != kZip64End) throw r.fail("bad zip64 end record");
    entries = r.le(z64 + 32, 8);
    cd_size = r.le(z64 + 40, 8);
    cd_offset = r.le(z64 + 48, 8);
  }
  r.need(cd_offset, cd_size);
  if (entries > cd_size / 46) throw r.fail(std::to_string(entries) + " entries cannot fit a central directory of " +
                                           std::to_string(cd_size) + " bytes");

  struct Member {
    std::string name;
    uint64_t method, comp, uncomp, data, crc;
  };
  std::vector<Member> members;
  std::set<std::string> names;
  uint64_t at = cd_offset;
  for (uint64_t e = 0; e < entries; ++e) {
    if (r.le(at, 4) != kCentralEntry) throw r.fail("corrupt central directory entry " + std::to_string(e));
    const uint64_t method = r.le(at + 10, 2), crc = r.le(at + 16, 4);
    uint64_t comp = r.le(at + 20, 4), uncomp = r.le(at + 24, 4);
    const uint64_t name_len = r.le(at + 28, 2), extra_len = r.le(at + 30, 2), comment_len = r.le(at + 32, 2);
    uint64_t local = r.le(at + 42, 4);
    const std::string name(r.view(at + 46, name_len));
    // zip64 extra field (id 1): the saturated 32-bit fields, in order uncomp, comp, local offset.
    uint64_t x = at + 46 + name_len;
    const uint64_t x_end = x + extra_len;
    r.need(x, extra_len);
    while (x + 4 <= x_end) {
      const uint64_t id = r.le(x, 2), len = r.le(x + 2, 2);
      if (id == 1) {
        uint64_t f = x + 4;
        if (uncomp == kSaturated32) { uncomp = r.le(f, 8); f += 8; }
        if (comp == kSaturated32) { comp = r.le(f, 8); f += 8; }
        if (local == kSaturated32) { local = r.le(f, 8); }
      }
      x += 4 + len;
    }
    at = x_end + comment_len;
    const std::string shown = printable_path(name);
    if (!names.insert(name).second) throw r.fail("member '" + shown + "' appears twice in the zip directory");
    if (method != kMethodStored && method != kMethodDeflate)
      throw r.fail("member '" + shown + "' uses compression method " + std::to_string(method) +
                   " (only stored and deflate, as numpy.savez / savez_compressed write)");
    if (method == kMethodStored && comp != uncomp) throw r.fail("member '" + shown + "' sizes disagree for a stored entry");
    if (r.le(local, 4) != kLocalHeader) throw r.fail("member '" + shown + "': bad local header");
    const uint64_t data = local + 30 + r.le(local + 26, 2) + r.le(local + 28, 2);
    r.need(data, comp);
    members.push_back({name, method, comp, uncomp, data, crc});
  }
  // A directory pointing several entries at one member (a "zip bomb" without compression) would
  // decode it many times over: every member's data must be its own.
  std::vector<const Member*> by_offset;
  for (const Member& m : members) by_offset.push_back(&m);
  std::sort(by_offset.begin(), by_offset.end(), [](const Member* a, const Member* b) { return a->data < b->data; });
  for (size_t i = 1; i < by_offset.size(); ++i)
    if (by_offset[i]->data < by_offset[i - 1]->data + by_offset[i - 1]->comp)
      throw r.fail("members '" + printable_path(by_offset[i - 1]->name) + "' and '" + printable_path(by_offset[i]->name) +
                   "' share their data (a hostile or corrupt zip directory)");
  // What the members will cost once inflated and decoded (doubles: 8 bytes per element of at
  // least 2 stored bytes), refused up front when beyond the memory limit.
  uint64_t planned = 0;
  for (const Member& m : members)
    planned = saturating_add(planned, saturating_add(m.method == kMethodDeflate ? m.uncomp : 0, saturating_mul(m.uncomp, 4)));
  require_memory(planned, "npz file '" + printable_path(origin) + "'");

  TensorFile file;
  for (const Member& m : members) {
    std::string inflated;
    std::string_view payload = r.view(m.data, m.comp);
    if (m.method == kMethodDeflate) {
      inflated = inflate_member(payload, m.uncomp, r, printable_path(m.name));
      payload = inflated;
    }
    if (crc_of(payload) != m.crc) throw r.fail("member '" + printable_path(m.name) + "': CRC-32 mismatch (corrupt data)");
    std::string tensor_name = m.name;
    if (tensor_name.size() > 4 && tensor_name.compare(tensor_name.size() - 4, 4, ".npy") == 0)
      tensor_name.resize(tensor_name.size() - 4);
    if (file.tensors.count(tensor_name)) throw r.fail("tensor '" + printable_path(tensor_name) + "' appears twice");
    file.tensors.emplace(tensor_name, parse_npy(payload, origin + ":" + m.name));
  }
  return file;
}

TensorFile read_npz(const std::string& path) {
  return parse_npz(read_regular_file(path, memory_limit_bytes(), "npz file"), path);
}

}  // namespace attn
