// split_stages.cpp: the stages of `attnscope run` (kernel naive-fp16: the baseline is the kernel)
// timed one by one, wall and CPU seconds. Built with -DBEFORE against commit 3156af3's libraries
// (the code before issue 12), without it against this branch's (CPU truth). See README.md.
#include "analysis/metrics.h"
#include "core/generators.h"
#include "experiments/sweep_runner.h"
#include "references/fp64_attention.h"
#include "references/multiprecision_truth.h"
#include "references/naive_baseline.h"
#include "references/truth.h"
#include "stage_timer.h"
using namespace attn;
int main(int argc, char** argv) {
  const Problem p = problem_from_args(argc, argv);
  StageTimer t;
  AttentionInputs un = generate_inputs_unquantized(p, InputSpec{}), in = un;
  quantize_inputs(in, p.dtype);
  t.report("inputs");
  const AttentionOutputs f = fp64_attention(p, in);
  t.report("fp64 pass (cpu)");
  TruthOptions o;
#if defined(BEFORE)
  const Truth tr = compute_truth(p, in, o);
  t.report("compute_truth (quantized)");
  const Truth tu = compute_truth(p, un, o);
  t.report("compute_truth (unquantized, certified)");
#else
  certify_rows(p, in, spread_rows(p, 8));
  t.report("certification (8 rows)");
  o.device = ReferenceDevice::cpu;
  const Truth tr = compute_truth(p, in, o);
  t.report("compute_truth (quantized)");
  o.certify_rows = 0;
  const Truth tu = compute_truth(p, un, o);
  t.report("compute_truth (unquantized, uncertified)");
#endif
  const AttentionOutputs base = naive_same_precision_attention(p, in);
  t.report("naive baseline");
  const nlohmann::json m = evaluate_output(p, base, tr, &base);
  t.report("evaluate_output (metrics)");
  const ErrorMetrics q = compute_metrics(tr.o, tu.o, DType::fp64);
  t.report("quantization metrics");
  return q.count == 0 || f.o.numel() == 0;
}
