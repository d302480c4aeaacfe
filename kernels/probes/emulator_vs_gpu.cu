// emulator_vs_gpu.cu: standalone device probe that the CPU emulator with every stage "kernel"
// reproduces the FA2 prefill kernel (kernels/prefill/fa2_forward.cuh) bit for bit, as DESIGN.md
// asks ("where it does not, that is a finding to report"). For a few shapes and dtypes it runs
// the GPU kernel and analysis/emulator.h on the same quantized inputs (the emulator configured
// by the variant's own PrefillTraits::algorithm()) and reports the number of output elements
// whose bits differ and the max |difference| in ULPs.
// Known modelled gap: ex2.approx.ftz.f32 (<= 2 ulp) vs the emulator's correctly rounded exp2f.
// Built with CUDA as build/<preset>/kernels/probe_emulator_vs_gpu (kernels/CMakeLists.txt); a
// probe, not a test: it prints, it does not judge.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <vector>

#include "analysis/emulator.h"
#include "core/generators.h"
#include "kernels/prefill/fa2_forward.cuh"

using namespace attn;

namespace {

template <class Traits>
void compare(const char* name, Problem problem, Distribution dist, uint64_t seed) {
  problem.dtype = Traits::kElem;
  problem.head_dim = Traits::kHeadDim;
  const AttentionInputs in = generate_inputs(problem, InputSpec{dist, seed});
  const FloatFormat& fmt = format_of(problem.dtype);
  auto to_bits = [&](const Tensor<double>& t) {
    std::vector<uint16_t> bits(static_cast<size_t>(t.numel()));
    for (int64_t e = 0; e < t.numel(); ++e) bits[static_cast<size_t>(e)] = static_cast<uint16_t>(encode_bits(t.flat(e), fmt));
    return bits;
  };
  const auto q = to_bits(in.q), k = to_bits(in.k), v = to_bits(in.v);
  void *dq, *dk, *dv, *do_;
  cudaMalloc(&dq, q.size() * 2);
  cudaMalloc(&dk, k.size() * 2);
  cudaMalloc(&dv, v.size() * 2);
  cudaMalloc(&do_, q.size() * 2);
  cudaMemcpy(dq, q.data(), q.size() * 2, cudaMemcpyHostToDevice);
  cudaMemcpy(dk, k.data(), k.size() * 2, cudaMemcpyHostToDevice);
  cudaMemcpy(dv, v.data(), v.size() * 2, cudaMemcpyHostToDevice);
  PrefillParams p = make_prefill_params(problem);
  p.q = dq;
  p.k = dk;
  p.v = dv;
  p.o = do_;
  fa2::launch_fa2_forward<Traits>(p, nullptr);
  std::vector<uint16_t> o(q.size());
  cudaMemcpy(o.data(), do_, o.size() * 2, cudaMemcpyDeviceToHost);
  const cudaError_t err = cudaGetLastError();
  cudaFree(dq);
  cudaFree(dk);
  cudaFree(dv);
  cudaFree(do_);
  if (err != cudaSuccess) {
    std::printf("%-34s CUDA error %s\n", name, cudaGetErrorString(err));
    return;
  }
  EmulatorConfig config;
  config.algorithm = Traits::algorithm();
  const AttentionOutputs emu = emulate_attention(problem, in, config);
  int64_t differ = 0;
  double max_ulps = 0;
  for (int64_t e = 0; e < emu.o.numel(); ++e) {
    const double gpu = decode_bits(o[static_cast<size_t>(e)], fmt), cpu = emu.o.flat(e);
    if (gpu != cpu || std::signbit(gpu) != std::signbit(cpu)) {
      ++differ;
      max_ulps = std::max(max_ulps, std::fabs(gpu - cpu) / ulp_of(cpu, fmt));
    }
  }
  std::printf("%-34s %-34s %9lld of %9lld elements differ (%.4f%%), max %.1f ulp\n", name, problem.label().c_str(),
              static_cast<long long>(differ), static_cast<long long>(emu.o.numel()),
              100.0 * static_cast<double>(differ) / static_cast<double>(emu.o.numel()), max_ulps);
}

Problem shape(int64_t batch, int64_t sq, int64_t sk, int64_t hq, int64_t hkv) {
  Problem p;
  p.batch = batch;
  p.seqlen_q = sq;
  p.seqlen_k = sk;
  p.num_heads_q = hq;
  p.num_heads_kv = hkv;
  return p;
}

}  // namespace

int main() {
  using F16_64 = PrefillTraits<DType::fp16, 64, 64, 64>;
  using F16_128 = PrefillTraits<DType::fp16, 128, 128, 64>;
  using B16_128 = PrefillTraits<DType::bf16, 128, 64, 64>;
  using F16_128_precise = PrefillTraits<DType::fp16, 128, 64, 64, PCastMode::split_hi_lo>;
  for (Distribution dist : {Distribution::normal, Distribution::outliers}) {
    std::printf("inputs: %s\n", distribution_name(dist).c_str());
    compare<F16_64>("fa2 fp16 d64 m64n64", shape(2, 256, 256, 4, 2), dist, 1);
    compare<F16_64>("fa2 fp16 d64 m64n64 (ragged)", shape(1, 100, 130, 2, 1), dist, 2);
    compare<F16_128>("fa2 fp16 d128 m128n64", shape(1, 1024, 1024, 2, 2), dist, 3);
    compare<B16_128>("fa2 bf16 d128 m64n64", shape(1, 512, 512, 2, 1), dist, 4);
    compare<F16_128_precise>("fa2 fp16 d128 m64n64 precise", shape(1, 512, 512, 2, 2), dist, 5);
  }
  // Lazy rescaling and the planted mutants: the emulator's flag must plant the same bug.
  using Lazy = PrefillTraits<DType::fp16, 64, 64, 64, PCastMode::input_dtype, 8>;
  using TopLeft = PrefillTraits<DType::fp16, 64, 64, 64, PCastMode::input_dtype, 0, Mutant::top_left_in_cache_path>;
  using Edges = PrefillTraits<DType::fp16, 64, 64, 64, PCastMode::input_dtype, 0, Mutant::unmasked_tile_edges>;
  using Gqa = PrefillTraits<DType::fp16, 64, 64, 64, PCastMode::input_dtype, 0, Mutant::interleaved_gqa_in_cache_path>;
  using StaleMax = PrefillTraits<DType::fp16, 64, 64, 64, PCastMode::input_dtype, 0, Mutant::p_cast_before_final_max>;
  using Fp16Rescale = PrefillTraits<DType::fp16, 64, 64, 64, PCastMode::input_dtype, 0, Mutant::rescale_in_fp16>;
  std::printf("lazy rescaling and mutants (normal inputs):\n");
  compare<Lazy>("fa2 fp16 d64 lazy8", shape(1, 512, 512, 2, 2), Distribution::normal, 6);
  compare<TopLeft>("mutant top-left (cache path)", shape(1, 16, 80, 2, 2), Distribution::normal, 7);
  compare<TopLeft>("mutant top-left (S_q = S_k)", shape(1, 64, 64, 2, 2), Distribution::normal, 7);
  compare<Edges>("mutant unmasked-tile-edges", shape(1, 32, 32, 2, 2), Distribution::normal, 8);
  compare<Gqa>("mutant interleaved-gqa (cache path)", shape(1, 8, 64, 4, 2), Distribution::normal, 9);
  compare<Gqa>("mutant interleaved-gqa (S_q = S_k)", shape(1, 64, 64, 4, 2), Distribution::normal, 9);
  compare<StaleMax>("mutant p-cast-before-max", shape(1, 256, 256, 2, 2), Distribution::normal, 10);
  compare<Fp16Rescale>("mutant rescale-fp16", shape(1, 256, 256, 2, 2), Distribution::normal, 11);
  return 0;
}
