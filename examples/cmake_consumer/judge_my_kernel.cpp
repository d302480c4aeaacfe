// judge_my_kernel.cpp: a C++ consumer of the installed attnscope libraries. It runs "its kernel"
// (here: FP16 attention accumulated in FP32 with core/half.h's Half, the header that used to break
// consumers) on a generated problem and judges it like attnscope judges its own: certified truth,
// FlashAttention rule against the naive baseline, semantic diagnosis. Exit 0 when it passes.
#include <cmath>
#include <cstdio>
#include <vector>

#include "core/generators.h"
#include "core/half.h"
#include "experiments/external/judgement.h"
#include "references/truth.h"

int main() {
  attn::Problem p;
  p.seqlen_q = 7;
  p.seqlen_k = 40;
  p.num_heads_q = 4;
  p.num_heads_kv = 2;
  p.head_dim = 32;
  const attn::AttentionInputs in = attn::generate_inputs(p, {});
  attn::Tensor<double> o(p.q_shape());
  for (int64_t h = 0; h < p.num_heads_q; ++h)
    for (int64_t i = 0; i < p.seqlen_q; ++i) {
      std::vector<float> score;
      float max_score = -INFINITY;
      for (int64_t j = 0; j < p.seqlen_k && p.visible(0, i, j); ++j) {
        float dot = 0;
        for (int64_t d = 0; d < p.head_dim; ++d)
          dot += static_cast<float>(in.q(0, i, h, d)) * static_cast<float>(in.k(0, j, p.kv_head(h), d));
        score.push_back(dot * static_cast<float>(p.scale()));
        max_score = std::fmax(max_score, score.back());
      }
      float sum = 0;
      std::vector<float> acc(static_cast<size_t>(p.head_dim), 0.0f);
      for (size_t j = 0; j < score.size(); ++j) {
        const float e = std::exp(score[j] - max_score);
        sum += e;
        for (int64_t d = 0; d < p.head_dim; ++d) acc[static_cast<size_t>(d)] += e * static_cast<float>(in.v(0, j, p.kv_head(h), d));
      }
      for (int64_t d = 0; d < p.head_dim; ++d) o(0, i, h, d) = attn::Half(acc[static_cast<size_t>(d)] / sum);  // round to FP16
    }
  const attn::Truth truth = attn::compute_truth(p, in);
  const auto baseline = attn::naive_baseline_output(p, in);
  const attn::Judgement j = attn::judge_output(p, in, o, attn::DType::fp16, truth, baseline.get());
  std::printf("%s: max_abs %.3g, excess %.3g, FA rule %s, verdict: %s\n", p.label().c_str(),
              j.metrics["kernel"]["max_abs"].get<double>(), j.metrics["excess"].get<double>(),
              j.metrics["fa_rule_pass"].get<bool>() ? "PASS" : "FAIL", j.verdict.c_str());
  return j.passed ? 0 : 1;
}
