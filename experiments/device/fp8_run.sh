#!/usr/bin/env bash
# fp8_run.sh: issue 13's FP8 (E4M3) forward on the H200 in ONE device call, <= FP8_BUDGET seconds
# (default 215), nothing built on the device (binaries built for sm_90a and packed by
# experiments/device/fp8_pack.sh into .device/fp8/, carried). The lead runs:
#   run(command="bash .device/fp8/fp8_run.sh", carry=[".device/fp8"], timeout_s=240)
# or, under a 200 s limit, "FP8_BUDGET=180 OUT=$OUT bash .device/fp8/fp8_run.sh". The carried folder
# is the one the script runs from (.device/<name>/fp8_run.sh, packed by fp8_pack.sh <checkout>
# <name>), else $FP8_DIR, else .device/fp8. FP8_ITERS (20): launches per bench median;
# FP8_BENCH_REPEAT (1): bench processes in a row (the spread of the ratios between them);
# FP8_NCU: the "kernel-regex variant" pairs step 5 profiles (default below), FP8_NCU_METRICS:
# more ncu metrics for them (comma list, "regex:..." allowed).
# Steps, in this order (each under its own timeout, capped so that the call stays within budget; a
# step that no longer fits is skipped and says so; every step's exit code and verdict line lands in
# summary.txt; the sanitizers come last because their time on a 45 MB binary is the least known):
#   1 fp8       test_gpu "[hopper][fp8]": every FP8 fa3 variant (e4m3 per-block, e4m3-rot per-block +
#               Hadamard rotation, e4m3-tensor per-tensor baseline, e4m3-fma4/-fma8 with part of the
#               exponentials on the FMA pipes, e4m3-ilp: e4m3's bits, another schedule) on a grid
#               (S_q, S_k off the tiles, GQA 1/4/8, every mask, ragged seqlens_k, 4 input
#               distributions, NaN-poisoned outputs) vs their CPU emulator and the FP64 truth; NaN in
#               K/V past seqlens_k changes no bit; the pre-pass's bytes; ex2_fma's device bits = the
#               host's; e4m3-ilp = e4m3 bit for bit. Per variant: "% of elements differ from the emulator".
#   2 accuracy  test_gpu "[.fp8-accuracy]": RMSE vs the certified truth on FA3's inputs (N(0,1) +
#               N(0,100) x Bernoulli(0.001), B 1, S 2048, H 4, D 128): the three FP8 variants, their
#               emulator, the BF16 fa3/fa2 defaults, the BF16 naive baseline, the output-rounding
#               floor; each FP8 variant vs its emulator; then fp8_accuracy_torch.py on the same inputs:
#               an independent per-tensor FP8 baseline (torch.float8_e4m3fn) and PyTorch SDPA's BF16
#               backends (flash, cudnn, efficient, math).
#   3 speed     attnscope bench, one process: fa3.bf16.d128.m128n128 (the BF16 default at D 128) and
#               its FP8 variants (with the quantization pre-pass, and "(attention)" alone), S 1024 /
#               4096 / 16384 (B = 16384 / S), H 16, causal and not; then the FP8 / BF16 speed ratio
#               per shape (issue 13's target: FP8 >= 1.3x our BF16 default); the glob also times
#               .precise and .noping (their ratios are printed too).
#   4 memcheck, racecheck, synccheck  compute-sanitizer on test_gpu "[.sanitize-fp8]" (one launch of
#               each FP8 variant: the quantization pre-pass, then the attention; ragged causal GQA).
#   5 ncu       (if ncu is there and the budget allows) one launch of the FP8 kernel, of the BF16
#               default and of the quantization pre-pass at D 128, S 4096, non-causal (as
#               reports/h200/profile): spills, issue rate, shared-memory pipe, stall reasons.
# Outputs in $OUT: summary.txt (read this first), fp8.log (all test output), sanitizer.log,
# accuracy.log, bench.jsonl, bench.log, ncu.log, provenance.txt.
set -u
# OUT, SUMMARY, has, note, left, provenance; the binaries unpacked in place.
here=$(dirname "$0")
case "$here" in .device/?* | */.device/?*) FP8_DIR="${FP8_DIR:-${here#"$PWD"/}}" ;; esac
source experiments/device/run_prelude.sh "${FP8_DIR:-.device/fp8}" "${FP8_BUDGET:-215}"
provenance | tee -a "$SUMMARY"
if [[ ! -x $BIN/test_gpu || ! -x $BIN/attnscope ]]; then
  note "FATAL: $BIN/test_gpu or $BIN/attnscope missing: was .device/fp8 carried (carry=[\".device/fp8\"])?"
  exit 3
fi

# 1 -- correctness vs emulator and truth
lim=$(left 60)
if ((lim > 0)); then
  echo "### test_gpu [hopper][fp8] (timeout ${lim}s)" >> "$OUT/fp8.log"
  ( time timeout "$lim" "$BIN/test_gpu" "[hopper][fp8]" --durations yes ) >> "$OUT/fp8.log" 2>&1
  rc=$?
  note "fp8 correctness: exit $rc (0 pass, 1 a check failed, 77 no GPU, 124 timed out: partial) -- $(grep -E '^(All tests passed|test cases:|SKIPPED)' "$OUT/fp8.log" | tail -1)"
  grep -E "^fp8 fa3" "$OUT/fp8.log" | cut -c1-220 | tee -a "$SUMMARY"
  grep -E "FAILED|with expansion" -A3 "$OUT/fp8.log" | head -24 | tee -a "$SUMMARY"
else
  note "fp8 correctness: SKIPPED (budget)"
fi

# 2 -- accuracy table on FA3's inputs, then PyTorch's peers on the same inputs
lim=$(left 50)
if ((lim > 0)); then
  mkdir -p /tmp/fp8dump
  {
    echo "### test_gpu [.fp8-accuracy] (timeout ${lim}s)"
    ATTNSCOPE_FP8_DUMP=/tmp/fp8dump timeout "$lim" "$BIN/test_gpu" "[.fp8-accuracy]" --durations yes
    echo "test_gpu [.fp8-accuracy] exit $?"
  } >> "$OUT/accuracy.log" 2>&1
  lim=$(left 25)
  if ((lim > 0)) && [[ -f /tmp/fp8dump/truth.npy ]]; then
    { echo "### fp8_accuracy_torch.py (timeout ${lim}s)"
      PYTHONUNBUFFERED=1 timeout "$lim" python3 "$BIN/fp8_accuracy_torch.py" /tmp/fp8dump
      echo "fp8_accuracy_torch.py exit $?"
    } >> "$OUT/accuracy.log" 2>&1
  else
    echo "fp8_accuracy_torch.py: SKIPPED (budget, or no dumped inputs)" >> "$OUT/accuracy.log"
  fi
  note "accuracy: $(grep -E 'exit|SKIPPED' "$OUT/accuracy.log" | tr '\n' ' ')"
  note "accuracy table (RMSE, max |error|, relative Frobenius error vs the certified truth):"
  grep -E "^fp8 accuracy" "$OUT/accuracy.log" | tee -a "$SUMMARY"
else
  note "accuracy: SKIPPED (budget)"
fi

# 3 -- speed: FP8 vs the BF16 default, one process (FP8_BENCH_REPEAT processes in a row)
for rep in $(seq 1 "${FP8_BENCH_REPEAT:-1}"); do
lim=$(left 35)
jsonl="$OUT/bench.jsonl"
((rep > 1)) && jsonl="$OUT/bench$rep.jsonl"
if ((lim > 0)); then
  ( time timeout "$lim" "$BIN/attnscope" bench --kernels 'fa3.bf16.d128.m128n128*' --dtype bf16 --head-dim 128 \
      --seqlens 1024,4096,16384 --tokens 16384 --heads 16 --causal both --warmup 5 --iters ${FP8_ITERS:-20} --out "$jsonl" ) \
    >> "$OUT/bench.log" 2>&1
  note "speed: attnscope bench (process $rep) exit $? (a failed pre-timing check exits 1 and names the kernel)"
  python3 - "$jsonl" << PY 2>&1 | tee -a "$SUMMARY"
import json, os, sys
if not os.path.exists(sys.argv[1]):
    sys.exit("speed: no bench.jsonl (attnscope bench timed nothing: see bench.log)")
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
if not any(r["impl"] == "fa3.bf16.d128.m128n128" for r in rows):
    sys.exit("speed: the BF16 default fa3.bf16.d128.m128n128 was not timed: no ratios (see bench.log)")
base = {(r["seqlen"], r["causal"]): r["median_ms"] for r in rows if r["impl"] == "fa3.bf16.d128.m128n128"}
print("speed: BF16 time / FP8 time (> 1: FP8 faster; issue 13 target >= 1.3), median of ${FP8_ITERS:-20} launches, H 16, D 128")
print(f"{'kernel':44s} " + " ".join(f"S{s}{'c' if c else ''}".rjust(9) for s, c in sorted(base)))
kernels = sorted({(r["impl"], r["attention_only"]) for r in rows if r["impl"] != "fa3.bf16.d128.m128n128"})
for impl, alone in kernels:
    ms = {(r["seqlen"], r["causal"]): r["median_ms"] for r in rows if r["impl"] == impl and r["attention_only"] == alone}
    name = impl + (" (attention)" if alone else "")
    print(f"{name:44s} " + " ".join((f"{base[k] / ms[k]:9.3f}" if k in ms else "        -") for k in sorted(base)))
print("BF16 default TFLOP/s: " + ", ".join(f"S{r['seqlen']}{'c' if r['causal'] else ''} {r['tflops']:.0f}"
                                            for r in rows if r["impl"] == "fa3.bf16.d128.m128n128"))
PY
else
  note "speed: SKIPPED (budget)"
fi
done
# 4 -- compute-sanitizer on one launch of each FP8 variant
for tool in memcheck racecheck synccheck; do
  lim=$(left 30)
  if [[ -z $SANITIZER ]]; then note "sanitizer $tool: SKIPPED (no compute-sanitizer on the device)"; continue; fi
  if ((lim == 0)); then note "sanitizer $tool: SKIPPED (budget)"; continue; fi
  echo "### compute-sanitizer --tool $tool --error-exitcode 9 test_gpu [.sanitize-fp8] (timeout ${lim}s)" >> "$OUT/sanitizer.log"
  ( time timeout "$lim" "$SANITIZER" --tool "$tool" --error-exitcode 9 "$BIN/test_gpu" "[.sanitize-fp8]" ) >> "$OUT/sanitizer.log" 2>&1
  rc=$?
  note "sanitizer $tool: exit $rc (0 clean, 9 hazards found, 124 timed out) -- $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$OUT/sanitizer.log" | tail -1) $(grep -E '^(All tests passed|test cases:)' "$OUT/sanitizer.log" | tail -1)"
done

# 5 -- ncu on one launch each (the clocks float: read ratios and counters, not the microseconds)
NCU=$(command -v ncu || ls /usr/local/cuda*/bin/ncu 2> /dev/null | head -1)
# The pipes' shares (MUFU = xu, fma, alu, tensor) next to the sections: the FP8 softmax's MUFU load.
# (A metric this ncu lacks fails the profile: it is then taken again without them.)
PIPES=sm__inst_executed_pipe_xu.avg.pct_of_peak_sustained_active,sm__pipe_fma_cycles_active.avg.pct_of_peak_sustained_active
PIPES=$PIPES,sm__pipe_alu_cycles_active.avg.pct_of_peak_sustained_active
PIPES=$PIPES${FP8_NCU_METRICS:+,$FP8_NCU_METRICS}  # e.g. the stall reasons: regex:smsp__average_warps_issue_stalled_.*
IFS=';' read -r -a specs <<< "${FP8_NCU:-fa3_forward_kernel fa3.bf16.d128.m128n128.e4m3;fa3_forward_kernel fa3.bf16.d128.m128n128;quantize_kernel fa3.bf16.d128.m128n128.e4m3}"
for spec in "${specs[@]}"; do
  set -- $spec
  lim=$(left 40)
  if [[ -z $NCU ]] || ((lim == 0)); then note "ncu $2 ($1): SKIPPED (no ncu or budget)"; continue; fi
  for metrics in "$PIPES" ""; do
    echo "### ncu $1 in: attnscope bench --kernels $2 (timeout ${lim}s) ${metrics:+with the pipe metrics}" >> "$OUT/ncu.log"
    timeout "$lim" "$NCU" --clock-control none --section SpeedOfLight --section MemoryWorkloadAnalysis \
      --section WarpStateStats --section SchedulerStats --section ComputeWorkloadAnalysis --section LaunchStats \
      ${metrics:+--metrics "$metrics"} --kernel-name "regex:$1" --launch-skip 2 --launch-count 1 "$BIN/attnscope" bench \
      --prefill --kernels "$2" --dtype bf16 --head-dim 128 --seqlens 4096 --causal off --warmup 2 --iters 5 >> "$OUT/ncu.log" 2>&1
    rc=$?
    ((rc == 0 || rc == 124)) && break
    lim=$(left 40)
    ((lim == 0)) && break
  done
  note "ncu $2 ($1): exit $rc -- $(grep -E 'Duration|Spilling Requests  |Issued Warp Per Scheduler|L1/TEX Cache Throughput|DRAM Throughput|sm__inst_executed_pipe_xu|sm__pipe_(fma|alu)_cycles' "$OUT/ncu.log" | tail -8 | tr -s ' ' | tr '\n' ';')"
done

note "total: $(($(date +%s) - START)) s on the device"
echo "==== summary"
cat "$SUMMARY"
