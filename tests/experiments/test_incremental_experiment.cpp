// test_incremental_experiment.cpp: the incremental-vs-full experiment on the CPU (emulator
// kernels): a correct split-KV decode path is never "semantic" and its per-step difference from
// the full kernel matches an independent recomputation from the kernels' own outputs; the FP64
// references agree bit for bit; each emulator cache mutant is "semantic" at every step with the
// diagnosis naming its planted category; bad input is refused with the problem named.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>

#include "core/errors.h"
#include "core/float_format.h"
#include "experiments/incremental_experiment.h"
#include "experiments/register_all.h"

namespace attn {
namespace {

IncrementalSpec small_spec(DType dtype) {
  IncrementalSpec s;
  s.batch = 2;
  s.heads_q = 4;
  s.heads_kv = 2;
  s.head_dim = 64;
  s.dtype = dtype;
  s.prefill_tokens = 70;
  s.decode_steps = 5;
  s.inputs.seed = 11;
  const std::string dt(dtype_name(dtype));
  s.full_kernel = s.prefill_kernel = "emu.fa2." + dt + ".m64n64";
  s.decode_kernel = "emu.fa2." + dt + ".m64n64.split4";
  return s;
}

}  // namespace

TEST_CASE("incremental vs full: a correct decode path differs only by rounding", "[incremental]") {
  for (DType dtype : {DType::fp16, DType::bf16}) {
    const IncrementalSpec spec = small_spec(dtype);
    const IncrementalResult r = run_incremental_experiment(spec);
    CHECK(r.references_bit_identical);
    REQUIRE(r.paths.size() == 1);
    const PathResult& p = r.paths[0];
    REQUIRE(p.steps.size() == 5);
    CHECK(p.semantic == 0);
    CHECK(p.bit_identical + p.rounding == 5);
    CHECK(p.worst_fa_ratio <= 1.0);
    CHECK(p.max_row_ulp_diff <= 4.0);  // split-KV re-association: a few ULPs of the row scale at most
    CHECK(p.prefill.classification == "bit-identical");  // same kernel, same tiles from row 0
    CHECK(p.modelled);
    for (const StepComparison& s : p.steps) CHECK_FALSE(s.attribution.is_null());

    // Independent recomputation of step 3: run both kernels directly and count the differences.
    const Kernel& full_k = *all_kernels().find(spec.full_kernel);
    const Kernel& dec_k = *all_kernels().find(spec.decode_kernel);
    Problem full;
    full.batch = spec.batch;
    full.seqlen_q = full.seqlen_k = 75;
    full.num_heads_q = 4;
    full.num_heads_kv = 2;
    full.head_dim = 64;
    full.dtype = dtype;
    const AttentionInputs in = generate_inputs(full, spec.inputs);
    const AttentionOutputs whole = full_k.run(full, in);
    const int64_t row = 70 + 3;
    Problem step = full;
    step.seqlen_q = 1;
    step.seqlen_k = row + 1;
    AttentionInputs sin{Tensor<double>(step.q_shape()), Tensor<double>(step.kv_shape()), Tensor<double>(step.kv_shape())};
    for (int64_t b = 0; b < 2; ++b)
      for (int64_t d = 0; d < 64; ++d) {
        for (int64_t h = 0; h < 4; ++h) sin.q(b, 0, h, d) = in.q(b, row, h, d);
        for (int64_t j = 0; j <= row; ++j)
          for (int64_t h = 0; h < 2; ++h) {
            sin.k(b, j, h, d) = in.k(b, j, h, d);
            sin.v(b, j, h, d) = in.v(b, j, h, d);
          }
      }
    const AttentionOutputs inc = dec_k.run(step, sin);
    int64_t differing = 0;
    double max_abs = 0;
    for (int64_t b = 0; b < 2; ++b)
      for (int64_t h = 0; h < 4; ++h)
        for (int64_t d = 0; d < 64; ++d) {
          const double diff = std::fabs(inc.o(b, 0, h, d) - whole.o(b, row, h, d));
          differing += diff != 0;
          max_abs = std::max(max_abs, diff);
        }
    CHECK(p.steps[3].differing == differing);
    CHECK(p.steps[3].max_abs_diff == max_abs);
    CHECK(p.steps[3].keys == row + 1);
  }
}

TEST_CASE("incremental vs full: every cache mutant is semantic, diagnosed in its own category", "[incremental]") {
  IncrementalSpec spec = small_spec(DType::fp16);
  spec.decode_steps = 3;
  for (const char* m : {"stale-seqlens", "interleaved-gqa-cache", "top-left-cache", "base2-lse-combine"})
    spec.mutant_kernels.push_back(std::string("emu.mutant.") + m + ".fp16");
  const IncrementalResult r = run_incremental_experiment(spec);
  REQUIRE(r.paths.size() == 5);
  CHECK(r.paths[0].semantic == 0);
  for (size_t i = 1; i < r.paths.size(); ++i) {
    const PathResult& p = r.paths[i];
    INFO(p.decode_kernel);
    CHECK(p.semantic == 3);
    CHECK(p.worst_fa_ratio > 1.0);
    CHECK(p.max_row_ulp_diff > 100.0);
    REQUIRE_FALSE(p.causes.empty());
    for (const StepComparison& s : p.steps) CHECK(s.cause.rfind(p.planted_bug + ":", 0) == 0);
  }
}

TEST_CASE("incremental vs full: bad input names the problem", "[incremental]") {
  IncrementalSpec spec = small_spec(DType::fp16);
  spec.prefill_tokens = 0;
  CHECK_THROWS_WITH(run_incremental_experiment(spec), Catch::Contains("--prefill"));
  spec = small_spec(DType::fp16);
  spec.decode_steps = 0;
  CHECK_THROWS_WITH(run_incremental_experiment(spec), Catch::Contains("--steps"));
  spec = small_spec(DType::fp16);
  spec.decode_kernel = "no-such-kernel";
  CHECK_THROWS_WITH(run_incremental_experiment(spec), Catch::Contains("unknown decode kernel 'no-such-kernel'"));
  spec = small_spec(DType::fp16);
  spec.heads_q = 5;  // not a multiple of H_kv
  CHECK_THROWS_AS(run_incremental_experiment(spec), ProblemError);
  spec = small_spec(DType::fp16);
  spec.decode_kernel = "emu.fa2.bf16.m64n64";  // a bf16 kernel on an fp16 problem
  CHECK_THROWS_WITH(run_incremental_experiment(spec), Catch::Contains("cannot run"));
}

}  // namespace attn
