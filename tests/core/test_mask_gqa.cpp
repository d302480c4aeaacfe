// Mask structure for both causal alignments (S_q <, =, > S_k), windows and GQA mappings, against
// closed-form counts stated independently of core/mask.h's code.
#include <catch2/catch.hpp>

#include <algorithm>
#include <limits>

#include "core/gqa.h"
#include "core/mask.h"
#include "core/problem.h"

using attn::Mask;
using attn::MaskKind;

namespace {
int64_t visible_count(const Mask& m, int64_t i, int64_t sq, int64_t sk) {
  int64_t n = 0;
  for (int64_t j = -3; j < sk + 5; ++j) n += attn::key_visible(m, i, j, sq, sk);  // out-of-range keys included
  return n;
}
}  // namespace

TEST_CASE("causal masks: visible-key counts per row, both alignments") {
  for (auto [sq, sk] : {std::pair<int64_t, int64_t>{10, 74}, {7, 7}, {74, 10}, {1, 1}, {1, 300}, {65, 64}}) {
    for (int64_t i = 0; i < sq; ++i) {
      // Bottom-right: row i sees keys 0 .. i + (sk - sq), clipped to [0, sk).
      const int64_t br = std::clamp<int64_t>(i + (sk - sq) + 1, 0, sk);
      // Top-left: row i sees keys 0 .. i, clipped.
      const int64_t tl = std::clamp<int64_t>(i + 1, 0, sk);
      CHECK(visible_count({MaskKind::causal_bottom_right}, i, sq, sk) == br);
      CHECK(visible_count({MaskKind::causal_top_left}, i, sq, sk) == tl);
      CHECK(visible_count({MaskKind::none}, i, sq, sk) == sk);
    }
  }
  // The decoding case: the last query always sees every key under bottom-right.
  CHECK(visible_count({}, 9, 10, 74) == 74);
  // Equal lengths: both alignments coincide.
  for (int64_t i = 0; i < 7; ++i)
    for (int64_t j = 0; j < 7; ++j)
      CHECK(attn::key_visible({MaskKind::causal_bottom_right}, i, j, 7, 7) ==
            attn::key_visible({MaskKind::causal_top_left}, i, j, 7, 7));
}

TEST_CASE("sliding window is a bottom-right aligned band") {
  const Mask w{MaskKind::sliding_window, 3, 0};  // 3 keys back, none ahead
  // S_q = 4, S_k = 10: row i's diagonal is i + 6; visible keys [i + 3, i + 6].
  for (int64_t i = 0; i < 4; ++i) {
    CHECK(visible_count(w, i, 4, 10) == 4);
    CHECK(attn::key_visible(w, i, i + 3, 4, 10));
    CHECK_FALSE(attn::key_visible(w, i, i + 2, 4, 10));
    CHECK_FALSE(attn::key_visible(w, i, i + 7, 4, 10));
  }
  const Mask unbounded{MaskKind::sliding_window, -1, -1};
  CHECK(visible_count(unbounded, 0, 4, 10) == 10);
}

TEST_CASE("visible_key_range is a tight superset of the visible keys") {
  const Mask masks[] = {{MaskKind::causal_bottom_right}, {MaskKind::causal_top_left}, {MaskKind::none},
                        {MaskKind::sliding_window, 5, 2}, {MaskKind::sliding_window, 0, -1}};
  for (const Mask& m : masks)
    for (auto [sq, sk] : {std::pair<int64_t, int64_t>{10, 74}, {74, 10}, {33, 33}})
      for (int64_t i = 0; i < sq; ++i) {
        const attn::KeyRange r = attn::visible_key_range(m, i, sq, sk);
        int64_t first = -1, last = -1;
        for (int64_t j = 0; j < sk; ++j)
          if (attn::key_visible(m, i, j, sq, sk)) {
            if (first < 0) first = j;
            last = j + 1;
            CHECK(j >= r.first);
            CHECK(j < r.last);
          }
        if (first >= 0) {
          CHECK(r.first == first);
          CHECK(r.last == last);
          // One interval: the Hopper kernel masks a row by [first, last) alone (mask_tile_rows).
          for (int64_t j = first; j < last; ++j) CHECK(attn::key_visible(m, i, j, sq, sk));
        } else {
          CHECK(r.first >= r.last);
        }
      }
}

TEST_CASE("GQA: contiguous groups and the interleaved alternative") {
  for (int64_t ratio : {1, 4, 8}) {
    const int64_t hkv = 2, hq = hkv * ratio;
    for (int64_t h = 0; h < hq; ++h) {
      CHECK(attn::kv_head_for(h, hq, hkv, attn::GqaMapping::contiguous) == h / ratio);
      CHECK(attn::kv_head_for(h, hq, hkv, attn::GqaMapping::interleaved) == h % hkv);
    }
  }
  // 8 query heads on 2 KV heads: heads 0-3 read KV 0 (contiguous); interleaved sends head 1 to KV 1.
  CHECK(attn::kv_head_for(1, 8, 2, attn::GqaMapping::contiguous) == 0);
  CHECK(attn::kv_head_for(1, 8, 2, attn::GqaMapping::interleaved) == 1);
}

TEST_CASE("fully masked rows are counted: S_q > S_k under bottom-right causal") {
  attn::Problem p;
  p.seqlen_q = 74;
  p.seqlen_k = 10;
  p.num_heads_q = 2;
  p.num_heads_kv = 1;
  CHECK(p.fully_masked_rows() == (74 - 10) * 2);
  CHECK_THROWS_WITH(p.require_no_fully_masked_rows(), Catch::Contains("S_q = 74 > S_k = 10") &&
                                                           Catch::Contains("first 64 rows"));
  p.mask = {MaskKind::causal_top_left};
  CHECK(p.fully_masked_rows() == 0);
}

// UBSan finding: diagonal - window_left and diagonal + window_right overflowed for windows near
// 2^63 ("window:9223372036854775807,9223372036854775807"). An unbounded-in-practice window sees
// every key inside the sequence, and the key range is clamped, never wrapped.
TEST_CASE("huge sliding windows do not overflow") {
  const int64_t big = std::numeric_limits<int64_t>::max();
  const attn::Mask wide{attn::MaskKind::sliding_window, big, big};
  const attn::Mask mask = attn::parse_mask("window:9223372036854775807,9223372036854775807");
  CHECK(mask.window_left == big);
  for (int64_t i = 0; i < 5; ++i) {
    for (int64_t j = 0; j < 9; ++j) CHECK(attn::key_visible(wide, i, j, 5, 9));
    const attn::KeyRange r = attn::visible_key_range(wide, i, 5, 9);
    CHECK(r.first == 0);
    CHECK(r.last == 9);
  }
  const attn::Mask left_only{attn::MaskKind::sliding_window, big, 0};  // causal, any distance back
  CHECK(attn::key_visible(left_only, 0, 4, 5, 9));
  CHECK_FALSE(attn::key_visible(left_only, 0, 5, 5, 9));
  CHECK(attn::visible_key_range(left_only, 0, 5, 9).last == 5);
}
