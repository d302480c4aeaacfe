// test_incremental_experiment.cpp: the incremental-vs-full experiment on the CPU (emulator
// kernels): a correct split-KV decode path is never "semantic" and its per-step difference from
// the full kernel (elements, absolute, element ULP, row-scale ULP) matches an independent
// recomputation from the kernels' own outputs, one token or several per step; the FP64
// references agree bit for bit; the attributed steps are the chosen ones and their Shapley shares
// add up; each emulator cache mutant is "semantic" at every step with its planted category
// diagnosed (or equally consistent); default kernels per device; bad input is refused with the
// problem named.
#include <catch2/catch.hpp>

#include <algorithm>
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
  choose_incremental_kernels(s, /*gpu=*/false, /*mutants=*/false);
  return s;
}

/// Independent difference of one decode step: runs the full kernel on the whole problem and the
/// decode kernel on rows [first, first + rows) against keys [0, first + rows), then compares
/// element by element (no code shared with the experiment beyond the kernels and ulp_of).
struct Difference {
  int64_t differing = 0;
  double max_abs = 0, max_ulp = 0, max_row_ulp = 0;
};

Difference recompute_step(const IncrementalSpec& spec, int64_t first, int64_t rows) {
  const Kernel& full_k = *all_kernels().find(spec.full_kernel);
  const Kernel& dec_k = *all_kernels().find(spec.decode_kernel);
  const int64_t S = spec.prefill_tokens + spec.decode_steps, Hq = spec.heads_q, Hkv = spec.heads_kv, D = spec.head_dim;
  Problem full;
  full.batch = spec.batch;
  full.seqlen_q = full.seqlen_k = S;
  full.num_heads_q = Hq;
  full.num_heads_kv = Hkv;
  full.head_dim = D;
  full.dtype = spec.dtype;
  const AttentionInputs in = generate_inputs(full, spec.inputs);
  const AttentionOutputs whole = full_k.run(full, in);
  Problem step = full;
  step.seqlen_q = rows;
  step.seqlen_k = first + rows;
  AttentionInputs sin{Tensor<double>(step.q_shape()), Tensor<double>(step.kv_shape()), Tensor<double>(step.kv_shape())};
  for (int64_t b = 0; b < spec.batch; ++b)
    for (int64_t d = 0; d < D; ++d) {
      for (int64_t i = 0; i < rows; ++i)
        for (int64_t h = 0; h < Hq; ++h) sin.q(b, i, h, d) = in.q(b, first + i, h, d);
      for (int64_t j = 0; j < first + rows; ++j)
        for (int64_t h = 0; h < Hkv; ++h) {
          sin.k(b, j, h, d) = in.k(b, j, h, d);
          sin.v(b, j, h, d) = in.v(b, j, h, d);
        }
    }
  const AttentionOutputs inc = dec_k.run(step, sin);
  const FloatFormat& f = format_of(spec.dtype);
  Difference out;
  for (int64_t b = 0; b < spec.batch; ++b)
    for (int64_t i = 0; i < rows; ++i)
      for (int64_t h = 0; h < Hq; ++h) {
        double scale = 0;
        for (int64_t d = 0; d < D; ++d) scale = std::max(scale, std::fabs(whole.o(b, first + i, h, d)));
        for (int64_t d = 0; d < D; ++d) {
          const double reference = whole.o(b, first + i, h, d);
          const double diff = std::fabs(inc.o(b, i, h, d) - reference);
          if (diff == 0) continue;
          ++out.differing;
          out.max_abs = std::max(out.max_abs, diff);
          out.max_ulp = std::max(out.max_ulp, diff / ulp_of(reference, f));
          out.max_row_ulp = std::max(out.max_row_ulp, diff / ulp_of(scale, f));
        }
      }
  return out;
}

/// The Shapley shares of one attributed step (every category, "semantic" included).
double share_sum(const nlohmann::json& attribution) {
  double sum = 0;
  for (const auto& [name, v] : attribution["categories"].items()) sum += v["rmse2_share"].get<double>();
  return sum;
}

/// The planted category is the diagnosis, or one of the meanings it found equally consistent.
bool diagnosed_as(const StepComparison& s, const std::string& category) {
  if (s.cause.rfind(category + ":", 0) == 0) return true;
  return std::any_of(s.also_matching.begin(), s.also_matching.end(),
                     [&](const std::string& m) { return m.rfind(category + ":", 0) == 0; });
}

}  // namespace

TEST_CASE("incremental vs full: a correct decode path differs only by rounding", "[incremental]") {
  for (DType dtype : {DType::fp16, DType::bf16}) {
    INFO(dtype_name(dtype));
    const IncrementalSpec spec = small_spec(dtype);
    CHECK(spec.decode_kernel == "emu." + std::string(dtype_name(dtype)) + ".dany.m64n64.decode-tc12-fixed256");
    const IncrementalResult r = run_incremental_experiment(spec);
    CHECK(r.references_bit_identical);
    CHECK(r.references_max_diff == 0);
    REQUIRE(r.paths.size() == 1);
    const PathResult& p = r.paths[0];
    REQUIRE(p.steps.size() == 5);
    CHECK(p.semantic == 0);
    CHECK(p.bit_identical + p.rounding == 5);
    CHECK(p.worst_fa_ratio <= 1.0);
    CHECK(p.max_row_ulp_diff <= 4.0);  // split-KV re-association: a few ULPs of the row scale at most
    CHECK(p.prefill.classification == "bit-identical");  // same kernel, same tiles from row 0
    CHECK(p.prefill.differing == 0);
    CHECK(p.modelled);

    // Attribution on first, middle (5 / 2 = 2) and last only; shares add up to one (Shapley
    // efficiency plus v(none)), and a correct kernel has no semantic share.
    for (const StepComparison& s : p.steps) {
      INFO("step " << s.step);
      const bool chosen = s.step == 0 || s.step == 2 || s.step == 4;
      CHECK(s.attribution_status == (chosen ? "attributed" : "not selected"));
      CHECK(s.attribution.is_null() == !chosen);
      if (!chosen) continue;
      CHECK(share_sum(s.attribution) == Approx(1.0).margin(1e-9));
      CHECK(s.attribution["categories"]["semantic"]["rmse2_share"].get<double>() < 1e-6);
      CHECK(s.attribution["dominant"] != "semantic");
    }
    CHECK(p.prefill.attribution_status == "not attributed (prefill chunk)");

    // Independent recomputation of step 3 (row 73 against 74 keys).
    const Difference d = recompute_step(spec, 73, 1);
    const StepComparison& s3 = p.steps[3];
    CHECK(s3.first_row == 73);
    CHECK(s3.rows == 1);
    CHECK(s3.keys == 74);
    CHECK(s3.elements == 2 * 4 * 64);
    CHECK(s3.differing == d.differing);
    CHECK(s3.max_abs_diff == d.max_abs);
    CHECK(s3.max_ulp_diff == d.max_ulp);
    CHECK(s3.max_row_ulp_diff == d.max_row_ulp);
    CHECK(d.differing > 0);  // the decode kernels' FP32 P and natural exp: this input does show a rounding difference
    CHECK(s3.classification == "rounding");
  }
}

TEST_CASE("incremental vs full: several tokens per decode step", "[incremental]") {
  IncrementalSpec spec = small_spec(DType::fp16);
  spec.decode_steps = 7;
  spec.decode_chunk = 3;  // steps take rows 70..72, 73..75, 76
  spec.attribute_steps = "1";
  spec.mutant_kernels = {"emu.fp16.dany.m64n64.mutant-top-left-cache"};
  const IncrementalResult r = run_incremental_experiment(spec);
  REQUIRE(r.paths.size() == 2);
  const PathResult& p = r.paths[0];
  REQUIRE(p.steps.size() == 3);
  const int64_t first[] = {70, 73, 76}, rows[] = {3, 3, 1};
  for (size_t t = 0; t < 3; ++t) {
    CHECK(p.steps[t].first_row == first[t]);
    CHECK(p.steps[t].rows == rows[t]);
    CHECK(p.steps[t].keys == first[t] + rows[t]);
    CHECK(p.steps[t].elements == rows[t] * 2 * 4 * 64);
    CHECK(p.steps[t].attribution_status == (t == 1 ? "attributed" : "not selected"));
  }
  CHECK(p.semantic == 0);
  CHECK(p.worst_fa_ratio <= 1.0);
  const Difference d = recompute_step(spec, 73, 3);
  CHECK(p.steps[1].differing == d.differing);
  CHECK(p.steps[1].max_abs_diff == d.max_abs);
  CHECK(p.steps[1].max_row_ulp_diff == d.max_row_ulp);
  // A top-left mask over a 3-row chunk hides all but the first few keys: semantic, and named.
  const PathResult& m = r.paths[1];
  CHECK(m.semantic == 3);
  for (const StepComparison& s : m.steps) CHECK(diagnosed_as(s, "masking"));
}

TEST_CASE("incremental vs full: every cache mutant is semantic, diagnosed in its own category", "[incremental]") {
  for (DType dtype : {DType::fp16, DType::bf16}) {
    const std::string dt(dtype_name(dtype));
    IncrementalSpec spec = small_spec(dtype);
    spec.batch = 1;
    spec.prefill_tokens = 200;  // 4 key tiles of 64: the split-KV decode really combines 4 splits
    spec.decode_steps = 3;
    spec.attribute_steps = "last";
    choose_incremental_kernels(spec, /*gpu=*/false, /*mutants=*/true);
    REQUIRE(spec.mutant_kernels.size() == 4);
    const IncrementalResult r = run_incremental_experiment(spec);
    REQUIRE(r.paths.size() == 5);
    CHECK(r.paths[0].semantic == 0);
    CHECK(r.paths[0].planted_bug.empty());
    for (size_t i = 1; i < r.paths.size(); ++i) {
      const PathResult& p = r.paths[i];
      INFO(p.decode_kernel);
      CHECK(p.decode_kernel == spec.mutant_kernels[i - 1]);
      CHECK_FALSE(p.planted_bug.empty());
      CHECK(p.semantic == 3);
      CHECK(p.worst_fa_ratio > 1.0);
      // Far beyond the correct path's few row-scale ULPs (bf16's ULP is 8x fp16's).
      CHECK(p.max_row_ulp_diff > (dtype == DType::fp16 ? 100.0 : 12.0));
      REQUIRE_FALSE(p.causes.empty());
      for (const StepComparison& s : p.steps) {
        INFO("step " << s.step << ": " << s.cause);
        CHECK(s.verdict == "semantic bug");
        CHECK(diagnosed_as(s, p.planted_bug));
      }
      // The emulator models the mutant: its error is v(none), the semantic share.
      const StepComparison& last = p.steps.back();
      REQUIRE(last.attribution_status == "attributed");
      CHECK(last.attribution["categories"]["semantic"]["rmse2_share"].get<double>() > 0.99);
      CHECK(last.attribution["dominant"] == "semantic");
      CHECK(p.attributed == 1);
      CHECK(p.semantic_dominant == 1);
    }
    CHECK(r.paths[0].attributed == 1);
    CHECK(r.paths[0].semantic_dominant == 0);
    const StepComparison& combine = r.paths[4].steps.front();
    CHECK(r.paths[4].planted_bug == "split-combine");
    CHECK_THAT(combine.cause, Catch::Contains("4-way"));
  }
}

TEST_CASE("incremental vs full: default kernels per device, fallbacks noted", "[incremental]") {
  IncrementalSpec cpu;
  cpu.dtype = DType::bf16;
  choose_incremental_kernels(cpu, false, true);
  CHECK(cpu.full_kernel == "emu.bf16.dany.m64n64");
  CHECK(cpu.prefill_kernel == "emu.bf16.dany.m64n64");
  CHECK(cpu.decode_kernel == "emu.bf16.dany.m64n64.decode-tc12-fixed256");
  CHECK(cpu.mutant_kernels == std::vector<std::string>{"emu.bf16.dany.m64n64.decode-fixed64.mutant-stale-seqlens",
                                                       "emu.bf16.dany.m64n64.decode-fixed64.mutant-interleaved-gqa-cache",
                                                       "emu.bf16.dany.m64n64.decode-fixed64.mutant-top-left-cache",
                                                       "emu.bf16.dany.m64n64.decode-fixed64.mutant-base2-lse-combine"});
  CHECK(cpu.notes.empty());
  for (const std::string& name : cpu.mutant_kernels) CHECK(all_kernels().find(name) != nullptr);

  IncrementalSpec gpu64;
  gpu64.head_dim = 64;
  // Selected by typed metadata: the default variant of each design (kernels/variants.toml).
  const bool cuda = all_kernels().find("fa2.fp16.d64.m128n128") != nullptr;  // CUDA in the build or not
  if (!cuda) {
    CHECK_THROWS_WITH(choose_incremental_kernels(gpu64, true, true), Catch::Contains("no default fa2 kernel"));
    return;
  }
  choose_incremental_kernels(gpu64, true, true);
  CHECK(gpu64.full_kernel == "fa2.fp16.d64.m128n128");
  CHECK(gpu64.decode_kernel == "decode.fp16.d64.m64n64.mma12-split");  // the tensor-core kernel's 12-warp form
  CHECK(gpu64.mutant_kernels.empty());
  CHECK(gpu64.prefill_kernel == "chunked.fp16.d64.m128n128");
  const auto noted = [&](const std::string& prefix) {
    return std::any_of(gpu64.notes.begin(), gpu64.notes.end(), [&](const std::string& n) { return n.rfind(prefix, 0) == 0; });
  };
  CHECK(noted("mutants: no GPU decode variant plants stale-seqlens at fp16 d64"));
  CHECK_FALSE(noted("prefill:"));
  IncrementalSpec gpu128;
  gpu128.head_dim = 128;
  choose_incremental_kernels(gpu128, true, true);
  CHECK(gpu128.mutant_kernels == std::vector<std::string>{"decode.fp16.d128.m64n64.fixed64.mutant-stale-seqlens",
                                                          "decode.fp16.d128.m64n64.fixed64.mutant-interleaved-gqa-cache",
                                                          "decode.fp16.d128.m64n64.fixed64.mutant-top-left-cache",
                                                          "decode.fp16.d128.m64n64.fixed64.mutant-base2-lse-combine"});
}

TEST_CASE("incremental vs full: bad input names the problem", "[incremental]") {
  IncrementalSpec spec = small_spec(DType::fp16);
  spec.prefill_tokens = 0;
  CHECK_THROWS_WITH(run_incremental_experiment(spec), Catch::Contains("--prefill"));
  spec = small_spec(DType::fp16);
  spec.decode_steps = 0;
  CHECK_THROWS_WITH(run_incremental_experiment(spec), Catch::Contains("--steps"));
  spec = small_spec(DType::fp16);
  spec.decode_chunk = 0;
  CHECK_THROWS_WITH(run_incremental_experiment(spec), Catch::Contains("--decode-chunk"));
  spec = small_spec(DType::fp16);
  spec.attribute_steps = "first,5";  // 5 steps: indices 0..4
  CHECK_THROWS_WITH(run_incremental_experiment(spec), Catch::Contains("'5'") && Catch::Contains("0..4"));
  spec.attribute_steps = "some";
  CHECK_THROWS_AS(run_incremental_experiment(spec), ProblemError);
  spec = small_spec(DType::fp16);
  spec.decode_kernel = "emu.fp16.dany.m64n99";  // unknown: the emulator kernels are listed
  CHECK_THROWS_WITH(run_incremental_experiment(spec), Catch::Contains("unknown decode kernel 'emu.fp16.dany.m64n99'") &&
                                                          Catch::Contains("registered emu.*:") &&
                                                          Catch::Contains("emu.fp16.dany.m64n64.split4"));
  spec.decode_kernel = "nosuchkind";  // no kernel of that kind: the kinds are listed
  CHECK_THROWS_WITH(run_incremental_experiment(spec), Catch::Contains("kinds registered:") && Catch::Contains("emu.*"));
  spec = small_spec(DType::fp16);
  spec.heads_q = 5;  // not a multiple of H_kv
  CHECK_THROWS_AS(run_incremental_experiment(spec), ProblemError);
  spec = small_spec(DType::fp16);
  spec.decode_kernel = "emu.bf16.dany.m64n64";  // a bf16 kernel on an fp16 problem
  CHECK_THROWS_WITH(run_incremental_experiment(spec), Catch::Contains("decode kernel emu.bf16.dany.m64n64 cannot run"));
}

TEST_CASE("incremental vs full: JSON carries every step", "[incremental]") {
  IncrementalSpec spec = small_spec(DType::fp16);
  spec.decode_steps = 2;
  spec.attribute_steps = "none";
  const IncrementalResult r = run_incremental_experiment(spec);
  const nlohmann::json j = to_json(r);
  CHECK(j["references_bit_identical"] == true);
  CHECK(j["spec"]["decode_chunk"] == 1);
  CHECK(j["spec"]["attribute_steps"] == "none");
  REQUIRE(j["paths"].size() == 1);
  REQUIRE(j["paths"][0]["steps"].size() == 2);
  for (size_t t = 0; t < 2; ++t) {
    const nlohmann::json& s = j["paths"][0]["steps"][t];
    CHECK(s["classification"] == r.paths[0].steps[t].classification);
    CHECK(s["max_row_ulp_diff"].get<double>() == r.paths[0].steps[t].max_row_ulp_diff);
    CHECK(s["first_row"] == 70 + static_cast<int64_t>(t));
    CHECK(s["attribution"].is_null());
    CHECK(s["attribution_status"] == "not selected");
  }
}

}  // namespace attn
