// test_emulator_agreement.cpp: does the CPU emulator (analysis/) reproduce the GPU bits?
//  [.probe]    >= 10^6 random FP16 and BF16 dot products (k = 16 plus an FP32 accumulator)
//              through real mma.sync vs analysis/tensor_core_model.h mma_dot, bit for bit;
//  [.emulator] the default prefill variants (FA2 and the Hopper fa3 ones; [.emulator-hopper]:
//              fa3 only) vs emulate_attention with every stage "kernel":
//              fraction of output elements that differ in any bit, and by how many ULPs.
// Hidden tags: run explicitly on the device by experiments/device/run_prefill.sh (they print
// the rates that reports/h100/emulator-agreement/README.md publishes).
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "analysis/emulator.h"
#include "analysis/tensor_core_model.h"
#include "core/float_format.h"
#include "core/generators.h"
#include "experiments/register_all.h"
#include "kernels/probes/mma_probe.h"
#include "tests/gpu/bit_diff.h"

namespace attn {

TEST_CASE("mma.sync agrees bit for bit with the tensor-core model on 10^6 dot products", "[.probe]") {
  for (DType dtype : {DType::fp16, DType::bf16}) {
    const FloatFormat& fmt = dtype == DType::fp16 ? kFp16 : kBf16;
    const int count = 7813;  // x 128 dot products = 1,000,064
    std::mt19937_64 rng(dtype == DType::fp16 ? 1234 : 5678);
    std::vector<uint16_t> a(static_cast<size_t>(count) * 256), b(static_cast<size_t>(count) * 128);
    std::vector<float> c(static_cast<size_t>(count) * 128);
    const int spreads[] = {0, 2, 6, 12};  // exponent spread of the operands (cancellation to wide alignment)
    for (int m = 0; m < count; ++m) {
      const int spread = spreads[m % 4];
      auto value = [&](double scale) {
        std::uniform_real_distribution<double> sig(1.0, 2.0);
        std::uniform_int_distribution<int> ex(-spread, spread);
        const double v = (rng() & 1 ? -1 : 1) * sig(rng) * std::ldexp(1.0, ex(rng)) * scale;
        return v;
      };
      for (int i = 0; i < 256; ++i) a[static_cast<size_t>(m) * 256 + i] = static_cast<uint16_t>(encode_bits(round_to_format(value(1), fmt), fmt));
      for (int i = 0; i < 128; ++i) b[static_cast<size_t>(m) * 128 + i] = static_cast<uint16_t>(encode_bits(round_to_format(value(1), fmt), fmt));
      for (int i = 0; i < 128; ++i) c[static_cast<size_t>(m) * 128 + i] = (m % 8 == 0) ? 0.0f : static_cast<float>(value(4));
    }
    const std::vector<float> d = run_mma_sync_probe(a, b, c, count, dtype);
    int64_t exact = 0, total = 0;
    for (int m = 0; m < count; ++m)
      for (int row = 0; row < 16; ++row)
        for (int n = 0; n < 8; ++n) {
          const uint16_t* arow = &a[static_cast<size_t>(m) * 256 + row * 16];
          const uint16_t* bcol = &b[static_cast<size_t>(m) * 128 + n * 16];
          const float cin = c[static_cast<size_t>(m) * 128 + row * 8 + n];
          const float model = mma_dot(arow, bcol, 16, cin, dtype);
          const float gpu = d[static_cast<size_t>(m) * 128 + row * 8 + n];
          uint32_t mb, gb;
          std::memcpy(&mb, &model, 4);
          std::memcpy(&gb, &gpu, 4);
          exact += mb == gb;
          ++total;
        }
    std::printf("mma.sync probe %s: %lld / %lld dot products bit-exact (%.6f%%)\n", std::string(dtype_name(dtype)).c_str(),
                static_cast<long long>(exact), static_cast<long long>(total), 100.0 * exact / total);
    CHECK(total >= 1000000);
    CHECK(exact == total);
  }
}

static void emulator_agreement(bool hopper_only) {
  struct Shape {
    int64_t sq, sk, hq, hkv;
    MaskKind mask;
    Distribution dist;
  };
  const Shape shapes[] = {{300, 300, 4, 1, MaskKind::causal_bottom_right, Distribution::normal},
                          {65, 1000, 4, 4, MaskKind::none, Distribution::outliers},
                          {128, 700, 8, 2, MaskKind::causal_bottom_right, Distribution::sink}};
  for (const Kernel* k : all_kernels().all()) {
    // Correct prefill variants only: FA2 (mma.sync) and the Hopper fa3 kernels (wgmma), whose
    // contract is the same pipeline with their own tile (kernels/hopper/forward_kernel.cuh).
    const bool fa3 = k->info.design == "fa3";
    if ((k->info.design != "fa2" && !fa3) || (hopper_only && !fa3) || k->info.mutant != Mutant::none) continue;
    const AlgorithmConfig& algorithm = *k->info.algorithm;
    if (!k->info.is_default && algorithm.p_cast != PCastMode::split_hi_lo && algorithm.rescale_threshold_log2 == 0) continue;
    for (const Shape& s : shapes) {
      Problem pr;
      pr.batch = 1; pr.seqlen_q = s.sq; pr.seqlen_k = s.sk; pr.num_heads_q = s.hq; pr.num_heads_kv = s.hkv;
      pr.head_dim = k->info.head_dim;
      pr.dtype = *k->info.dtype;
      pr.mask.kind = s.mask;
      InputSpec spec;
      spec.distribution = s.dist;
      spec.seed = 99;
      const AttentionInputs in = generate_inputs(pr, spec);
      EmulatorConfig cfg;
      cfg.algorithm = algorithm;  // the variant's own traits, typed (PrefillTraits::algorithm())
      const AttentionOutputs emu = emulate_attention(pr, in, cfg);
      const AttentionOutputs gpu = k->run(pr, in);
      const BitDiff diff = bit_diff(gpu.o, emu.o, pr.dtype);
      const int64_t differ = diff.differ, max_ulps = diff.max_ulps;
      const double fraction = diff.fraction();
      std::printf("emulator vs %-30s %-28s %s: %lld of %lld elements differ (%.4f%%), max %lld ulp\n",
                  k->info.name.c_str(), pr.label().c_str(), distribution_name(s.dist).c_str(), static_cast<long long>(differ),
                  static_cast<long long>(gpu.o.numel()), 100 * fraction, static_cast<long long>(max_ulps));
      INFO(k->info.name << " " << pr.label());
      CHECK(fraction < 0.05);  // a contract mismatch (order, rounding mode) would differ almost everywhere
    }
  }
}

TEST_CASE("default prefill variants vs the all-kernel emulator", "[.emulator]") { emulator_agreement(false); }
TEST_CASE("Hopper (fa3) default variants vs the all-kernel emulator", "[.emulator-hopper]") { emulator_agreement(true); }

}  // namespace attn
