// Throwaway: times the stages of today's `attnscope run` (commit 3156af3) one by one.
#include <chrono>
#include <cstdio>
#include <sys/resource.h>
#include "analysis/metrics.h"
#include "core/generators.h"
#include "experiments/sweep_runner.h"
#include "references/naive_baseline.h"
#include "references/truth.h"
#include "references/fp64_attention.h"
#include "references/multiprecision_truth.h"
using namespace attn;
static double cpu_s() { rusage u; getrusage(RUSAGE_SELF, &u); return u.ru_utime.tv_sec + u.ru_utime.tv_usec * 1e-6 + u.ru_stime.tv_sec + u.ru_stime.tv_usec*1e-6; }
struct T { std::chrono::steady_clock::time_point w = std::chrono::steady_clock::now(); double c = cpu_s(); };
static void report(const char* what, T& t) { T n; std::printf("%-34s wall %8.3f s  cpu %8.3f s\n", what, std::chrono::duration<double>(n.w - t.w).count(), n.c - t.c); t = n; }
int main(int argc, char** argv) {
  Problem p; p.batch = 1; p.seqlen_q = p.seqlen_k = argc > 1 ? atoll(argv[1]) : 2048; p.num_heads_q = argc > 2 ? atoll(argv[2]) : 8; p.num_heads_kv = argc > 3 ? atoll(argv[3]) : 2; p.head_dim = 128; p.dtype = DType::fp16;
  InputSpec spec; T t;
  AttentionInputs un = generate_inputs_unquantized(p, spec); AttentionInputs in = un; quantize_inputs(in, p.dtype); report("inputs", t);
  AttentionOutputs f = fp64_attention(p, in); report("fp64 truth (quantized)", t);
  TruthOptions o; Truth tr = compute_truth(p, in, o); std::printf("  compute_truth: fp64 %.3f certify %.3f\n", tr.seconds_fp64, tr.seconds_certify); report("compute_truth (quantized)", t);
  Truth tu = compute_truth(p, un, o); report("compute_truth (unquantized)", t);
  AttentionOutputs base = naive_same_precision_attention(p, in); report("naive baseline", t);
  nlohmann::json m = evaluate_output(p, base, tr, &base); report("evaluate_output (metrics)", t);
  ErrorMetrics q = compute_metrics(tr.o, tu.o, DType::fp64); report("quantization metrics", t);
  return q.count == 0;
}
