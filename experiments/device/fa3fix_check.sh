#!/usr/bin/env bash
# fa3fix_check.sh: the device call that closes issue 9's last gap — the fa3 unmasked-tile-edges
# mutant now zeroes a ragged entry's padded K rows (kernels/hopper/mainloop.cuh), so GPU, emulator
# and diagnosis should agree on it as they do for every other variant. Runs on the device machine
# from the repository root with binaries built here (nvcc 13.0, sm_90a, `cmake --preset default`)
# and carried in $BIN (default .device/fa3fix: test_gpu.gz, commit.txt, lib/ with libmpfr/libgmp,
# and this script; fill it with `bash experiments/device/stages_pack.sh build/default .device/fa3fix`):
#   1. provenance (date, commit, GPU, driver, CUDA);
#   2. test_gpu "[stages]": per planted bug, GPU vs emulator vs diagnosis (before the fix: fa3
#      mutant-unmasked-tile-edges 598 of 37888 elements off, excess 39.5; expected now like the
#      FA2 mutant of the same name: ~0.2 % differ, <= 4 row-scale ulp, excess ~1.3);
#   3. test_gpu "[blocks]", "[ragged]", "[mutant][hopper]", "[prefill][hopper]": the fa3 building
#      blocks, NaN in V past seqlens_k, every fa3 mutant caught, every fa3 variant within the
#      FlashAttention rule on the grid (the producer's loads were refactored for every variant);
#   4. compute-sanitizer memcheck, racecheck and synccheck on "[.sanitize-fa3-leak]" (the leak
#      mutants alone, whose producer now writes zeros into the K stage) and "[.sanitize-hopper]".
# Logs land in $OUT: provenance.txt, stages.log, hopper.log, sanitizer.log, summary.txt.
# Usage: bash .device/fa3fix/fa3fix_check.sh [steps] (comma list of stages,hopper,sanitize;
# default all). About 3 minutes on an H200 (H200 runs of these steps: [stages] 46 s, the fa3
# grid 67 s, each sanitizer run 2-6 s); the caps add up to 510 s, under a device call's 600 s.
set -u
STEPS="${1:-stages,hopper,sanitize}"
OUT="${OUT:-/tmp/out}"
BIN="${BIN:-.device/fa3fix}"
mkdir -p "$OUT"
bash experiments/device/unpack_binaries.sh "$BIN"  # carried compressed (64 MiB limit)
chmod +x "$BIN/test_gpu" 2>/dev/null
# libmpfr/libgmp built here travel in $BIN/lib in case the device image lacks them.
export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$PWD/$BIN/lib"
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit: $(cat "$BIN/commit.txt")"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader | sed 's/^/gpu: /'
  echo "cuda: $(nvcc --version 2>/dev/null | tail -1) (binaries built with nvcc 13.0 for sm_90a, carried)"
} > "$OUT/provenance.txt" 2>&1
cat "$OUT/provenance.txt"

summary() { echo "$*" | tee -a "$OUT/summary.txt"; }
run() {  # run LOG SECONDS CMD...: time-limited, appended to the log, exit status in the summary
  local log=$1 limit=$2
  shift 2
  echo "### $*" >> "$OUT/$log"
  local start=$SECONDS
  timeout "$limit" "$@" >> "$OUT/$log" 2>&1
  local rc=$?
  summary "$* -> exit $rc in $((SECONDS - start)) s (cap $limit s)"
}
if [[ ",$STEPS," == *",stages,"* ]]; then
  run stages.log 120 "$BIN/test_gpu" "[stages]"
  grep -E "^stages .*(fa3|unmasked)|passed|failed" "$OUT/stages.log" | tee -a "$OUT/summary.txt"
fi
if [[ ",$STEPS," == *",hopper,"* ]]; then
  for tag in "[blocks]" "[ragged]" "[mutant][hopper]"; do
    run hopper.log 30 "$BIN/test_gpu" "$tag" --durations yes
  done
  run hopper.log 150 "$BIN/test_gpu" "[prefill][hopper]" --durations yes
  grep -E "passed|failed" "$OUT/hopper.log" | tee -a "$OUT/summary.txt"
fi
if [[ ",$STEPS," == *",sanitize,"* ]]; then
  for tag in "[.sanitize-fa3-leak]" "[.sanitize-hopper]"; do
    for tool in memcheck racecheck synccheck; do
      run sanitizer.log 25 compute-sanitizer --tool "$tool" --error-exitcode 9 "$BIN/test_gpu" "$tag"
    done
  done
  grep -E "ERROR SUMMARY|RACECHECK SUMMARY|passed|failed" "$OUT/sanitizer.log" | tee -a "$OUT/summary.txt"
fi
