// test_incremental.cpp: the incremental cache reference equals the full-sequence reference BIT
// FOR BIT with the same scalar type (double, float, Half, BFloat16, mpfr): many shapes, ragged
// batches (different seq_lens), GQA groups 1/4/8, chunk sizes 1..S_q, causal and left windows;
// cache overflow is an error that names everything and writes nothing.
#include <boost/multiprecision/mpfr.hpp>
#include <catch2/catch.hpp>
#include <string>

#include "core/generators.h"
#include "references/full_attention.h"
#include "references/incremental_attention.h"
#include "reference_test_util.h"

namespace attn {
namespace {

using test::count_bit_differences;
using test::make_problem;

/// Rows [first, first + n) of batch entry b's tokens, per batch entry starting at starts[b].
Tensor<double> gather_tokens(const Tensor<double>& src, const std::vector<int64_t>& starts, int64_t n) {
  Tensor<double> out({src.dim(0), n, src.dim(2), src.dim(3)});
  for (int64_t b = 0; b < src.dim(0); ++b)
    for (int64_t t = 0; t < n; ++t)
      for (int64_t h = 0; h < src.dim(2); ++h)
        for (int64_t d = 0; d < src.dim(3); ++d) out(b, t, h, d) = src(b, starts[static_cast<size_t>(b)] + t, h, d);
  return out;
}

/// Runs the full reference on `p` (keys_in_batch(b) = L_b) and the incremental one: prefill
/// L_b - S_q keys, then the S_q query tokens in chunks of `chunk`. Returns the number of output
/// and lse elements whose bits differ.
template <class T>
int64_t incremental_vs_full(const Problem& p, const AttentionInputs& in, int64_t chunk) {
  const ReferenceResult<T> full = full_attention<T>(p, in);
  IncrementalAttention<T> inc(p, p.seqlen_k);
  std::vector<int64_t> prefix(static_cast<size_t>(p.batch));
  for (int64_t b = 0; b < p.batch; ++b) prefix[static_cast<size_t>(b)] = p.keys_in_batch(b) - p.seqlen_q;
  inc.prefill(in.k, in.v, prefix);
  Tensor<T> o(full.o.shape()), lse(full.lse.shape());
  for (int64_t c0 = 0; c0 < p.seqlen_q; c0 += chunk) {
    const int64_t n = std::min(chunk, p.seqlen_q - c0);
    std::vector<int64_t> q_starts(static_cast<size_t>(p.batch), c0), kv_starts = prefix;
    for (auto& s : kv_starts) s += c0;
    const ReferenceResult<T> r =
        inc.step(gather_tokens(in.q, q_starts, n), gather_tokens(in.k, kv_starts, n), gather_tokens(in.v, kv_starts, n));
    for (int64_t b = 0; b < p.batch; ++b)
      for (int64_t h = 0; h < p.num_heads_q; ++h)
        for (int64_t t = 0; t < n; ++t) {
          lse(b, h, c0 + t) = r.lse(b, h, t);
          for (int64_t d = 0; d < p.head_dim; ++d) o(b, c0 + t, h, d) = r.o(b, t, h, d);
        }
  }
  for (int64_t b = 0; b < p.batch; ++b) REQUIRE(inc.cache().seq_len(b) == p.keys_in_batch(b));
  return count_bit_differences(o, full.o) + count_bit_differences(lse, full.lse);
}

}  // namespace

TEST_CASE("incremental == full, bit for bit, over shapes, ragged batches, GQA 1/4/8 and chunks", "[incremental]") {
  struct Shape {
    int64_t batch, seqlen_q, capacity, heads_kv, group, head_dim;
    std::vector<int64_t> lengths;  // keys per batch entry (>= seqlen_q)
  };
  const std::vector<Shape> shapes = {
      {1, 1, 1, 1, 1, 8, {1}},               // a single token
      {1, 7, 7, 1, 1, 16, {7}},              // S_q == S_k: plain causal prefill
      {2, 5, 40, 2, 4, 32, {40, 9}},         // ragged, GQA 4
      {3, 9, 33, 1, 8, 16, {33, 20, 9}},     // GQA 8 (MQA), S_q == L_2
      {2, 16, 70, 2, 1, 64, {70, 16}},       // MHA, D 64
      {1, 13, 130, 4, 4, 8, {129}},          // capacity slack, S_q not a chunk multiple
  };
  const std::vector<Mask> masks = {Mask{}, Mask{MaskKind::sliding_window, 3, 0}, Mask{MaskKind::sliding_window, 0, 0}};
  int checked = 0;
  for (const Shape& s : shapes) {
    for (const Mask& mask : masks) {
      Problem p = make_problem(s.batch, s.seqlen_q, s.capacity, s.heads_kv * s.group, s.heads_kv, s.head_dim, mask);
      p.seqlens_k = s.lengths;
      const AttentionInputs in = generate_inputs(p, InputSpec{Distribution::normal, static_cast<uint64_t>(checked)});
      for (const int64_t chunk : {int64_t{1}, int64_t{3}, s.seqlen_q}) {
        INFO("problem " << p.label() << " mask " << mask_name(mask) << " chunk " << chunk);
        CHECK(incremental_vs_full<double>(p, in, chunk) == 0);
        CHECK(incremental_vs_full<float>(p, in, chunk) == 0);
        CHECK(incremental_vs_full<Half>(p, in, chunk) == 0);
        CHECK(incremental_vs_full<BFloat16>(p, in, chunk) == 0);
        ++checked;
      }
    }
  }
  CHECK(checked == 18 * 3);
}

TEST_CASE("incremental == full, bit for bit, in mpfr_float", "[incremental][mpfr]") {
  using boost::multiprecision::mpfr_float;
  mpfr_float::default_precision(30);
  Problem p = make_problem(2, 4, 11, 4, 2, 8);
  p.seqlens_k = {11, 6};
  const AttentionInputs in = generate_inputs(p, InputSpec{Distribution::outliers, 5});
  CHECK(incremental_vs_full<mpfr_float>(p, in, 1) == 0);
  CHECK(incremental_vs_full<mpfr_float>(p, in, 3) == 0);
}

TEST_CASE("incremental: masks that see future keys match full only when the chunk is everything", "[incremental]") {
  // With no mask (or a right window) the full reference sees keys the cache does not hold yet;
  // one step over the whole query block appends them all first and must match exactly.
  for (const Mask mask : {Mask{MaskKind::none}, Mask{MaskKind::sliding_window, 2, 3}}) {
    Problem p = make_problem(2, 6, 20, 4, 1, 16, mask);
    p.seqlens_k = {20, 11};
    const AttentionInputs in = generate_inputs(p, InputSpec{Distribution::normal, 11});
    CHECK(incremental_vs_full<double>(p, in, 6) == 0);
    CHECK(incremental_vs_full<double>(p, in, 1) > 0);  // token by token it must differ: a real difference
  }
}

TEST_CASE("incremental: top-left causal is refused", "[incremental]") {
  const Problem p = make_problem(1, 4, 8, 1, 1, 8, Mask{MaskKind::causal_top_left});
  CHECK_THROWS_AS(IncrementalAttention<double>(p, 8), ProblemError);
}

TEST_CASE("KV cache overflow names the entry, seq_len, append size and capacity, and writes nothing", "[cache]") {
  KvCache<double> cache(2, 8, 1, 4);
  Tensor<double> k({2, 6, 1, 4}, 1.0), v({2, 6, 1, 4}, 2.0);
  cache.append(k, v, {6, 2});
  REQUIRE(cache.seq_lens() == std::vector<int64_t>{6, 2});
  Tensor<double> k3({2, 3, 1, 4}, 5.0), v3({2, 3, 1, 4}, 7.0);
  try {
    cache.append(k3, v3);
    FAIL("no CacheOverflowError");
  } catch (const CacheOverflowError& e) {
    const std::string message = e.what();
    CHECK(message.find("batch entry 0") != std::string::npos);
    CHECK(message.find("seq_len 6") != std::string::npos);
    CHECK(message.find("appending 3") != std::string::npos);
    CHECK(message.find("capacity is 8") != std::string::npos);
  }
  // Nothing written: lengths unchanged, and batch entry 1 (which had room) untouched.
  CHECK(cache.seq_lens() == std::vector<int64_t>{6, 2});
  for (int64_t j = 2; j < 8; ++j)
    for (int64_t d = 0; d < 4; ++d) {
      CHECK(cache.key(1, j, 0)[d] == 0.0);
      CHECK(cache.value(1, j, 0)[d] == 0.0);
    }
  // Exactly filling the capacity is allowed.
  cache.append(k3, v3, {2, 3});
  CHECK(cache.seq_lens() == std::vector<int64_t>{8, 5});
  CHECK(cache.key(0, 7, 0)[0] == 5.0);
  CHECK(cache.value(1, 4, 0)[3] == 7.0);
  // Incremental step: overflow in the cache leaves it as it was.
  const Problem p = make_problem(2, 1, 8, 1, 1, 4);
  IncrementalAttention<double> inc(p, 3);
  const Tensor<double> q1({2, 1, 1, 4}, 0.5), k1({2, 1, 1, 4}, 0.25);
  for (int step = 0; step < 3; ++step) inc.step(q1, k1, k1);
  CHECK_THROWS_AS(inc.step(q1, k1, k1), CacheOverflowError);
  CHECK(inc.cache().seq_lens() == std::vector<int64_t>{3, 3});
}

TEST_CASE("KV cache: shape errors are ProblemError naming the tensor", "[cache]") {
  KvCache<float> cache(2, 8, 2, 4);
  Tensor<double> bad({2, 1, 3, 4}), good({2, 1, 2, 4});
  CHECK_THROWS_WITH(cache.append(bad, good), Catch::Contains("k has shape"));
  CHECK_THROWS_WITH(cache.append(good, good, {1}), Catch::Contains("counts"));
  CHECK_THROWS_AS(KvCache<double>(0, 8, 1, 4), ProblemError);
}

}  // namespace attn
