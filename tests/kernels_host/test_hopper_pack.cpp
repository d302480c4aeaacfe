// test_hopper_pack.cpp: which groups the packed-GQA fa3 variants pack (kernels/hopper/
// launch_support.h gqa_pack): the group H_q / H_kv when it divides a warpgroup's 64 rows (the O
// store's box of {64 columns, group heads, 64 / group queries}) and S_q x group stays below 2^30;
// every other problem runs unpacked (1); and where the default tiles pack (gqa_packing_pays: fewer
// work tiles). Whether the packed kernel gives the unpacked bits is the GPU's [schedule] test
// (tests/gpu/test_hopper.cpp).
#include <catch2/catch.hpp>

#if defined(ATTNSCOPE_HAVE_CUDA)
#include "kernels/hopper/launch_support.h"

namespace attn::hopper {

TEST_CASE("packed GQA: the group when it divides 64 rows, else unpacked") {
  CHECK(gqa_pack(1000, 32, 8) == 4);
  CHECK(gqa_pack(1, 64, 8) == 8);
  CHECK(gqa_pack(7, 64, 1) == 64);
  CHECK(gqa_pack(300, 16, 16) == 1);   // no group
  CHECK(gqa_pack(300, 48, 8) == 1);    // group 6 does not divide 64
  CHECK(gqa_pack(300, 128, 1) == 1);   // group 128: more heads than a warpgroup's rows
  CHECK(gqa_pack(300, 12, 8) == 1);    // H_q not a multiple of H_kv (refused before any launch)
  CHECK(gqa_pack(300, 8, 0) == 1);
  CHECK(gqa_pack((int64_t{1} << 27), 16, 2) == 1);      // S_q x 8 = 2^30 rows: int row indices would not do
  CHECK(gqa_pack((int64_t{1} << 27) - 1, 16, 2) == 8);  // one query less: packed
}

TEST_CASE("packed GQA pays where the unpacked tiles would be partly empty") {
  // A 16-query chunk, group 8, 128-row tiles: 1 packed tile per KV head against 8.
  CHECK(gqa_packing_pays(16, 64, 8, 128));
  CHECK(gqa_packing_pays(1, 32, 8, 128));
  CHECK(gqa_packing_pays(300, 32, 8, 128));   // 10 against 12 tiles per KV head
  CHECK_FALSE(gqa_packing_pays(384, 32, 8, 128));   // 12 against 12: full tiles either way
  CHECK_FALSE(gqa_packing_pays(4096, 32, 8, 128));
  CHECK_FALSE(gqa_packing_pays(16, 32, 32, 128));   // no group
  CHECK_FALSE(gqa_packing_pays(16, 48, 8, 128));    // group 6: not packed
  CHECK(gqa_packing_pays(65, 32, 8, 192));          // 2 against 4
  CHECK_FALSE(gqa_packing_pays(384, 32, 8, 192));   // 8 against 8
}

}  // namespace attn::hopper
#endif
