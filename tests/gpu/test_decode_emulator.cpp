// test_decode_emulator.cpp: the decode kernels against their CPU model (analysis/decode_emulator.h)
// and the FP8 KV cache, on the device.
//  - exp_fp32 / log_fp32 (core/pipeline/fp32_elementary.h) give the host's bits on the device for
//    every 5th float of [-104, 0] (exp) and of the positive floats (log);
//  - every registered decode variant (CUDA-core, bulk and tensor-core kernels, contiguous / paged, heuristic /
//    fixed split) and every decode mutant equals emulate_attention with its registered algorithm
//    (info.algorithm) bit for bit, O and LSE, over S_q 1/4/16, GQA 1/4/8, D 64/128, ragged
//    batches, FP16/BF16; the counts of differing elements are printed (the emulator's fidelity);
//    the tensor-core kernel's 8- and 12-warp shapes (bench --decode) likewise, and its cluster
//    split combine equals its global one (and the emulator) bit for bit;
//  - FP8 (E4M3, per-head power-of-two scales, appended with quantization), on the bulk kernel and
//    on the tensor-core kernel's 12-warp form (the registered mma12-fp8- variants): the FP8 path
//    equals the same kernel's FP16/BF16 path on the dequantized cache bit for bit (bulk: fixed
//    split; tensor cores: fixed and heuristic), its emulator likewise, every FP8 variant is within
//    the FlashAttention rule against the truth of the dequantized cache, and its error against the
//    truth of the unquantized cache (quantization + kernel) is printed; every FP8-cache mutant
//    equals its 16-bit mutant on the dequantized cache bit for bit and fails the rule there; the
//    chunked prefill over an FP8 cache (any S_q x group) equals the 16-bit chunked prefill on the
//    dequantized cache bit for bit and is within the rule against its truth.
// Runs only where a GPU is present (tests/gpu_main.cpp exits 77 otherwise).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "analysis/decode_emulator.h"
#include "core/generators.h"
#include "core/parallel_for.h"
#include "core/pipeline/fp32_elementary.h"
#include "experiments/register_all.h"
#include "kernels/cache/fp8_kv.h"
#include "kernels/chunked/register_chunked_prefill.h"
#include "kernels/decode/register_decode_kernels.h"
#include "kernels/probes/elementary_probe.h"
#include "references/truth.h"
#include "tests/gpu/bit_diff.h"
#include "tests/gpu/decode_test_util.h"

namespace attn {
namespace {

AttentionOutputs emulate(const Problem& p, const AttentionInputs& in, const AlgorithmConfig& algorithm) {
  EmulatorConfig c;
  c.algorithm = algorithm;
  return emulate_attention(p, in, c);
}

/// What a kernel reading an E4M3 cache is judged against: the cache it reads (K and V
/// dequantized, kernels/cache/fp8_kv.h), the truth of that cache and of the unquantized one, the
/// naive baseline on the dequantized cache and the FlashAttention rule's bound from it.
struct Fp8Judge {
  AttentionInputs seen;
  Truth truth_seen, truth_full;
  AttentionOutputs base;
  double bound;
};

Fp8Judge fp8_judge(const Problem& pr, const AttentionInputs& in) {
  AttentionInputs seen = dequantized_kv(pr, in, fp8_kv_scales(pr, in));
  TruthOptions quick;
  quick.certify_rows = 2;
  Truth truth_seen = compute_truth(pr, seen, quick), truth_full = compute_truth(pr, in, quick);
  AttentionOutputs base = all_kernels().get(pr.dtype == DType::fp16 ? "naive-fp16" : "naive-bf16").run(pr, seen);
  const double bound = 2 * max_abs_error(base.o, truth_seen.o) + 1e-5;
  return {std::move(seen), std::move(truth_seen), std::move(truth_full), std::move(base), bound};
}

}  // namespace

TEST_CASE("exp_fp32 / log_fp32: the device's bits are the host's", "[gpu][decode][emulator]") {
  std::vector<float> x;
  for (uint32_t u = 0x80000000u; u <= 0xC2D00000u; u += 5) {  // [-104, -0]
    float f;
    std::memcpy(&f, &u, 4);
    x.push_back(f);
  }
  for (uint32_t u = 1; u < 0x7F800000u; u += 97) {  // positive floats, subnormals included
    float f;
    std::memcpy(&f, &u, 4);
    x.push_back(f);
  }
  const ElementaryProbe device = run_elementary_probe(x);
  std::vector<int64_t> exp_diff(64, 0), log_diff(64, 0);
  const int64_t n = static_cast<int64_t>(x.size());
  parallel_for(64, 0, [&](int64_t chunk) {
    for (int64_t i = chunk * n / 64; i < (chunk + 1) * n / 64; ++i) {
      const float e = pipeline::exp_fp32(x[static_cast<size_t>(i)]), l = pipeline::log_fp32(x[static_cast<size_t>(i)]);
      exp_diff[static_cast<size_t>(chunk)] += std::memcmp(&e, &device.exp[static_cast<size_t>(i)], 4) != 0;
      log_diff[static_cast<size_t>(chunk)] += std::memcmp(&l, &device.log[static_cast<size_t>(i)], 4) != 0 &&
                                              !(std::isnan(l) && std::isnan(device.log[static_cast<size_t>(i)]));
    }
  });
  int64_t exp_total = 0, log_total = 0;
  for (int c = 0; c < 64; ++c) {
    exp_total += exp_diff[static_cast<size_t>(c)];
    log_total += log_diff[static_cast<size_t>(c)];
  }
  std::printf("ELEMENTARY %lld inputs: exp_fp32 %lld differ, log_fp32 %lld differ (device vs host)\n",
              static_cast<long long>(n), static_cast<long long>(exp_total), static_cast<long long>(log_total));
  CHECK(exp_total == 0);
  CHECK(log_total == 0);
}

TEST_CASE("every decode variant and mutant equals its emulator bit for bit", "[gpu][decode][emulator]") {
  struct Case { int64_t d, depth, sq, group; };
  const std::vector<Case> cases = {{128, 300, 1, 4}, {128, 4096, 1, 8}, {64, 1000, 4, 4},
                                   {128, 1, 16, 8},  {64, 64, 4, 1},    {128, 2000, 16, 1}};
  int64_t compared = 0, differing = 0, runs = 0;
  for (DType dtype : {DType::fp16, DType::bf16})
    for (const Case& c : cases) {
      const Problem pr = decode_problem(dtype, c.d, c.depth, c.sq, c.group);
      InputSpec spec;
      spec.distribution = c.depth % 2 ? Distribution::outliers : Distribution::normal;
      spec.seed = static_cast<uint64_t>(c.depth * 3 + c.sq * 11 + c.group);
      const AttentionInputs in = generate_inputs(pr, spec);
      for (const Kernel* k : all_kernels().select({.design = "decode", .dtype = dtype, .head_dim = static_cast<int>(c.d)})) {
        if (k->invalid_reason(pr) || is_fp8_cache_kernel(*k)) continue;  // FP8: the FP8 test cases below
        REQUIRE(k->info.algorithm.has_value());
        REQUIRE_FALSE(emulator_invalid_reason(pr, *k->info.algorithm).has_value());
        const AttentionOutputs gpu = k->run(pr, in), emu = emulate(pr, in, *k->info.algorithm);
        const int64_t o_diff = bit_diff(gpu.o, emu.o, dtype).differ, lse_diff = bit_diff(gpu.lse, emu.lse, DType::fp32).differ;
        ++runs;
        compared += gpu.o.numel();
        differing += o_diff;
        if (o_diff || lse_diff)
          std::printf("EMULATOR %s %s: %lld of %lld O elements and %lld of %lld LSEs differ (max |diff| %.3g)\n",
                      k->info.name.c_str(), pr.label().c_str(), static_cast<long long>(o_diff),
                      static_cast<long long>(gpu.o.numel()), static_cast<long long>(lse_diff),
                      static_cast<long long>(gpu.lse.numel()), max_abs_error(gpu.o, emu.o));
        CHECK(o_diff == 0);
        CHECK(lse_diff == 0);
      }
    }
  std::printf("EMULATOR decode: %lld runs, %lld O elements compared, %lld differ (%.3g)\n", static_cast<long long>(runs),
              static_cast<long long>(compared), static_cast<long long>(differing),
              compared ? static_cast<double>(differing) / static_cast<double>(compared) : 0.0);
  CHECK(runs >= 2 * 6 * 8);
}

TEST_CASE("the cluster split combine gives the global combine's bits and the emulator's", "[gpu][decode][emulator][cluster]") {
  // The tensor-core kernel's splits combined in rank 0 of a thread block cluster (2..8 splits, one
  // row block) against the last-CTA combine from global memory, same kernel otherwise: O and LSE
  // bit for bit, and both equal to the emulator. Ragged entries have fewer splits than the
  // cluster has CTAs (those exit before the cluster barriers); S_q x group 12 takes two row
  // blocks (the global path either way); the 8-warp form and the FP8 cache take the cluster too.
  struct Case { DType dtype; int d, warps, splits; int64_t depth, sq, group; bool fp8; };
  const std::vector<Case> cases = {{DType::fp16, 128, 12, 2, 4096, 1, 4, false}, {DType::bf16, 128, 12, 3, 2000, 1, 8, false},
                                   {DType::fp16, 64, 12, 5, 777, 2, 4, false},   {DType::bf16, 64, 12, 8, 5000, 1, 1, false},
                                   {DType::fp16, 128, 8, 4, 3000, 1, 8, false},  {DType::fp16, 128, 12, 6, 1000, 3, 4, false},
                                   {DType::bf16, 128, 12, 4, 2500, 1, 4, true},  {DType::fp16, 64, 12, 7, 1500, 1, 8, true},
                                   {DType::fp16, 128, 12, 0, 4096, 1, 4, false}};  // 0: the heuristic plan
  int runs = 0;
  int64_t compared = 0, differ = 0;
  for (const Case& c : cases)
    for (int page : {0, 16}) {
      const Problem pr = decode_problem(c.dtype, c.d, c.depth, c.sq, c.group);
      InputSpec spec;
      spec.distribution = c.depth % 2 ? Distribution::outliers : Distribution::normal;
      spec.seed = static_cast<uint64_t>(c.depth + c.splits * 13 + page);
      const AttentionInputs in = generate_inputs(pr, spec);
      DecodeVariant v{"mma.cluster", c.dtype, c.d, 0, c.splits, page, Mutant::none, DecodeKernelKind::mma, 1, 4, c.fp8, c.warps};
      DecodeVariant global = v;
      global.cluster_combine = false;
      INFO(pr.label() << " warps " << c.warps << " splits " << c.splits << " page " << page << (c.fp8 ? " fp8" : ""));
      const AttentionOutputs via_cluster = make_decode_kernel(v).run(pr, in), via_global = make_decode_kernel(global).run(pr, in);
      const int64_t o_diff = bit_diff(via_cluster.o, via_global.o, c.dtype).differ;
      const int64_t lse_diff = bit_diff(via_cluster.lse, via_global.lse, DType::fp32).differ;
      int64_t emu_diff = 0;
      if (!c.fp8) {  // the FP8 forms' emulator runs the 16-bit twin on the dequantized cache (the FP8 test cases)
        const AttentionOutputs emu = emulate(pr, in, decode_variant_algorithm(v));
        emu_diff = bit_diff(via_cluster.o, emu.o, c.dtype).differ + bit_diff(via_cluster.lse, emu.lse, DType::fp32).differ;
      }
      ++runs;
      compared += via_cluster.o.numel();
      differ += o_diff + lse_diff + emu_diff;
      CHECK(o_diff == 0);
      CHECK(lse_diff == 0);
      CHECK(emu_diff == 0);
    }
  std::printf("CLUSTER combine == global combine (and == emulator, 16-bit caches): %d runs, %lld O elements, %lld differ\n", runs,
              static_cast<long long>(compared), static_cast<long long>(differ));
  CHECK(runs == 18);
}

TEST_CASE("the tensor-core kernel's 4-, 8- and 12-warp shapes equal their emulator bit for bit", "[gpu][decode][emulator]") {
  // The shapes `bench --decode` measures (FP16, D 128): the same contract with warp_streams
  // 4 / 8 / 12 and BLOCK_N 32 / 16 / 16; S_q x group 4 (one row block) and 12 (the 12-warp form:
  // two 8-row blocks, the second half padding; the others: one 16-row tile).
  // And the co-resident form: 4 warps x 3 CTAs per SM, 16-key tiles, 8-row blocks.
  struct Shape { int warps, ctas_per_sm; };
  int64_t compared = 0, differing = 0;
  for (const Shape shape : {Shape{4, 1}, Shape{8, 1}, Shape{12, 1}, Shape{4, 3}})
    for (int64_t depth : {300, 4096})
      for (int page : {0, 16}) {
        const Problem pr = decode_problem(DType::fp16, 128, depth, page ? 3 : 1, 4);
        InputSpec spec;
        spec.distribution = depth == 300 ? Distribution::outliers : Distribution::normal;
        const int warps = shape.warps;
        const bool co_resident = shape.ctas_per_sm == 3;
        spec.seed = static_cast<uint64_t>(depth + (co_resident ? 43 : warps));
        const AttentionInputs in = generate_inputs(pr, spec);
        DecodeVariant v{"mma.w" + std::to_string(warps) + (co_resident ? "x3" : ""), DType::fp16, 128, 256, 0, page, Mutant::none, DecodeKernelKind::mma};
        v.mma_warps = warps;
        v.ctas_per_sm = shape.ctas_per_sm;
        const Kernel k = make_decode_kernel(v);
        REQUIRE(k.info.algorithm.has_value());
        CHECK(k.info.algorithm->decode.warp_streams == v.mma_warps);
        CHECK(k.info.algorithm->tiles.block_n == (warps == 4 && !co_resident ? 32 : 16));
        const AttentionOutputs gpu = k.run(pr, in), emu = emulate(pr, in, *k.info.algorithm);
        const int64_t o_diff = bit_diff(gpu.o, emu.o, DType::fp16).differ, lse_diff = bit_diff(gpu.lse, emu.lse, DType::fp32).differ;
        compared += gpu.o.numel();
        differing += o_diff;
        std::printf("EMULATOR mma %d warps x %d CTA/SM, depth %lld, page %d, %lld rows per KV head: %lld O, %lld LSE differ\n", warps, shape.ctas_per_sm,
                    static_cast<long long>(depth), page, static_cast<long long>(pr.seqlen_q * pr.group_size()),
                    static_cast<long long>(o_diff), static_cast<long long>(lse_diff));
        CHECK(o_diff == 0);
        CHECK(lse_diff == 0);
      }
  // The co-resident form on its heuristic plan (3 CTAs per SM as the target), every dtype and D.
  for (DType dtype : {DType::fp16, DType::bf16})
    for (int d : {64, 128}) {
      const Problem pr = decode_problem(dtype, d, 4096, 1, 4);
      InputSpec spec;
      spec.seed = static_cast<uint64_t>(d + 7);
      const AttentionInputs in = generate_inputs(pr, spec);
      DecodeVariant v{"mma.w4x3", dtype, d, 0, 0, 0, Mutant::none, DecodeKernelKind::mma};
      v.mma_warps = 4;
      v.ctas_per_sm = 3;
      const Kernel k = make_decode_kernel(v);
      REQUIRE(k.info.algorithm.has_value());
      const AttentionOutputs gpu = k.run(pr, in), emu = emulate(pr, in, *k.info.algorithm);
      const int64_t o_diff = bit_diff(gpu.o, emu.o, dtype).differ, lse_diff = bit_diff(gpu.lse, emu.lse, DType::fp32).differ;
      compared += gpu.o.numel();
      std::printf("EMULATOR mma co-resident %s D %d heuristic (target %d CTAs), depth 4096: %lld O, %lld LSE differ\n",
                  std::string(dtype_name(dtype)).c_str(), d, k.info.algorithm->decode.target_ctas, static_cast<long long>(o_diff),
                  static_cast<long long>(lse_diff));
      CHECK(o_diff == 0);
      CHECK(lse_diff == 0);
    }
  CHECK(compared > 0);
}

TEST_CASE("FP8 KV cache: the dequantized cache's FP16/BF16 path bit for bit, and the rule", "[gpu][decode][fp8]") {
  struct Case { int64_t d, depth, sq, group; };
  // The last two are chunked prefill over the FP8 cache (S_q x group 128 and 96 rows: 16 and 12
  // 8-row blocks of the tensor-core kernel; the bulk kernel takes at most 16 rows).
  const std::vector<Case> cases = {{128, 300, 1, 4}, {128, 4096, 1, 8}, {64, 1000, 4, 4}, {128, 70, 16, 1}, {64, 2, 1, 8},
                                   {128, 2000, 32, 4}, {64, 777, 12, 8}};
  int runs = 0, failures = 0, twin_runs = 0;
  int64_t twin_elements = 0, twin_differ = 0;
  for (DType dtype : {DType::fp16, DType::bf16})
    for (const Case& c : cases) {
      const Problem pr = decode_problem(dtype, c.d, c.depth, c.sq, c.group, 4);
      InputSpec spec;
      spec.distribution = c.depth % 2 ? Distribution::outliers : Distribution::normal;
      spec.seed = static_cast<uint64_t>(c.depth + 17 * c.sq);
      const AttentionInputs in = generate_inputs(pr, spec);
      const Fp8Judge judge = fp8_judge(pr, in);
      const AttentionInputs& seen = judge.seen;
      const Truth &truth_seen = judge.truth_seen, &truth_full = judge.truth_full;
      const double bound = judge.bound;
      for (DecodeKernelKind kind : {DecodeKernelKind::bulk, DecodeKernelKind::mma})
      for (int page : {0, 16})
        for (int fixed : {0, 256}) {
          if (kind == DecodeKernelKind::bulk && c.sq * c.group > 16) continue;  // refused by name (decode_bulk.cuh)
          DecodeVariant v{"fp8", dtype, static_cast<int>(c.d), fixed, 0, page, Mutant::none, kind, 1, 4, true};
          const bool mma = kind == DecodeKernelKind::mma;
          if (mma && fixed == 0) {  // the registered variant (mma12-fp8-split / -paged16)
            const std::string name = "decode." + std::string(dtype_name(dtype)) + ".d" + std::to_string(c.d) + ".m64n64.mma12-fp8-" +
                                     (page ? "paged16" : "split");
            const DecodeVariant* registered = nullptr;
            for (const DecodeVariant& r : decode_variants()) registered = r.name == name ? &r : registered;
            REQUIRE(registered != nullptr);
            v = *registered;
            REQUIRE(v.fp8_cache);
          }
          const Kernel kernel = make_decode_kernel(v);
          REQUIRE_FALSE(kernel.invalid_reason(pr).has_value());
          const AttentionOutputs out = kernel.run(pr, in);
          const double kernel_error = max_abs_error(out.o, truth_seen.o), total_error = max_abs_error(out.o, truth_full.o);
          ++runs;
          bool ok = kernel_error <= bound;
          for (int64_t i = 0; i < out.o.numel(); ++i) ok &= std::isfinite(out.o.flat(i));
          failures += !ok;
          std::printf("FP8 %s %s page %d split %s: error vs dequantized truth %.3g (bound %.3g), vs unquantized truth %.3g\n",
                      mma ? "mma12" : "bulk", pr.label().c_str(), page, fixed ? "fixed256" : "heuristic", kernel_error, bound,
                      total_error);
          // The bulk kernel's heuristic plan depends on its FP8 stage shape; the tensor-core
          // kernel's does not (the same CTA target): the same plan on the dequantized cache, the
          // FP16/BF16 form of the same kernel and the emulator, bit for bit.
          if (fixed == 0 && !mma) continue;
          DecodeVariant twin = v;
          twin.fp8_cache = false;
          const AttentionOutputs plain = make_decode_kernel(twin).run(pr, seen);
          const AttentionOutputs emu = emulate(pr, seen, decode_variant_algorithm(twin));
          INFO(pr.label() << (mma ? " mma12" : " bulk") << " page " << page << " fixed " << fixed);
          const int64_t plain_diff = bit_diff(out.o, plain.o, dtype).differ, emu_diff = bit_diff(out.o, emu.o, dtype).differ;
          const int64_t lse_diff = bit_diff(out.lse, plain.lse, DType::fp32).differ;
          twin_runs += 1;
          twin_elements += out.o.numel();
          twin_differ += plain_diff + emu_diff + lse_diff;
          CHECK(plain_diff == 0);
          CHECK(emu_diff == 0);
          CHECK(lse_diff == 0);
        }
    }
  std::printf("FP8 rule: %d runs, %d failures; FP8 == 16-bit twin and emulator on the dequantized cache: %d runs, %lld O "
              "elements, %lld differ\n", runs, failures, twin_runs, static_cast<long long>(twin_elements),
              static_cast<long long>(twin_differ));
  CHECK(failures == 0);
  CHECK(runs == 2 * (5 * 2 + 2 * 1) * 2 * 2);  // dtypes x (cases x kernels) x pages x plans
}

TEST_CASE("every FP8-cache mutant is its 16-bit mutant on the dequantized cache, and fails the rule", "[gpu][decode][fp8]") {
  // The cache mutants planted in the E4M3 path (mma12-fp8-fixed64.mutant-*): judged against the
  // truth of the cache they read (the dequantized one), and the same bits as the 16-bit mutant and
  // its emulator there, so that a caught FP8 mutant is caught for its bug, not for quantization.
  int caught = 0, twins = 0;
  for (DType dtype : {DType::fp16, DType::bf16}) {
    const Problem pr = decode_problem(dtype, 128, 300, 4, 4);
    InputSpec spec;
    spec.seed = 5;
    const AttentionInputs in = generate_inputs(pr, spec);
    const Fp8Judge judge = fp8_judge(pr, in);
    const AttentionInputs& seen = judge.seen;
    const Truth& truth_seen = judge.truth_seen;
    const AttentionOutputs& base = judge.base;
    std::vector<const DecodeVariant*> fp8_mutants;
    for (const DecodeVariant& v : decode_variants())
      if (v.fp8_cache && v.mutant != Mutant::none && v.dtype == dtype) fp8_mutants.push_back(&v);
    REQUIRE(fp8_mutants.size() == 4);  // stale seq_lens, interleaved GQA, top-left, base-2 LSE combine
    for (const DecodeVariant* v : fp8_mutants) {
      INFO(v->name);
      const Kernel* k = all_kernels().find(v->name);
      REQUIRE(k != nullptr);
      CHECK_FALSE(k->info.is_default);
      const AttentionOutputs out = k->run(pr, in);
      const Rule r = check_rule(out, truth_seen, base);
      std::printf("FP8 MUTANT %s (%s): error %.3g bound %.3g lse_ok %d\n", v->name.c_str(), k->info.planted_bug.c_str(),
                  r.error, r.bound, static_cast<int>(r.lse_ok));
      CHECK_FALSE(r.passes());
      caught += !r.passes();
      DecodeVariant twin = *v;
      twin.fp8_cache = false;
      const AttentionOutputs plain = make_decode_kernel(twin).run(pr, seen);
      const AttentionOutputs emu = emulate(pr, seen, decode_variant_algorithm(twin));
      CHECK(bit_diff(out.o, plain.o, dtype).differ == 0);
      CHECK(bit_diff(out.o, emu.o, dtype).differ == 0);
      CHECK(bit_diff(out.lse, plain.lse, DType::fp32).differ == 0);
      ++twins;
    }
    // The correct FP8 kernel on the same plan passes on the same input (the mutants fail for their bugs).
    DecodeVariant correct = *fp8_mutants.front();
    correct.mutant = Mutant::none;
    CHECK(check_rule(make_decode_kernel(correct).run(pr, in), truth_seen, base).passes());
  }
  std::printf("FP8 mutants: %d of %d caught, %d compared with their 16-bit twins\n", caught, 8, twins);
  CHECK(caught == 8);
}

TEST_CASE("chunked prefill over an FP8 cache: the 16-bit path on the dequantized cache bit for bit, any rows", "[gpu][decode][fp8][chunked]") {
  // (depth, S_q, group, D): S_q x group past the decode kernel's 128 rows per KV head, at and off
  // the 64/128-row tiles; the chunk's rows arrive through the quantizing append (every entry
  // holds the whole chunk), the older ones quantized on the host, unused rows NaN bytes.
  struct Case { int64_t depth, sq, group, d; };
  const std::vector<Case> cases = {{300, 200, 4, 64}, {1000, 65, 8, 128}, {1, 63, 1, 64}, {4096, 129, 2, 128}};
  int runs = 0, failures = 0;
  int64_t compared = 0, differ = 0;
  for (DType dtype : {DType::fp16, DType::bf16})
    for (const Case& c : cases) {
      const Problem pr = decode_problem(dtype, c.d, c.depth, c.sq, c.group, 2);
      InputSpec spec;
      spec.distribution = c.depth % 2 ? Distribution::large_logits : Distribution::outliers;
      spec.seed = static_cast<uint64_t>(c.depth * 5 + c.sq);
      const AttentionInputs in = generate_inputs(pr, spec);
      const Fp8Judge judge = fp8_judge(pr, in);
      const AttentionInputs& seen = judge.seen;
      const Truth &truth_seen = judge.truth_seen, &truth_full = judge.truth_full;
      const double bound = judge.bound;
      int found = 0;
      for (const ChunkedPrefillVariant& v : chunked_variants()) {
        const Kernel kernel = make_chunked_prefill_kernel(v);
        if (!v.fp8_cache || kernel.info.dtype != dtype || kernel.info.head_dim != c.d) continue;
        INFO(v.name << " " << pr.label());
        ++found;
        REQUIRE(is_fp8_cache_kernel(kernel));
        REQUIRE_FALSE(kernel.invalid_reason(pr).has_value());
        const AttentionOutputs out = kernel.run(pr, in);
        ChunkedPrefillVariant twin = v;  // the same prefill kernel and layout over a 16-bit cache
        twin.fp8_cache = false;
        const AttentionOutputs plain = make_chunked_prefill_kernel(twin).run(pr, seen);
        const int64_t o_diff = bit_diff(out.o, plain.o, dtype).differ, lse_diff = bit_diff(out.lse, plain.lse, DType::fp32).differ;
        const double kernel_error = max_abs_error(out.o, truth_seen.o);
        bool ok = kernel_error <= bound;
        for (int64_t i = 0; i < out.o.numel(); ++i) ok &= std::isfinite(out.o.flat(i));
        ++runs;
        failures += !ok;
        compared += out.o.numel();
        differ += o_diff + lse_diff;
        std::printf("FP8 CHUNKED %s %s: error vs dequantized truth %.3g (bound %.3g), vs unquantized truth %.3g; "
                    "%lld O / %lld LSE differ from the 16-bit path\n",
                    v.name.c_str(), pr.label().c_str(), kernel_error, bound, max_abs_error(out.o, truth_full.o),
                    static_cast<long long>(o_diff), static_cast<long long>(lse_diff));
        CHECK(ok);
        CHECK(o_diff == 0);
        CHECK(lse_diff == 0);
      }
      CHECK(found == 4);  // FA2 and fa3: contiguous and paged 16
    }
  std::printf("FP8 chunked prefill: %d runs, %d failures, %lld O elements, %lld differ from the 16-bit path\n", runs,
              failures, static_cast<long long>(compared), static_cast<long long>(differ));
  CHECK(runs == 2 * 4 * 4);
  CHECK(failures == 0);
}

TEST_CASE("FP8 KV cache on small cases (for compute-sanitizer)", "[.decode_sanitize]") {
  for (DType dtype : {DType::fp16, DType::bf16})
    for (int64_t d : {64, 128})
      for (const Problem& pr : {decode_problem(dtype, d, 100, 4, 4), decode_problem(dtype, d, 100, 1, 4, 4)}) {
        const AttentionInputs in = generate_inputs(pr, InputSpec{});
        for (DecodeKernelKind kind : {DecodeKernelKind::bulk, DecodeKernelKind::mma})
        for (int page : {0, 16}) {
          DecodeVariant v{"fp8", dtype, static_cast<int>(d), 64, 0, page, Mutant::none, kind, 1, 4, true};
          const AttentionOutputs out = make_decode_kernel(v).run(pr, in);
          bool finite = true;
          for (int64_t i = 0; i < out.o.numel(); ++i) finite &= std::isfinite(out.o.flat(i));
          CHECK(finite);
        }
      }
  // The chunked prefill over an FP8 cache (the dequantizing copy, then the fa2 kernel): 80 rows per KV head.
  for (const ChunkedPrefillVariant& v : chunked_variants()) {
    if (!v.fp8_cache) continue;
    const Kernel kernel = make_chunked_prefill_kernel(v);
    const Problem pr = decode_problem(*kernel.info.dtype, kernel.info.head_dim, 100, 20, 4);
    const AttentionOutputs out = kernel.run(pr, generate_inputs(pr, InputSpec{}));
    bool finite = true;
    for (int64_t i = 0; i < out.o.numel(); ++i) finite &= std::isfinite(out.o.flat(i));
    CHECK(finite);
  }
}

TEST_CASE("the tensor-core kernel alone, FP8 and 16-bit caches, several splits (for compute-sanitizer)", "[.decode_sanitize_mma]") {
  // Only decode_mma_kernel (and its in-kernel combine, decode_combine.cuh): racecheck run on this
  // case alone tells its hazards from the bulk kernel's. 64-key splits at depth 300: five splits;
  // S_q 4 x group 4 (two 8-row blocks: the last-CTA combine) and S_q 1 x group 4 (one row block:
  // the cluster combine, five CTAs per cluster, the ragged entries' extra CTAs exiting at once).
  for (DType dtype : {DType::fp16, DType::bf16})
    for (int64_t d : {64, 128})
      for (const Problem& pr : {decode_problem(dtype, d, 300, 4, 4), decode_problem(dtype, d, 300, 1, 4, 4)}) {
        const AttentionInputs in = generate_inputs(pr, InputSpec{});
        for (bool fp8 : {true, false})
          for (int page : {0, 16}) {
            DecodeVariant v{"mma12", dtype, static_cast<int>(d), 64, 0, page, Mutant::none, DecodeKernelKind::mma, 1, 4, fp8};
            const AttentionOutputs out = make_decode_kernel(v).run(pr, in);
            bool finite = true;
            for (int64_t i = 0; i < out.o.numel(); ++i) finite &= std::isfinite(out.o.flat(i));
            CHECK(finite);
          }
      }
}

}  // namespace attn
