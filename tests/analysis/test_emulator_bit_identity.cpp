// test_emulator_bit_identity.cpp: the emulator on core/pipeline/ against the emulator as it was
// before the move (tests/analysis/legacy_emulator.*), bit for bit (O and LSE) over a grid of
// problems (masks, GQA, cache lengths, S not a tile multiple, fully masked rows), tilings,
// splits, block orders, P cast modes, lazy rescale, every mutant and every single-stage and
// all-exact precision policy. Temporary: deleted with the legacy copy once verified.
#include <catch2/catch.hpp>

#include <cstring>
#include <string>
#include <vector>

#include "analysis/emulator.h"
#include "core/generators.h"
#include "tests/analysis/legacy_emulator.h"

using namespace attn;

namespace {

bool same_bits(const Tensor<double>& a, const Tensor<double>& b) {
  if (a.shape() != b.shape()) return false;
  return std::memcmp(a.storage().data(), b.storage().data(), a.storage().size() * sizeof(double)) == 0;
}

std::vector<PrecisionPolicy> policies() {
  std::vector<PrecisionPolicy> list = {PrecisionPolicy::all_kernel(), PrecisionPolicy::all_exact()};
  for (int s = 0; s < kNumStages; ++s) {
    PrecisionPolicy p;
    p.stage[static_cast<size_t>(s)] = StagePrecision::exact;
    list.push_back(p);
    PrecisionPolicy q = PrecisionPolicy::all_exact();
    q.stage[static_cast<size_t>(s)] = StagePrecision::kernel;
    list.push_back(q);
  }
  return list;
}

}  // namespace

TEST_CASE("emulator on core/pipeline: bit-identical to the pre-pipeline emulator", "[emulator][identity]") {
  struct Shape {
    int64_t sq, sk, hq, hkv, d;
    Mask mask;
    std::vector<int64_t> seqlens;
    DType dtype;
    Distribution dist;
  };
  const std::vector<Shape> shapes = {
      {7, 300, 4, 2, 64, {MaskKind::causal_bottom_right}, {}, DType::fp16, Distribution::normal},
      {65, 65, 2, 2, 64, {MaskKind::causal_bottom_right}, {}, DType::bf16, Distribution::outliers},
      {40, 100, 4, 1, 32, {MaskKind::causal_top_left}, {}, DType::fp16, Distribution::large_logits},
      {3, 150, 4, 2, 64, {MaskKind::causal_bottom_right}, {150, 77}, DType::fp16, Distribution::sink},
      {30, 90, 2, 1, 64, {MaskKind::sliding_window, 20, 3}, {}, DType::bf16, Distribution::normal},
      {20, 10, 2, 2, 64, {MaskKind::causal_bottom_right}, {}, DType::fp16, Distribution::normal},  // masked rows
      {16, 70, 2, 2, 64, {MaskKind::none}, {}, DType::bf16, Distribution::uniform},
  };
  struct Algo {
    int bm, bn, splits;
    KvBlockOrder order;
    PCastMode pcast;
    float threshold;
  };
  const std::vector<Algo> algos = {
      {64, 64, 1, KvBlockOrder::forward, PCastMode::input_dtype, 0},
      {16, 32, 3, KvBlockOrder::forward, PCastMode::input_dtype, 0},
      {32, 16, 1, KvBlockOrder::reverse, PCastMode::split_hi_lo, 0},
      {64, 32, 2, KvBlockOrder::random, PCastMode::input_dtype, 8},
  };
  const Mutant mutants[] = {Mutant::none,          Mutant::top_left_in_cache_path, Mutant::unmasked_tile_edges,
                            Mutant::interleaved_gqa_in_cache_path, Mutant::stale_seqlens,
                            Mutant::p_cast_before_final_max, Mutant::rescale_in_fp16, Mutant::base2_lse_natural_combine};
  const std::vector<PrecisionPolicy> policy_list = policies();
  int compared = 0;
  for (size_t si = 0; si < shapes.size(); ++si) {
    const Shape& sh = shapes[si];
    Problem p;
    p.batch = sh.seqlens.empty() ? 1 : static_cast<int64_t>(sh.seqlens.size());
    p.seqlen_q = sh.sq;
    p.seqlen_k = sh.sk;
    p.num_heads_q = sh.hq;
    p.num_heads_kv = sh.hkv;
    p.head_dim = sh.d;
    p.mask = sh.mask;
    p.dtype = sh.dtype;
    p.seqlens_k = sh.seqlens;
    InputSpec spec;
    spec.distribution = sh.dist;
    spec.seed = 100 + si;
    const AttentionInputs in = generate_inputs(p, spec);
    for (size_t ai = 0; ai < algos.size(); ++ai)
      for (Mutant mutant : mutants)
        for (size_t pi = 0; pi < policy_list.size(); ++pi) {
          // Full policy sweep on the correct algorithm and the first tiling; kernel/exact otherwise.
          if ((mutant != Mutant::none || ai > 0) && pi > 1) continue;
          EmulatorConfig config;
          config.algorithm.tiles.block_m = algos[ai].bm;
          config.algorithm.tiles.block_n = algos[ai].bn;
          config.algorithm.tiles.num_splits = algos[ai].splits;
          config.algorithm.tiles.order = algos[ai].order;
          config.algorithm.tiles.order_seed = 7;
          config.algorithm.p_cast = algos[ai].pcast;
          config.algorithm.rescale_threshold_log2 = algos[ai].threshold;
          config.algorithm.mutant = mutant;
          config.policy = policy_list[pi];
          config.threads = 2;
          const AttentionOutputs now = emulate_attention(p, in, config);
          const AttentionOutputs before = legacy::emulate_attention(p, in, config);
          INFO("shape " << si << " algo " << ai << " mutant " << mutant_name(mutant) << " policy " << pi);
          CHECK(same_bits(now.o, before.o));
          CHECK(same_bits(now.lse, before.lse));
          ++compared;
        }
  }
  CHECK(compared == 7 * (16 + 3 * 2 + 7 * 4 * 2));
}
