// growing-max exposes the rescale-in-FP16 mutant at every tile size the kernels use: on one
// query over 4096 cached keys and on 64 causal rows with GQA, the emulator configured like each
// kernel variant (BLOCK_M 64 or 128, BLOCK_N 16..128; the GPU mutants are m64n64) fails the
// FlashAttention rule with the mutant and passes it without, in FP16 and BF16. The same inputs
// at the base sweep's sizes (<= 365 keys) leave the mutant within the rule: the gate needs the
// long points of experiments/sweeps/default.toml.
#include <catch2/catch.hpp>

#include <cstdio>

#include "analysis/emulator.h"
#include "analysis/metrics.h"
#include "core/generators.h"
#include "references/naive_baseline.h"
#include "references/truth.h"

namespace {

struct Case {
  int64_t seqlen_q, seqlen_k, heads_q, heads_kv;
};

}  // namespace

TEST_CASE("growing-max: the rescale-fp16 mutant fails the FlashAttention rule at every BLOCK_N", "[growing-max]") {
  for (const Case& c : {Case{1, 4097, 4, 4}, Case{64, 4160, 4, 1}}) {
    for (attn::DType dtype : {attn::DType::fp16, attn::DType::bf16}) {
      attn::Problem p;
      p.seqlen_q = c.seqlen_q;
      p.seqlen_k = c.seqlen_k;
      p.num_heads_q = c.heads_q;
      p.num_heads_kv = c.heads_kv;
      p.head_dim = 64;
      p.dtype = dtype;
      const attn::AttentionInputs in = attn::generate_inputs(p, {attn::Distribution::growing_max, 0});
      const attn::Truth truth = attn::compute_truth(p, in);
      const attn::ErrorMetrics baseline =
          attn::compute_metrics(attn::naive_same_precision_attention(p, in).o, truth.o, dtype);
      for (int block_n : {16, 32, 64, 128}) {
        for (attn::Mutant mutant : {attn::Mutant::none, attn::Mutant::rescale_in_fp16}) {
          attn::EmulatorConfig config;
          config.algorithm.tiles.block_m = block_n == 128 ? 128 : 64;
          config.algorithm.tiles.block_n = block_n;
          config.algorithm.mutant = mutant;
          const attn::ErrorMetrics e = attn::compute_metrics(attn::emulate_attention(p, in, config).o, truth.o, dtype);
          const attn::FaRuleVerdict rule = attn::fa_rule(e, baseline);
          INFO(p.label() << " BLOCK_N " << block_n << " " << attn::mutant_name(mutant) << ": max_abs " << e.max_abs
                         << ", baseline " << baseline.max_abs << ", error / bound " << rule.ratio);
          std::printf("growing-max %-32s n%-3d %-14s error/bound %.3f\n", p.label().c_str(), block_n,
                      attn::mutant_name(mutant), rule.ratio);
          if (mutant == attn::Mutant::none) {
            CHECK(rule.pass);
            CHECK(rule.ratio < 0.5);  // a correct kernel keeps a margin of 2
          } else {
            CHECK_FALSE(rule.pass);
            CHECK(rule.ratio > 1.2);
          }
        }
      }
    }
  }
}

TEST_CASE("growing-max: at the base sweep's sizes the mutant stays within the rule", "[growing-max]") {
  attn::Problem p;
  p.seqlen_q = 65;
  p.seqlen_k = 365;
  p.num_heads_q = 8;
  p.num_heads_kv = 2;
  p.head_dim = 64;
  const attn::AttentionInputs in = attn::generate_inputs(p, {attn::Distribution::growing_max, 0});
  const attn::Truth truth = attn::compute_truth(p, in);
  const attn::ErrorMetrics baseline = attn::compute_metrics(attn::naive_same_precision_attention(p, in).o, truth.o, p.dtype);
  attn::EmulatorConfig config;
  config.algorithm.mutant = attn::Mutant::rescale_in_fp16;
  const attn::ErrorMetrics e = attn::compute_metrics(attn::emulate_attention(p, in, config).o, truth.o, p.dtype);
  // Six tiles of 64 keys do not accumulate enough: why the sweep has a 4096-key grid.
  CHECK(attn::fa_rule(e, baseline).pass);
}
