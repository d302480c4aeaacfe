#!/usr/bin/env bash
# stages_check.sh: the one device call of issue 9 ("one stage, one place"): after the stages moved
# to core/pipeline/, do the GPU kernels still compute what they did, and do the GPU, the emulator
# and the diagnosis agree stage by stage? Runs on the device machine from the repository root
# with binaries built here (nvcc 13.0, sm_90a, `cmake --preset default`) and carried in
# .device/stages/ (test_gpu, probe_emulator_vs_gpu, commit.txt, lib/ with libmpfr/libgmp):
#   1. provenance (date, commit, GPU, driver, CUDA);
#   2. test_gpu "[prefill],[mutant]": every prefill variant within the FlashAttention rule, every
#      GPU mutant caught (the interleaved-GQA case now on the cache path, where the mutant acts);
#   3. test_gpu "[decode]": decode (contiguous, paged, split counts) and chunked prefill, batch
#      invariance, paged == contiguous, cache mutants caught;
#   4. test_gpu "[stages]": per planted bug, GPU vs emulator vs diagnosis (the new agreement test);
#   5. test_gpu "[.probe],[.emulator]" and probe_emulator_vs_gpu: the emulator still reproduces
#      the FA2 kernels bit for bit except the ex2.approx elements (compare with
#      reports/h100/emulator-agreement/README.md: 0.02-0.3 % of the elements);
#   6. compute-sanitizer memcheck and racecheck on "[.sanitize]" (every prefill variant) and
#      "[.decode_sanitize]" (the rewritten decode kernels).
# Logs land in $OUT: provenance.txt, prefill.log, decode.log, stages.log, emulator_agreement.log,
# probe_emulator_vs_gpu.log, sanitizer.log. Usage: experiments/device/stages_check.sh [steps]
# (comma list of prefill,decode,stages,emulator,sanitize; default all). Pack the carry folder first:
# bash experiments/device/stages_pack.sh. About 8 minutes on an H100.
set -u
STEPS="${1:-prefill,decode,stages,emulator,sanitize}"
OUT="${OUT:-/tmp/out}"
mkdir -p "$OUT"
BIN=.device/stages
bash experiments/device/unpack_binaries.sh "$BIN"  # carried compressed (stages_pack.sh)
chmod +x $BIN/* 2>/dev/null
# libmpfr/libgmp built here travel in $BIN/lib in case the device image lacks them.
export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$PWD/$BIN/lib"
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit: $(cat $BIN/commit.txt)"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader | sed 's/^/gpu: /'
  echo "cuda: $(nvcc --version 2>/dev/null | tail -1) (binaries built with nvcc 13.0 for sm_90a, carried)"
} > "$OUT/provenance.txt" 2>&1
cat "$OUT/provenance.txt"

run() {  # run LOG SECONDS CMD...: time-limited, exit status appended to the log and echoed
  local log=$1 limit=$2
  shift 2
  ( time timeout "$limit" "$@" ) > "$OUT/$log" 2>&1
  echo "$* exit $?" | tee -a "$OUT/$log"
}
if [[ ",$STEPS," == *",prefill,"* ]]; then
  echo "== test_gpu [prefill],[mutant]"
  run prefill.log 200 $BIN/test_gpu "[prefill],[mutant]" --durations yes
  grep -E "mutant|passed|failed|FAILED" "$OUT/prefill.log" | tail -20
fi
if [[ ",$STEPS," == *",decode,"* ]]; then
  echo "== test_gpu [decode]"
  run decode.log 240 $BIN/test_gpu "[decode]" --durations yes
  grep -E "rule:|differ|mutant|passed|failed|FAILED" "$OUT/decode.log" | tail -20
fi
if [[ ",$STEPS," == *",stages,"* ]]; then
  echo "== test_gpu [stages]"
  run stages.log 120 $BIN/test_gpu "[stages]"
  grep -E "^stages|passed|failed|FAILED" "$OUT/stages.log" | tail -60
fi
if [[ ",$STEPS," == *",emulator,"* ]]; then
  echo "== emulator agreement: mma.sync probe, default variants vs the all-kernel emulator, probe"
  run emulator_agreement.log 150 $BIN/test_gpu "[.probe],[.emulator]"
  grep -E "probe|emulator vs|passed|failed" "$OUT/emulator_agreement.log" | tail -40
  run probe_emulator_vs_gpu.log 120 $BIN/probe_emulator_vs_gpu
  cat "$OUT/probe_emulator_vs_gpu.log"
fi
if [[ ",$STEPS," == *",sanitize,"* ]]; then
  echo "== compute-sanitizer"
  for tool in memcheck racecheck; do
    for tag in "[.sanitize]" "[.decode_sanitize]"; do
      echo "### compute-sanitizer --tool $tool --error-exitcode 9 $BIN/test_gpu '$tag'" >> "$OUT/sanitizer.log"
      ( time timeout 100 compute-sanitizer --tool $tool --error-exitcode 9 $BIN/test_gpu "$tag" ) >> "$OUT/sanitizer.log" 2>&1
      echo "compute-sanitizer $tool $tag exit $?" | tee -a "$OUT/sanitizer.log"
    done
  done
fi
