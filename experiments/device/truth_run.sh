#!/usr/bin/env bash
# truth_run.sh: issue 12's evidence on the device machine (H200), with binaries built here
# (nvcc 13.0, sm_90a, `default` preset, MPFI static) and carried gzip-compressed in
# .device/truth/ by experiments/device/truth_prepare.sh: attnscope, test_gpu, test_references,
# commit.txt. Runs, each under `time` and a timeout:
#   1. test_gpu "[gpu][truth],[gpu][baseline]": the tiled GPU FP64 truth against the CPU truth
#      within the certified bound on the grid; the GPU baseline against the CPU baseline
#   2. test_references "[naive],[truth]": the AVX2 baseline bit-identical to the plain loops on
#      this host's CPU; the truth and certification tests
#   3. attnscope run --batch 1 --seqlen-q S --seqlen-k S --heads 32:8 --head-dim 128 --dtype bf16
#        --kernel fa2.bf16.d128.m64n64 --json   for S = 8192 (goal < 30 s) and 32768 (< 2 min)
#   4. attnscope bench --truth at S = 8192, 32:8, D 128, bf16, truth on the GPU, then on the CPU
# Files in $OUT (at most 8 come back): truth_run.log (provenance, every step's output and time),
# run_s8192.json, run_s32768.json, bench_truth_gpu.jsonl, bench_truth_cpu.jsonl.
# The lead runs it from the repository root: run(command="bash .device/truth/truth_run.sh",
# carry=[".device/truth"]) (truth_prepare.sh puts a copy of this script there).
set -uo pipefail
OUT="${OUT:-/tmp/truth-out}"
BIN=.device/truth
LOG="$OUT/truth_run.log"
mkdir -p "$OUT"
bash experiments/device/unpack_binaries.sh "$BIN"
chmod +x "$BIN"/attnscope "$BIN"/test_gpu "$BIN"/test_references 2>/dev/null
{
  echo "date: $(date -u +%FT%TZ)"
  echo "commit: $(cat $BIN/commit.txt 2>/dev/null | tr '\n' ' ')"
  echo "gpu: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1)"
  echo "cuda: binaries built with nvcc 13.0 for sm_90a, carried"
  echo "cpu: $(nproc) threads,$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
  echo "memory: $(free -g | awk '/Mem:/ {print $2 " GiB"}')"
  echo "load: $(cat /proc/loadavg)"
  echo "command: bash .device/truth/truth_run.sh"
} | tee "$LOG"

step() {  # step NAME TIMEOUT COMMAND...: under time and timeout, output appended to the log
  local name=$1 limit=$2
  shift 2
  echo "### $name: $*" >> "$LOG"
  { time timeout "$limit" "$@"; } >> "$LOG" 2>&1
  local rc=$?
  echo "### $name: exit $rc" >> "$LOG"
  echo "$name: exit $rc"
}

step test_gpu 240 "$BIN"/test_gpu "[gpu][truth],[gpu][baseline]"
grep -E "^(GPU|S 4096|All tests|test cases|assertions)" "$LOG" | tail -6
step test_references 180 "$BIN"/test_references "[naive],[truth]"
for s in 8192 32768; do
  step run_s$s 300 bash -c "$BIN/attnscope run --batch 1 --seqlen-q $s --seqlen-k $s --heads 32:8 --head-dim 128 \
    --dtype bf16 --kernel fa2.bf16.d128.m64n64 --json > $OUT/run_s$s.json"
  grep -A3 "^real" "$LOG" | tail -4 | head -1
  python3 -c "import json; r=json.load(open('$OUT/run_s$s.json')); m=r['metrics']; print('S=$s seconds', {k: round(v, 2) for k, v in r['seconds'].items()}); print('  truth', m['truth_method'], 'on', m['truth_device'], 'gap', m['truth_fp64_gap_ulps'], 'ulp; kernel max_abs', m['kernel']['max_abs'], 'baseline', m['baseline']['max_abs'], r['baseline_implementation'], 'FA rule', m['fa_rule_pass'])" 2>&1 | tee -a "$LOG"
done
for dev in gpu cpu; do
  step bench_truth_$dev 300 "$BIN"/attnscope bench --truth --seqlens 8192 --heads 32:8 --head-dim 128 \
    --dtype bf16 --truth-kernel fa2.bf16.d128.m64n64 --truth-device $dev --out "$OUT/bench_truth_$dev.jsonl"
  grep -A1 "^problem" "$LOG" | tail -1
done
