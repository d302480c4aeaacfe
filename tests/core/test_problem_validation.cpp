// Every validation error names the problem.
#include <catch2/catch.hpp>

#include "core/errors.h"
#include "core/problem.h"
#include "core/tensor.h"

using Catch::Contains;

namespace {
attn::Problem good() {
  attn::Problem p;
  p.batch = 2;
  p.seqlen_q = 10;
  p.seqlen_k = 74;
  p.num_heads_q = 8;
  p.num_heads_kv = 2;
  p.head_dim = 64;
  return p;
}
}  // namespace

TEST_CASE("a valid problem validates, with defaults from DESIGN.md") {
  attn::Problem p = good();
  CHECK_NOTHROW(p.validate());
  CHECK(p.scale() == 0.125);  // 1/sqrt(64)
  CHECK(p.mask.kind == attn::MaskKind::causal_bottom_right);
  CHECK(p.gqa == attn::GqaMapping::contiguous);
  CHECK(p.label() == "b2.sq10.sk74.h8:2.d64.fp16.causal");
}

TEST_CASE("validation errors name the field") {
  auto fails_with = [](auto mutate, const char* text) {
    attn::Problem p = good();
    mutate(p);
    CHECK_THROWS_AS(p.validate(), attn::ProblemError);
    CHECK_THROWS_WITH(p.validate(), Contains(text));
  };
  fails_with([](attn::Problem& p) { p.batch = 0; }, "batch");
  fails_with([](attn::Problem& p) { p.seqlen_q = -1; }, "seqlen_q");
  fails_with([](attn::Problem& p) { p.seqlen_k = 0; }, "seqlen_k");
  fails_with([](attn::Problem& p) { p.num_heads_kv = 3; }, "not a multiple of num_heads_kv");
  fails_with([](attn::Problem& p) { p.head_dim = 1024; }, "head_dim");
  fails_with([](attn::Problem& p) { p.softmax_scale = -1.0; }, "softmax_scale");
  fails_with([](attn::Problem& p) { p.softmax_scale = std::numeric_limits<double>::infinity(); }, "softmax_scale");
  fails_with([](attn::Problem& p) { p.mask.window_left = 4; }, "window");
  fails_with([](attn::Problem& p) { p.seqlens_k = {1}; }, "seqlens_k has 1 entries for batch 2");
  fails_with([](attn::Problem& p) { p.seqlens_k = {5, 75}; }, "seqlens_k[1] = 75");
  fails_with([](attn::Problem& p) {
    p.batch = int64_t{1} << 40;
    p.seqlen_q = int64_t{1} << 20;
  }, "overflows 64 bits");
}

TEST_CASE("parsers name the allowed values") {
  CHECK_THROWS_WITH(attn::parse_mask("diagonal"), Contains("causal, top-left, none, window:L,R"));
  CHECK_THROWS_WITH(attn::parse_mask("window:3"), Contains("window:LEFT,RIGHT"));
  CHECK(attn::parse_mask("window:3,0").window_left == 3);
  CHECK_THROWS_WITH(attn::parse_dtype("fp8"), Contains("fp16, bf16, fp32, fp64"));
  CHECK_THROWS_WITH(attn::parse_gqa("grouped"), Contains("contiguous, interleaved"));
}

TEST_CASE("tensor sizes: negative and overflowing shapes are rejected") {
  CHECK_THROWS_WITH(attn::checked_numel({2, -1}), Contains("negative"));
  CHECK_THROWS_WITH(attn::checked_numel({int64_t{1} << 32, int64_t{1} << 32}), Contains("overflows"));
  attn::Tensor<double> t({2, 3, 4, 5});
  t(1, 2, 3, 4) = 7.0;
  CHECK(t.flat(119) == 7.0);
  CHECK(t.offset(1, 0, 0, 0) == 60);
}

// UBSan finding: a zero KV-head count reached a division (SIGFPE) through group_size() and
// kv_head() before validate() was called (a sweep's "heads = ['4:0']").
TEST_CASE("a zero or non-dividing head count never divides by zero") {
  attn::Problem p = good();
  p.num_heads_kv = 0;
  CHECK(p.group_size() == 0);
  CHECK(p.kv_head(3) == 0);
  CHECK_THROWS_WITH(p.validate(), Contains("num_heads_kv must be positive"));
  p.num_heads_kv = 16;  // H_kv > H_q: group size 0 too
  CHECK(p.group_size() == 0);
  CHECK(p.kv_head(5) == 0);
  CHECK_THROWS_WITH(attn::parse_heads("4:0"), Contains("positive"));
  CHECK_THROWS_WITH(attn::parse_heads("6:4"), Contains("not a multiple"));
  CHECK_THROWS_WITH(attn::parse_heads("8:x"), Contains("HQ:HKV"));
  CHECK(attn::parse_heads("16") == std::pair<int64_t, int64_t>{16, 16});
  CHECK(attn::parse_heads("8:2") == std::pair<int64_t, int64_t>{8, 2});
}

TEST_CASE("sizes beyond 2^48 are refused by name; the memory estimate saturates") {
  attn::Problem p = good();
  p.seqlen_k = (int64_t{1} << 48) + 1;
  CHECK_THROWS_WITH(p.validate(), Contains("seqlen_k") && Contains("2^48"));
  p.seqlen_k = int64_t{1} << 40;  // valid sizes, but 6 PiB of keys
  CHECK_NOTHROW(p.validate());
  CHECK(p.estimated_bytes() > (uint64_t{1} << 52));
  CHECK_THROWS_AS(p.require_memory_for_run(), attn::EnvironmentError);
  CHECK_THROWS_WITH(p.require_memory_for_run(), Contains("--max-memory") && Contains("PiB"));
  attn::Problem huge = good();
  huge.batch = huge.seqlen_q = huge.seqlen_k = int64_t{1} << 47;
  CHECK(huge.estimated_bytes() == UINT64_MAX);  // saturated, not wrapped
  CHECK(good().estimated_bytes() < (uint64_t{64} << 20));
}

// fuzz/fuzz_npz finding: a shape with a zero size had an element count of 0 but strides that
// overflowed int64 (signed overflow in Tensor's constructor). Such shapes are refused by name.
TEST_CASE("a zero size does not hide an overflowing product of the other sizes") {
  CHECK_THROWS_WITH(attn::checked_numel({0, 866666666666666668, 43}), Contains("overflows 64 bits"));
  CHECK_THROWS_AS(attn::Tensor<double>({0, 866666666666666668, 43}), attn::ProblemError);
  CHECK(attn::checked_numel({0, 1000000, 1000}) == 0);
  CHECK(attn::Tensor<double>({3, 0, 5}).numel() == 0);
}
