#include "core/io_npz.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <limits>
#include <sstream>

#include "core/errors.h"

namespace attn {
namespace {

constexpr uint32_t kEndOfCentralDirectory = 0x06054b50, kCentralEntry = 0x02014b50, kLocalHeader = 0x04034b50;
constexpr uint32_t kZip64EndLocator = 0x07064b50, kZip64End = 0x06064b50;
constexpr uint32_t kSaturated32 = 0xFFFFFFFFu;

class Reader {
 public:
  Reader(const std::string& bytes, std::string origin) : b_(bytes), origin_(std::move(origin)) {}
  uint64_t le(uint64_t offset, int width) const {
    need(offset, static_cast<uint64_t>(width));
    uint64_t v = 0;
    for (int i = width - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(b_[offset + static_cast<uint64_t>(i)]);
    return v;
  }
  std::string str(uint64_t offset, uint64_t length) const {
    need(offset, length);
    return b_.substr(offset, length);
  }
  void need(uint64_t offset, uint64_t length) const {
    if (offset > b_.size() || length > b_.size() - offset)
      throw fail("truncated: needs bytes [" + std::to_string(offset) + ", " + std::to_string(offset + length) +
                 ") of " + std::to_string(b_.size()));
  }
  FileFormatError fail(const std::string& what) const { return FileFormatError("npz file '" + origin_ + "': " + what); }
  uint64_t size() const { return b_.size(); }

 private:
  const std::string& b_;
  std::string origin_;
};

}  // namespace

TensorFile parse_npz(const std::string& bytes, const std::string& origin) {
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
  TensorFile file;
  uint64_t at = cd_offset;
  for (uint64_t e = 0; e < entries; ++e) {
    if (r.le(at, 4) != kCentralEntry) throw r.fail("corrupt central directory entry " + std::to_string(e));
    const uint64_t method = r.le(at + 10, 2);
    uint64_t comp = r.le(at + 20, 4), uncomp = r.le(at + 24, 4);
    const uint64_t name_len = r.le(at + 28, 2), extra_len = r.le(at + 30, 2), comment_len = r.le(at + 32, 2);
    uint64_t local = r.le(at + 42, 4);
    const std::string name = r.str(at + 46, name_len);
    // zip64 extra field (id 1): the saturated 32-bit fields, in order uncomp, comp, local offset.
    uint64_t x = at + 46 + name_len;
    const uint64_t x_end = x + extra_len;
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
    if (method != 0)
      throw r.fail("member '" + name + "' is compressed (method " + std::to_string(method) +
                   "; numpy.savez_compressed?): re-save with numpy.savez");
    if (comp != uncomp) throw r.fail("member '" + name + "' sizes disagree for a stored entry");
    if (r.le(local, 4) != kLocalHeader) throw r.fail("member '" + name + "': bad local header");
    const uint64_t data = local + 30 + r.le(local + 26, 2) + r.le(local + 28, 2);
    const std::string payload = r.str(data, comp);
    std::string tensor_name = name;
    if (tensor_name.size() > 4 && tensor_name.compare(tensor_name.size() - 4, 4, ".npy") == 0)
      tensor_name.resize(tensor_name.size() - 4);
    file.tensors.emplace(tensor_name, parse_npy(payload, origin + ":" + name));
  }
  return file;
}

TensorFile read_npz(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw FileFormatError("cannot open '" + path + "'");
  std::stringstream s;
  s << f.rdbuf();
  return parse_npz(s.str(), path);
}

}  // namespace attn
