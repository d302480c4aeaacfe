#!/usr/bin/env bash
# truth_run.sh: issue 12's evidence on the device machine (H200), with binaries built here
# (nvcc 13.0, sm_90a, `default` preset) and carried in .device/truth/:
#   attnscope, test_gpu, test_references, commit.txt   (experiments/device/truth_prepare.sh)
# Runs, each under `time` and a timeout, logs in $OUT:
#   1. test_gpu "[gpu][truth],[gpu][baseline]": the tiled GPU FP64 truth against the CPU truth
#      within the certified bound on the grid; the GPU baseline against the CPU baseline
#   2. test_references "[naive],[truth]": the AVX2 baseline bit-identical to the plain loops on
#      this host's CPU; the truth and certification tests
#   3. attnscope run --batch 1 --seqlen-q S --seqlen-k S --heads 32:8 --dim 128 --dtype bf16
#        --kernel fa2.bf16.d128.m64n64 --json   for S = 8192 (goal < 30 s) and 32768 (< 2 min)
#   4. attnscope bench --truth at S = 8192, 32:8, D 128, bf16, truth on the GPU and on the CPU
#      (the split: inputs, truth, certification, baseline, kernel, metrics, database)
# The lead runs it: run(command="bash experiments/device/truth_run.sh", carry=[".device/truth"]).
set -uo pipefail
OUT="${OUT:-/tmp/truth-out}"
BIN=.device/truth
mkdir -p "$OUT"
chmod +x "$BIN"/attnscope "$BIN"/test_gpu "$BIN"/test_references 2>/dev/null
{
  echo "date: $(date -u +%FT%TZ)"
  echo "commit: $(cat $BIN/commit.txt 2>/dev/null)"
  echo "gpu: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1)"
  echo "cuda: binaries built with nvcc 13.0 for sm_90a, carried"
  echo "cpu: $(nproc) threads, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
  echo "memory: $(free -g | awk '/Mem:/ {print $2 " GiB"}')"
  echo "load: $(cat /proc/loadavg)"
  echo "command: bash experiments/device/truth_run.sh"
} > "$OUT/provenance.txt"
cat "$OUT/provenance.txt"

step() {  # step NAME TIMEOUT COMMAND...: runs under time and timeout, stdout+stderr to $OUT/NAME.log
  local name=$1 limit=$2
  shift 2
  echo "### $name: $*" | tee "$OUT/$name.log"
  { time timeout "$limit" "$@"; } >> "$OUT/$name.log" 2>&1
  echo "exit $?" >> "$OUT/$name.log"
  tail -6 "$OUT/$name.log"
}

step test_gpu 240 "$BIN"/test_gpu "[gpu][truth],[gpu][baseline]"
step test_references 180 "$BIN"/test_references "[naive],[truth]"
for s in 8192 32768; do
  echo "### run S=$s" | tee "$OUT/run_s$s.log"
  { time timeout 300 "$BIN"/attnscope run --batch 1 --seqlen-q $s --seqlen-k $s --heads 32:8 --dim 128 --dtype bf16 \
      --kernel fa2.bf16.d128.m64n64 --json > "$OUT/run_s$s.json"; } >> "$OUT/run_s$s.log" 2>&1
  echo "exit $?" >> "$OUT/run_s$s.log"
  tail -5 "$OUT/run_s$s.log"
  python3 -c "import json,sys; r=json.load(open('$OUT/run_s$s.json')); m=r['metrics']; print('seconds', r['seconds']); print('truth', m['truth_method'], m['truth_device'], 'gap', m['truth_fp64_gap_ulps'], 'ulp; kernel max_abs', m['kernel']['max_abs'], 'baseline', m['baseline']['max_abs'], r['baseline_implementation'])" 2>&1 | tee -a "$OUT/run_s$s.log"
done
for dev in gpu cpu; do
  step bench_truth_$dev 300 "$BIN"/attnscope bench --truth --seqlens 8192 --heads 32 --heads-kv 8 --head-dim 128 \
    --dtype bf16 --truth-kernel fa2.bf16.d128.m64n64 --truth-device $dev --json "$OUT/bench_truth_$dev.jsonl"
done
