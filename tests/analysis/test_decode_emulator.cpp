// test_decode_emulator.cpp: the CPU model of the decode kernels (analysis/decode_emulator.h).
//  - every stage "kernel": bit for bit against an independent float model of the contract
//    written here with plain loops (FP32 fma chains, the warp butterflies as explicit arrays, the
//    combine in the kernel's order), over S_q 1/4/16, GQA 1/4/8, D 64/128, ragged batches,
//    causal masks, count / fixed / heuristic split plans, fma_halves and mma scores, FP16/BF16;
//  - every stage exact: the FP64 reference (references/fp64_attention.h) to ~1e-12;
//  - the FlashAttention rule against the truth, and an excess near 1 (FP32 scores and P);
//  - the split plan is the kernels' (kernels/cache/cache_plan.h) for the heuristic and counts;
//  - batch invariance of the fixed plan; the registered configurations and mutants; attribution
//    on a decode configuration (p_cast has no share: there is no P cast); bad configurations;
//  - the tensor-core kernel's contract (steps 3b, 3c: warp streams, P hi + lo, the streams'
//    merge): bit for bit a plain float model, all-exact = FP64, the rule and an excess < 1.01 on
//    normal / outlier / large-logit / sink inputs, poisoned rows past the fill unread, mutants caught.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

#include "analysis/attribution.h"
#include "analysis/decode_emulator.h"
#include "analysis/metrics.h"
#include "analysis/order_sensitivity.h"
#include "analysis/tensor_core_model.h"
#include "core/generators.h"
#include "core/pipeline/fp32_elementary.h"
#include "experiments/register_all.h"
#include "kernels/cache/cache_plan.h"
#include "references/fp64_attention.h"

using namespace attn;

namespace {

using attn::pipeline::exp_fp32;
using attn::pipeline::log_fp32;
constexpr float kNegInfF = -std::numeric_limits<float>::infinity();

/// The 32-lane xor butterfly of a warp_sum, written out.
float warp_butterfly(std::vector<float> v) {
  for (int o = 16; o >= 1; o /= 2) {
    std::vector<float> next(32);
    for (int i = 0; i < 32; ++i) next[static_cast<size_t>(i)] = v[static_cast<size_t>(i)] + v[static_cast<size_t>(i ^ o)];
    v = next;
  }
  return v[0];
}

/// The quad butterfly of the tensor-core kernel's row sums (offset 2, then 1), written out.
float quad_butterfly(const float (&v)[4]) {
  float b[4], c[4];
  for (int i = 0; i < 4; ++i) b[i] = v[i] + v[i ^ 2];
  for (int i = 0; i < 4; ++i) c[i] = b[i] + b[i ^ 1];
  return c[0];
}

/// The decode contract in plain float code, independent of core/pipeline (except exp_fp32 /
/// log_fp32, tested in tests/core). kps: keys per split; tc_kernel: the tensor-core kernel's
/// per-split steps (3b, 3c: 4 warp streams of 32-key tiles, P hi + lo, the streams' merge).
AttentionOutputs model_decode(const Problem& p, const AttentionInputs& in, int64_t kps, bool mma, int tc_streams = 0) {
  // tc_streams > 0: the tensor-core kernel's contract, that many warp streams of TK-key tiles (4: 32 keys; 12: 16).
  const bool tc_kernel = tc_streams > 0;
  const int W = tc_kernel ? tc_streams : 1, TK = tc_streams == 4 ? 32 : 16;
  AttentionOutputs out;
  out.o = Tensor<double>(p.q_shape());
  out.lse = Tensor<double>(p.lse_shape());
  const int64_t D = p.head_dim;
  const float scale_f = static_cast<float>(p.scale());
  TensorCoreModel tc = TensorCoreModel::h100();
  tc.input_min_exponent = format_of(p.dtype).emin;
  for (int64_t b = 0; b < p.batch; ++b)
    for (int64_t h = 0; h < p.num_heads_q; ++h)
      for (int64_t i = 0; i < p.seqlen_q; ++i) {
        const int64_t kh = p.kv_head(h), L = p.keys_in_batch(b);
        const int64_t splits = L > 0 ? (L + kps - 1) / kps : 1;
        std::vector<std::vector<float>> part(static_cast<size_t>(splits), std::vector<float>(static_cast<size_t>(D)));
        std::vector<float> part_lse(static_cast<size_t>(splits));
        auto mma_score = [&](int64_t j) {
          std::vector<double> q(static_cast<size_t>(D)), k(static_cast<size_t>(D));
          for (int64_t d = 0; d < D; ++d) {
            q[static_cast<size_t>(d)] = in.q(b, i, h, d);
            k[static_cast<size_t>(d)] = in.k(b, j, kh, d);
          }
          return static_cast<float>(tc_dot(q.data(), k.data(), static_cast<int>(D), 0.0, tc)) * scale_f;
        };
        for (int64_t s = 0; s < splits && tc_kernel; ++s) {
          const int64_t begin = std::min(s * kps, L), end = std::min(begin + kps, L), tiles = (end - begin + TK - 1) / TK;
          std::vector<std::vector<float>> stream_o(static_cast<size_t>(W), std::vector<float>(static_cast<size_t>(D)));
          std::vector<float> stream_lse(static_cast<size_t>(W));
          for (int64_t w = 0; w < W; ++w) {
            float m = kNegInfF, l = 0.f;
            std::vector<float> acc(static_cast<size_t>(D), 0.f);
            for (int64_t t = w * tiles / W; t < (w + 1) * tiles / W; ++t) {
              const int64_t t0 = begin + TK * t;
              float score[32], pr[32];
              for (int jj = 0; jj < TK; ++jj) {
                const int64_t j = t0 + jj;
                score[jj] = j < end && p.visible(b, i, j) ? mma_score(j) : kNegInfF;
              }
              float tile_max = kNegInfF;
              for (int jj = 0; jj < TK; ++jj) tile_max = std::max(tile_max, score[jj]);
              const float m_new = std::max(m, tile_max), m_sub = m_new == kNegInfF ? 0.f : m_new;
              const float alpha = m == kNegInfF ? 0.f : exp_fp32(m - m_sub);
              for (int jj = 0; jj < TK; ++jj) pr[jj] = score[jj] == kNegInfF ? 0.f : exp_fp32(score[jj] - m_sub);
              float lanes[4];
              for (int lane = 0; lane < 4; ++lane) {
                float sum = 0.f;
                for (int nt = 0; nt < TK / 8; ++nt)
                  for (int c = 0; c < 2; ++c) sum = sum + pr[nt * 8 + 2 * lane + c];
                lanes[lane] = sum;
              }
              l = std::fmaf(l, alpha, quad_butterfly(lanes));
              m = m_new;
              double hi[32], lo[32], v[32];
              for (int jj = 0; jj < TK; ++jj) {
                hi[jj] = round_to(p.dtype, pr[jj]);
                lo[jj] = round_to(p.dtype, pr[jj] - static_cast<float>(hi[jj]));
              }
              for (int64_t d = 0; d < D; ++d) {
                for (int jj = 0; jj < TK; ++jj) v[jj] = t0 + jj < L ? in.v(b, t0 + jj, kh, d) : 0.0;  // zero-filled past L
                double c = 0.0;
                for (int k0 = 0; k0 < TK; k0 += 16) {
                  c = tc_group_fma(hi + k0, v + k0, 16, c, tc);
                  c = tc_group_fma(lo + k0, v + k0, 16, c, tc);
                }
                acc[static_cast<size_t>(d)] = std::fmaf(acc[static_cast<size_t>(d)], alpha, static_cast<float>(c));
              }
            }
            for (int64_t d = 0; d < D; ++d) stream_o[static_cast<size_t>(w)][static_cast<size_t>(d)] = l > 0 ? acc[static_cast<size_t>(d)] / l : 0.f;
            stream_lse[w] = l > 0 ? m + log_fp32(l) : kNegInfF;
          }
          // The merge of the W streams, warp order (weights against the max, divided by their sum).
          float top = kNegInfF, w_sum = 0.f;
          for (float x : stream_lse) top = std::max(top, x);
          std::vector<float> o(static_cast<size_t>(D), 0.f);
          for (int w = 0; w < W && top != kNegInfF; ++w) {
            if (stream_lse[w] == kNegInfF) continue;
            const float wt = exp_fp32(stream_lse[w] - top);
            w_sum = w_sum + wt;
            for (int64_t d = 0; d < D; ++d)
              o[static_cast<size_t>(d)] = std::fmaf(wt, stream_o[static_cast<size_t>(w)][static_cast<size_t>(d)], o[static_cast<size_t>(d)]);
          }
          for (int64_t d = 0; d < D; ++d) o[static_cast<size_t>(d)] = w_sum > 0 ? o[static_cast<size_t>(d)] / w_sum : 0.f;
          part[static_cast<size_t>(s)] = o;
          part_lse[static_cast<size_t>(s)] = w_sum > 0 ? top + log_fp32(w_sum) : kNegInfF;
        }
        for (int64_t s = 0; s < splits && !tc_kernel; ++s) {
          const int64_t begin = std::min(s * kps, L), end = std::min(begin + kps, L);
          float m = kNegInfF, l = 0.f;
          std::vector<float> acc(static_cast<size_t>(D), 0.f);
          for (int64_t t0 = begin; t0 < end; t0 += 64) {
            float score[64], pr[64];
            for (int jj = 0; jj < 64; ++jj) {
              const int64_t j = t0 + jj;
              score[jj] = kNegInfF;
              if (j >= end || !p.visible(b, i, j)) continue;
              if (mma) {
                score[jj] = mma_score(j);
              } else {
                float c[2] = {0.f, 0.f};
                for (int half = 0; half < 2; ++half)
                  for (int64_t d = half * D / 2; d < (half + 1) * D / 2; ++d)
                    c[half] = std::fmaf(static_cast<float>(in.q(b, i, h, d)), static_cast<float>(in.k(b, j, kh, d)), c[half]);
                score[jj] = (c[0] + c[1]) * scale_f;
              }
            }
            float tile_max = kNegInfF;
            for (float x : score) tile_max = std::max(tile_max, x);
            const float m_new = std::max(m, tile_max), m_sub = m_new == kNegInfF ? 0.f : m_new;
            const float alpha = m == kNegInfF ? 0.f : exp_fp32(m - m_sub);
            for (int jj = 0; jj < 64; ++jj) pr[jj] = score[jj] == kNegInfF ? 0.f : exp_fp32(score[jj] - m_sub);
            std::vector<float> lanes(32);
            for (int lane = 0; lane < 32; ++lane) lanes[static_cast<size_t>(lane)] = pr[lane] + pr[lane + 32];
            l = std::fmaf(l, alpha, warp_butterfly(lanes));
            m = m_new;
            for (int64_t d = 0; d < D; ++d) {
              float c[2] = {0.f, 0.f};
              for (int g = 0; g < 8; ++g)
                for (int half = 0; half < 2; ++half)
                  for (int jj = 0; jj < 4; ++jj) {
                    const int k = 8 * g + 4 * half + jj;
                    const float v = t0 + k < L ? static_cast<float>(in.v(b, t0 + k, kh, d)) : 0.f;  // zero-filled past L
                    c[half] = std::fmaf(pr[k], v, c[half]);
                  }
              acc[static_cast<size_t>(d)] = std::fmaf(acc[static_cast<size_t>(d)], alpha, c[0] + c[1]);
            }
          }
          for (int64_t d = 0; d < D; ++d) part[static_cast<size_t>(s)][static_cast<size_t>(d)] = l > 0 ? acc[static_cast<size_t>(d)] / l : 0.f;
          part_lse[static_cast<size_t>(s)] = l > 0 ? m + log_fp32(l) : kNegInfF;
        }
        std::vector<float> o(static_cast<size_t>(D), 0.f);
        float lse = part_lse[0];
        if (splits == 1) {
          o = part[0];
        } else {
          float top = kNegInfF;
          for (float x : part_lse) top = std::max(top, x);
          float w_sum = 0.f;
          if (top != kNegInfF) {
            std::vector<float> lanes(32, 0.f);
            for (int64_t s = 0; s < splits; ++s) lanes[static_cast<size_t>(s % 32)] += exp_fp32(part_lse[static_cast<size_t>(s)] - top);
            w_sum = warp_butterfly(lanes);
            for (int64_t d = 0; d < D; ++d) {
              float a = 0.f;
              for (int64_t s = 0; s < splits; ++s)
                a = std::fmaf(exp_fp32(part_lse[static_cast<size_t>(s)] - top), part[static_cast<size_t>(s)][static_cast<size_t>(d)], a);
              o[static_cast<size_t>(d)] = a / w_sum;
            }
          }
          lse = w_sum > 0 ? top + log_fp32(w_sum) : kNegInfF;
        }
        for (int64_t d = 0; d < D; ++d) out.o(b, i, h, d) = round_to(p.dtype, o[static_cast<size_t>(d)]);
        out.lse(b, h, i) = lse;
      }
  return out;
}

/// A decode problem: B entries of ragged fills (capacity = the longest + 3), S_q new queries each.
Problem decode_problem(DType dtype, int64_t d, int64_t sq, int64_t group, std::vector<int64_t> fills, int64_t heads_kv = 2) {
  Problem p;
  p.batch = static_cast<int64_t>(fills.size());
  p.seqlen_q = sq;
  p.num_heads_kv = heads_kv;
  p.num_heads_q = heads_kv * group;
  p.head_dim = d;
  p.dtype = dtype;
  p.seqlens_k = fills;
  p.seqlen_k = *std::max_element(fills.begin(), fills.end()) + 3;
  return p;
}

int64_t bits_differing(const Tensor<double>& a, const Tensor<double>& b) {
  int64_t n = 0;
  for (int64_t e = 0; e < a.numel(); ++e) {
    const double x = a.flat(e), y = b.flat(e);
    n += std::memcmp(&x, &y, sizeof x) != 0;
  }
  return n;
}

double max_abs_diff(const Tensor<double>& a, const Tensor<double>& b) {
  double worst = 0;
  for (int64_t e = 0; e < a.numel(); ++e) worst = std::max(worst, std::fabs(a.flat(e) - b.flat(e)));
  return worst;
}

AttentionOutputs emulate(const Problem& p, const AttentionInputs& in, const AlgorithmConfig& a,
                         PrecisionPolicy policy = PrecisionPolicy::all_kernel()) {
  EmulatorConfig c;
  c.algorithm = a;
  c.policy = policy;
  return emulate_attention(p, in, c);
}

}  // namespace

TEST_CASE("decode emulator, every stage kernel: bit for bit the contract's plain float model", "[decode_emulator]") {
  // tc: the tensor-core kernel's steps 3b, 3c (warp streams of 32-key tiles, P hi + lo, their
  // merge): fills not multiples of the warp tile nor of the 64-key split unit, splits with fewer
  // tiles than streams (empty warps), causal rows.
  struct Case { int64_t d, sq, group; std::vector<int64_t> fills; SplitPlanKind plan; int knob; DecodeQk qk; int tc_streams = 0; };
  const std::vector<Case> cases = {
      {128, 1, 4, {300, 5, 1000}, SplitPlanKind::fixed_keys, 256, DecodeQk::fma_halves},
      {64, 4, 1, {129, 64, 700}, SplitPlanKind::count, 3, DecodeQk::fma_halves},
      {128, 16, 8, {200, 17}, SplitPlanKind::fixed_keys, 64, DecodeQk::fma_halves},
      {64, 1, 8, {2000, 1}, SplitPlanKind::count, 16, DecodeQk::fma_halves},
      {128, 4, 4, {450, 301, 1}, SplitPlanKind::heuristic, 40, DecodeQk::fma_halves},
      {128, 1, 4, {300, 5, 1000}, SplitPlanKind::fixed_keys, 256, DecodeQk::mma},
      {64, 16, 1, {90, 700}, SplitPlanKind::count, 2, DecodeQk::mma},
      {128, 1, 4, {300, 5, 1000}, SplitPlanKind::fixed_keys, 256, DecodeQk::mma, 4},
      {64, 4, 4, {129, 64, 700}, SplitPlanKind::count, 3, DecodeQk::mma, 4},
      {128, 16, 1, {200, 17}, SplitPlanKind::fixed_keys, 64, DecodeQk::mma, 4},
      {64, 1, 8, {2000, 1}, SplitPlanKind::count, 16, DecodeQk::mma, 4},
      {128, 2, 8, {450, 301, 1}, SplitPlanKind::heuristic, 40, DecodeQk::mma, 4},
      {64, 1, 16, {97}, SplitPlanKind::count, 1, DecodeQk::mma, 4},
      // The registered 12-warp form (8-row blocks, 16-key tiles): short and ragged splits.
      {128, 1, 4, {300, 5, 1000}, SplitPlanKind::fixed_keys, 256, DecodeQk::mma, 12},
      {64, 4, 4, {129, 64, 700}, SplitPlanKind::count, 3, DecodeQk::mma, 12},
      {128, 16, 1, {200, 17}, SplitPlanKind::fixed_keys, 64, DecodeQk::mma, 12},
      {64, 1, 8, {2000, 1}, SplitPlanKind::count, 16, DecodeQk::mma, 12},
      {128, 2, 8, {450, 301, 1}, SplitPlanKind::heuristic, 40, DecodeQk::mma, 12},
  };
  int64_t compared = 0;
  for (DType dtype : {DType::fp16, DType::bf16})
    for (const Case& c : cases) {
      const Problem p = decode_problem(dtype, c.d, c.sq, c.group, c.fills);
      InputSpec spec;
      spec.distribution = c.sq == 4 ? Distribution::outliers : Distribution::normal;
      spec.seed = static_cast<uint64_t>(c.d + 7 * c.sq + 31 * c.group);
      const AttentionInputs in = generate_inputs(p, spec);
      const AlgorithmConfig a = c.tc_streams ? decode_tensor_core_algorithm(c.plan, c.knob, c.tc_streams) : decode_algorithm(c.plan, c.knob, c.qk);
      REQUIRE_FALSE(emulator_invalid_reason(p, a).has_value());
      const int64_t kps = decode_keys_per_split(p, a);
      const AttentionOutputs emu = emulate(p, in, a), model = model_decode(p, in, kps, c.qk == DecodeQk::mma, c.tc_streams);
      INFO(p.label() << " " << a.describe() << " keys/split " << kps);
      CHECK(bits_differing(emu.o, model.o) == 0);
      CHECK(bits_differing(emu.lse, model.lse) == 0);
      compared += emu.o.numel();
    }
  CHECK(compared > 100'000);
}

TEST_CASE("decode emulator, every stage exact: the FP64 reference", "[decode_emulator]") {
  for (DType dtype : {DType::fp16, DType::bf16}) {
    const Problem p = decode_problem(dtype, 64, 4, 4, {700, 3, 130});
    const AttentionInputs in = generate_inputs(p, InputSpec{});
    const Tensor<double> plain = fp64_attention(p, in).o;
    double scale = 0;
    for (int64_t e = 0; e < plain.numel(); ++e) scale = std::max(scale, std::fabs(plain.flat(e)));
    for (int splits : {1, 5})
      for (const AlgorithmConfig& a :  // the CUDA-core contract and the tensor-core kernel's (streams, P hi + lo)
           {decode_algorithm(SplitPlanKind::count, splits), decode_tensor_core_algorithm(SplitPlanKind::count, splits, 4),
            decode_tensor_core_algorithm(SplitPlanKind::count, splits, 12)})
        CHECK(max_abs_diff(emulate(p, in, a, PrecisionPolicy::all_exact()).o, plain) <= 1e-12 * scale);
  }
}

TEST_CASE("decode emulator: within the FlashAttention rule, error near the rounding floor", "[decode_emulator]") {
  const Registry& registry = all_kernels();
  for (DType dtype : {DType::fp16, DType::bf16}) {
    const Problem p = decode_problem(dtype, 128, 1, 8, {4096, 1000});
    InputSpec spec;
    spec.distribution = Distribution::outliers;
    const AttentionInputs in = generate_inputs(p, spec);
    const Tensor<double> truth = fp64_attention(p, in).o;
    const AttentionOutputs base = registry.get(dtype == DType::fp16 ? "naive-fp16" : "naive-bf16").run(p, in);
    const AttentionOutputs emu = emulate(p, in, decode_algorithm(SplitPlanKind::fixed_keys, 256));
    const double error = max_abs_diff(emu.o, truth), baseline = max_abs_diff(base.o, truth);
    // The rounding floor: the truth rounded to the dtype.
    double floor_sq = 0, kernel_sq = 0;
    for (int64_t e = 0; e < truth.numel(); ++e) {
      floor_sq += std::pow(round_to(dtype, truth.flat(e)) - truth.flat(e), 2);
      kernel_sq += std::pow(emu.o.flat(e) - truth.flat(e), 2);
    }
    INFO(dtype_name(dtype) << " error " << error << " baseline " << baseline << " excess " << std::sqrt(kernel_sq / floor_sq));
    CHECK(fa_rule(error, baseline, std::isfinite(error)).pass);
    CHECK(std::sqrt(kernel_sq / floor_sq) < 1.02);  // FP32 scores and P: output rounding is the error
  }
}

TEST_CASE("decode split plans are the kernels' own (kernels/cache/cache_plan.h)", "[decode_emulator]") {
  for (const std::vector<int64_t>& fills : {std::vector<int64_t>{4096}, {300, 5, 1000}, {1, 1}, {131072, 70000}}) {
    const Problem p = decode_problem(DType::fp16, 128, 1, 4, fills, 8);
    std::vector<int64_t> lens = fills;
    for (int64_t target : {1, 40, 264, 396, 100000}) {
      AlgorithmConfig a = decode_algorithm(SplitPlanKind::heuristic, static_cast<int>(target));
      CHECK(decode_keys_per_split(p, a) == plan_heuristic_splits(lens, 8, target).keys_per_split);
    }
    for (int splits : {1, 2, 3, 16, 64})
      CHECK(decode_keys_per_split(p, decode_algorithm(SplitPlanKind::count, splits)) == plan_count_splits(lens, splits).keys_per_split);
    CHECK(decode_keys_per_split(p, decode_algorithm(SplitPlanKind::fixed_keys, 256)) == 256);
  }
}

TEST_CASE("decode emulator: a fixed split is batch-invariant, a count plan over the longest entry is not", "[decode_emulator]") {
  const Problem p = decode_problem(DType::fp16, 64, 2, 4, {700, 3000, 64});
  const AttentionInputs in = generate_inputs(p, InputSpec{});
  CHECK(check_batch_invariance(p, in, decode_algorithm(SplitPlanKind::fixed_keys, 128), TensorCoreModel::h100(), 0).empty());
  // Entry 0 alone has 700 keys: 4 splits of 192 instead of 4 of 768 over the 3000-key entry.
  CHECK_FALSE(check_batch_invariance(p, in, decode_algorithm(SplitPlanKind::count, 4), TensorCoreModel::h100(), 0).empty());
}

TEST_CASE("registered decode emulator configurations and mutants", "[decode_emulator]") {
  const Registry& registry = all_kernels();
  for (DType dtype : {DType::fp16, DType::bf16}) {
    const std::string dt(dtype_name(dtype));
    // The decode default models the production GPU kernel: the 12-warp tensor-core contract.
    const Kernel& k = registry.get("emu." + dt + ".dany.m64n64.decode-tc12-fixed256");
    CHECK(k.info.path == KernelPath::decode);
    CHECK(k.info.is_default);
    REQUIRE(k.info.algorithm.has_value());
    CHECK(k.info.algorithm->numerics == KernelNumerics::flash_decoding);
    const Problem p = decode_problem(dtype, 64, 4, 4, {300, 40});
    InputSpec spec;
    spec.seed = 9;
    const AttentionInputs in = generate_inputs(p, spec);
    CHECK(bits_differing(k.run(p, in).o, model_decode(p, in, 256, true, 12).o) == 0);
    CHECK(bits_differing(registry.get("emu." + dt + ".dany.m64n64.decode-fixed256").run(p, in).o, model_decode(p, in, 256, false).o) == 0);
    const Tensor<double> truth = fp64_attention(p, in).o;
    const double baseline = max_abs_diff(registry.get("naive-" + dt).run(p, in).o, truth);
    const auto mutants = registry.select({.design = "emu", .dtype = dtype, .path = KernelPath::decode});
    int planted = 0;
    for (const Kernel* m : mutants) {
      if (m->info.mutant == Mutant::none) continue;
      ++planted;
      const double error = max_abs_diff(m->run(p, in).o, truth);
      INFO(m->info.name << " error " << error << " baseline " << baseline);
      CHECK(!fa_rule(error, baseline, std::isfinite(error)).pass);  // every cache mutant is caught
    }
    CHECK(planted == 4);
  }
}

TEST_CASE("attribution of a decode configuration", "[decode_emulator][attribution]") {
  const Problem p = decode_problem(DType::fp16, 64, 1, 4, {2000}, 1);
  InputSpec spec;
  spec.distribution = Distribution::outliers;
  const AttentionInputs in = generate_inputs(p, spec);
  AttributionOptions options;
  options.algorithm = decode_algorithm(SplitPlanKind::count, 4);
  const AttributionResult r = attribute_error(p, in, options);
  double total = r.semantic_mse;
  for (const StageAttribution& s : r.stages) total += s.shapley_mse;
  CHECK(total == Approx(r.total_mse).epsilon(1e-9));
  CHECK(r.stages[static_cast<int>(Stage::p_cast)].shapley_mse == 0.0);  // P stays FP32: nothing to attribute
  CHECK(r.semantic_mse == 0.0);
  CHECK(dominant_category(r) == "output rounding");  // FP32 scores and P: the output rounding dominates
  // The all-kernel subset is emulate_attention with the kernel policy.
  const AttentionOutputs emu = emulate(p, in, options.algorithm);
  const Tensor<double> exact = emulate(p, in, options.algorithm, PrecisionPolicy::all_exact()).o;
  double mse = 0;
  for (int64_t e = 0; e < exact.numel(); ++e) mse += std::pow(emu.o.flat(e) - exact.flat(e), 2);
  CHECK(r.total_mse == Approx(mse / static_cast<double>(exact.numel())).epsilon(1e-12));
  // A planted cache bug is semantic.
  options.algorithm.mutant = Mutant::stale_seqlens;
  CHECK(dominant_category(attribute_error(p, in, options)) == "semantic");
}

TEST_CASE("decode emulator refuses what the decode kernels do not do", "[decode_emulator]") {
  const Problem p = decode_problem(DType::fp16, 64, 1, 4, {300});
  AlgorithmConfig a = decode_algorithm(SplitPlanKind::fixed_keys, 100);
  CHECK_THAT(*emulator_invalid_reason(p, a), Catch::Contains("multiple of 64"));
  a = decode_algorithm(SplitPlanKind::heuristic, 0);
  CHECK_THAT(*emulator_invalid_reason(p, a), Catch::Contains("target_ctas"));
  a = decode_algorithm(SplitPlanKind::count, 65);
  CHECK_THAT(*emulator_invalid_reason(p, a), Catch::Contains("1..64"));
  a = decode_algorithm(SplitPlanKind::count, 2);
  a.tiles.block_n = 32;
  CHECK_THAT(*emulator_invalid_reason(p, a), Catch::Contains("64-key tiles"));
  a = decode_algorithm(SplitPlanKind::count, 2);
  a.p_cast = PCastMode::split_hi_lo;
  CHECK(emulator_invalid_reason(p, a).has_value());
  a = decode_tensor_core_algorithm(SplitPlanKind::count, 2, 4);
  a.tiles.block_n = 64;
  CHECK_THAT(*emulator_invalid_reason(p, a), Catch::Contains("16-key tiles"));
  a = decode_tensor_core_algorithm(SplitPlanKind::count, 2, 12);
  a.p_cast = PCastMode::input_dtype;
  CHECK_THAT(*emulator_invalid_reason(p, a), Catch::Contains("hi + lo"));
  Problem wide = p;
  wide.dtype = DType::fp32;
  CHECK(emulator_invalid_reason(wide, decode_algorithm(SplitPlanKind::count, 2)).has_value());
  CHECK_THROWS_AS(make_head_emulator(wide, AttentionInputs{}, 0, 0, decode_algorithm(SplitPlanKind::count, 2),
                                     TensorCoreModel::h100()),
                  Error);
}

TEST_CASE("tensor-core decode kernel's emulator: within the rule, P hi + lo keeps the error at the rounding floor",
          "[decode_emulator]") {
  // The excess (RMS error / RMS of the truth's own rounding to the dtype) stays at FP32-P level:
  // hi + lo carries 22 (FP16) or 16 (BF16) significant bits of P, far below the output's half ulp.
  const Registry& registry = all_kernels();
  for (DType dtype : {DType::fp16, DType::bf16})
    for (Distribution dist : {Distribution::normal, Distribution::outliers, Distribution::large_logits, Distribution::sink}) {
      const Problem p = decode_problem(dtype, 128, 1, 8, {4000, 1000, 77});
      InputSpec spec;
      spec.distribution = dist;
      spec.seed = 21;
      const AttentionInputs in = generate_inputs(p, spec);
      const Tensor<double> truth = fp64_attention(p, in).o;
      const AttentionOutputs base = registry.get(dtype == DType::fp16 ? "naive-fp16" : "naive-bf16").run(p, in);
      const AttentionOutputs tc = emulate(p, in, decode_tensor_core_algorithm(SplitPlanKind::fixed_keys, 256, 12));  // the production form
      const AttentionOutputs cores = emulate(p, in, decode_algorithm(SplitPlanKind::fixed_keys, 256));
      const double error = max_abs_diff(tc.o, truth), baseline = max_abs_diff(base.o, truth);
      double floor_sq = 0, tc_sq = 0, cores_sq = 0;
      for (int64_t e = 0; e < truth.numel(); ++e) {
        floor_sq += std::pow(round_to(dtype, truth.flat(e)) - truth.flat(e), 2);
        tc_sq += std::pow(tc.o.flat(e) - truth.flat(e), 2);
        cores_sq += std::pow(cores.o.flat(e) - truth.flat(e), 2);
      }
      const double excess = std::sqrt(tc_sq / floor_sq), cores_excess = std::sqrt(cores_sq / floor_sq);
      INFO(dtype_name(dtype) << " " << distribution_name(dist) << " error " << error << " baseline " << baseline << " excess "
                             << excess << " (CUDA-core contract " << cores_excess << ")");
      CHECK(fa_rule(error, baseline, std::isfinite(error)).pass);
      std::printf("decode tc %s %s: excess %.4f (CUDA-core contract %.4f), error/baseline %.3g\n",
                  std::string(dtype_name(dtype)).c_str(), distribution_name(dist).c_str(), excess, cores_excess, error / baseline);
      CHECK(excess < 1.01);
      CHECK(excess <= cores_excess + 0.005);  // no worse than FP32 P on the CUDA cores
    }
}

TEST_CASE("tensor-core decode kernel's emulator: cache rows past the fill are never read; mutants caught", "[decode_emulator]") {
  for (DType dtype : {DType::fp16, DType::bf16}) {
    const Problem p = decode_problem(dtype, 128, 4, 4, {300, 61});
    InputSpec spec;
    spec.seed = 13;
    AttentionInputs in = generate_inputs(p, spec);
    const AlgorithmConfig a = decode_tensor_core_algorithm(SplitPlanKind::fixed_keys, 64, 12);
    const AttentionOutputs clean = emulate(p, in, a);
    // Poison every cache row at or past an entry's fill (the kernel's unused rows).
    for (int64_t b = 0; b < p.batch; ++b)
      for (int64_t j = p.keys_in_batch(b); j < p.seqlen_k; ++j)
        for (int64_t h = 0; h < p.num_heads_kv; ++h)
          for (int64_t d = 0; d < p.head_dim; ++d) in.k(b, j, h, d) = in.v(b, j, h, d) = std::nan("");
    const AttentionOutputs poisoned = emulate(p, in, a);
    CHECK(bits_differing(clean.o, poisoned.o) == 0);
    CHECK(bits_differing(clean.lse, poisoned.lse) == 0);
    const Tensor<double> truth = fp64_attention(p, in).o;
    const double baseline = max_abs_diff(all_kernels().get("naive-" + std::string(dtype_name(dtype))).run(p, in).o, truth);
    CHECK(fa_rule(max_abs_diff(clean.o, truth), baseline, true).pass);
    for (Mutant m : {Mutant::stale_seqlens, Mutant::interleaved_gqa_in_cache_path, Mutant::top_left_in_cache_path,
                     Mutant::base2_lse_natural_combine}) {
      AlgorithmConfig bug = a;
      bug.mutant = m;
      const AttentionOutputs out = emulate(p, in, bug);
      const double error = max_abs_diff(out.o, truth);
      // The base-2 LSE bug shows in O only through the combine (several splits: entry 0 has 5).
      INFO(mutant_name(m) << " error " << error << " baseline " << baseline);
      CHECK(!fa_rule(error, baseline, std::isfinite(error)).pass);
    }
  }
  const Kernel& k = all_kernels().get("emu.fp16.dany.m64n64.decode-tc-fixed256");
  REQUIRE(k.info.algorithm.has_value());
  CHECK(k.info.algorithm->decode.warp_streams == 4);
  CHECK(k.info.algorithm->p_cast == PCastMode::split_hi_lo);
  // The registered 12-warp form (the GPU decode default): 8-row blocks, 16-key warp tiles.
  const Kernel& k12 = all_kernels().get("emu.fp16.dany.m64n64.decode-tc12-fixed256");
  REQUIRE(k12.info.algorithm.has_value());
  CHECK(k12.info.algorithm->decode.warp_streams == 12);
  CHECK(k12.info.algorithm->tiles.block_m == 8);
  CHECK(k12.info.algorithm->tiles.block_n == 16);
  CHECK(k12.info.algorithm->p_cast == PCastMode::split_hi_lo);
}
