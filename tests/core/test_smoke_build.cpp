// Build smoke test: the core contracts link and hold on known integers.
#include <catch2/catch.hpp>

#include "core/half.h"
#include "core/mask.h"

TEST_CASE("fp16 rounding of known values") {
  using attn::Half;
  CHECK(Half(1.0).bits() == 0x3C00);
  CHECK(Half(65504.0).bits() == 0x7BFF);
  CHECK(Half(65520.0).bits() == 0x7C00);  // halfway past max rounds to inf (ties to even)
  CHECK(Half(1.0 + 1.0 / 2048).bits() == 0x3C00);  // tie to even
  CHECK(Half(5.960464477539063e-08).bits() == 0x0001);  // smallest subnormal
}

TEST_CASE("bottom-right causal mask aligns to the last key") {
  attn::Mask m{};
  CHECK(attn::key_visible(m, 0, 64, 10, 74));
  CHECK_FALSE(attn::key_visible(m, 0, 65, 10, 74));
}
