#!/usr/bin/env bash
# decode_run.sh: the one device call of the decode work. Runs on the device machine from the
# repository root with binaries carried in .device/decode/ (built here with nvcc 13.0, sm_90a):
#   1. provenance (date, commit, GPU, driver, CUDA, torch/cuDNN);
#   2. test: test_gpu "[decode]": decode (contiguous, paged, split counts) and chunked-prefill
#      variants within the FlashAttention rule, batch invariance, paged == contiguous, mutants
#      caught, append overflow flag;
#   3. sanitize: compute-sanitizer memcheck and racecheck on "[.decode_sanitize]" small cases;
#   4. bench: test_gpu "[.decode_bench]" (ours, median of per-launch CUDA events) and
#      experiments/peers/bench_torch_decode.py (SDPA flash and cuDNN) in the same call;
#   5. depth: test_gpu "[.depth_sweep]": error and speed vs cache depth and split count;
#   6. prefill: test_gpu "[prefill],[mutant]" (the prefill kernel's K/V addressing is shared).
# Logs land in $OUT: provenance.txt, test_decode.log, sanitizer.log, bench.log, depth.log, prefill.log.
# Usage: experiments/device/decode_run.sh [steps]  (comma list of test,sanitize,bench,depth,prefill;
# default test,sanitize,bench,depth)
set -u
STEPS="${1:-test,sanitize,bench,depth}"
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
( time timeout 300 $BIN/test_gpu "[decode]" --durations yes ) > "$OUT/test_decode.log" 2>&1
echo "test_gpu [decode] exit $?" | tee -a "$OUT/test_decode.log"
grep -E "rule:|differ|FAIL|mutant|passed|failed" "$OUT/test_decode.log" | tail -40
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
timeout 120 $BIN/test_gpu "[.decode_bench]" >> "$OUT/bench.log" 2>&1
echo "ours exit $?" | tee -a "$OUT/bench.log"
echo "### python3 experiments/peers/bench_torch_decode.py --warmup 10 --iters 100" >> "$OUT/bench.log"
PYTHONUNBUFFERED=1 timeout 120 python3 experiments/peers/bench_torch_decode.py --warmup 10 --iters 100 >> "$OUT/bench.log" 2>&1
echo "torch exit $?" | tee -a "$OUT/bench.log"
grep BENCH "$OUT/bench.log"
fi
if [[ ",$STEPS," == *",depth,"* ]]; then
echo "== depth sweep"
echo "### $BIN/test_gpu '[.depth_sweep]'" > "$OUT/depth.log"
( time timeout 240 $BIN/test_gpu "[.depth_sweep]" ) >> "$OUT/depth.log" 2>&1
echo "depth sweep exit $?" | tee -a "$OUT/depth.log"
grep -E "SPEED|DEPTH" "$OUT/depth.log" | head -80
fi
if [[ ",$STEPS," == *",prefill,"* ]]; then
echo "== prefill regression"
echo "### $BIN/test_gpu '[prefill],[mutant]'" > "$OUT/prefill.log"
( time timeout 300 $BIN/test_gpu "[prefill],[mutant]" ) >> "$OUT/prefill.log" 2>&1
echo "prefill exit $?" | tee -a "$OUT/prefill.log"
tail -5 "$OUT/prefill.log"
fi
