// stage_timer.h: wall and CPU seconds of consecutive stages (for split_before.cpp / split_after.cpp,
// the throwaway programs behind this report's profile). Not part of the build.
#pragma once
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "core/problem.h"

inline double cpu_seconds() {
  rusage u;
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_utime.tv_usec * 1e-6 + u.ru_stime.tv_sec + u.ru_stime.tv_usec * 1e-6;
}
struct StageTimer {
  std::chrono::steady_clock::time_point wall = std::chrono::steady_clock::now();
  double cpu = cpu_seconds();
  void report(const char* what) {
    const StageTimer now;
    std::printf("%-40s wall %8.3f s  cpu %8.3f s\n", what, std::chrono::duration<double>(now.wall - wall).count(), now.cpu - cpu);
    *this = now;
  }
};
/// B 1, S_q = S_k = argv[1] (2048), H_q:H_kv = argv[2]:argv[3] (8:2), D 128, fp16, causal.
inline attn::Problem problem_from_args(int argc, char** argv) {
  attn::Problem p;
  p.seqlen_q = p.seqlen_k = argc > 1 ? std::atoll(argv[1]) : 2048;
  p.num_heads_q = argc > 2 ? std::atoll(argv[2]) : 8;
  p.num_heads_kv = argc > 3 ? std::atoll(argv[3]) : 2;
  p.head_dim = 128;
  p.dtype = attn::DType::fp16;
  return p;
}
