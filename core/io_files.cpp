#include "core/io_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/errors.h"

namespace attn {
namespace {

namespace fs = std::filesystem;

std::string system_reason() { return std::strerror(errno); }

const char* file_type_name(mode_t mode) {
  if (S_ISDIR(mode)) return "a folder";
  if (S_ISFIFO(mode)) return "a named pipe";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

/// Closes a file descriptor on scope exit.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

/// Normalized absolute form of a path that may not exist yet.
fs::path normalized(const std::string& p) {
  std::error_code ec;
  fs::path abs = fs::absolute(p, ec);
  if (ec) return fs::path(p).lexically_normal();
  fs::path canonical = fs::weakly_canonical(abs, ec);
  return ec ? abs.lexically_normal() : canonical;
}

/// The nearest ancestor of `p` (itself included) that exists.
fs::path nearest_existing(const fs::path& p) {
  fs::path at = p;
  std::error_code ec;
  while (!at.empty() && !fs::exists(at, ec)) {
    if (at == at.parent_path()) break;
    at = at.parent_path();
  }
  return at.empty() ? fs::path(".") : at;
}

}  // namespace

std::string printable_path(std::string_view path) {
  std::string out;
  size_t i = 0;
  while (i < path.size()) {
    const unsigned char c = static_cast<unsigned char>(path[i]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    bool valid = len > 0 && i + len <= path.size() && (len == 1 || c >= 0xC2);
    for (size_t k = 1; valid && k < len; ++k) valid = (static_cast<unsigned char>(path[i + k]) & 0xC0) == 0x80;
    if (valid && c >= 0x20 && c != 0x7F) {
      out.append(path.substr(i, len));
      i += len;
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02X", c);
      out += buf;
      ++i;
    }
  }
  return out;
}

void require_regular_file(const std::string& path, const std::string& what) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    throw FileFormatError(what + " '" + printable_path(path) + "' cannot be read: " + system_reason());
  if (!S_ISREG(st.st_mode))
    throw FileFormatError(what + " '" + printable_path(path) + "' is " + file_type_name(st.st_mode) +
                          ", not a regular file");
}

std::string read_regular_file(const std::string& path, uint64_t max_bytes, const std::string& what) {
  Fd f;
  // O_NONBLOCK: opening a FIFO with no writer would otherwise block forever.
  f.fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (f.fd < 0) {
    const int err = errno;
    if (err == EACCES || err == EPERM)
      throw EnvironmentError(what + " '" + printable_path(path) + "' cannot be read: " + std::strerror(err));
    throw FileFormatError(what + " '" + printable_path(path) + "' cannot be read: " + std::strerror(err));
  }
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) throw EnvironmentError("cannot stat '" + printable_path(path) + "': " + system_reason());
  if (!S_ISREG(st.st_mode))
    throw FileFormatError(what + " '" + printable_path(path) + "' is " + file_type_name(st.st_mode) +
                          ", not a regular file");
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size > max_bytes)
    throw FileFormatError(what + " '" + printable_path(path) + "' has " + std::to_string(size) +
                          " bytes, more than the " + std::to_string(max_bytes) + " allowed");
  std::string bytes(size, '\0');
  uint64_t done = 0;
  while (done < size) {
    const ssize_t n = ::read(f.fd, bytes.data() + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw EnvironmentError("reading '" + printable_path(path) + "' failed: " + system_reason());
    if (n == 0) break;  // the file shrank while being read
    done += static_cast<uint64_t>(n);
  }
  if (done != size)
    throw FileFormatError(what + " '" + printable_path(path) + "' changed size while being read");
  return bytes;
}

void write_file_atomic(const std::string& path, std::string_view bytes) {
  const fs::path target(path);
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::string tmpl = (dir / ("." + target.filename().string() + ".tmp.XXXXXX")).string();
  Fd f;
  f.fd = ::mkstemp(tmpl.data());
  if (f.fd < 0)
    throw EnvironmentError("cannot write '" + printable_path(path) + "': cannot create a temporary file in '" +
                           printable_path(dir.string()) + "': " + system_reason());
  auto fail = [&](const std::string& what) {
    const std::string reason = system_reason();
    ::unlink(tmpl.c_str());
    return EnvironmentError("cannot write '" + printable_path(path) + "': " + what + ": " + reason);
  };
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(f.fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw fail("write failed");
    done += static_cast<size_t>(n);
  }
  if (::fchmod(f.fd, 0644) != 0 || ::fsync(f.fd) != 0) throw fail("flush failed");
  ::close(f.fd);
  f.fd = -1;
  if (::rename(tmpl.c_str(), path.c_str()) != 0) throw fail("rename onto the target failed");
}

bool same_file(const std::string& a, const std::string& b) {
  struct stat sa {}, sb {};
  if (::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0) return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
  return normalized(a) == normalized(b);
}

void check_output_path(const std::string& path, OutputKind kind, const std::vector<std::string>& inputs,
                       const std::string& flag) {
  if (path.empty()) throw Error(flag + ": the output path is empty");
  for (const std::string& input : inputs)
    if (!input.empty() && same_file(path, input))
      throw Error(flag + " '" + printable_path(path) + "' is an input of this command ('" + printable_path(input) +
                  "'); choose another output");
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    if (kind == OutputKind::file && !S_ISREG(st.st_mode))
      throw FileFormatError(flag + " '" + printable_path(path) + "' is " + file_type_name(st.st_mode) +
                            "; an output file must be a regular file or not exist yet");
    if (kind == OutputKind::directory && !S_ISDIR(st.st_mode))
      throw FileFormatError(flag + " '" + printable_path(path) + "' exists and is not a folder");
  }
  const fs::path target = normalized(path);
  const fs::path existing = nearest_existing(target);
  std::error_code ec;
  fs::path writable_dir = existing;
  if (!fs::is_directory(existing, ec)) {
    if (existing != target)  // e.g. --out report.md/sub: a file where a folder must be
      throw FileFormatError(flag + " '" + printable_path(path) + "': '" + printable_path(existing.string()) +
                            "' is not a folder");
    writable_dir = existing.parent_path();
  }
  if (writable_dir.empty()) writable_dir = ".";
  if (::access(writable_dir.c_str(), W_OK | X_OK) != 0)
    throw EnvironmentError(flag + " '" + printable_path(path) + "' cannot be written: folder '" +
                           printable_path(writable_dir.string()) + "': " + system_reason());
  if (kind == OutputKind::file && ::stat(path.c_str(), &st) == 0 && ::access(path.c_str(), W_OK) != 0)
    throw EnvironmentError(flag + " '" + printable_path(path) + "' cannot be written: " + system_reason());
  // access() says yes to root everywhere, and knows nothing of read-only mounts or full disks:
  // create the output folder (it is an output) or a probe file beside the output file, now.
  fs::path probe_dir = kind == OutputKind::directory ? fs::path(path) : target.parent_path();
  if (kind == OutputKind::directory) {
    fs::create_directories(probe_dir, ec);
    if (ec)
      throw EnvironmentError(flag + " '" + printable_path(path) + "' cannot be created: " + ec.message());
  }
  std::string probe = (probe_dir / ".attnscope-probe.XXXXXX").string();
  const int fd = ::mkstemp(probe.data());
  if (fd < 0)
    throw EnvironmentError(flag + " '" + printable_path(path) + "' cannot be written: folder '" +
                           printable_path(probe_dir.string()) + "': " + system_reason());
  ::close(fd);
  ::unlink(probe.c_str());
}

}  // namespace attn
