// The mutant zoo over the grid of the attribution issue: S in {1, 7, 32, 63, 64, 65, 128, 1000},
// cache depths {0, 1, 300}, BLOCK_M = BLOCK_N in {16, 32, 64, 128}, GQA 1/4/8, FP16 and BF16.
// Every (S, depth) pair is run; tile size, GQA ratio and dtype rotate across the pairs so each
// value appears several times (the full product would cost minutes per CI run).
// Asserted, at every point:
//  * correct kernels pass the FlashAttention rule and are diagnosed "no semantic bug";
//  * a mutant that fails the FlashAttention rule is classified in its own category: semantic
//    mutants by diagnosis (and, at S <= 128, by attribution: "semantic" dominates), rounding
//    mutants by attribution ("rescaling" dominates) and never as a semantic bug by diagnosis;
//  * a mutant that passes the rule may still be found by diagnosis, but only in its own
//    category (diagnosis judges the few rows a tile-edge bug touches; the rule sees max_abs);
// and over the grid every mutant is caught somewhere, except rescale-fp16, which random inputs
// do not expose (tests/analysis/test_mutants_emulator.cpp catches it on constructed inputs).
#include <catch2/catch.hpp>

#include <map>

#include "analysis/metrics.h"
#include "analysis/attribution.h"
#include "analysis/diagnosis.h"
#include "analysis/emulator.h"
#include "core/generators.h"
#include "references/naive_baseline.h"
#include "references/truth.h"

namespace {

struct Point {
  int64_t seqlen_q, depth, block, group;
  attn::DType dtype;
};

std::vector<Point> grid() {
  const int64_t seqlens[] = {1, 7, 32, 63, 64, 65, 128, 1000};
  const int64_t depths[] = {0, 1, 300};
  const int64_t blocks[] = {16, 32, 64, 128};
  const int64_t groups[] = {1, 4, 8};
  std::vector<Point> points;
  int idx = 0;
  for (int64_t s : seqlens)
    for (int64_t depth : depths) {
      points.push_back({s, depth, blocks[idx % 4], groups[idx % 3], idx % 2 ? attn::DType::bf16 : attn::DType::fp16});
      ++idx;
    }
  return points;
}

}  // namespace

TEST_CASE("mutant zoo over the grid: caught, classified, no false alarms") {
  const attn::Mutant mutants[] = {attn::Mutant::top_left_in_cache_path, attn::Mutant::unmasked_tile_edges,
                                  attn::Mutant::interleaved_gqa_in_cache_path, attn::Mutant::stale_seqlens,
                                  attn::Mutant::p_cast_before_final_max, attn::Mutant::rescale_in_fp16,
                                  attn::Mutant::base2_lse_natural_combine};
  std::map<attn::Mutant, int> caught;
  int found_below_rule = 0;
  for (const Point& pt : grid()) {
    attn::Problem p;
    p.seqlen_q = pt.seqlen_q;
    p.seqlen_k = pt.seqlen_q + pt.depth;
    p.num_heads_kv = 2;  // two KV heads so that interleaved GQA reads a different head
    p.num_heads_q = 2 * pt.group;
    p.head_dim = 16;
    p.dtype = pt.dtype;
    if (pt.seqlen_q >= 1000) p.num_heads_q = 2;  // keep the largest point affordable
    const attn::AttentionInputs in = attn::generate_inputs(p, {attn::Distribution::normal, 17});
    const attn::Truth truth = attn::compute_truth(p, in);
    const double baseline =
        attn::compute_metrics(attn::naive_same_precision_attention(p, in).o, truth.o, p.dtype).max_abs;
    const double bound = attn::fa_rule(0.0, baseline, true).bound;

    for (int variant = -1; variant < static_cast<int>(std::size(mutants)); ++variant) {
      attn::AlgorithmConfig algo;
      algo.tiles.block_m = static_cast<int>(pt.block);
      algo.tiles.block_n = static_cast<int>(pt.block);
      const bool correct = variant < 0;
      if (!correct) algo.mutant = mutants[variant];
      if (algo.mutant == attn::Mutant::base2_lse_natural_combine) algo.tiles.num_splits = 4;
      attn::EmulatorConfig config;
      config.algorithm = algo;
      const attn::AttentionOutputs out = attn::emulate_attention(p, in, config);
      const double err = attn::compute_metrics(out.o, truth.o, p.dtype).max_abs;
      const bool fails_rule = !attn::fa_rule(err, baseline, true).pass;
      const attn::Diagnosis dx = attn::diagnose(p, in, out.o, p.dtype);
      const std::string category = correct ? "" : attn::mutant_category(algo.mutant);
      INFO(p.label() << " block " << pt.block << " " << (correct ? "correct" : attn::mutant_name(algo.mutant))
                     << ": max_abs " << err << " (bound " << bound << "), diagnosis " << dx.verdict << " "
                     << dx.category << " / " << dx.bug << ", declared excess " << dx.declared.excess);
      if (correct) {
        CHECK_FALSE(fails_rule);
        CHECK(dx.verdict == "no semantic bug");
        continue;
      }
      const bool semantic = category != "rescaling";
      // The planted category is the verdict, or equally consistent with the output (an input on
      // which two meanings are the same function, e.g. dropping the newest key at depth 1 equals
      // a top-left mask) and listed beside it.
      bool listed = dx.category == category;
      for (const std::string& m : dx.also_matching) listed = listed || m.rfind(category + ":", 0) == 0;
      if (!fails_rule) {
        // Below the FlashAttention rule the diagnosis may still see the bug (it judges the rows
        // a bug touches): then only in its own category, never a wrong one.
        if (dx.verdict == "semantic bug") {
          CHECK(semantic);
          CHECK(listed);
          ++found_below_rule;
        }
        continue;
      }
      ++caught[algo.mutant];
      if (semantic) {
        CHECK(dx.verdict == "semantic bug");
        CHECK(listed);
      } else {
        CHECK(dx.verdict != "semantic bug");
      }
      if (p.seqlen_q <= 128 && p.seqlen_k <= 428) {  // attribution agrees (bounded cost)
        attn::AttributionOptions options;
        options.algorithm = algo;
        const attn::AttributionResult r = attn::attribute_error(p, in, options, &truth.o);
        CHECK(attn::dominant_category(r) == (semantic ? std::string("semantic") : category));
      }
    }
  }
  INFO("semantic mutants found by diagnosis where the FlashAttention rule passed: " << found_below_rule);
  for (attn::Mutant m : mutants) {
    INFO(attn::mutant_name(m) << " caught at " << caught[m] << " grid points");
    if (m == attn::Mutant::rescale_in_fp16) continue;  // not exposed by random inputs (see header)
    CHECK(caught[m] > 0);
  }
}
