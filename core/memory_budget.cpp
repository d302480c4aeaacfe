#include "core/memory_budget.h"

#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <limits>

#include "core/errors.h"

namespace attn {
namespace {

constexpr uint64_t kFallbackLimit = 16ull << 30;  // when sysconf cannot tell
std::atomic<uint64_t> g_limit{0};                  // 0: not set, use the physical memory

}  // namespace

uint64_t saturating_mul(uint64_t a, uint64_t b) {
  if (a != 0 && b > std::numeric_limits<uint64_t>::max() / a) return std::numeric_limits<uint64_t>::max();
  return a * b;
}

uint64_t saturating_add(uint64_t a, uint64_t b) {
  return b > std::numeric_limits<uint64_t>::max() - a ? std::numeric_limits<uint64_t>::max() : a + b;
}

uint64_t physical_memory_bytes() {
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || page <= 0) return 0;
  return saturating_mul(static_cast<uint64_t>(pages), static_cast<uint64_t>(page));
}

uint64_t memory_limit_bytes() {
  if (const uint64_t set = g_limit.load()) return set;
  const uint64_t physical = physical_memory_bytes();
  return physical ? physical : kFallbackLimit;
}

void set_memory_limit_bytes(uint64_t bytes) { g_limit.store(bytes); }

std::string format_bytes(double bytes) {
  static const char* kUnits[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  int unit = 0;
  while (bytes >= 1024 && unit < 6) {
    bytes /= 1024;
    ++unit;
  }
  char buf[48];
  std::snprintf(buf, sizeof buf, unit == 0 ? "%.0f %s" : "%.1f %s", bytes, kUnits[unit]);
  return buf;
}

void require_memory(uint64_t bytes, const std::string& what) {
  const uint64_t limit = memory_limit_bytes();
  if (bytes <= limit) return;
  throw EnvironmentError(what + " needs about " + format_bytes(static_cast<double>(bytes)) + " (" +
                         std::to_string(bytes) + " bytes), more than the " + format_bytes(static_cast<double>(limit)) +
                         " this process may use (" + (g_limit.load() ? "--max-memory" : "the machine's memory") +
                         "; raise it with --max-memory)");
}

uint64_t parse_byte_size(const std::string& text) {
  auto bad = [&] { return Error("'" + text + "' is not a size in bytes (e.g. 1500000000, 512M, 16G, 2T)"); };
  if (text.empty()) throw bad();
  double multiplier = 1;
  std::string number = text;
  const char last = text.back();
  const std::string units = "KMGTP";
  if (const auto u = units.find(static_cast<char>(last & ~0x20)); u != std::string::npos) {
    multiplier = std::ldexp(1.0, 10 * static_cast<int>(u + 1));
    number.pop_back();
  }
  size_t used = 0;
  double value = 0;
  try {
    value = std::stod(number, &used);
  } catch (const std::exception&) {
    throw bad();
  }
  if (used != number.size() || !(value > 0) || !std::isfinite(value)) throw bad();
  const double bytes = value * multiplier;
  if (!(bytes < 1.8e19)) throw bad();
  return static_cast<uint64_t>(bytes);
}

}  // namespace attn
