#!/usr/bin/env bash
# run_prefill.sh: the one device call of the prefill work (issue 4). Runs on the device machine
# from the repository root with the binaries carried in .device/ (built here for sm_90a):
#   1. provenance (GPU, driver, CUDA, commit, date);
#   2. test_gpu: GPU truth vs CPU, every variant within the FlashAttention rule, mutants caught;
#   3. compute-sanitizer memcheck and racecheck over every variant at small sizes;
#   4. attnscope bench and bench_torch_sdpa.py on the same shapes, joined into the report table.
# Logs land in $OUT (at most 8 files come back). Usage: experiments/device/run_prefill.sh [steps]
# where steps is a comma list of test,sanitize,emulator,tune,bench (default all).
set -u
STEPS="${1:-test,sanitize,emulator,tune,bench}"
OUT="${OUT:-/tmp/out}"
mkdir -p "$OUT"
BIN=.device
chmod +x $BIN/* 2>/dev/null
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit: $(cat $BIN/commit.txt)"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader | sed 's/^/gpu: /'
  echo "cuda: $(nvcc --version 2>/dev/null | tail -1) (binaries built with nvcc 13.0 for sm_90a, carried)"
  echo "torch: $(python3 -c 'import torch; print(torch.__version__, "cudnn", torch.backends.cudnn.version())')"
} > "$OUT/provenance.txt" 2>&1
cat "$OUT/provenance.txt"

if [[ ",$STEPS," == *",test,"* ]]; then
  echo "== test_gpu"
  ( time timeout 280 $BIN/test_gpu --order rand --rng-seed 20261122 --durations yes ) > "$OUT/test_gpu.log" 2>&1
  echo "test_gpu exit $?" | tee -a "$OUT/test_gpu.log"
  tail -15 "$OUT/test_gpu.log"
fi
if [[ ",$STEPS," == *",sanitize,"* ]]; then
  echo "== compute-sanitizer"
  for tool in memcheck racecheck; do
    echo "### compute-sanitizer --tool $tool --error-exitcode 9 .device/test_gpu '[.sanitize]'" >> "$OUT/sanitizer.log"
    ( time timeout 100 compute-sanitizer --tool $tool --error-exitcode 9 $BIN/test_gpu "[.sanitize]" ) >> "$OUT/sanitizer.log" 2>&1
    echo "compute-sanitizer $tool exit $?" | tee -a "$OUT/sanitizer.log"
    tail -4 "$OUT/sanitizer.log"
  done
fi
if [[ ",$STEPS," == *",emulator,"* ]]; then
  echo "== emulator agreement: mma.sync probe and default variants vs the all-kernel emulator"
  ( time timeout 150 $BIN/test_gpu "[.probe],[.emulator]" ) > "$OUT/emulator_agreement.log" 2>&1
  echo "emulator agreement exit $?" | tee -a "$OUT/emulator_agreement.log"
  grep -E "probe|emulator vs|passed|failed" "$OUT/emulator_agreement.log" | tail -40
fi
if [[ ",$STEPS," == *",tune,"* ]]; then
  echo "== tune: every correct variant at S = 4096 and 16384 (table only, into bench.log)"
  timeout 150 $BIN/attnscope bench --kernels 'fa2.*' --seqlens 4096,16384 --warmup 3 --iters 20 >> "$OUT/bench.log" 2>&1
  echo "tune exit $?" | tee -a "$OUT/bench.log"
  grep -E "^fa2" "$OUT/bench.log"
fi
if [[ ",$STEPS," == *",bench,"* ]]; then
  echo "== bench"
  timeout 100 $BIN/attnscope bench --warmup 5 --iters 30 --out "$OUT/ours.jsonl" >> "$OUT/bench.log" 2>&1
  echo "attnscope bench exit $?" | tee -a "$OUT/bench.log"
  PYTHONUNBUFFERED=1 timeout 110 python3 experiments/peers/bench_torch_sdpa.py --warmup 5 --iters 30 \
    --json "$OUT/torch.jsonl" > /dev/null 2>> "$OUT/bench.log"
  echo "torch bench exit $?"; tail -3 "$OUT/bench.log"
  python3 experiments/device/make_prefill_report.py "$OUT/ours.jsonl" "$OUT/torch.jsonl" "$OUT/provenance.txt" \
    > "$OUT/prefill_benchmark.md"
  cat "$OUT/prefill_benchmark.md"
fi
