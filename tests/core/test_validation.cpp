// Input validation: NaN/Inf and impossible shapes are named, not silently used.
#include <catch2/catch.hpp>

#include <limits>

#include "core/errors.h"
#include "core/validation.h"

TEST_CASE("non-finite inputs name the tensor, the index and the count") {
  attn::Tensor<double> t({1, 2, 2, 3}, 1.0);
  t(0, 1, 0, 2) = std::numeric_limits<double>::quiet_NaN();
  t(0, 1, 1, 0) = std::numeric_limits<double>::infinity();
  CHECK_THROWS_AS(attn::require_finite(t, "k"), attn::NonFiniteError);
  CHECK_THROWS_WITH(attn::require_finite(t, "k"),
                    Catch::Contains("k has 2 non-finite") && Catch::Contains("[0, 1, 0, 2]"));
}

TEST_CASE("inputs must match the problem's shapes and dtype") {
  attn::Problem p;
  p.seqlen_q = 3;
  p.seqlen_k = 5;
  p.num_heads_q = 4;
  p.num_heads_kv = 2;
  p.head_dim = 8;
  attn::AttentionInputs in{attn::Tensor<double>(p.q_shape(), 0.5), attn::Tensor<double>(p.kv_shape(), 0.25),
                           attn::Tensor<double>(p.kv_shape(), 1.0)};
  CHECK_NOTHROW(attn::validate_inputs(p, in));
  in.v = attn::Tensor<double>({1, 5, 4, 8});
  CHECK_THROWS_WITH(attn::validate_inputs(p, in), Catch::Contains("v has shape [1, 5, 4, 8]") &&
                                                      Catch::Contains("[1, 5, 2, 8]"));
  in.v = attn::Tensor<double>(p.kv_shape(), 1.0);
  in.q.flat(5) = 0.1;  // not an fp16 value
  CHECK_THROWS_WITH(attn::validate_inputs(p, in), Catch::Contains("not representable in fp16"));
}
