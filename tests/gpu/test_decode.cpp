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
// Hidden tags: [.decode_sanitize] small cases for compute-sanitizer, [.decode_bench] the bandwidth
// benchmark (median of per-launch CUDA-event times), [.depth_sweep] error vs cache depth and splits.
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
#include "kernels/decode/decode_launch.h"
#include "kernels/decode/register_decode_kernels.h"
#include "references/truth.h"

namespace attn {
namespace {

double max_abs_error(const Tensor<double>& a, const Tensor<double>& b) {
  double worst = 0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    const double d = std::fabs(a.flat(i) - b.flat(i));
    if (std::isnan(d)) return INFINITY;
    worst = std::max(worst, d);
  }
  return worst;
}

struct Rule {
  double error = 0, baseline = 0, bound = 0;
  bool written = true, lse_ok = true, fa_pass = false;
  bool passes() const { return fa_pass && written && lse_ok; }
};

Rule check_rule(const AttentionOutputs& out, const Truth& truth, const AttentionOutputs& baseline) {
  Rule r;
  r.error = max_abs_error(out.o, truth.o);
  r.baseline = max_abs_error(baseline.o, truth.o);
  for (int64_t i = 0; i < out.o.numel(); ++i) r.written &= !std::isnan(out.o.flat(i));
  const FaRuleVerdict rule = fa_rule(r.error, r.baseline, r.written);  // the one FlashAttention rule
  r.bound = rule.bound;
  r.fa_pass = rule.pass;
  for (int64_t i = 0; i < out.lse.numel(); ++i) {
    const double t = truth.lse.flat(i), k = out.lse.flat(i);
    r.lse_ok &= std::isinf(t) ? (std::isinf(k) && k < 0) : std::fabs(k - t) <= 1e-4 * (1 + std::fabs(t));
  }
  return r;
}

/// B = 3 entries of fills depth + S_q, depth/3 + S_q and S_q (capacity: the longest + 5 unused rows).
Problem decode_problem(DType dtype, int64_t d, int64_t depth, int64_t sq, int64_t group, int64_t heads_kv = 2) {
  Problem p;
  p.batch = 3;
  p.seqlen_q = sq;
  p.seqlen_k = depth + sq + 5;
  p.num_heads_kv = heads_kv;
  p.num_heads_q = heads_kv * group;
  p.head_dim = d;
  p.dtype = dtype;
  p.seqlens_k = {depth + sq, depth / 3 + sq, sq};
  return p;
}

const Kernel& baseline_for(DType dtype) { return *all_kernels().find(dtype == DType::fp16 ? "naive-fp16" : "naive-bf16"); }

std::vector<const Kernel*> path_kernels(KernelPath path, DType dtype, int64_t d, bool mutants) {
  std::vector<const Kernel*> out;
  for (const Kernel* k : all_kernels().select({.dtype = dtype, .head_dim = static_cast<int>(d), .path = path}))
    if ((k->info.mutant != Mutant::none) == mutants) out.push_back(k);
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
  int runs = 0, failures = 0;
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
      REQUIRE(kernels.size() == 4);
      for (const Kernel* k : kernels) {
        REQUIRE_FALSE(k->invalid_reason(pr).has_value());
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
  std::cout << "decode rule: " << runs << " runs, " << failures << " failures, worst error/bound " << worst_ratio << "\n";
  CHECK(runs == 2 * static_cast<int>(cases.size()) * 4);
  CHECK(failures == 0);
}

TEST_CASE("paged decode at odd page sizes and fixed split counts 1..16 is within the rule", "[gpu][decode]") {
  RuleTally tally;
  for (DType dtype : {DType::fp16, DType::bf16}) {
    for (int page : {48, 100}) {
      const Kernel k = make_decode_kernel({"decode.paged" + std::to_string(page), dtype, 128, 0, 0, page, Mutant::none});
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
      tally.check(make_decode_kernel({"decode.splits" + std::to_string(splits), dtype, 64, 0, splits, 32, Mutant::none}), pr, in,
                  truth, base);
  }
  std::cout << "paged/split-count decode rule: " << tally.runs << " runs, " << tally.failures
            << " failures, worst error/bound " << tally.worst_ratio << "\n";
  CHECK(tally.runs == 2 * (2 * 3 + 6));
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
      REQUIRE(kernels.size() == 3);
      for (const Kernel* k : kernels) tally.check(*k, pr, in, truth, base);
    }
  std::cout << "chunked prefill rule: " << tally.runs << " runs, " << tally.failures << " failures, worst error/bound "
            << tally.worst_ratio << "\n";
  CHECK(tally.runs == 2 * static_cast<int>(cases.size()) * 3);
  CHECK(tally.failures == 0);
}

TEST_CASE("paged and contiguous decode give bit-identical outputs", "[gpu][decode]") {
  // The layout changes addresses, never arithmetic: same split plan, same bits.
  for (DType dtype : {DType::fp16, DType::bf16}) {
    const Problem pr = decode_problem(dtype, 128, 1500, 2, 4);
    InputSpec spec;
    spec.seed = 41;
    const AttentionInputs in = generate_inputs(pr, spec);
    const AttentionOutputs contiguous = make_decode_kernel({"c", dtype, 128, 256, 0, 0, Mutant::none}).run(pr, in);
    for (int page : {16, 64, 100, 256}) {
      const AttentionOutputs paged = make_decode_kernel({"p", dtype, 128, 256, 0, page, Mutant::none}).run(pr, in);
      int64_t differing = 0;
      for (int64_t i = 0; i < paged.o.numel(); ++i) differing += paged.o.flat(i) != contiguous.o.flat(i);
      std::cout << "page " << page << ": " << differing << " elements differ from contiguous\n";
      CHECK(differing == 0);
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
    CHECK(mutants.size() == 4);
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
    CHECK(mutants.size() == 2);
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
  for (DType dtype : {DType::fp16, DType::bf16})
    for (int64_t d : {64, 128}) {
      const Problem pr = decode_problem(dtype, d, 100, 4, 4);
      InputSpec spec;
      spec.seed = 3;
      const AttentionInputs in = generate_inputs(pr, spec);
      std::vector<const Kernel*> kernels;
      for (bool mutants : {false, true})
        for (const auto& list : {decode_kernels(dtype, d, mutants), chunked_kernels(dtype, d, mutants)})
          kernels.insert(kernels.end(), list.begin(), list.end());
      for (const Kernel* k : kernels) {
        const AttentionOutputs out = k->run(pr, in);
        bool finite = true;
        for (int64_t i = 0; i < out.o.numel(); ++i) finite &= std::isfinite(out.o.flat(i));
        CHECK(finite);
      }
    }
}

namespace {

/// Decode timing, the same method as experiments/peers/bench_torch_decode.py: "cold" = median
/// over `iters` calls each timed alone with CUDA events after a 256 MiB memset has evicted L2
/// (K/V come from HBM); "warm" = mean of `iters` back-to-back calls between two events.
struct Timing {
  double cold_us = 0, warm_us = 0;
};

template <class F>
Timing time_decode(F&& f, int warmup, int iters) {
  static void* scratch = nullptr;
  constexpr size_t kScratch = size_t{256} << 20;
  if (!scratch) REQUIRE(cudaMalloc(&scratch, kScratch) == cudaSuccess);
  for (int w = 0; w < warmup; ++w) f();
  cudaEvent_t start, stop;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  std::vector<float> ms(static_cast<size_t>(iters));
  for (int it = 0; it < iters; ++it) {
    cudaMemsetAsync(scratch, it & 0xFF, kScratch);
    cudaEventRecord(start);
    f();
    cudaEventRecord(stop);
    cudaEventSynchronize(stop);
    cudaEventElapsedTime(&ms[static_cast<size_t>(it)], start, stop);
  }
  std::nth_element(ms.begin(), ms.begin() + iters / 2, ms.end());
  Timing t;
  t.cold_us = 1e3 * ms[static_cast<size_t>(iters / 2)];
  cudaEventRecord(start);
  for (int it = 0; it < iters; ++it) f();
  cudaEventRecord(stop);
  cudaEventSynchronize(stop);
  float total = 0;
  cudaEventElapsedTime(&total, start, stop);
  t.warm_us = 1e3 * total / iters;
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return t;
}

/// Device buffers of one timing configuration: B entries of L keys, cache filled with byte
/// patterns on the device (0x2C2C = 0.0645 in FP16, 0x3C3C = 1.06); paged with a shuffled-free
/// identity block table when page > 0 (the address arithmetic is what costs, not the order).
struct BenchSetup {
  int B, Hq, Hkv, D, L, page;
  void *dq = nullptr, *dk = nullptr, *dv = nullptr, *dout = nullptr, *dlse = nullptr, *dpo = nullptr, *dplse = nullptr,
       *dlens = nullptr, *dtable = nullptr, *dcount = nullptr;
  static constexpr int kMaxSplits = 128;
  BenchSetup(int b, int hq, int hkv, int d, int l, int pg) : B(b), Hq(hq), Hkv(hkv), D(d), L(l), page(pg) {
    const size_t cache = static_cast<size_t>(B) * L * Hkv * D;
    REQUIRE(cudaMalloc(&dq, static_cast<size_t>(B) * Hq * D * 2) == cudaSuccess);
    REQUIRE(cudaMalloc(&dk, cache * 2) == cudaSuccess);
    REQUIRE(cudaMalloc(&dv, cache * 2) == cudaSuccess);
    REQUIRE(cudaMalloc(&dout, static_cast<size_t>(B) * Hq * D * 2) == cudaSuccess);
    REQUIRE(cudaMalloc(&dlse, static_cast<size_t>(B) * Hq * 4) == cudaSuccess);
    REQUIRE(cudaMalloc(&dpo, static_cast<size_t>(kMaxSplits) * B * Hq * D * 4) == cudaSuccess);
    REQUIRE(cudaMalloc(&dplse, static_cast<size_t>(kMaxSplits) * B * Hq * 4) == cudaSuccess);
    REQUIRE(cudaMalloc(&dlens, static_cast<size_t>(B) * 4) == cudaSuccess);
    const size_t counters = static_cast<size_t>(decode_counter_count(B, Hq, Hkv, 1));
    REQUIRE(cudaMalloc(&dcount, counters * 4) == cudaSuccess);
    cudaMemset(dcount, 0, counters * 4);
    cudaMemset(dk, 0x2C, cache * 2);
    cudaMemset(dv, 0x3C, cache * 2);
    cudaMemset(dq, 0x2C, static_cast<size_t>(B) * Hq * D * 2);
    std::vector<int> lens(static_cast<size_t>(B), L);
    cudaMemcpy(dlens, lens.data(), lens.size() * 4, cudaMemcpyHostToDevice);
    if (page > 0) {
      std::vector<int> table(static_cast<size_t>(B) * (L / page));
      for (size_t i = 0; i < table.size(); ++i) table[i] = static_cast<int>(i);
      REQUIRE(cudaMalloc(&dtable, table.size() * 4) == cudaSuccess);
      cudaMemcpy(dtable, table.data(), table.size() * 4, cudaMemcpyHostToDevice);
    }
  }
  ~BenchSetup() {
    for (void* ptr : {dq, dk, dv, dout, dlse, dpo, dplse, dlens, dtable, dcount}) cudaFree(ptr);
  }
  DecodeParams params(const SplitPlan& plan) const {
    DecodeParams p;
    p.q = dq; p.k_cache = dk; p.v_cache = dv; p.o = dout; p.lse = static_cast<float*>(dlse);
    p.partial_o = static_cast<float*>(dpo); p.partial_lse = static_cast<float*>(dplse);
    p.split_counters = static_cast<int*>(dcount);
    p.seqlens_k = static_cast<const int*>(dlens);
    if (page > 0) p.layout = KvLayout{static_cast<const int*>(dtable), page, L / page};
    p.batch = B; p.seqlen_q = 1; p.capacity = L; p.num_heads_q = Hq; p.num_heads_kv = Hkv; p.head_dim = D;
    p.keys_per_split = static_cast<int>(plan.keys_per_split);
    p.max_splits = static_cast<int>(plan.max_splits);
    p.scale = 1.0f / std::sqrt(static_cast<float>(D));
    return p;
  }
  double bytes() const { return 2.0 * B * static_cast<double>(L) * Hkv * D * 2; }  // K and V, 2 bytes each
};

SplitPlan plan_with_splits(int64_t L, int splits) {
  return plan_fixed_splits({L}, ((L + splits - 1) / splits + 63) / 64 * 64);
}

}  // namespace

TEST_CASE("decode bandwidth: B 8, H 32/8, D 128, S_q 1", "[.decode_bench]") {
  const int B = 8, Hq = 32, Hkv = 8, D = 128;
  for (int L : {4096, 16384, 65536})
    for (int page : {0, 16, 256}) {
      const BenchSetup setup(B, Hq, Hkv, D, L, page);
      const std::vector<int64_t> keys(B, L);
      for (int mode = 0; mode < 3; ++mode) {  // heuristic split, fixed split, heuristic with 3 stages
        const int stages = mode == 2 ? 3 : kDecodeDefaultStages;
        const SplitPlan plan = mode != 1 ? plan_heuristic_splits(keys, Hkv, decode_resident_ctas(DType::fp16, D, 4, stages))
                                         : plan_fixed_splits(keys, std::max(256, L / 64));
        if (mode != 0 && page > 0) continue;
        REQUIRE(plan.max_splits <= BenchSetup::kMaxSplits);
        DecodeParams p = setup.params(plan);
        p.stages = stages;
        const Timing t = time_decode([&] { launch_decode(p, DType::fp16, Mutant::none, nullptr); }, 10, 100);
        std::printf("BENCH ours-%s%s L=%d splits=%d keys_per_split=%d cold_us=%.2f cold_TBps=%.3f warm_us=%.2f warm_TBps=%.3f\n",
                    mode == 0 ? "split" : mode == 1 ? "fixed" : "split.3stages", page ? (".paged" + std::to_string(page)).c_str() : "", L, p.max_splits,
                    p.keys_per_split, t.cold_us, setup.bytes() / (t.cold_us * 1e-6) / 1e12, t.warm_us,
                    setup.bytes() / (t.warm_us * 1e-6) / 1e12);
      }
    }
  CHECK(cudaGetLastError() == cudaSuccess);
}

TEST_CASE("decode speed vs cache depth and split count: B 8, H 32/8, D 128, S_q 1", "[.depth_sweep]") {
  const int B = 8, Hq = 32, Hkv = 8, D = 128;
  for (int L : {1, 64, 300, 4096, 32768, 131072}) {
    const BenchSetup setup(B, Hq, Hkv, D, L, 0);
    for (int splits : {0, 1, 2, 4, 8, 16}) {
      const SplitPlan plan = splits == 0 ? plan_heuristic_splits(std::vector<int64_t>(B, L), Hkv, decode_resident_ctas(DType::fp16, D, 4))
                                         : plan_with_splits(L, splits);
      const DecodeParams p = setup.params(plan);
      const Timing t = time_decode([&] { launch_decode(p, DType::fp16, Mutant::none, nullptr); }, 5, L > 32768 ? 30 : 60);
      std::printf("SPEED depth=%d splits=%s actual_splits=%d keys_per_split=%d cold_us=%.2f cold_TBps=%.3f warm_us=%.2f\n",
                  L, splits == 0 ? "heuristic" : std::to_string(splits).c_str(), p.max_splits, p.keys_per_split,
                  t.cold_us, setup.bytes() / (t.cold_us * 1e-6) / 1e12, t.warm_us);
    }
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
