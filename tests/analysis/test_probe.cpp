// Active probing (analysis/probe.h): the card recovered in three (at most four) calls matches the
// registered traits of every CPU kernel and mutant, and the numerics of hypotheses planted as
// kernels with tiles, orders and rescale policies of their own.
#include <catch2/catch.hpp>

#include "analysis/precision_hypotheses.h"
#include "analysis/probe.h"
#include "core/errors.h"
#include "experiments/register_all.h"

namespace {

/// A precision hypothesis as a callable kernel (tensor-core products), registered nowhere.
attn::Kernel hypothesis_kernel(const attn::PrecisionHypothesis& h, attn::DType dtype) {
  attn::Kernel k;
  k.info.name = "planted " + h.describe();
  k.invalid_reason = [dtype](const attn::Problem& p) -> std::optional<std::string> {
    if (p.dtype != dtype) return std::string("other dtype");
    return std::nullopt;
  };
  k.run = [h](const attn::Problem& p, const attn::AttentionInputs& in) {
    attn::AttentionOutputs out;
    out.out_dtype = p.dtype;
    out.o = attn::run_hypothesis(p, in, h, p.dtype, /*tensor_core_products=*/true);
    return out;
  };
  return k;
}

}  // namespace

TEST_CASE("probe: the card of every registered CPU kernel and mutant matches its traits") {
  int probed = 0, fp8 = 0;
  for (const attn::Kernel* kernel : attn::all_kernels().all()) {
    if (kernel->info.needs_gpu) continue;
    // The FP8 emulator configurations quantize Q, K, V to E4M3 before the products: outside the
    // card's vocabulary (card_from_traits defines none), counted and skipped by name.
    if (kernel->info.traits.count("fp8_scaling")) {
      CHECK_FALSE(attn::card_from_traits(kernel->info));
      ++fp8;
      continue;
    }
    const std::optional<attn::ProbeCard> expected = attn::card_from_traits(kernel->info);
    INFO(kernel->info.name);
    REQUIRE(expected);  // every CPU kernel declares traits the card can be checked against
    const attn::ProbeResult r = attn::probe_kernel(*kernel);
    INFO("probed:   " << r.card.to_string() << "\nexpected: " << expected->to_string());
    CHECK(r.card == *expected);
    CHECK(r.calls >= 2);
    CHECK(r.calls <= 4);
    ++probed;
  }
  CHECK(probed >= 25);
  CHECK(fp8 == 10);  // emu.{fp16,bf16}.dany.m128n128.e4m3{,-rot,-tensor,-fma4,-fma8}
}

TEST_CASE("probe: planted numerics with their own tiles, order and rescale are recovered") {
  using attn::DType;
  SECTION("P e4m3, 128-key tiles, reverse order, fp16") {
    attn::PrecisionHypothesis h = attn::find_precision_hypothesis(DType::fp16, "P e4m3");
    h.block_n = h.accumulate_keys = 128;
    h.order = attn::KvBlockOrder::reverse;
    const attn::ProbeCard c = attn::probe_kernel(hypothesis_kernel(h, DType::fp16)).card;
    CHECK(c.p_format == "e4m3");
    CHECK(c.softmax == "online");
    CHECK(c.block_n == 128);
    CHECK(c.order == "reverse");
    CHECK(c.accumulator == "fp32");
    CHECK(c.rescale == "every tile");
    CHECK(c.mask == "bottom-right");
  }
  SECTION("fp16 MMA accumulators, 32-key tiles, lazy rescale, bf16") {
    attn::PrecisionHypothesis h = attn::find_precision_hypothesis(DType::bf16, "acc fp16/16");
    h.block_n = 32;
    h.rescale_threshold_log2 = 8;
    const attn::ProbeCard c = attn::probe_kernel(hypothesis_kernel(h, DType::bf16)).card;
    CHECK(c.accumulator == "fp16/16");
    CHECK(c.p_format == "bf16");
    CHECK(c.block_n == 32);
    CHECK(c.rescale == "lazy 8");
  }
  SECTION("PyTorch's math backend before 2.5: q and k pre-scaled, scores and softmax output fp16") {
    const attn::PrecisionHypothesis h = attn::find_precision_hypothesis(DType::fp16, "math fp16");
    const attn::ProbeResult r = attn::probe_kernel(hypothesis_kernel(h, DType::fp16));
    CHECK(r.card.softmax == "two-pass");
    CHECK(r.card.scale_fold == "q,k");
    CHECK(r.card.scores == "fp16");
    CHECK(r.card.p_format == "fp16");
    CHECK(r.calls == 2);  // no tiles to probe
  }
  SECTION("scores rounded to bf16 in an fp16 kernel") {
    const attn::PrecisionHypothesis h = attn::find_precision_hypothesis(DType::fp16, "S bf16");
    const attn::ProbeCard c = attn::probe_kernel(hypothesis_kernel(h, DType::fp16)).card;
    CHECK(c.scores == "bf16");
    CHECK(c.p_format == "fp16");
    CHECK(c.block_n == 64);
  }
}

TEST_CASE("probe: a kernel that accepts no probe problem is a named error") {
  attn::Kernel k;
  k.info.name = "picky";
  k.invalid_reason = [](const attn::Problem&) -> std::optional<std::string> { return std::string("never"); };
  k.run = [](const attn::Problem&, const attn::AttentionInputs&) -> attn::AttentionOutputs {
    FAIL("a kernel that accepts nothing must not be called");
    return {};
  };
  CHECK_THROWS_AS(attn::probe_kernel(k), attn::ProblemError);
}

TEST_CASE("probe: a kernel that takes only H_q == H_kv is probed with ungrouped heads, and the card says so") {
  // PyTorch's efficient SDPA backend declines enable_gqa ("No available kernel"); its card was
  // missing (reports/h200/fingerprint). Both ways a kernel can decline: its invalid_reason, or
  // a KernelDeclinedError when called (an [[external]] worker answering "invalid").
  using attn::DType;
  attn::PrecisionHypothesis h = attn::find_precision_hypothesis(DType::fp16, "P e5m2");
  h.block_n = h.accumulate_keys = 128;
  const attn::ProbeResult grouped = attn::probe_kernel(hypothesis_kernel(h, DType::fp16));
  REQUIRE(grouped.card.gqa == "contiguous");
  attn::ProbeCard expected = grouped.card;
  expected.gqa = "declined";
  SECTION("declared by invalid_reason: no call is wasted") {
    attn::Kernel k = hypothesis_kernel(h, DType::fp16);
    k.invalid_reason = [](const attn::Problem& p) -> std::optional<std::string> {
      if (p.dtype != DType::fp16) return std::string("other dtype");
      if (p.num_heads_q != p.num_heads_kv) return std::string("H_q != H_kv not supported");
      return std::nullopt;
    };
    const attn::ProbeResult r = attn::probe_kernel(k);
    INFO(r.card.to_string());
    CHECK(r.card == expected);
    CHECK(r.calls == grouped.calls);
    CHECK_THAT(r.notes.front(), Catch::Contains("declines H 4:2 (H_q != H_kv not supported)"));
    CHECK_THAT(r.card.to_string(), Catch::Contains("GQA declined (probed with H_q == H_kv)"));
  }
  SECTION("declined when called: one more call, with H_q == H_kv") {
    attn::Kernel k = hypothesis_kernel(h, DType::fp16);
    auto run = k.run;
    k.run = [run](const attn::Problem& p, const attn::AttentionInputs& in) {
      if (p.num_heads_q != p.num_heads_kv) throw attn::KernelDeclinedError("efficient: No available kernel.");
      return run(p, in);
    };
    const attn::ProbeResult r = attn::probe_kernel(k);
    INFO(r.card.to_string());
    CHECK(r.card == expected);
    CHECK(r.calls == grouped.calls + 1);
    CHECK_THAT(r.notes.front(), Catch::Contains("No available kernel"));
  }
  SECTION("a kernel that also declines the ungrouped call: the decline is the error") {
    attn::Kernel k = hypothesis_kernel(h, DType::fp16);
    k.run = [](const attn::Problem&, const attn::AttentionInputs&) -> attn::AttentionOutputs {
      throw attn::KernelDeclinedError("declines everything");
    };
    CHECK_THROWS_AS(attn::probe_kernel(k), attn::KernelDeclinedError);
  }
}
