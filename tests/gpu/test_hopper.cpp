// test_hopper.cpp: device checks of the Hopper (sm_90a) building blocks and of what the kernel
// grid in test_prefill.cpp does not cover:
//  [blocks]       a TMA box load through the 128-byte swizzle (partial and negative row
//                 offsets: zero fill) read back with the kernels' swizzle formula, exactly;
//                 wgmma chains in the kernels' layouts (QK^T: SS K-major; PV: RS with MN-major B)
//                 against an FP64 product (a wrong layout errs by O(1), rounding by 2^-20);
//  [ragged]       NaN in V past seqlens_k (unwritten cache rows) never reaches O;
//  [schedule]     variants that differ only in their schedule (noping, pack-gqa, e4m3-ilp: the same
//                 AlgorithmConfig as another variant) give that variant's bits, O and LSE;
//  [.probe-wgmma] >= 10^6 random dot products per input type (FP16, BF16, E4M3, E5M2; spread
//                 exponents and subnormals; one instruction and chains of k-groups) through real
//                 wgmma, against the tensor-core model family: mismatches per candidate model.
// Runs only where a GPU is present (tests/gpu_main.cpp exits 77 otherwise).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "analysis/tensor_core_model.h"
#include "core/float_format.h"
#include "core/generators.h"
#include "experiments/register_all.h"
#include "kernels/probes/wgmma_probe.h"
#include "references/gpu/gpu_references.h"
#include "tests/gpu/bit_diff.h"

namespace attn {
namespace {

bool is_16bit(WgmmaInput in) { return in == WgmmaInput::fp16 || in == WgmmaInput::bf16; }
const char* input_name(WgmmaInput in) {
  switch (in) {
    case WgmmaInput::fp16: return "fp16";
    case WgmmaInput::bf16: return "bf16";
    case WgmmaInput::e4m3: return "e4m3";
    case WgmmaInput::e5m2: return "e5m2";
  }
  return "?";
}
Fp8Format fp8_format(WgmmaInput in) { return in == WgmmaInput::e4m3 ? Fp8Format::e4m3 : Fp8Format::e5m2; }

/// Value of operand bits of `in`.
double operand_value(uint16_t bits, WgmmaInput in) {
  if (in == WgmmaInput::fp16) return decode_bits(bits, kFp16);
  if (in == WgmmaInput::bf16) return decode_bits(bits, kBf16);
  return decode_fp8(static_cast<uint8_t>(bits), fp8_format(in));
}

/// Random finite operand bits: sign, a random significand and an exponent in
/// [offset - spread, offset + spread]; every 16th value zero; values below the normal range
/// come out subnormal (the 16-bit ones through round_to_format, the FP8 ones by their code).
uint16_t random_operand(std::mt19937_64& rng, WgmmaInput in, int spread, int offset) {
  if (rng() % 16 == 0) return 0;
  if (is_16bit(in)) {
    const FloatFormat& f = in == WgmmaInput::fp16 ? kFp16 : kBf16;
    std::uniform_real_distribution<double> sig(1.0, 2.0);
    const int e = static_cast<int>(rng() % static_cast<uint64_t>(2 * spread + 1)) - spread + offset;
    const double v = (rng() & 1 ? -1 : 1) * std::ldexp(sig(rng), e);
    return static_cast<uint16_t>(encode_bits(round_to_format(v, f), f));
  }
  // FP8: a random finite code (E4M3: not the NaN codes; E5M2: exponent field < 31).
  for (;;) {
    const uint8_t code = static_cast<uint8_t>(rng());
    if (std::isfinite(decode_fp8(code, fp8_format(in)))) return code;
  }
}

/// A batch of `count` instances with operands drawn per instance from one of four regimes.
WgmmaProbeBatch random_batch(WgmmaInput in, WgmmaForm form, int count, int n, int k, uint64_t seed) {
  WgmmaProbeBatch b;
  b.input = in; b.form = form; b.count = count; b.n = n; b.k = k;
  b.a.resize(static_cast<size_t>(count) * 64 * k);
  b.b.resize(static_cast<size_t>(count) * n * k);
  b.c.resize(static_cast<size_t>(count) * 64 * n);
  std::mt19937_64 rng(seed);
  const int spreads[] = {0, 2, 6, 12}, offsets[] = {0, 0, 0, in == WgmmaInput::fp16 ? -10 : 0};
  for (int t = 0; t < count; ++t) {
    const int spread = spreads[t % 4], offset = offsets[t % 4];
    for (int i = 0; i < 64 * k; ++i) b.a[static_cast<size_t>(t) * 64 * k + i] = random_operand(rng, in, spread, offset);
    for (int i = 0; i < n * k; ++i) b.b[static_cast<size_t>(t) * n * k + i] = random_operand(rng, in, spread, offset);
    std::uniform_real_distribution<double> sig(1.0, 2.0);
    for (int i = 0; i < 64 * n; ++i) {
      const int e = static_cast<int>(rng() % static_cast<uint64_t>(2 * spread + 9)) - spread - 4 + 2 * offset;
      b.c[static_cast<size_t>(t) * 64 * n + i] = t % 8 == 0 ? 0.f : static_cast<float>((rng() & 1 ? -1 : 1) * std::ldexp(sig(rng), e));
    }
  }
  return b;
}

/// Operand values of row m of A and row j of B (B given as n x k) of instance t.
void operands(const WgmmaProbeBatch& b, int t, int m, int j, std::vector<double>& av, std::vector<double>& bv) {
  for (int x = 0; x < b.k; ++x) {
    av[static_cast<size_t>(x)] = operand_value(b.a[(static_cast<size_t>(t) * 64 + m) * b.k + x], b.input);
    bv[static_cast<size_t>(x)] = operand_value(b.b[(static_cast<size_t>(t) * b.n + j) * b.k + x], b.input);
  }
}

}  // namespace

TEST_CASE("TMA loads a [B,S,H,D] box into the 128-byte swizzle the kernels read", "[gpu][hopper][blocks]") {
  for (int head_dim : {64, 128}) {
    const int batch = 2, seqlen = 100, heads = 3;
    std::vector<uint16_t> tensor(static_cast<size_t>(batch) * seqlen * heads * head_dim);
    for (size_t i = 0; i < tensor.size(); ++i) tensor[i] = static_cast<uint16_t>(1 + i % 65000);  // distinct, nonzero
    struct Box { int rows, entry, head, row0; };
    for (const Box& box : {Box{64, 0, 0, 0}, Box{128, 1, 2, 0}, Box{64, 1, 1, 70}, Box{96, 0, 2, -5}}) {
      const auto out = run_tma_tile_probe(tensor, batch, seqlen, heads, head_dim, box.rows, box.entry, box.head, box.row0);
      int64_t wrong = 0;
      for (int r = 0; r < box.rows; ++r)
        for (int c = 0; c < head_dim; ++c) {
          const int row = box.row0 + r;
          const uint16_t want = row < 0 || row >= seqlen
                                    ? 0
                                    : tensor[((static_cast<size_t>(box.entry) * seqlen + row) * heads + box.head) * head_dim + c];
          wrong += out[static_cast<size_t>(r) * head_dim + c] != want;
        }
      INFO("D " << head_dim << " box rows " << box.rows << " row0 " << box.row0);
      CHECK(wrong == 0);
    }
  }
}

TEST_CASE("wgmma chains in the kernels' operand layouts compute A B^T + C", "[gpu][hopper][blocks]") {
  struct Case { WgmmaInput in; WgmmaForm form; int n, k; };
  const Case cases[] = {{WgmmaInput::fp16, WgmmaForm::ss_k_major, 64, 64},   {WgmmaInput::bf16, WgmmaForm::ss_k_major, 128, 128},
                        {WgmmaInput::fp16, WgmmaForm::ss_k_major, 128, 128}, {WgmmaInput::bf16, WgmmaForm::rs_b_mn_major, 64, 128},
                        {WgmmaInput::fp16, WgmmaForm::rs_b_mn_major, 128, 128}, {WgmmaInput::bf16, WgmmaForm::rs_b_mn_major, 128, 64},
                        {WgmmaInput::e4m3, WgmmaForm::ss_k_major, 64, 128}};
  for (const Case& cs : cases) {
    WgmmaProbeBatch b = random_batch(cs.in, cs.form, 4, cs.n, cs.k, 17);
    const std::vector<float> d = run_wgmma_probe(b);
    std::vector<double> av(static_cast<size_t>(cs.k)), bv(static_cast<size_t>(cs.k));
    double worst = 0;
    for (int t = 0; t < b.count; ++t)
      for (int m = 0; m < 64; ++m)
        for (int j = 0; j < cs.n; ++j) {
          operands(b, t, m, j, av, bv);
          const double c = b.c[(static_cast<size_t>(t) * 64 + m) * cs.n + j];
          double exact = c, magnitude = std::fabs(c);
          for (int x = 0; x < cs.k; ++x) {
            exact += av[static_cast<size_t>(x)] * bv[static_cast<size_t>(x)];
            magnitude += std::fabs(av[static_cast<size_t>(x)] * bv[static_cast<size_t>(x)]);
          }
          const double got = d[(static_cast<size_t>(t) * 64 + m) * cs.n + j];
          // FP32 accumulation of k terms: |error| <= k 2^-22 sum |terms| (loose; FP8: 2^-12).
          const double bound = (is_16bit(cs.in) ? std::ldexp(cs.k, -22) : std::ldexp(cs.k, -12)) * magnitude + 1e-30;
          worst = std::max(worst, std::isfinite(got) ? std::fabs(got - exact) / bound : INFINITY);
        }
    std::printf("wgmma layout check %s %s n=%d k=%d: worst |gpu - exact| / bound = %.3g\n", input_name(cs.in),
                cs.form == WgmmaForm::ss_k_major ? "SS" : "RS(B MN-major)", cs.n, cs.k, worst);
    INFO(input_name(cs.in) << " n " << cs.n << " k " << cs.k);
    CHECK(worst <= 1.0);
  }
}

TEST_CASE("NaN in V past seqlens_k never reaches O", "[gpu][hopper][ragged]") {
  for (const Kernel* k : all_kernels().select({.mutant = Mutant::none, .default_only = true})) {
    if (k->info.design != "fa3" && k->info.design != "fa2") continue;
    Problem pr;
    pr.batch = 2; pr.seqlen_q = 77; pr.seqlen_k = 300; pr.num_heads_q = 4; pr.num_heads_kv = 2;
    pr.head_dim = k->info.head_dim;
    pr.dtype = *k->info.dtype;
    pr.mask.kind = MaskKind::none;
    pr.seqlens_k = {300, 141};  // entry 1: keys 141..299 are "unwritten"
    InputSpec spec;
    spec.seed = 5;
    AttentionInputs in = generate_inputs(pr, spec);
    const AttentionOutputs truth = gpu_truth_fp64(pr, in);
    for (int64_t j = 141; j < 300; ++j)
      for (int64_t h = 0; h < pr.num_heads_kv; ++h)
        for (int64_t d = 0; d < pr.head_dim; ++d) in.v(1, j, h, d) = in.k(1, j, h, d) = NAN;
    const AttentionOutputs out = k->run(pr, in);
    double worst = 0;
    for (int64_t i = 0; i < out.o.numel(); ++i) {
      const double e = std::fabs(out.o.flat(i) - truth.o.flat(i));
      worst = std::isnan(e) ? INFINITY : std::max(worst, e);
    }
    std::printf("ragged NaN tail %-36s max |O - truth| = %.3g\n", k->info.name.c_str(), worst);
    INFO(k->info.name);
    CHECK(worst < 0.02);
  }
}

// A schedule is not arithmetic: ping-pong off (noping), packed GQA rows (pack-gqa: groups 4 and 8
// here, packed; group 1 runs unpacked; the defaults pack where it pays, not at S_q 384), the softmax's tree max and skipped O * 1 (e4m3-ilp:
// HopperTraits::kSoftmaxIlp) keep every rounding of the variant whose
// AlgorithmConfig they share, so the two must agree bit for bit wherever they run (masks, GQA,
// ragged keys, tile and non-tile sizes, the four input distributions).
TEST_CASE("Hopper schedule-only variants give the bits of the variant with their arithmetic", "[gpu][hopper][schedule]") {
  const Mask masks[] = {Mask{MaskKind::causal_bottom_right, -1, -1}, Mask{MaskKind::causal_top_left, -1, -1},
                        Mask{MaskKind::sliding_window, 48, 0}, Mask{MaskKind::none, -1, -1},
                        Mask{MaskKind::sliding_window, 100, 16}};
  const Distribution distributions[] = {Distribution::normal, Distribution::outliers, Distribution::large_logits,
                                        Distribution::sink};
  const auto kernels = all_kernels().select({.design = "fa3", .mutant = Mutant::none});
  int pairs = 0;
  for (const Kernel* a : kernels)
    for (const Kernel* b : kernels) {
      if (a->info.name >= b->info.name || a->info.dtype != b->info.dtype || a->info.head_dim != b->info.head_dim ||
          a->info.algorithm->describe() != b->info.algorithm->describe())
        continue;
      ++pairs;
      int point = 0;
      int64_t differ = 0, total = 0;
      for (int64_t sq : {1, 65, 300, 384, 1000})  // 384: the defaults do not pack (full tiles), pack-gqa does
        for (int64_t sk : {7, 128, 300, 1000}) {
          ++point;
          Problem pr;
          pr.batch = 2; pr.seqlen_q = sq; pr.seqlen_k = sk; pr.num_heads_kv = 2;
          pr.num_heads_q = 2 * std::vector<int64_t>{1, 4, 8}[static_cast<size_t>(point % 3)];
          pr.head_dim = a->info.head_dim;
          pr.dtype = *a->info.dtype;
          pr.mask = masks[static_cast<size_t>(point % 5)];
          if (point % 4 == 0) pr.seqlens_k = {sk, std::max<int64_t>(1, sk / 2)};
          InputSpec spec;
          spec.distribution = distributions[static_cast<size_t>(point % 4)];
          spec.seed = 900 + static_cast<uint64_t>(point);
          const AttentionInputs in = generate_inputs(pr, spec);
          const AttentionOutputs oa = a->run(pr, in), ob = b->run(pr, in);
          const BitDiff bits = bit_diff(oa.o, ob.o, pr.dtype);
          differ += bits.differ;
          total += bits.total;
          int64_t lse_differ = 0;
          for (int64_t i = 0; i < oa.lse.numel(); ++i)
            lse_differ += !(oa.lse.flat(i) == ob.lse.flat(i) || (std::isnan(oa.lse.flat(i)) && std::isnan(ob.lse.flat(i))));
          INFO(a->info.name << " vs " << b->info.name << " " << pr.label() << " " << distribution_name(spec.distribution));
          CHECK(bits.differ == 0);
          CHECK(lse_differ == 0);
        }
      std::printf("schedule: %s vs %s: %lld of %lld output elements differ\n", a->info.name.c_str(),
                  b->info.name.c_str(), static_cast<long long>(differ), static_cast<long long>(total));
    }
  // per 16-bit dtype: the D 128 default, noping and pack-gqa (3 pairs), the D 64 default and
  // pack-gqa (1); e4m3-ilp against e4m3
  CHECK(pairs >= 9);
}

TEST_CASE("wgmma against the tensor-core model family on 10^6 dot products per input", "[.probe-wgmma]") {
  struct Run { WgmmaInput in; WgmmaForm form; int n, k, count; };
  // Per run: 256 instances x 64 x 64 dots = 1,048,576 dot products, each a chain of k-groups
  // (16-bit: k = 64, four k16 instructions; FP8: k = 128, four k32 instructions), in the SS form
  // (QK^T) and, for 16-bit inputs, the RS form (PV).
  const Run runs[] = {{WgmmaInput::fp16, WgmmaForm::ss_k_major, 64, 64, 256}, {WgmmaInput::fp16, WgmmaForm::rs_b_mn_major, 64, 64, 256},
                      {WgmmaInput::bf16, WgmmaForm::ss_k_major, 64, 64, 256}, {WgmmaInput::bf16, WgmmaForm::rs_b_mn_major, 64, 64, 256},
                      {WgmmaInput::e4m3, WgmmaForm::ss_k_major, 64, 128, 256}, {WgmmaInput::e5m2, WgmmaForm::ss_k_major, 64, 128, 256}};
  for (const Run& run : runs) {
    const WgmmaProbeBatch b = random_batch(run.in, run.form, run.count, run.n, run.k, 1000 + static_cast<int>(run.in) * 7 + static_cast<int>(run.form));
    const std::vector<float> d = run_wgmma_probe(b);
    // Candidate models: products per multi-term add (the instruction's k-group), alignment bits
    // kept below FP32's 24 (negative: a narrower accumulator), final rounding.
    std::vector<TensorCoreModel> models;
    const std::vector<int> groups = is_16bit(run.in) ? std::vector<int>{8, 16} : std::vector<int>{16, 32};
    const std::vector<int> extras = is_16bit(run.in) ? std::vector<int>{0, 1, 2, 3, 4} : std::vector<int>{-12, -11, -10, -9, -8, -4, 0, 2};
    for (int g : groups)
      for (int x : extras)
        for (TcFinalRounding r : {TcFinalRounding::toward_zero, TcFinalRounding::nearest_even}) {
          TensorCoreModel m;
          m.group_size = g;
          m.extra_alignment_bits = x;
          m.final_rounding = r;
          m.input_min_exponent = is_16bit(run.in) ? format_of(run.in == WgmmaInput::fp16 ? DType::fp16 : DType::bf16).emin
                                                  : fp8_min_exponent(fp8_format(run.in));
          models.push_back(m);
        }
    // Every candidate on the first kSubset dot products (the model search), then the best one
    // on all of them (the published agreement), to keep the host side within seconds.
    constexpr int64_t kSubset = 131072;
    std::vector<int64_t> exact(models.size(), 0);
    int64_t total = 0, subnormal_dots = 0, best_exact = 0, best_subnormal_differ = 0;
    size_t best = 0;
    double worst_fp64 = 0;
    std::vector<double> av(static_cast<size_t>(run.k)), bv(static_cast<size_t>(run.k));
    const double min_normal = is_16bit(run.in) ? (run.in == WgmmaInput::fp16 ? kFp16 : kBf16).min_normal()
                                               : std::ldexp(1, fp8_min_exponent(fp8_format(run.in)));
    for (int pass = 0; pass < 2; ++pass) {
      int64_t dot = 0;
      for (int t = 0; t < run.count; ++t)
        for (int m = 0; m < 64; ++m)
          for (int j = 0; j < run.n; ++j, ++dot) {
            if (pass == 0 && dot >= kSubset) continue;
            operands(b, t, m, j, av, bv);
            const float c = b.c[(static_cast<size_t>(t) * 64 + m) * run.n + j];
            const float gpu = d[(static_cast<size_t>(t) * 64 + m) * run.n + j];
            if (pass == 0) {
              for (size_t mi = 0; mi < models.size(); ++mi) {
                const float model = static_cast<float>(tc_dot(av.data(), bv.data(), run.k, c, models[mi]));
                exact[mi] += std::memcmp(&model, &gpu, 4) == 0;
              }
              continue;
            }
            bool sub = false;
            double ex = c, mag = std::fabs(c);
            for (int x = 0; x < run.k; ++x) {
              const double p = av[static_cast<size_t>(x)] * bv[static_cast<size_t>(x)];
              ex += p;
              mag += std::fabs(p);
              sub |= (av[static_cast<size_t>(x)] != 0 && std::fabs(av[static_cast<size_t>(x)]) < min_normal) ||
                     (bv[static_cast<size_t>(x)] != 0 && std::fabs(bv[static_cast<size_t>(x)]) < min_normal);
            }
            subnormal_dots += sub;
            worst_fp64 = std::max(worst_fp64, std::isfinite(gpu) ? std::fabs(gpu - ex) / (mag + 1e-300) : INFINITY);
            const float model = static_cast<float>(tc_dot(av.data(), bv.data(), run.k, c, models[best]));
            const bool same = std::memcmp(&model, &gpu, 4) == 0;
            best_exact += same;
            best_subnormal_differ += sub && !same;
            ++total;
          }
      if (pass == 0) {
        const int64_t subset = std::min<int64_t>(kSubset, static_cast<int64_t>(run.count) * 64 * run.n);
        std::printf("wgmma probe %s %s k=%d (%d k-steps): candidate models on the first %lld dot products\n",
                    input_name(run.in), run.form == WgmmaForm::ss_k_major ? "SS" : "RS", run.k,
                    run.k / (is_16bit(run.in) ? 16 : 32), static_cast<long long>(subset));
        for (size_t mi = 0; mi < models.size(); ++mi) {
          if (exact[mi] > exact[best]) best = mi;
          std::printf("  group=%2d extra_bits=%3d %-12s: %lld differ (%.4f%%)%s\n", models[mi].group_size,
                      models[mi].extra_alignment_bits,
                      models[mi].final_rounding == TcFinalRounding::toward_zero ? "toward_zero" : "nearest",
                      static_cast<long long>(subset - exact[mi]), 100.0 * (subset - exact[mi]) / subset,
                      exact[mi] == subset ? "  <== bit-exact" : "");
        }
      }
    }
    std::printf("wgmma probe %s %s: best model group=%d extra_bits=%d %s: %lld of %lld dot products bit-exact (%.6f%%); "
                "%lld with subnormal inputs, %lld of them differ; worst |gpu - fp64| / sum|terms| = %.3g\n",
                input_name(run.in), run.form == WgmmaForm::ss_k_major ? "SS" : "RS", models[best].group_size,
                models[best].extra_alignment_bits,
                models[best].final_rounding == TcFinalRounding::toward_zero ? "toward_zero" : "nearest",
                static_cast<long long>(best_exact), static_cast<long long>(total), 100.0 * best_exact / total,
                static_cast<long long>(subnormal_dots), static_cast<long long>(best_subnormal_differ), worst_fp64);
    INFO(input_name(run.in));
    CHECK(total >= 1000000);
    CHECK(worst_fp64 <= (is_16bit(run.in) ? 1e-5 : 1e-2));  // a layout or decode bug errs by O(1)
    if (is_16bit(run.in)) CHECK(best_exact == total);  // some model of the family must explain every bit
  }
}

}  // namespace attn
