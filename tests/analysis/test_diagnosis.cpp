// Semantic diagnosis on outputs of the emulated FA2 kernel and its planted mutants: correct
// kernels are "no semantic bug", each semantic mutant is named in its own category, and
// alternatives this input cannot distinguish are reported as such.
#include <catch2/catch.hpp>

#include "analysis/diagnosis.h"
#include "analysis/emulator.h"
#include "core/generators.h"
#include "references/truth.h"

namespace {

attn::Problem cache_problem(int64_t sq, int64_t depth, int64_t hq, int64_t hkv, attn::DType dtype) {
  attn::Problem p;
  p.batch = 1;
  p.seqlen_q = sq;
  p.seqlen_k = sq + depth;
  p.num_heads_q = hq;
  p.num_heads_kv = hkv;
  p.head_dim = 32;
  p.dtype = dtype;
  return p;
}

attn::Diagnosis run_and_diagnose(const attn::Problem& p, attn::Mutant mutant, int splits = 1, uint64_t seed = 5) {
  const attn::AttentionInputs in = attn::generate_inputs(p, {attn::Distribution::normal, seed});
  attn::EmulatorConfig config;
  config.algorithm.mutant = mutant;
  config.algorithm.tiles.num_splits = splits;
  const attn::AttentionOutputs out = attn::emulate_attention(p, in, config);
  return attn::diagnose(p, in, out.o, p.dtype);
}

}  // namespace

TEST_CASE("correct emulated kernels: no semantic bug, across S, cache depth, GQA and dtype") {
  for (attn::DType dtype : {attn::DType::fp16, attn::DType::bf16})
    for (int64_t sq : {1, 7, 63, 65})
      for (int64_t depth : {0, 1, 300})
        for (auto [hq, hkv] : {std::pair<int64_t, int64_t>{2, 2}, {8, 2}}) {
          const attn::Problem p = cache_problem(sq, depth, hq, hkv, dtype);
          const attn::Diagnosis dx = run_and_diagnose(p, attn::Mutant::none);
          INFO(p.label() << ": declared excess " << dx.declared.excess);
          CHECK(dx.verdict == "no semantic bug");
          CHECK(dx.declared.excess < attn::kExcessRounding);
        }
}

TEST_CASE("the diagnosis' declared-semantics reference agrees with the certified truth") {
  const attn::Problem p = cache_problem(9, 40, 4, 2, attn::DType::fp16);
  const attn::AttentionInputs in = attn::generate_inputs(p, {attn::Distribution::normal, 3});
  const attn::Truth truth = attn::compute_truth(p, in);
  // Feed the exact truth as the "output": the declared candidate must show ~zero error.
  const attn::Diagnosis dx = attn::diagnose(p, in, truth.o, attn::DType::fp64);
  CHECK(dx.declared.error.max_abs < 1e-13);
}

TEST_CASE("semantic mutants are named in their category") {
  struct Case {
    attn::Mutant mutant;
    const char* category;
    attn::Problem problem;
    int splits;
  };
  attn::Problem leak = cache_problem(5, 60, 2, 2, attn::DType::fp16);  // S_k = 65: last tile holds 1 key
  leak.mask = attn::Mask{attn::MaskKind::none};
  const Case cases[] = {
      {attn::Mutant::top_left_in_cache_path, "masking", cache_problem(7, 300, 4, 2, attn::DType::fp16), 1},
      {attn::Mutant::interleaved_gqa_in_cache_path, "gqa", cache_problem(7, 300, 8, 2, attn::DType::fp16), 1},
      {attn::Mutant::stale_seqlens, "cache-length", cache_problem(1, 30, 4, 2, attn::DType::bf16), 1},
      {attn::Mutant::unmasked_tile_edges, "masking", leak, 1},
      {attn::Mutant::base2_lse_natural_combine, "split-combine", cache_problem(3, 600, 2, 2, attn::DType::fp16), 4},
  };
  for (const Case& c : cases) {
    const attn::Diagnosis dx = run_and_diagnose(c.problem, c.mutant, c.splits);
    INFO(attn::mutant_name(c.mutant) << " on " << c.problem.label() << ": " << dx.verdict << " / " << dx.bug
                                     << ", declared excess " << dx.declared.excess << ", best "
                                     << dx.alternatives.front().name << " " << dx.alternatives.front().excess);
    CHECK(dx.verdict == "semantic bug");
    CHECK(dx.category == c.category);
    CHECK(dx.where.find("query rows") != std::string::npos);
  }
}

TEST_CASE("S_q == S_k: top-left and bottom-right are indistinguishable, not a finding") {
  const attn::Problem p = cache_problem(16, 0, 2, 2, attn::DType::fp16);
  const attn::Diagnosis dx = run_and_diagnose(p, attn::Mutant::none);
  CHECK(dx.verdict == "no semantic bug");
  bool found = false;
  for (const auto& a : dx.alternatives)
    if (a.name.rfind("top-left", 0) == 0) found = a.indistinguishable;
  CHECK(found);
}

TEST_CASE("an output that matches nothing is an unknown bug") {
  const attn::Problem p = cache_problem(4, 20, 2, 2, attn::DType::fp16);
  const attn::AttentionInputs in = attn::generate_inputs(p, {attn::Distribution::normal, 1});
  attn::Tensor<double> o(p.q_shape(), 0.5);  // constant garbage
  const attn::Diagnosis dx = attn::diagnose(p, in, o, attn::DType::fp16);
  CHECK(dx.verdict == "unknown bug");
}

namespace attn {

TEST_CASE("a base-2 LSE combine over fixed 64-key splits (flash-decoding) is named") {
  // Decode: 1 query against 300 keys, 5 splits of 64 keys; each split's softmax exact, its LSE
  // written in base 2 and merged with natural exp — computed here independently in double.
  Problem p;
  p.seqlen_q = 1;
  p.seqlen_k = 300;
  p.num_heads_q = 4;
  p.num_heads_kv = 2;
  p.head_dim = 64;
  InputSpec spec;
  spec.seed = 21;
  const AttentionInputs in = generate_inputs(p, spec);
  Tensor<double> out(p.q_shape());
  for (int64_t h = 0; h < 4; ++h) {
    const int64_t kv = h / 2;
    std::vector<double> lse2, o_all;
    for (int64_t j0 = 0; j0 < 300; j0 += 64) {
      const int64_t j1 = std::min<int64_t>(300, j0 + 64);
      std::vector<double> s;
      double m = -INFINITY;
      for (int64_t j = j0; j < j1; ++j) {
        double dot = 0;
        for (int64_t d = 0; d < 64; ++d) dot += in.q(0, 0, h, d) * in.k(0, j, kv, d);
        s.push_back(dot * p.scale());
        m = std::max(m, s.back());
      }
      double l = 0;
      std::vector<double> o(64, 0.0);
      for (int64_t j = j0; j < j1; ++j) {
        const double e = std::exp(s[static_cast<size_t>(j - j0)] - m);
        l += e;
        for (int64_t d = 0; d < 64; ++d) o[static_cast<size_t>(d)] += e * in.v(0, j, kv, d);
      }
      for (double& x : o) x /= l;
      o_all.insert(o_all.end(), o.begin(), o.end());
      lse2.push_back((m + std::log(l)) / std::log(2.0));  // BUG: base 2 ...
    }
    const double top = *std::max_element(lse2.begin(), lse2.end());
    double total = 0;
    for (double x : lse2) total += std::exp(x - top);  // ... merged with natural exp
    for (int64_t d = 0; d < 64; ++d) {
      double acc = 0;
      for (size_t s = 0; s < lse2.size(); ++s) acc += std::exp(lse2[s] - top) / total * o_all[s * 64 + static_cast<size_t>(d)];
      out(0, 0, h, d) = round_to(DType::fp16, acc);
    }
  }
  const Diagnosis d = diagnose(p, in, out, DType::fp16);
  CHECK(d.verdict == "semantic bug");
  CHECK(d.category == "split-combine");
  bool named = d.bug.find("splits of 64 keys") != std::string::npos;
  for (const std::string& m : d.also_matching) named |= m.find("splits of 64 keys") != std::string::npos;
  CHECK(named);
}

}  // namespace attn
