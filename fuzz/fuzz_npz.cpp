// libFuzzer harness: parse_npz (zip directory, zip64, stored and deflated members, .npy headers)
// on arbitrary bytes. A named attn::Error is the expected answer to a malformed archive.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/errors.h"
#include "core/io_npz.h"
#include "fuzz_limits.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  attn::fuzz::set_limits();
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  try {
    (void)attn::parse_npz(bytes, "fuzz.npz");
  } catch (const attn::Error&) {
  }
  try {  // the same bytes as a bare .npy member
    (void)attn::parse_npy(bytes, "fuzz.npy");
  } catch (const attn::Error&) {
  }
  return 0;
}
