// libFuzzer harness: parse_safetensors on arbitrary bytes. A named attn::Error is the expected
// answer to a malformed file; anything else (a crash, a sanitizer report, another exception, an
// allocation beyond the limit) is a finding.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/errors.h"
#include "core/io_safetensors.h"
#include "fuzz_limits.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  attn::fuzz::set_limits();
  try {
    const attn::TensorFile f = attn::parse_safetensors(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz");
    // A file that parsed round-trips through the writer and parses again.
    (void)attn::parse_safetensors(attn::serialize_safetensors(f), "fuzz-roundtrip");
  } catch (const attn::Error&) {
  }
  return 0;
}
