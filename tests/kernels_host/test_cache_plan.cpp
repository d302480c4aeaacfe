// test_cache_plan.cpp: CPU checks of the decode path's host logic (kernels/cache/cache_plan.h):
// the append overflow check (CacheOverflowError naming the batch entry and the sizes, raised
// before anything could be written) and the split-KV planning (fixed split size independent of
// the batch around an entry; heuristic split sizes a multiple of the 64-key tile, covering every key).
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <vector>

#include "core/errors.h"
#include "kernels/cache/cache_plan.h"

namespace attn {

TEST_CASE("append overflow is refused with the entry and sizes named", "[cache]") {
  CHECK_NOTHROW(check_append_fits({0, 10, 90}, 10, 100));  // 90 + 10 == capacity exactly fits
  CHECK_NOTHROW(check_append_fits({}, 5, 0));
  try {
    check_append_fits({0, 95, 91}, 10, 100);
    FAIL("no error for an overflowing append");
  } catch (const CacheOverflowError& e) {
    const std::string msg = e.what();
    CHECK(msg.find("batch entry 1") != std::string::npos);  // the first overflowing entry
    CHECK(msg.find("95") != std::string::npos);
    CHECK(msg.find("105") != std::string::npos);
    CHECK(msg.find("capacity 100") != std::string::npos);
  }
  CHECK_THROWS_AS(check_append_fits({101}, 0, 100), CacheOverflowError);  // already past capacity
  CHECK_THROWS_AS(check_append_fits({-1}, 1, 100), CacheOverflowError);
  CHECK_THROWS_AS(check_append_fits({0}, -1, 100), CacheOverflowError);
  CHECK_THROWS_AS(check_append_fits({0}, 101, 100), CacheOverflowError);
}

TEST_CASE("fixed split plan depends only on each entry's own length", "[cache]") {
  const SplitPlan alone = plan_fixed_splits({300}, 256);
  const SplitPlan mixed = plan_fixed_splits({4096, 300, 1, 0}, 256);
  CHECK(alone.keys_per_split == 256);
  CHECK(alone.splits == std::vector<int64_t>{2});
  CHECK(mixed.splits == std::vector<int64_t>{16, 2, 1, 1});  // an empty entry still gets one (empty) split
  CHECK(mixed.max_splits == 16);
  CHECK(mixed.splits[1] == alone.splits[0]);
  CHECK_THROWS_AS(plan_fixed_splits({10}, 100), Error);  // not a multiple of the 64-key tile
  CHECK_THROWS_AS(plan_fixed_splits({10}, 0), Error);
}

TEST_CASE("heuristic split plan covers every key with tile-multiple splits", "[cache]") {
  for (int64_t longest : {1, 64, 65, 300, 4096, 65536}) {
    for (int64_t batch : {1, 8, 64}) {
      std::vector<int64_t> keys(static_cast<size_t>(batch), longest);
      keys[0] = longest / 2;
      const SplitPlan plan = plan_heuristic_splits(keys, 8, 264);
      CHECK(plan.keys_per_split % 64 == 0);
      CHECK(plan.keys_per_split > 0);
      CHECK(plan.max_splits <= 64);
      CHECK(plan.max_splits * plan.keys_per_split >= *std::max_element(keys.begin(), keys.end()));
      for (size_t b = 0; b < keys.size(); ++b) {
        CHECK(plan.splits[b] * plan.keys_per_split >= keys[b]);
        CHECK((plan.splits[b] - 1) * plan.keys_per_split < std::max<int64_t>(keys[b], 1));  // no empty trailing split
      }
    }
  }
  // Batch 1 at 4k keys: enough splits to fill the machine (264 CTAs over 8 KV heads -> 33 -> 32 splits of 128).
  CHECK(plan_heuristic_splits({4096}, 8, 264).max_splits >= 16);
}

TEST_CASE("heuristic split plan fills the last wave when the batch alone exceeds one", "[cache]") {
  // The H200's CUDA-core kernel: 396 resident CTAs (132 SMs x 3), 8 KV heads per entry.
  const std::vector<int64_t> b8(8, 65536), b64(64, 65536), b50(50, 65536), b1250(1250, 65536);
  CHECK(plan_heuristic_splits(b8, 8, 396).max_splits == 6);     // 384 CTAs, one wave (as before)
  CHECK(plan_heuristic_splits(b64, 8, 396).max_splits == 3);    // 512 units: 1 split = 65 % of 2 waves, 3 = 97 % of 4
  CHECK(plan_heuristic_splits(b50, 8, 396).max_splits == 4);    // 400 units: 1 split = 51 % of 2 waves, 4 = 81 % of 5
  CHECK(plan_heuristic_splits(b1250, 8, 396).max_splits == 1);  // 10000 units: 97 % already
  CHECK(plan_heuristic_splits(b64, 8, 0).max_splits == 1);      // no GPU seen: one split
  CHECK(plan_heuristic_splits(std::vector<int64_t>(64, 100), 8, 396).max_splits == 2);  // never more splits than tiles
}

}  // namespace attn

namespace attn {

TEST_CASE("block table checks name the bad entry, page and pool before anything is written", "[cache][paged]") {
  // 2 entries, 3 logical pages of 16 each; pool of 6 pages.
  const std::vector<int> ok = {4, 0, -1, 2, 5, 1};
  CHECK_NOTHROW(check_block_table(ok, 3, 16, 6, {20, 30}, {21, 40}));
  CHECK_NOTHROW(check_block_table(ok, 3, 16, 6, {20, 30}, {32, 48}));  // entry 0 fills logical page 1 exactly
  auto message_of = [](auto&& f) {
    try {
      f();
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  // Entry 0 growing into logical page 2 finds -1 there.
  const std::string unmapped = message_of([&] { check_block_table(ok, 3, 16, 6, {20, 30}, {33, 40}); });
  CHECK(unmapped.find("entry 0") != std::string::npos);
  CHECK(unmapped.find("logical page 2") != std::string::npos);
  CHECK(unmapped.find("-1") != std::string::npos);
  // A physical page outside the pool.
  const std::vector<int> outside = {4, 9, -1, 2, 5, 1};
  CHECK(message_of([&] { check_block_table(outside, 3, 16, 6, {20, 30}, {21, 40}); }).find("= 9 outside the pool of 6") !=
        std::string::npos);
  // A shared prefix page may be read by both entries, never written by an append.
  const std::vector<int> shared = {4, 0, -1, 4, 5, 1};
  CHECK_NOTHROW(check_block_table(shared, 3, 16, 6, {20, 30}, {21, 40}));  // appends land in pages 0 and 5
  const std::string written = message_of([&] { check_block_table(shared, 3, 16, 6, {10, 30}, {12, 40}); });
  CHECK(written.find("physical page 4") != std::string::npos);
  CHECK(written.find("entry 0") != std::string::npos);
  CHECK(written.find("entry 1") != std::string::npos);
  // Too many keys for the table, and page sizes out of range.
  CHECK_THROWS_AS(check_block_table(ok, 3, 16, 6, {20, 30}, {21, 49}), CacheOverflowError);
  CHECK_THROWS_AS(check_block_table(ok, 3, 8, 6, {0, 0}, {1, 1}), ProblemError);
  CHECK_THROWS_AS(check_block_table(ok, 3, 512, 6, {0, 0}, {1, 1}), ProblemError);
  CHECK_THROWS_AS(check_block_table({1, 2}, 3, 16, 6, {0, 0}, {1, 1}), ProblemError);  // wrong table size
}

}  // namespace attn
