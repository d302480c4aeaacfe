// mma_check.cu: standalone device check of analysis/tensor_core_model.h against
// real mma.sync.m16n8k16 (FP16 and BF16 inputs, FP32 accumulate) on random dot products with
// spread exponents (so that alignment and truncation matter). For every candidate model
// (extra alignment bits 0..4, final rounding toward zero / nearest) it counts mismatching FP32
// results; the model used by the emulator must have 0 mismatches.
// Built with CUDA as build/<preset>/kernels/probe_mma_check (kernels/CMakeLists.txt):
//   probe_mma_check [num_mma=8192] [dump_dir]   (each MMA gives 128 dot products of length 16;
//   dump_dir receives the raw vectors and GPU results for offline model fitting)
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "analysis/tensor_core_model.h"

namespace {

// One warp per MMA: A (16x16, row-major), B (16x8 as [k][n]), C and D (16x8 FP32).
template <bool kBf16>
__global__ void mma_kernel(const uint16_t* a, const uint16_t* b, const float* c, float* d, int count) {
  const int test = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32;
  if (test >= count) return;
  const int lane = threadIdx.x % 32, group = lane / 4, tig = lane % 4;
  const uint16_t* A = a + test * 256;
  const uint16_t* B = b + test * 128;
  const float* C = c + test * 128;
  float* D = d + test * 128;
  auto pack = [](uint16_t lo, uint16_t hi) { return static_cast<uint32_t>(lo) | (static_cast<uint32_t>(hi) << 16); };
  uint32_t ra[4], rb[2];
  ra[0] = pack(A[group * 16 + tig * 2], A[group * 16 + tig * 2 + 1]);
  ra[1] = pack(A[(group + 8) * 16 + tig * 2], A[(group + 8) * 16 + tig * 2 + 1]);
  ra[2] = pack(A[group * 16 + tig * 2 + 8], A[group * 16 + tig * 2 + 9]);
  ra[3] = pack(A[(group + 8) * 16 + tig * 2 + 8], A[(group + 8) * 16 + tig * 2 + 9]);
  rb[0] = pack(B[(tig * 2) * 8 + group], B[(tig * 2 + 1) * 8 + group]);
  rb[1] = pack(B[(tig * 2 + 8) * 8 + group], B[(tig * 2 + 9) * 8 + group]);
  float rd[4] = {C[group * 8 + tig * 2], C[group * 8 + tig * 2 + 1], C[(group + 8) * 8 + tig * 2],
                 C[(group + 8) * 8 + tig * 2 + 1]};
  if constexpr (kBf16) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(rd[0]), "+f"(rd[1]), "+f"(rd[2]), "+f"(rd[3])
                 : "r"(ra[0]), "r"(ra[1]), "r"(ra[2]), "r"(ra[3]), "r"(rb[0]), "r"(rb[1]));
  } else {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(rd[0]), "+f"(rd[1]), "+f"(rd[2]), "+f"(rd[3])
                 : "r"(ra[0]), "r"(ra[1]), "r"(ra[2]), "r"(ra[3]), "r"(rb[0]), "r"(rb[1]));
  }
  D[group * 8 + tig * 2] = rd[0];
  D[group * 8 + tig * 2 + 1] = rd[1];
  D[(group + 8) * 8 + tig * 2] = rd[2];
  D[(group + 8) * 8 + tig * 2 + 1] = rd[3];
}

uint64_t next(uint64_t& s) {
  uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/// Random value with a random sign, significand and exponent in [-spread, spread], rounded to fmt.
double random_value(uint64_t& s, int spread, const attn::FloatFormat& fmt, int offset = 0) {
  const double significand = 1.0 + static_cast<double>(next(s) % (1u << 23)) / (1u << 23);
  const int exponent = static_cast<int>(next(s) % static_cast<uint64_t>(2 * spread + 1)) - spread + offset;
  const double sign = (next(s) & 1) ? -1.0 : 1.0;
  if (next(s) % 16 == 0) return 0.0;  // some exact zeros
  return attn::round_to_format(sign * std::ldexp(significand, exponent), fmt);
}

template <bool kBf16>
void check(int count, uint64_t seed, const char* dump_dir) {
  const attn::FloatFormat& fmt = kBf16 ? attn::kBf16 : attn::kFp16;
  std::vector<uint16_t> a(count * 256), b(count * 128);
  std::vector<float> c(count * 128), d(count * 128);
  uint64_t s = seed;
  for (int t = 0; t < count; ++t) {
    // Mix of regimes: narrow exponent spread (cancellation, carries), wide (alignment loss),
    // and exponents in [-24, 4] (FP16 subnormal inputs below 2^-14); all finite.
    const int spreads[] = {2, 6, 12, 14};
    const int offsets[] = {0, 0, 0, -10};
    const int spread = spreads[t % 4], offset = offsets[t % 4];
    for (int e = 0; e < 256; ++e) a[t * 256 + e] = static_cast<uint16_t>(attn::encode_bits(random_value(s, spread, fmt, offset), fmt));
    for (int e = 0; e < 128; ++e) b[t * 128 + e] = static_cast<uint16_t>(attn::encode_bits(random_value(s, spread, fmt, offset), fmt));
    for (int e = 0; e < 128; ++e) c[t * 128 + e] = static_cast<float>(random_value(s, spread + 4, attn::kFp32, 2 * offset));
  }
  uint16_t *da, *db;
  float *dc, *dd;
  cudaMalloc(&da, a.size() * 2);
  cudaMalloc(&db, b.size() * 2);
  cudaMalloc(&dc, c.size() * 4);
  cudaMalloc(&dd, d.size() * 4);
  cudaMemcpy(da, a.data(), a.size() * 2, cudaMemcpyHostToDevice);
  cudaMemcpy(db, b.data(), b.size() * 2, cudaMemcpyHostToDevice);
  cudaMemcpy(dc, c.data(), c.size() * 4, cudaMemcpyHostToDevice);
  mma_kernel<kBf16><<<(count + 3) / 4, 128>>>(da, db, dc, dd, count);
  cudaMemcpy(d.data(), dd, d.size() * 4, cudaMemcpyDeviceToHost);
  if (cudaGetLastError() != cudaSuccess) {
    std::printf("CUDA error\n");
    std::exit(1);
  }
  if (dump_dir) {  // raw vectors and GPU results for offline model fitting
    const std::string path = std::string(dump_dir) + (kBf16 ? "/mma_bf16.bin" : "/mma_fp16.bin");
    FILE* f = std::fopen(path.c_str(), "wb");
    std::fwrite(&count, 4, 1, f);
    std::fwrite(a.data(), 2, a.size(), f);
    std::fwrite(b.data(), 2, b.size(), f);
    std::fwrite(c.data(), 4, c.size(), f);
    std::fwrite(d.data(), 4, d.size(), f);
    std::fclose(f);
  }
  std::printf("%s: %d MMAs, %d dot products of length 16 + accumulator\n", kBf16 ? "bf16" : "fp16", count, count * 128);
  for (int rounding = 0; rounding < 2; ++rounding)
    for (int extra = 0; extra <= 4; ++extra) {
      attn::TensorCoreModel model;
      model.extra_alignment_bits = extra;
      model.input_min_exponent = fmt.emin;
      model.final_rounding = rounding == 0 ? attn::TcFinalRounding::toward_zero : attn::TcFinalRounding::nearest_even;
      long mismatches = 0, subnormal_mismatches = 0, subnormal_dots = 0;
      long first = -1;
      for (int t = 0; t < count; ++t)
        for (int m = 0; m < 16; ++m)
          for (int n = 0; n < 8; ++n) {
            double av[16], bv[16];
            bool has_subnormal = false;
            for (int k = 0; k < 16; ++k) {
              av[k] = attn::decode_bits(a[t * 256 + m * 16 + k], fmt);
              bv[k] = attn::decode_bits(b[t * 128 + k * 8 + n], fmt);
              has_subnormal |= (av[k] != 0 && std::fabs(av[k]) < fmt.min_normal()) ||
                               (bv[k] != 0 && std::fabs(bv[k]) < fmt.min_normal());
            }
            subnormal_dots += has_subnormal;
            const float model_value = static_cast<float>(attn::tc_group_fma(av, bv, 16, c[t * 128 + m * 8 + n], model));
            const float gpu = d[t * 128 + m * 8 + n];
            if (std::memcmp(&model_value, &gpu, 4) != 0) {
              ++mismatches;
              subnormal_mismatches += has_subnormal;
              if (first < 0) first = (static_cast<long>(t) * 16 + m) * 8 + n;
            }
          }
      std::printf("  extra_bits=%d rounding=%s: %ld mismatches (%.4f%%; %ld of %ld dots with subnormal inputs)%s\n", extra,
                  rounding == 0 ? "toward_zero" : "nearest", mismatches, 100.0 * mismatches / (count * 128.0),
                  subnormal_mismatches, subnormal_dots, mismatches ? "" : "  <== bit-exact");
    }
  cudaFree(da);
  cudaFree(db);
  cudaFree(dc);
  cudaFree(dd);
}

}  // namespace

int main(int argc, char** argv) {
  const int count = argc > 1 ? std::atoi(argv[1]) : 8192;
  const char* dump_dir = argc > 2 ? argv[2] : nullptr;
  check<false>(count, 1, dump_dir);
  check<true>(count, 2, dump_dir);
  return 0;
}
