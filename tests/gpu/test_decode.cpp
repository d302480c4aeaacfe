// test_decode.cpp: device checks of the KV-cache kernels (kernels/decode/, kernels/chunked/).
//  - every registered correct decode variant (contiguous heuristic / fixed split, paged 16 / 256)
//    against compute_truth within the FlashAttention
//    rule (max error <= 2 x the naive same-precision baseline's + 1e-5, LSE within 1e-4 rel,
//    no NaN left from the poisoned O / partials / unused cache rows) over cache depths
//    {1, 64, 300} x S_q {1, 4, 16} x GQA group {1, 4, 8} x FP16/BF16 x D 64/128 and depth 4096
//    on a reduced set (D 128, S_q {1, 16}, group {1, 8}); each batch mixes three fills
//    (depth + S_q, depth/3 + S_q, S_q); the last S_q rows arrive through the append kernel;
//  - paged decode at page sizes that are not powers of two (48, 100) and fixed split counts 1..16;
//  - every chunked-prefill variant (contiguous, paged 16 / 256) within the rule over chunks of
//    1..1000 queries at depths 0..4096, ragged batches;
//  - batch invariance of the fixed-split variants: an entry's O and LSE are bit-identical alone
//    and inside a batch of other lengths;
//  - every cache mutant (stale seq_lens, interleaved GQA, top-left alignment, base-2 LSE combine;
//    chunked top-left / interleaved GQA) FAILS the rule;
//  - the append kernel's device-side overflow flag: set, and nothing written.
// Hidden tags: [.decode_sanitize] small cases for compute-sanitizer, [.depth_sweep] error and speed
// vs cache depth and splits. The bandwidth benchmark is `attnscope bench --decode`.
// Runs only where a GPU is present (tests/gpu_main.cpp exits 77 otherwise).
#include <catch2/catch.hpp>

#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "analysis/metrics.h"
#include "core/float_format.h"
#include "core/generators.h"
#include "core/half.h"
#include "experiments/register_all.h"
#include "kernels/cache/cache_plan.h"
#include "kernels/chunked/register_chunked_prefill.h"
#include "kernels/decode/decode_bench.h"
#include "kernels/decode/decode_launch.h"
#include "kernels/decode/register_decode_kernels.h"
#include "references/truth.h"
#include "tests/gpu/bit_diff.h"
#include "tests/gpu/decode_test_util.h"

namespace attn {
namespace {

/// Correct 16-bit-cache decode variants kernels/variants.toml registers per (dtype, head dim): the
/// CUDA-core kernel's 4 (split, fixed256, paged16, paged256), the bulk kernel's 4, the tensor-core
/// kernel's 6 in its 12-warp form (mma12-split, mma12-fixed256, mma12-paged16, mma12-paged256,
/// mma12-fixed1024, mma12-fixed2048), and bulk1h-split at D 128. (The FP8-cache variants,
/// mma12-fp8-split / -paged16, are judged against the truth of the dequantized cache:
/// test_decode_emulator.cpp's FP8 test cases.)
size_t registered_decode_variants(int64_t d) { return d == 128 ? 15 : 14; }
/// Of those, the ones that run S_q x group query rows per KV head: the bulk kernel holds one m16
/// tile of rows per head and refuses more (a named reason); the CUDA-core kernel (64-row blocks)
/// and the tensor-core kernel (8-row blocks) take up to 128.
size_t runnable_decode_variants(int64_t d, int64_t rows) { return rows <= kDecodeBulkMaxRowsPerHead ? registered_decode_variants(d) : 10; }
/// A kernel of one m16 tile of rows per KV head (bulk).
bool holds_one_m16_tile(const Kernel& k) { return k.info.traits.at("kernel").rfind("bulk", 0) == 0; }

const Kernel& baseline_for(DType dtype) { return *all_kernels().find(dtype == DType::fp16 ? "naive-fp16" : "naive-bf16"); }

/// The GPU kernels of a path (not the emulator configurations of the same path: design "emu"),
/// 16-bit caches only (an FP8 cache's truth is the dequantized cache's: test_decode_emulator.cpp).
std::vector<const Kernel*> path_kernels(KernelPath path, DType dtype, int64_t d, bool mutants) {
  std::vector<const Kernel*> out;
  const std::string design = path == KernelPath::decode ? "decode" : "chunked";
  for (const Kernel* k : all_kernels().select({.design = design, .dtype = dtype, .head_dim = static_cast<int>(d), .path = path}))
    if ((k->info.mutant != Mutant::none) == mutants && !is_fp8_cache_kernel(*k)) out.push_back(k);
  return out;
}

std::vector<const Kernel*> decode_kernels(DType dtype, int64_t d, bool mutants) { return path_kernels(KernelPath::decode, dtype, d, mutants); }
std::vector<const Kernel*> chunked_kernels(DType dtype, int64_t d, bool mutants) {
  return path_kernels(KernelPath::chunked_prefill, dtype, d, mutants);
}

/// Runs `k` on a fresh input of `pr` and checks the rule; prints a FAIL line and counts.
struct RuleTally {
  int runs = 0, failures = 0;
  double worst_ratio = 0;
  void check(const Kernel& k, const Problem& pr, const AttentionInputs& in, const Truth& truth, const AttentionOutputs& base) {
    REQUIRE_FALSE(k.invalid_reason(pr).has_value());
    const Rule r = check_rule(k.run(pr, in), truth, base);
    ++runs;
    worst_ratio = std::max(worst_ratio, r.error / r.bound);
    if (!r.passes()) {
      ++failures;
      std::cout << "FAIL " << k.info.name << " " << pr.label() << " error " << r.error << " bound " << r.bound
                << " written " << r.written << " lse " << r.lse_ok << "\n";
    }
  }
};

TruthOptions quick_truth() {
  TruthOptions t;
  t.certify_rows = 2;  // first and last row certified by MPFI; FP64 elsewhere
  return t;
}

}  // namespace

TEST_CASE("every decode variant is within the FlashAttention rule on the cache grid", "[gpu][decode]") {
  struct Case { int64_t d, depth, sq, group; };
  std::vector<Case> cases;
  for (int64_t d : {64, 128})
    for (int64_t depth : {1, 64, 300})
      for (int64_t sq : {1, 4, 16})
        for (int64_t group : {1, 4, 8}) cases.push_back({d, depth, sq, group});
  for (int64_t sq : {1, 16})
    for (int64_t group : {1, 8}) cases.push_back({128, 4096, sq, group});
  int runs = 0, failures = 0, refused = 0;
  double worst_ratio = 0;
  for (DType dtype : {DType::fp16, DType::bf16}) {
    for (const Case& c : cases) {
      const Problem pr = decode_problem(dtype, c.d, c.depth, c.sq, c.group);
      InputSpec spec;
      spec.distribution = (c.depth + c.sq) % 2 ? Distribution::outliers : Distribution::normal;
      spec.seed = static_cast<uint64_t>(c.depth * 131 + c.sq * 7 + c.group);
      const AttentionInputs in = generate_inputs(pr, spec);
      const Truth truth = compute_truth(pr, in, quick_truth());
      const AttentionOutputs base = baseline_for(dtype).run(pr, in);
      const auto kernels = decode_kernels(dtype, c.d, false);
      REQUIRE(kernels.size() == registered_decode_variants(c.d));
      for (const Kernel* k : kernels) {
        if (k->invalid_reason(pr)) {  // only the bulk kernel, only above 16 rows per KV head
          INFO(k->info.name << " " << pr.label() << ": " << *k->invalid_reason(pr));
          REQUIRE(holds_one_m16_tile(*k));
          REQUIRE(c.sq * c.group > kDecodeBulkMaxRowsPerHead);
          ++refused;
          continue;
        }
        const Rule r = check_rule(k->run(pr, in), truth, base);
        ++runs;
        worst_ratio = std::max(worst_ratio, r.error / r.bound);
        if (!r.passes()) {
          ++failures;
          std::cout << "FAIL " << k->info.name << " " << pr.label() << " error " << r.error << " bound " << r.bound
                    << " written " << r.written << " lse " << r.lse_ok << "\n";
        }
      }
    }
  }
  std::cout << "decode rule: " << runs << " runs, " << failures << " failures, worst error/bound " << worst_ratio << " ("
            << refused << " bulk runs refused: S_q x group > 16)\n";
  int expected = 0;
  for (const Case& c : cases) expected += 2 * static_cast<int>(runnable_decode_variants(c.d, c.sq * c.group));
  CHECK(runs == expected);
  CHECK(failures == 0);
}

TEST_CASE("paged decode at odd page sizes and fixed split counts 1..16 is within the rule", "[gpu][decode]") {
  RuleTally tally;
  for (DType dtype : {DType::fp16, DType::bf16}) {
    for (int page : {48, 100})
      for (DecodeKernelKind kind : {DecodeKernelKind::cuda_cores, DecodeKernelKind::bulk, DecodeKernelKind::mma}) {
      const Kernel k = make_decode_kernel({"decode.paged" + std::to_string(page), dtype, 128, 0, 0, page, Mutant::none, kind});
      for (int64_t depth : {1, 300, 2000}) {
        const Problem pr = decode_problem(dtype, 128, depth, 4, 4);
        InputSpec spec;
        spec.distribution = depth == 300 ? Distribution::sink : Distribution::normal;
        spec.seed = static_cast<uint64_t>(page * 7 + depth);
        const AttentionInputs in = generate_inputs(pr, spec);
        tally.check(k, pr, in, compute_truth(pr, in, quick_truth()), baseline_for(dtype).run(pr, in));
      }
    }
    const Problem pr = decode_problem(dtype, 64, 3000, 1, 8);
    InputSpec spec;
    spec.distribution = Distribution::outliers;
    spec.seed = 77;
    const AttentionInputs in = generate_inputs(pr, spec);
    const Truth truth = compute_truth(pr, in, quick_truth());
    const AttentionOutputs base = baseline_for(dtype).run(pr, in);
    for (int splits : {1, 2, 3, 4, 8, 16})
      for (DecodeKernelKind kind : {DecodeKernelKind::cuda_cores, DecodeKernelKind::bulk, DecodeKernelKind::mma})
        tally.check(make_decode_kernel({"decode.splits" + std::to_string(splits), dtype, 64, 0, splits, 32, Mutant::none, kind}),
                    pr, in, truth, base);
  }
  std::cout << "paged/split-count decode rule: " << tally.runs << " runs, " << tally.failures
            << " failures, worst error/bound " << tally.worst_ratio << "\n";
  CHECK(tally.runs == 2 * 3 * (2 * 3 + 6));
  CHECK(tally.failures == 0);
}

TEST_CASE("every chunked-prefill variant is within the FlashAttention rule over the cache", "[gpu][decode][chunked]") {
  // (depth already cached, chunk of new queries): chunks below, at and past the 64/128-row tiles.
  struct Case { int64_t depth, sq, group, d; };
  const std::vector<Case> cases = {{0, 64, 4, 128}, {1, 63, 1, 64},  {300, 65, 4, 128}, {300, 1, 8, 64},
                                   {37, 16, 8, 128}, {4096, 300, 4, 128}, {1000, 1000, 1, 64}, {129, 200, 8, 64}};
  RuleTally tally;
  for (DType dtype : {DType::fp16, DType::bf16})
    for (const Case& c : cases) {
      const Problem pr = decode_problem(dtype, c.d, c.depth, c.sq, c.group, 1);
      InputSpec spec;
      spec.distribution = c.depth % 2 ? Distribution::outliers : Distribution::large_logits;
      if (c.depth == 0) spec.distribution = Distribution::sink;
      spec.seed = static_cast<uint64_t>(c.depth * 17 + c.sq);
      const AttentionInputs in = generate_inputs(pr, spec);
      const Truth truth = compute_truth(pr, in, quick_truth());
      const AttentionOutputs base = baseline_for(dtype).run(pr, in);
      const auto kernels = chunked_kernels(dtype, c.d, false);
      REQUIRE(kernels.size() == 8);  // FA2 and fa3: contiguous, paged 16, paged 256; fa3 pack-gqa: contiguous, paged 16
      for (const Kernel* k : kernels) tally.check(*k, pr, in, truth, base);
    }
  std::cout << "chunked prefill rule: " << tally.runs << " runs, " << tally.failures << " failures, worst error/bound "
            << tally.worst_ratio << "\n";
  CHECK(tally.runs == 2 * static_cast<int>(cases.size()) * 8);
  CHECK(tally.failures == 0);
}

TEST_CASE("chunked prefill on the fa3 kernel equals the fa3 prefill over the same keys, bit for bit", "[gpu][decode][chunked]") {
  // The cache (appended chunk, poisoned unused rows) read by the fa3 kernel against the same
  // kernel on the problem's own K / V with the same per-entry key counts: the cache path adds
  // nothing but where the keys live. Contiguous, and paged: pages of 16 keys (8 TMA boxes per
  // 128-key tile, the pages of a tile past the entry's end not read: their block-table entries
  // are -1) and of 256 (two tiles per page), shuffled in a pool with poisoned spare pages.
  struct Case { int64_t depth, sq, group, d; };
  const std::vector<Case> cases = {{300, 65, 4, 128}, {129, 200, 8, 64}, {1, 63, 1, 64}, {4096, 300, 4, 128}};
  int runs = 0;
  int64_t differ = 0;
  for (DType dtype : {DType::fp16, DType::bf16})
    for (const Case& c : cases) {
      const Problem pr = decode_problem(dtype, c.d, c.depth, c.sq, c.group, 1);
      InputSpec spec;
      spec.seed = static_cast<uint64_t>(c.depth * 7 + c.sq);
      const AttentionInputs in = generate_inputs(pr, spec);
      for (const ChunkedPrefillVariant& v : chunked_variants()) {
        if (v.fp8_cache || v.prefill.rfind("fa3.", 0) != 0) continue;
        const Kernel& chunked = all_kernels().get(v.name);
        if (chunked.info.dtype != dtype || chunked.info.head_dim != c.d) continue;
        INFO(v.name << " " << pr.label());
        const AttentionOutputs a = chunked.run(pr, in), b = all_kernels().get(v.prefill).run(pr, in);
        const int64_t o_diff = bit_diff(a.o, b.o, dtype).differ, lse_diff = bit_diff(a.lse, b.lse, DType::fp32).differ;
        ++runs;
        differ += o_diff + lse_diff;
        CHECK(o_diff == 0);
        CHECK(lse_diff == 0);
      }
    }
  std::cout << "fa3 chunked == fa3 prefill: " << runs << " runs, " << differ << " elements differ\n";
  // Per dtype: 4 cases x (contiguous, paged 16, paged 256, pack-gqa contiguous and paged 16), and
  // the two D 64 cases x the two cache-path mutants (paged 16), each == the fa3 mutant it launches
  // over the same keys.
  CHECK(runs == 2 * (4 * 5 + 2 * 2));
}

TEST_CASE("paged and contiguous decode give bit-identical outputs", "[gpu][decode]") {
  // The layout changes addresses, never arithmetic: same split plan, same bits.
  for (DType dtype : {DType::fp16, DType::bf16}) {
    const Problem pr = decode_problem(dtype, 128, 1500, 2, 4);
    InputSpec spec;
    spec.seed = 41;
    const AttentionInputs in = generate_inputs(pr, spec);
    for (DecodeKernelKind kind : {DecodeKernelKind::cuda_cores, DecodeKernelKind::bulk, DecodeKernelKind::mma}) {
      DecodeVariant v{"c", dtype, 128, 256, 0, 0, Mutant::none, kind};
      const AttentionOutputs contiguous = make_decode_kernel(v).run(pr, in);
      for (int page : {16, 64, 100, 256}) {
        v.page_size = page;
        const AttentionOutputs paged = make_decode_kernel(v).run(pr, in);
        int64_t differing = 0;
        for (int64_t i = 0; i < paged.o.numel(); ++i) differing += paged.o.flat(i) != contiguous.o.flat(i);
        std::cout << (kind == DecodeKernelKind::bulk ? "bulk" : kind == DecodeKernelKind::mma ? "mma" : "cuda-cores") << " page " << page << ": " << differing
                  << " elements differ from contiguous\n";
        CHECK(differing == 0);
      }
    }
  }
}

TEST_CASE("fixed-split decode is batch-invariant (bit-identical alone and in a batch)", "[gpu][decode]") {
  for (DType dtype : {DType::fp16, DType::bf16}) {
    Problem batch = decode_problem(dtype, 128, 3000, 4, 4);
    batch.seqlens_k = {700, 3004, 5, 1800};
    batch.batch = 4;
    InputSpec spec;
    spec.seed = 99;
    const AttentionInputs in = generate_inputs(batch, spec);
    for (const Kernel* k : decode_kernels(dtype, 128, false)) {
      if (k->info.traits.at("batch_invariant") != "true") continue;
      const AttentionOutputs together = k->run(batch, in);
      for (int64_t pick : {0, 3}) {
        Problem alone = batch;
        alone.batch = 1;
        alone.seqlens_k = {batch.seqlens_k[static_cast<size_t>(pick)]};
        AttentionInputs one{Tensor<double>(alone.q_shape()), Tensor<double>(alone.kv_shape()), Tensor<double>(alone.kv_shape())};
        const int64_t qn = one.q.numel(), kn = one.k.numel();
        for (int64_t i = 0; i < qn; ++i) one.q.flat(i) = in.q.flat(pick * qn + i);
        for (int64_t i = 0; i < kn; ++i) {
          one.k.flat(i) = in.k.flat(pick * kn + i);
          one.v.flat(i) = in.v.flat(pick * kn + i);
        }
        const AttentionOutputs single = k->run(alone, one);
        int64_t differing = 0;
        for (int64_t i = 0; i < qn; ++i) differing += single.o.flat(i) != together.o.flat(pick * qn + i);
        const int64_t ln = single.lse.numel();
        for (int64_t i = 0; i < ln; ++i) differing += single.lse.flat(i) != together.lse.flat(pick * ln + i);
        std::cout << k->info.name << " entry " << pick << ": " << differing << " elements differ alone vs batched\n";
        CHECK(differing == 0);
      }
    }
  }
}

TEST_CASE("every cache mutant fails the FlashAttention rule", "[gpu][decode]") {
  for (DType dtype : {DType::fp16, DType::bf16}) {
    const Problem pr = decode_problem(dtype, 128, 300, 4, 4);
    InputSpec spec;
    spec.seed = 5;
    const AttentionInputs in = generate_inputs(pr, spec);
    const Truth truth = compute_truth(pr, in, quick_truth());
    const AttentionOutputs base = baseline_for(dtype).run(pr, in);
    const auto mutants = decode_kernels(dtype, 128, true);
    CHECK(mutants.size() == 12);  // 4 cache bugs x (CUDA-core kernel, bulk kernel, tensor-core kernel's 12-warp form)
    for (const Kernel* k : mutants) {
      const Rule r = check_rule(k->run(pr, in), truth, base);
      std::cout << k->info.name << " (" << k->info.planted_bug << "): error " << r.error << " bound " << r.bound
                << " lse_ok " << r.lse_ok << "\n";
      CHECK_FALSE(r.passes());
    }
  }
  for (DType dtype : {DType::fp16, DType::bf16}) {  // chunked prefill (the GPU mutants are d64)
    const Problem pr = decode_problem(dtype, 64, 300, 40, 4);
    InputSpec spec;
    spec.seed = 6;
    const AttentionInputs in = generate_inputs(pr, spec);
    const Truth truth = compute_truth(pr, in, quick_truth());
    const AttentionOutputs base = baseline_for(dtype).run(pr, in);
    const auto mutants = chunked_kernels(dtype, 64, true);
    CHECK(mutants.size() == 4);  // top-left and interleaved GQA on the cache path x (fa2, fa3), paged 16
    for (const Kernel* k : mutants) {
      const Rule r = check_rule(k->run(pr, in), truth, base);
      std::cout << k->info.name << " (" << k->info.planted_bug << "): error " << r.error << " bound " << r.bound << "\n";
      CHECK_FALSE(r.passes());
    }
  }
}

TEST_CASE("append kernel refuses an overflowing entry on the device and writes nothing", "[gpu][decode][.decode_sanitize]") {
  const int B = 2, cap = 8, hkv = 1, d = 64, fresh = 3;
  const std::vector<int> old = {4, 6};  // entry 1 would reach 9 > 8
  CHECK_THROWS_AS(check_append_fits({4, 6}, fresh, cap), CacheOverflowError);
  std::vector<uint16_t> cache(static_cast<size_t>(B * cap * hkv * d), 0x1234), fresh_rows(static_cast<size_t>(B * fresh * hkv * d), 0x3c00);
  void *dk, *dv, *dnk, *dnv, *dold, *dflag;
  REQUIRE(cudaMalloc(&dk, cache.size() * 2) == cudaSuccess);
  REQUIRE(cudaMalloc(&dv, cache.size() * 2) == cudaSuccess);
  REQUIRE(cudaMalloc(&dnk, fresh_rows.size() * 2) == cudaSuccess);
  REQUIRE(cudaMalloc(&dnv, fresh_rows.size() * 2) == cudaSuccess);
  REQUIRE(cudaMalloc(&dold, 8) == cudaSuccess);
  REQUIRE(cudaMalloc(&dflag, 4) == cudaSuccess);
  cudaMemcpy(dk, cache.data(), cache.size() * 2, cudaMemcpyHostToDevice);
  cudaMemcpy(dv, cache.data(), cache.size() * 2, cudaMemcpyHostToDevice);
  cudaMemcpy(dnk, fresh_rows.data(), fresh_rows.size() * 2, cudaMemcpyHostToDevice);
  cudaMemcpy(dnv, fresh_rows.data(), fresh_rows.size() * 2, cudaMemcpyHostToDevice);
  cudaMemcpy(dold, old.data(), 8, cudaMemcpyHostToDevice);
  cudaMemset(dflag, 0, 4);
  launch_append(dnk, dnv, dk, dv, KvLayout{}, static_cast<const int*>(dold), B, fresh, cap, hkv, d, static_cast<int*>(dflag), nullptr);
  REQUIRE(cudaDeviceSynchronize() == cudaSuccess);
  int flag = 0;
  std::vector<uint16_t> after(cache.size());
  cudaMemcpy(&flag, dflag, 4, cudaMemcpyDeviceToHost);
  cudaMemcpy(after.data(), dk, after.size() * 2, cudaMemcpyDeviceToHost);
  CHECK(flag == 1);
  // Entry 0 (fits) got rows 4..6; entry 1 (overflows) is untouched.
  int64_t written0 = 0, touched1 = 0;
  for (int64_t i = 0; i < cap * hkv * d; ++i) {
    written0 += after[static_cast<size_t>(i)] == 0x3c00;
    touched1 += after[static_cast<size_t>(cap * hkv * d + i)] != 0x1234;
  }
  CHECK(written0 == fresh * hkv * d);
  CHECK(touched1 == 0);
  for (void* p : {dk, dv, dnk, dnv, dold, dflag}) cudaFree(p);
}

TEST_CASE("decode and chunked-prefill variants on small cases (for compute-sanitizer)", "[.decode_sanitize]") {
  // S_q 4 x group 4 on 2 KV heads: 16 rows per head (the bulk kernel: one head per CTA); S_q 1 x
  // group 4 on 4 KV heads: 4 rows per head (the bulk kernel: 4 heads per CTA, bulk1h: 1).
  for (DType dtype : {DType::fp16, DType::bf16})
    for (int64_t d : {64, 128})
      for (const Problem& pr : {decode_problem(dtype, d, 100, 4, 4), decode_problem(dtype, d, 100, 1, 4, 4)}) {
        InputSpec spec;
        spec.seed = 3;
        const AttentionInputs in = generate_inputs(pr, spec);
        std::vector<const Kernel*> kernels;
        for (bool mutants : {false, true})
          for (const auto& list : {decode_kernels(dtype, d, mutants), chunked_kernels(dtype, d, mutants)})
            kernels.insert(kernels.end(), list.begin(), list.end());
        // The tensor-core kernel's 4- and 8-warp shapes (bench --decode; FP16, D 128; the
        // registered 12-warp form is in decode_kernels), contiguous and paged 16.
        std::vector<Kernel> shapes;
        for (int page : {0, 16}) {  // the co-resident form (4 warps x 3 CTAs per SM), every dtype and D
          DecodeVariant v{"mma.w4x3", dtype, static_cast<int>(d), 64, 0, page, Mutant::none, DecodeKernelKind::mma};
          v.mma_warps = 4;
          v.ctas_per_sm = 3;
          shapes.push_back(make_decode_kernel(v));
        }
        if (dtype == DType::fp16 && d == 128)
          for (int warps : {4, 8})
            for (int page : {0, 16}) {
              DecodeVariant v{"mma.w" + std::to_string(warps), dtype, 128, 64, 0, page, Mutant::none, DecodeKernelKind::mma};
              v.mma_warps = warps;
              shapes.push_back(make_decode_kernel(v));
            }
        for (const Kernel& k : shapes)
          if (!k.invalid_reason(pr)) kernels.push_back(&k);
        for (const Kernel* k : kernels) {
          const AttentionOutputs out = k->run(pr, in);
          bool finite = true;
          for (int64_t i = 0; i < out.o.numel(); ++i) finite &= std::isfinite(out.o.flat(i));
          CHECK(finite);
        }
      }
}

TEST_CASE("decode speed vs cache depth and split count: B 8, H 32/8, D 128, S_q 1", "[.depth_sweep]") {
  // kernels/decode/decode_bench.h's timing (the method of `attnscope bench --decode`), CUDA cores.
  DecodeBenchShape shape;
  for (int L : {1, 64, 300, 4096, 32768, 131072})
    for (int splits : {0, 1, 2, 4, 8, 16}) {
      DecodeBenchCase c{"cuda-cores", DecodeVariant{}};
      c.variant.fixed_splits = splits;
      shape.keys = L;
      const DecodeTiming t = time_decode_case(c, shape, 5, L > 32768 ? 30 : 60);
      std::printf("SPEED depth=%d splits=%s actual_splits=%d keys_per_split=%d cold_us=%.2f cold_TBps=%.3f warm_us=%.2f\n", L,
                  splits == 0 ? "heuristic" : std::to_string(splits).c_str(), t.splits, t.keys_per_split, t.cold_us,
                  t.cold_tbps, t.warm_us);
    }
  CHECK(cudaGetLastError() == cudaSuccess);
}

TEST_CASE("decode error vs cache depth and split count (FP16/BF16, H 8/2, D 128, S_q 1)", "[.depth_sweep]") {
  // Depth = keys already in the cache; the new token arrives through the append kernel.
  for (DType dtype : {DType::fp16, DType::bf16})
    for (int64_t depth : {0, 1, 64, 300, 4096, 32768, 131072}) {
      Problem pr;
      pr.batch = 1;
      pr.seqlen_q = 1;
      pr.seqlen_k = depth + 1;
      pr.num_heads_q = 8;
      pr.num_heads_kv = 2;
      pr.head_dim = 128;
      pr.dtype = dtype;
      InputSpec spec;
      spec.seed = static_cast<uint64_t>(depth + 1);
      const AttentionInputs in = generate_inputs(pr, spec);
      const Truth truth = compute_truth(pr, in, quick_truth());
      const AttentionOutputs base = baseline_for(dtype).run(pr, in);
      for (int splits : {1, 2, 4, 8, 16}) {
        const Kernel k = make_decode_kernel({"decode", dtype, 128, 0, splits, 0, Mutant::none});
        const AttentionOutputs out = k.run(pr, in);
        const Rule r = check_rule(out, truth, base);
        double ulp_max = 0;
        const FloatFormat f = format_of(dtype);
        for (int64_t i = 0; i < out.o.numel(); ++i)
          ulp_max = std::max(ulp_max, std::fabs(out.o.flat(i) - truth.o.flat(i)) / ulp_of(truth.o.flat(i), f));
        std::printf("DEPTH dtype=%s depth=%lld splits=%d max_abs=%.3e baseline=%.3e ratio=%.3f ulp_max=%.2f pass=%d\n",
                    dtype_name(dtype).data(), static_cast<long long>(depth), splits, r.error, r.baseline, r.error / r.bound,
                    ulp_max, r.passes() ? 1 : 0);
        CHECK(r.passes());
      }
    }
}

}  // namespace attn
