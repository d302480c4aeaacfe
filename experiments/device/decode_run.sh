#!/usr/bin/env bash
# decode_run.sh: the one device call of the decode work. Runs on the device machine from the
# repository root with binaries carried in .device/decode/ (built here with nvcc 13.0, sm_90a):
#   1. provenance (date, commit, GPU, driver, CUDA, torch/cuDNN);
#   2. test_gpu "[decode]": decode variants within the FlashAttention rule, batch invariance,
#      mutants caught, append overflow flag;
#   3. compute-sanitizer memcheck and racecheck on "[.decode_sanitize]"-tagged small cases;
#   4. bandwidth: test_gpu "[.decode_bench]" (ours) and experiments/peers/bench_torch_decode.py (SDPA
#      flash and cuDNN) in the same call.
# Logs land in $OUT: provenance.txt, test_decode.log, sanitizer.log, bench.log.
# Usage: experiments/device/decode_run.sh [steps]  (comma list of test,sanitize,bench; default all)
set -u
STEPS="${1:-test,sanitize,bench}"
OUT="${OUT:-/tmp/out}"
mkdir -p "$OUT"
BIN=.device/decode
chmod +x $BIN/* 2>/dev/null
# libmpfr/libgmp built here travel in $BIN/lib in case the device image lacks them.
export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$PWD/$BIN/lib"
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit: $(cat $BIN/commit.txt)"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader | sed 's/^/gpu: /'
  echo "cuda: $(nvcc --version 2>/dev/null | tail -1) (binaries built with nvcc 13.0 for sm_90a, carried)"
  echo "torch: $(python3 -c 'import torch; print(torch.__version__, "cudnn", torch.backends.cudnn.version())' 2>&1)"
} > "$OUT/provenance.txt" 2>&1
cat "$OUT/provenance.txt"

if [[ ",$STEPS," == *",test,"* ]]; then
echo "== test_gpu [decode]"
( time timeout 180 $BIN/test_gpu "[decode]" --durations yes ) > "$OUT/test_decode.log" 2>&1
echo "test_gpu [decode] exit $?" | tee -a "$OUT/test_decode.log"
grep -E "decode rule|differ|FAIL|mutant|passed|failed" "$OUT/test_decode.log" | tail -30
fi
if [[ ",$STEPS," == *",sanitize,"* ]]; then
echo "== compute-sanitizer"
for tool in memcheck racecheck; do
  echo "### compute-sanitizer --tool $tool --error-exitcode 9 $BIN/test_gpu '[.decode_sanitize]'" >> "$OUT/sanitizer.log"
  ( time timeout 60 compute-sanitizer --tool $tool --error-exitcode 9 $BIN/test_gpu "[.decode_sanitize]" ) >> "$OUT/sanitizer.log" 2>&1
  echo "compute-sanitizer $tool exit $?" | tee -a "$OUT/sanitizer.log"
  tail -4 "$OUT/sanitizer.log"
done
fi
if [[ ",$STEPS," == *",bench,"* ]]; then
echo "== bench"
echo "### $BIN/test_gpu '[.decode_bench]'" >> "$OUT/bench.log"
timeout 40 $BIN/test_gpu "[.decode_bench]" >> "$OUT/bench.log" 2>&1
echo "ours exit $?" | tee -a "$OUT/bench.log"
echo "### python3 experiments/peers/bench_torch_decode.py --warmup 5 --iters 50" >> "$OUT/bench.log"
PYTHONUNBUFFERED=1 timeout 70 python3 experiments/peers/bench_torch_decode.py --warmup 5 --iters 50 >> "$OUT/bench.log" 2>&1
echo "torch exit $?" | tee -a "$OUT/bench.log"
grep BENCH "$OUT/bench.log"
fi
